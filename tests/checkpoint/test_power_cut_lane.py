"""Fault matrix (issue 12): power lost after apply, before confirm. The host comes up with the last confirmed configuration.

Two boots of the full-kernel VM (tests/fullkernel/lane.py), driven from this
machine. The lab host's `/` (HOSTROOT) lives on the VM's writable share
(--rwdir), so it survives the VM like a disk: its etc/network/interfaces is
the persistent configuration (ifupdown2), its var/lib holds net_checkpoint's
state directory. Its run/ gets a fresh tmpfs at every boot (a reboot
empties /run). net_checkpoint runs with `root: HOSTROOT`, in namespace `hv`
(the VM's own network carries the ssh to it and is never touched).

Boot 1: NICs (veth pairs to a peer namespace, fixed MACs), `ifup -a` from the
file, the guests (a tap and a container veth) on vmbr0: the dump taken then is
"last confirmed". net_checkpoint arms (600 s, so only the power cut matters),
net_bond and net_bridge change the host (bond mode; vmbr0 to another NIC with
MTU 9000), the dump differs. Power cut: `echo b > /proc/sysrq-trigger` (an
immediate reset: no sync, no unmount, no process told); virtme runs qemu with
-no-reboot, so qemu exits on the reset, and the test checks that it did.
Boot 2 (a new VM, the same share): the same hardware, `ifup -a` from the same
file, the guests: the dump equals boot 1's "last confirmed" exactly. Then
net_checkpoint reports the checkpoint from before the reboot as orphaned,
refuses to arm over it, rolls it back (nothing to do: its snapshot is the
booted state) and reports `last.outcome: rolled_back`.

The in-VM steps are tests/checkpoint/power_cut_guest.py, one process per boot.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fullkernel import lane, plugin
from nstools import state_diff

pytestmark = [pytest.mark.slow]

GUEST_SCRIPT = Path(__file__).with_name("power_cut_guest.py")
GUEST_SHARE = "/run/lane/out"      # where guest.sh binds the share inside the VM
STEP_TIMEOUT = 900                 # one boot's in-VM steps, under emulation
POWER_OFF_WAIT = 60                # seconds qemu may take to exit after the reset

INTERFACES = """\
# The lab host's persistent configuration (Proxmox VE shape): a bond of two
# NICs, a VLAN on it, vmbr0 on the VLAN with the host's address and gateway.
auto lo
iface lo inet loopback

auto eno1
iface eno1 inet manual

auto eno2
iface eno2 inet manual

iface eno3 inet manual

auto bond0
iface bond0 inet manual
\tbond-slaves eno1 eno2
\tbond-mode 802.3ad
\tbond-miimon 100
\tbond-lacp-rate fast
\tbond-xmit-hash-policy layer3+4
\tmtu 9000

auto bond0.10
iface bond0.10 inet manual
\tmtu 1500

auto vmbr0
iface vmbr0 inet static
\taddress 192.0.2.10/24
\tgateway 192.0.2.1
\tbridge-ports bond0.10
\tbridge-stp off
\tbridge-fd 0
"""


def _link(state: dict, name: str) -> dict:
    return next(l for l in state["links"] if l["ifname"] == name)


class PowerCutLab:
    """The share's layout and the two boots; every VM started here is stopped, whatever happens."""

    def __init__(self, tmp_path: Path):
        try:
            self.setup = lane.load_setup()
        except lane.LaneSetupMissing as exc:
            pytest.fail(str(exc), pytrace=False)   # never skip: CI must not lose the lane quietly
        self.share = tmp_path / "lane"             # the VM's --rwdir, the same for both boots
        self.lab = self.share / "powercut"         # this test's files on the share
        self.hostroot = self.lab / "host"          # the lab host's `/`
        self.vm: lane.LaneVM | None = None
        self.times: dict[str, float] = {}
        self.power_cut_by = "no power cut yet"
        (self.hostroot / "etc" / "network").mkdir(parents=True)
        (self.hostroot / "var" / "lib").mkdir(parents=True)
        (self.hostroot / "run").mkdir()
        (self.hostroot / "etc" / "network" / "interfaces").write_text(INTERFACES)

    def guest_path(self, path: Path) -> str:
        return f"{GUEST_SHARE}/{path.relative_to(self.share)}"

    def start(self, name: str) -> lane.LaneVM:
        self.vm = lane.LaneVM(self.setup, self.share)
        try:
            self.vm.start()
        except lane.LaneBootError as exc:
            pytest.fail(f"full-kernel VM ({name}): {exc}\n{self.vm.console_tail()}", pytrace=False)
        self.times[f"{name} boot"] = self.vm.boot_s
        return self.vm

    def phase(self, name: str) -> dict:
        """Run the guest script's phase `name` in the VM; its result from the share."""
        started = time.monotonic()
        command = (f"python {shlex.quote(str(GUEST_SCRIPT))} {name} "
                   f"{shlex.quote(self.guest_path(self.hostroot))}")
        proc = self.vm.run(command, timeout=STEP_TIMEOUT)
        self.times[f"{name} steps"] = time.monotonic() - started
        (self.lab / f"{name}.log").write_text(proc.stdout or "")
        assert proc.returncode == 0, f"{name} failed in the VM (rc {proc.returncode}):\n{(proc.stdout or '')[-6000:]}"
        return json.loads((self.lab / f"{name}.json").read_text())

    def power_cut(self) -> str:
        """`echo b > /proc/sysrq-trigger`: reset now, nothing synced. Returns how the VM ended."""
        vm = self.vm
        started = time.monotonic()
        try:
            # The ssh session dies with the VM; whatever it returns is not an answer.
            vm.run("echo b > /proc/sysrq-trigger", timeout=30, env=False)
        except TimeoutError:
            pass
        try:
            vm.proc.wait(POWER_OFF_WAIT)
            ended = "sysrq b: qemu exited by itself on the reset (virtme runs it with -no-reboot)"
        except subprocess.TimeoutExpired:
            # Still running after the reset: pull the plug from the host instead (also a power cut).
            os.killpg(vm.proc.pid, signal.SIGKILL)
            vm.proc.wait(30)
            ended = f"sysrq b did not end qemu within {POWER_OFF_WAIT} s: SIGKILL from the host"
        self.times["power cut -> qemu gone"] = time.monotonic() - started
        self.power_cut_by = ended
        stopped_cleanly = (self.share / "stopped").exists()
        self.stop()
        shutil.move(self.share / "console.log", self.lab / "console.boot1.log")
        assert not stopped_cleanly, "guest.sh's clean power-off ran: that was no power cut"
        return ended

    def stop(self) -> None:
        if self.vm is not None:
            self.vm.stop()
            self.vm = None


@pytest.fixture
def powercut(tmp_path):
    lab = PowerCutLab(tmp_path)
    try:
        yield lab
    finally:
        lab.stop()   # also on failure: the namespaces die with the VM
        times = ", ".join(f"{k} {v:.0f} s" for k, v in lab.times.items() if v is not None)
        plugin.lane_summaries.append(f"power-cut test (two boots of the full-kernel VM): {times}; {lab.power_cut_by}")
        shutil.rmtree(lab.hostroot, ignore_errors=True)   # the host's files; logs and dumps stay in tmp_path


def test_power_lost_after_apply_before_confirm_boots_the_last_confirmed_configuration(powercut):
    total = time.monotonic()
    # -- boot 1: the host as configured, a window opened, a change applied, then the power goes
    powercut.start("boot1")
    one = powercut.phase("boot1")
    assert one["run_was_empty"]
    confirmed = one["confirmed"]
    assert _link(confirmed, "vmbr0")["master"] is None and _link(confirmed, "bond0.10")["master"] == "vmbr0"
    assert _link(confirmed, "tap100i0")["master"] == "vmbr0" and _link(confirmed, "veth101i0")["master"] == "vmbr0"
    armed = one["armed"]
    assert not armed.get("failed") and armed["armed"], armed
    assert armed["checkpoint"]["watchdog"]["kind"] == "detached" and armed["checkpoint"]["watchdog_alive"]
    checkpoint_id = armed["checkpoint"]["id"]
    for task in ("bond", "bridge"):
        assert not one[task].get("failed") and one[task]["changed"], one[task]
    changed = one["changed"]
    assert state_diff(confirmed, changed) != []
    assert _link(changed, "eno3")["master"] == "vmbr0" and _link(changed, "vmbr0")["mtu"] == 9000
    assert _link(changed, "tap100i0")["master"] == "vmbr0"
    assert one["query"]["armed"] and one["query"]["checkpoint"]["id"] == checkpoint_id
    assert not one["query"]["checkpoint"]["orphaned"]
    # What the power cut must leave: the record on the "disk", nothing of /run.
    state_dir = powercut.hostroot / "var/lib/netsafe/checkpoint/netns-hv"
    assert (state_dir / "checkpoint.json").exists()
    assert not any((powercut.hostroot / "run").iterdir()), "boot 1's /run reached the share"

    powercut.power_cut()

    # -- boot 2: the same share, the same hardware, the boot's own `ifup -a`
    powercut.start("boot2")
    two = powercut.phase("boot2")
    powercut.stop()
    powercut.times["total"] = time.monotonic() - total
    assert two["run_was_empty"]
    assert one["boot_id"] != two["boot_id"], "the VM did not boot again"
    diff = state_diff(confirmed, two["booted"])
    assert diff == [], "the host did not come up with its last confirmed configuration:\n" + "\n".join(diff)

    query = two["query"]
    assert query["armed"] is True, query
    view = query["checkpoint"]
    assert view["id"] == checkpoint_id
    assert view["rebooted_since"] is True and view["orphaned"] is True and view["watchdog_alive"] is False
    assert "rebooted" in view["problem"], view["problem"]
    refused = two["arm_refused"]
    assert refused.get("failed") and checkpoint_id in refused["msg"] and "orphaned" in refused["msg"], refused
    assert "state=rolled_back" in refused["msg"]
    rolled = two["rolled_back"]
    assert not rolled.get("failed") and rolled["outcome"]["outcome"] == "rolled_back", rolled
    assert rolled["outcome"]["id"] == checkpoint_id and rolled["armed"] is False
    # Its snapshot is the booted state: nothing to do.
    assert rolled["commands"] == [] and rolled["changed"] is False, rolled["commands"]
    diff = state_diff(confirmed, two["after_rollback"])
    assert diff == [], "the rollback changed the booted host:\n" + "\n".join(diff)
    after = two["query_after"]
    assert after["armed"] is False and after["checkpoint"] is None
    assert after["last"]["outcome"] == "rolled_back" and after["last"]["id"] == checkpoint_id
    assert not (state_dir / "checkpoint.json").exists()
    print(f"{powercut.power_cut_by}; timings: {powercut.times}; in-VM steps: boot 1 {one['steps']}, boot 2 {two['steps']}")
