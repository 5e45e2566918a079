"""The in-VM half of the power-cut test (test_power_cut_lane.py): one process per boot.

Run inside the full-kernel VM by the host-side test, once per boot:

    python tests/checkpoint/power_cut_guest.py boot1 HOSTROOT
    python tests/checkpoint/power_cut_guest.py boot2 HOSTROOT
    python tests/checkpoint/power_cut_guest.py boot3 HOSTROOT

HOSTROOT is the lab host's `/`, on the VM's writable share (it survives the
VM): HOSTROOT/etc/network/interfaces is the persistent configuration (written
by the host-side test, then by the change_window role's net_persist),
HOSTROOT/var/lib is on the share like a disk, and HOSTROOT/run gets a tmpfs
mounted over it at the start of every boot, so that a reboot empties it like
a real /run. The role's `change_window_root` is HOSTROOT.

Each boot does what a boot does (the NICs appear with their MACs, the switch
behind them with the gateway, `ifup -a` from the file, then the hypervisor
starts its guests: a tap and a container veth on vmbr0), then its phase's
steps, and writes what it saw to HOSTROOT/../<phase>.json: state dumps,
module results, boot id, step times. The change windows themselves run from
the host (ansible-playbook over ssh), between the phases. One Python process
per boot: each process start costs seconds under emulation. The host-side
test makes the assertions; this file only records.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
for entry in (str(ROOT / ".tmp" / "collections"), str(TESTS)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import persist_lab  # noqa: E402
import realstacks  # noqa: E402
from modrun import run_module  # noqa: E402
from nstools import ip, iproute, settled_state, wait_carrier  # noqa: E402

HV, SW = "hv", "sw"
NICS = ("eno1", "eno2", "eno3")
MAIN = "/etc/network/interfaces"
# Links whose carrier must be up before a dump is taken (a bridge port's path
# cost follows its carrier); the guests' ports have no carrier (nothing behind them).
CARRIER = ("eno1", "eno2", "bond0", "bond0.10", "vmbr0")


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


class Steps:
    """Step timings (seconds under emulation), kept in the phase's result."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self._start = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.times[name] = round(now - self._start, 2)
        self._start = now
        print(f"{name}: {self.times[name]} s", flush=True)


def mount_run(hostroot: Path) -> bool:
    """A fresh tmpfs on HOSTROOT/run, as a boot finds /run; returns whether the directory was empty before."""
    run = hostroot / "run"
    run.mkdir(exist_ok=True)
    empty = not any(run.iterdir())
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "netsafe-powercut-run", str(run)], check=True)
    return empty


def switch() -> None:
    """The switch behind the NICs, holding the gateway 192.0.2.1: VLAN 10 from the bond's ports, eno3 untagged."""
    iproute(SW, ["ip link add swbr type bridge stp_state 0 forward_delay 0",
                 "ip link add link sw1 name sw1.10 type vlan id 10", "ip link add link sw2 name sw2.10 type vlan id 10",
                 "ip link set sw1.10 master swbr", "ip link set sw2.10 master swbr", "ip link set sw3 master swbr",
                 "ip link set sw1.10 up", "ip link set sw2.10 up", "ip link set swbr up",
                 # A switch that carries window 1's MTU 9000 on eno3's port (the window proves it).
                 "ip link set sw3 mtu 9000", "ip link set swbr mtu 9000",
                 "ip address add 192.0.2.1/24 dev swbr"])


def boot(hostroot: Path, steps: Steps) -> dict:
    """The host coming up: NICs with their MACs, `ifup -a` from the file, then the guests on vmbr0.

    The dump waits for carrier on CARRIER, and on eno3 when the file brought it up (window 2 moves vmbr0
    there): a bridge port's path cost follows its carrier.
    """
    for ns in (HV, SW):
        ip("netns", "add", ns)
    ip("link", "set", "lo", "up", ns=SW)
    persist_lab.nics(HV, SW, NICS)
    switch()
    steps.done("nics")
    proc = realstacks.ifupdown2(HV, ["ifup", "-a", "-i", MAIN], hostroot, check=True)
    steps.done("ifup -a")
    guests = persist_lab.guests(HV, "vmbr0")
    eno3_up = "UP" in json.loads(ip("-j", "link", "show", "eno3", ns=HV).stdout)[0]["flags"]
    wait_carrier(HV, CARRIER + (("eno3",) if eno3_up else ()), polls=600)
    state = settled_state(HV)
    steps.done("guests and dump")
    return {"ifup_output": proc.stdout + proc.stderr, "guests": guests, "state": state}


def checkpoint(hostroot: Path, **args) -> dict:
    return run_module("net_checkpoint", dict(args, namespace=HV, root=str(hostroot)))


def come_up(hostroot: Path, steps: Steps, key: str) -> dict:
    """What every boot records: its id, whether /run was empty, ifup's output, and the dump (as `key`)."""
    result = {"boot_id": boot_id(), "run_was_empty": mount_run(hostroot)}
    booted = boot(hostroot, steps)
    result.update({"ifup_output": booted["ifup_output"], key: booted["state"]})
    return result


def boot1(hostroot: Path, steps: Steps) -> dict:
    """The host as configured: its dump is "last confirmed". The window (role, from the host) comes next."""
    return come_up(hostroot, steps, "confirmed")


def boot2(hostroot: Path, steps: Steps) -> dict:
    """After the power cut before the confirmation: the booted host, then the checkpoint from before it."""
    result = come_up(hostroot, steps, "booted")
    result["query"] = checkpoint(hostroot, state="query")
    steps.done("query")
    result["arm_refused"] = checkpoint(hostroot, state="armed", timeout=600)
    steps.done("armed (refused)")
    result["rolled_back"] = checkpoint(hostroot, state="rolled_back")
    steps.done("rolled_back")
    wait_carrier(HV, CARRIER, polls=600)
    result["after_rollback"] = settled_state(HV)
    result["query_after"] = checkpoint(hostroot, state="query")
    steps.done("dump and query")
    return result


def boot3(hostroot: Path, steps: Steps) -> dict:
    """After a power cut that came once the window was confirmed and persisted: what the host boots into."""
    result = come_up(hostroot, steps, "booted")
    result["query"] = checkpoint(hostroot, state="query")
    steps.done("query")
    return result


def main(argv: list[str]) -> int:
    phase, hostroot = argv[0], Path(argv[1])
    steps = Steps()
    result = {"boot1": boot1, "boot2": boot2, "boot3": boot3}[phase](hostroot, steps)
    result["steps"] = steps.times
    out = hostroot.parent / f"{phase}.json"
    with open(out.with_suffix(".new"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(out.with_suffix(".new"), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
