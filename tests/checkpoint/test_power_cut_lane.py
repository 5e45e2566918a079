"""Fault matrix (issue 12, made honest by issue 24): the power goes during a change window, twice.

Three boots of the full-kernel VM (tests/fullkernel/lane.py), driven from
this machine. The lab host's `/` (HOSTROOT) lives on the VM's writable share
(--rwdir), so it survives the VM like a disk: its etc/network/interfaces is
the persistent configuration (ifupdown2), its var/lib holds net_checkpoint's
state directory. Its run/ gets a fresh tmpfs at every boot (a reboot
empties /run). The windows are the change_window role, run by
ansible-playbook here against the VM over ssh, in namespace `hv` (the VM's
own network carries the ssh and is never touched), with `change_window_root`
HOSTROOT and persistence on: the role writes the file with net_persist once
the change is confirmed. Its probes reach the gateway behind a switch
namespace (VLAN 10 from the bond, eno3 untagged).

Boot 1: NICs (veth pairs, fixed MACs), `ifup -a` from the file, the guests (a
tap and a container veth) on vmbr0: the dump taken then is "last confirmed".
Window 1 (vmbr0 moved off the bond's VLAN to eno3, with MTU 9000) runs
until "Confirm the checkpoint" starts: the change is applied and its probes
passed. There the play is held (the `hold` callback) and the power
is cut: `echo b > /proc/sysrq-trigger`, an immediate reset (no sync, no
unmount, no process told); virtme runs qemu with -no-reboot, so qemu exits,
and the test checks that it did. The file is byte for byte the one written
before boot 1.
Boot 2 (a new VM, the same share): `ifup -a` from that file, the guests: the
dump equals boot 1's "last confirmed". net_checkpoint reports the checkpoint
from before the reboot as orphaned, refuses to arm over it, rolls it back
(nothing to do: its snapshot is the booted state). Window 2 (vmbr0 moved to
eno3) is confirmed and persisted; the play is held at "Report the confirmed
change", after the write, and the power is cut again.
Boot 3: `ifup -a` from the file window 2 wrote: the dump equals the one taken
at the second cut, and nothing is armed (last outcome: confirmed).

The in-VM steps of each boot are tests/checkpoint/power_cut_guest.py, one
process per boot.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fullkernel import lane, plugin
from nstools import parse_state_output, state_diff, state_script
from playrun import VENV_BIN, environment, recorded, role_play

pytestmark = [pytest.mark.slow, pytest.mark.long]

GUEST_SCRIPT = Path(__file__).with_name("power_cut_guest.py")
GUEST_SHARE = "/run/lane/out"      # where guest.sh binds the share inside the VM
STEP_TIMEOUT = 900                 # one boot's in-VM steps, under emulation
POWER_OFF_WAIT = 60                # seconds qemu may take to exit after the reset
WINDOW_TIMEOUT = 900               # a window up to the task it is held at (about ten module runs)
PLAY = role_play("netsafe.hypervisor.change_window", "lane")
# The windows: vmbr0 moved off the bond's VLAN to eno3 (one task each: every module run through Ansible costs
# about ten seconds under emulation, twice with the role's preview). Window 1's is lost to the power cut
# before its confirmation; window 2's is confirmed and written before the power goes.
WINDOW1 = {"change_window_bridges": [{"name": "vmbr0", "ports": ["eno3"], "mtu": 9000}]}
WINDOW2 = {"change_window_bridges": [{"name": "vmbr0", "ports": ["eno3"]}]}
CARRIER_AFTER = ("eno1", "eno2", "eno3", "bond0", "bond0.10", "vmbr0")   # links with carrier after either window

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
        self.controller: subprocess.Popen | None = None   # ansible-playbook, held at a task
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

    def window(self, name: str, changes: dict, hold_at: str) -> list:
        """Run the change_window role against the VM until task `hold_at` starts; returns its task results.

        ansible-playbook runs here (the controller); the `hold` callback stops the play when `hold_at`
        starts, before its module is sent, and ansible-playbook stays stopped until power_cut() ends it.
        """
        started = time.monotonic()
        workdir = self.share.parent / name
        workdir.mkdir()
        inventory = self.vm.inventory(workdir / "inventory.ini")
        (workdir / "window.yml").write_text(PLAY)
        values = {"change_window_namespace": "hv", "change_window_root": self.guest_path(self.hostroot),
                  "change_window_persist_format": "ifupdown2", "change_window_gate": False,
                  "change_window_reenslave": False, "change_window_confirm_timeout": 600, **changes}
        (workdir / "vars.json").write_text(json.dumps(values))
        record, marker = workdir / "record.jsonl", workdir / "held"
        env = environment(record, env={"ANSIBLE_CALLBACKS_ENABLED": "record,hold", "ANSIBLE_TIMEOUT": "120",
                                       "NETSAFE_HOLD_TASK": hold_at, "NETSAFE_HOLD_FILE": str(marker)})
        with open(workdir / "ansible.log", "w", encoding="utf-8") as log:
            self.controller = subprocess.Popen(
                [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "window.yml", "-e", "@vars.json"],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        give_up = time.monotonic() + WINDOW_TIMEOUT
        while not marker.exists():
            if self.controller.poll() is not None or time.monotonic() > give_up:
                self.stop_controller()
                pytest.fail(f"{name}: the play ended (or ran past {WINDOW_TIMEOUT} s) before '{hold_at}' started:\n"
                            f"{(workdir / 'ansible.log').read_text()[-6000:]}", pytrace=False)
            time.sleep(0.5)
        self.times[f"{name} (role until '{hold_at}')"] = time.monotonic() - started
        return recorded(record)

    def dump_now(self, carrier) -> dict:
        """The complete state dump of `hv` over ssh, once `carrier` links have carrier."""
        wait = f"nstools.wait_carrier('hv', {tuple(carrier)!r}, polls=600)"
        out = self.vm.run(f"python -c {shlex.quote('import nstools; ' + wait)} && {state_script('hv')}", check=True)
        return parse_state_output(out.stdout)

    def stop_controller(self) -> None:
        if self.controller is not None and self.controller.poll() is None:
            os.killpg(self.controller.pid, signal.SIGKILL)
            self.controller.wait(30)
        self.controller = None

    def power_cut(self, boot: str) -> str:
        """`echo b > /proc/sysrq-trigger`: reset now, nothing synced; then the held controller goes too."""
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
        self.times[f"power cut after {boot} -> qemu gone"] = time.monotonic() - started
        self.power_cut_by = ended
        stopped_cleanly = (self.share / "stopped").exists()
        self.stop()
        shutil.move(self.share / "console.log", self.lab / f"console.{boot}.log")
        assert not stopped_cleanly, "guest.sh's clean power-off ran: that was no power cut"
        return ended

    def stop(self) -> None:
        self.stop_controller()
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
        plugin.lane_summaries.append(f"power-cut test (three boots of the full-kernel VM): {times}; {lab.power_cut_by}")
        shutil.rmtree(lab.hostroot, ignore_errors=True)   # the host's files; logs and dumps stay in tmp_path


def _by_task(results: list) -> dict:
    """The last result of each task, by its own name (without the role's prefix)."""
    return {entry["task"].split(" : ", 1)[-1]: entry for entry in results}


def test_power_lost_before_the_confirmation_and_after_the_write(powercut):
    total = time.monotonic()
    interfaces = powercut.hostroot / "etc" / "network" / "interfaces"
    state_dir = powercut.hostroot / "var/lib/netsafe/checkpoint/netns-hv"
    # -- boot 1: the host as configured; window 1 applied and probed, then the power goes before its confirmation
    powercut.start("boot1")
    one = powercut.phase("boot1")
    assert one["run_was_empty"]
    confirmed = one["confirmed"]
    assert _link(confirmed, "vmbr0")["master"] is None and _link(confirmed, "bond0.10")["master"] == "vmbr0"
    assert _link(confirmed, "tap100i0")["master"] == "vmbr0" and _link(confirmed, "veth101i0")["master"] == "vmbr0"
    window1 = _by_task(powercut.window("window1", WINDOW1, "Confirm the checkpoint"))
    # One net_state run armed the checkpoint, applied the change and probed it again.
    armed = window1["Apply the change inside a checkpoint"]["result"]
    assert armed["outcome"] == "armed" and armed["checkpoint"]["watchdog"]["kind"] == "detached", armed
    checkpoint_id = armed["checkpoint"]["id"]
    assert window1["Apply the change inside a checkpoint"]["status"] == "changed"
    assert armed["probes"]["after"] and all(probe["ok"] for probe in armed["probes"]["after"]), armed["probes"]
    # net_state checked, before arming, that the files can take the change; the role never writes them before
    # the confirmation (the file's bytes are checked after the cut).
    assert armed["persist"]["files"], armed["persist"]
    assert "Confirm the checkpoint" not in window1
    assert window1.get("Write the host's network files", {}).get("status") in (None, "skipped"), window1
    at_cut = powercut.dump_now(CARRIER_AFTER)
    assert state_diff(confirmed, at_cut) != []
    assert _link(at_cut, "eno3")["master"] == "vmbr0" and _link(at_cut, "vmbr0")["mtu"] == 9000
    assert _link(at_cut, "bond0.10")["master"] is None and _link(at_cut, "tap100i0")["master"] == "vmbr0"
    # What the power cut must leave: the record on the "disk", nothing of /run, the file as it was.
    assert (state_dir / "checkpoint.json").exists()
    assert not any((powercut.hostroot / "run").iterdir()), "boot 1's /run reached the share"
    powercut.power_cut("boot1")
    assert interfaces.read_bytes() == INTERFACES.encode(), "the interfaces file is not the confirmed one"

    # -- boot 2: the same share, the same hardware, the boot's own `ifup -a`
    powercut.start("boot2")
    two = powercut.phase("boot2")
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

    # -- window 2, confirmed and written; the power goes once the file is written
    window2 = _by_task(powercut.window("window2", WINDOW2, "Report the confirmed change"))
    second_id = window2["Apply the change inside a checkpoint"]["result"]["checkpoint"]["id"]
    assert window2["Confirm the checkpoint"]["result"]["confirmation"]["outcome"] == "confirmed"
    persisted = window2["Confirm the checkpoint"]["result"]["persist"]   # written in the confirmation's own run
    assert persisted["changed"] and persisted["files"], persisted
    written = interfaces.read_text()
    assert re.search(r"^\s*bridge-ports eno3$", written, re.M), written
    at_second_cut = powercut.dump_now(CARRIER_AFTER)
    assert _link(at_second_cut, "eno3")["master"] == "vmbr0" and _link(at_second_cut, "bond0.10")["master"] is None
    powercut.power_cut("boot2")
    assert interfaces.read_text() == written

    # -- boot 3: the host boots into what window 2 confirmed and wrote
    powercut.start("boot3")
    three = powercut.phase("boot3")
    powercut.stop()
    powercut.times["total"] = time.monotonic() - total
    assert three["run_was_empty"] and three["boot_id"] not in (one["boot_id"], two["boot_id"])
    diff = state_diff(at_second_cut, three["booted"])
    assert diff == [], "the host did not come up with the configuration window 2 confirmed:\n" + "\n".join(diff)
    query = three["query"]
    assert query["armed"] is False and query["last"]["outcome"] == "confirmed" and query["last"]["id"] == second_id
    print(f"{powercut.power_cut_by}; timings: {powercut.times}; in-VM steps: boot 1 {one['steps']}, "
          f"boot 2 {two['steps']}, boot 3 {three['steps']}")
