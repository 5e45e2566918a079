"""net_state's coupled changes that need bonding, 802.1Q and bridge VLAN filtering (issue 26), in the full-kernel lane.

(a) the live uplink becomes a bond: vmbr0 on eno1 with a container's veth -> bond0 = [eno1, eno2] under vmbr0, MTU
    9000 on bond and bridge, the guest kept; a guest namespace pings through vmbr0 every 10 ms meanwhile and the
    pings lost are printed (the figure is the report's, never an assertion: a test asserts only that the guest
    reaches the far side afterwards);
(c) VLANs re-parented onto the bond made in the same task: vlan50 (same name, the host's address and default route)
    and eno1.100, a port of vmbr100, replaced by bond0.100 (eno1.100 `state: absent`);
(d) a bridge made vlan-aware with its guests' VLANs and the uplink's.

For each: apply, a second run unchanged, check mode predicted the result; the undo sweep (tests/sweep.py: every
operation refused in turn, the complete dump equal each time); the SIGKILL sweep (kill_sweep below): net_state with
`checkpoint` killed after operations 0..k-1 for every k, the watchdog rolls back at its deadline, and the complete
dump equals the one before.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modrun import run_module
from nstools import iproute, settled_state, state_diff, wait_carrier
from sweep import fresh_namespace, sweep
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.fullkernel("bonding", "8021q", "bridge_vlan_filtering")]

TESTS = Path(__file__).resolve().parents[1]
COLLECTIONS = TESTS.parent / ".tmp" / "collections"
PEERS = ["ip link add eno1 address 52:54:00:aa:00:01 type veth peer name sw1 address 52:54:00:cc:00:01",
         "ip link add eno2 address 52:54:00:aa:00:02 type veth peer name sw2 address 52:54:00:cc:00:02"]
BOND = {"name": "bond0", "mode": "active-backup", "miimon": 100, "slaves": ["eno1", "eno2"]}

# (a) vmbr0 on eno1 with the host's address and default route, a container's veth on it.
A_HOST = [
    "ip link add veth100i0 address 52:54:00:bb:00:01 type veth peer name ct100 address 52:54:00:bb:00:02",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eno1 master vmbr0",
    "ip link set veth100i0 master vmbr0",
    "ip link set eno1 up", "ip link set eno2 up", "ip link set veth100i0 up", "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip route add default via 192.0.2.1 dev vmbr0",
]
A_TASK = {"bonds": [dict(BOND, mtu=9000)], "bridges": [{"name": "vmbr0", "ports": ["bond0"], "mtu": 9000}]}

# (c) eno1 carries vlan50 (the host's address and default route) and eno1.100, a port of vmbr100 with a VM tap.
C_HOST = [
    "ip link add link eno1 name vlan50 type vlan id 50",
    "ip link add link eno1 name eno1.100 type vlan id 100",
    "ip tuntap add tap100i0 mode tap",
    "ip link set tap100i0 address 52:54:00:bb:00:03",
    "ip link add vmbr100 type bridge stp_state 0 forward_delay 0",
    "ip link set eno1.100 master vmbr100",
    "ip link set tap100i0 master vmbr100",
    "ip link set eno1 up", "ip link set eno2 up", "ip link set vlan50 up", "ip link set eno1.100 up",
    "ip link set tap100i0 up", "ip link set vmbr100 up",
    "ip address add 198.51.100.10/24 dev vlan50",
    "ip route add default via 198.51.100.1 dev vlan50",
]
C_TASK = {"bonds": [BOND],
          "vlans": [{"name": "vlan50", "parent": "bond0", "vlan_id": 50},
                    {"name": "eno1.100", "state": "absent"},
                    {"name": "bond0.100", "parent": "bond0", "vlan_id": 100}],
          "bridges": [{"name": "vmbr100", "ports": ["bond0.100"]}]}

# (d) vmbr0 (no VLAN filtering) on eno1 with a VM tap and a container veth.
D_HOST = [
    "ip tuntap add tap100i0 mode tap",
    "ip link set tap100i0 address 52:54:00:bb:00:03",
    "ip link add veth101i0 address 52:54:00:bb:00:04 type veth peer name ct101 address 52:54:00:bb:00:05",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eno1 master vmbr0", "ip link set tap100i0 master vmbr0", "ip link set veth101i0 master vmbr0",
    "ip link set eno1 up", "ip link set tap100i0 up", "ip link set veth101i0 up", "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
]
D_TASK = {"bridges": [{"name": "vmbr0", "vlan_filtering": True, "port_vlans": [
    {"port": "eno1", "pvid": 1, "tagged": ["30-31"]},
    {"port": "tap100i0", "pvid": 30},
    {"port": "veth101i0", "pvid": 31}]}]}

# (setup lines in one namespace, the task, a probe that passes before and after the change: an address of the host)
SCENARIOS = {
    "a": (PEERS + A_HOST + ["ip link set sw1 up", "ip link set sw2 up", "ip link set ct100 up"], A_TASK, "192.0.2.10"),
    "c": (PEERS + C_HOST + ["ip link set sw1 up", "ip link set sw2 up"], C_TASK, "198.51.100.10"),
    "d": (PEERS + D_HOST + ["ip link set sw1 up", "ip link set sw2 up", "ip link set ct101 up"], D_TASK, "192.0.2.10"),
}
# Whose state view mac/operstate/port_options the kernel chooses as it goes (carrier, a bond's MAC).
UNKNOWN_BEFORE = ("mac", "operstate", "port_options")


def _known(view: dict) -> dict:
    return {kind: {name: {k: v for k, v in dev.items() if k not in UNKNOWN_BEFORE} for name, dev in devices.items()}
            for kind, devices in view.items()}


def _agrees(predicted, made) -> bool:
    """A new bond's options the task leaves out are the kernel's defaults, predicted as None (not known before)."""
    if isinstance(predicted, dict) and isinstance(made, dict):
        return all(value is None or made.get(key) == value for key, value in predicted.items())
    return predicted == made


def prediction_misses(predicted: dict, made: dict) -> list:
    """(kind, device, key, predicted, made) wherever the check-mode state differs from the applied one."""
    predicted, made = _known(predicted), _known(made)
    return [(kind, name, key, predicted[kind].get(name, {}).get(key), dev.get(key))
            for kind, devices in made.items() for name, dev in devices.items()
            for key in sorted(set(dev) | set(predicted[kind].get(name, {})))
            if not _agrees(predicted[kind].get(name, {}).get(key), dev.get(key))]


def applied_idempotent_and_predicted(ns: str, check_ns: str, setup: list, task: dict) -> dict:
    """Apply `task` in `ns`, check mode in `check_ns` (built the same); the applied result."""
    iproute(ns, ["ip link set lo up", *setup])
    iproute(check_ns, ["ip link set lo up", *setup])
    check_before = settled_state(check_ns)
    preview = run_module("net_state", dict(task, namespace=check_ns), check=True)
    assert not preview.get("failed") and preview["changed"], preview.get("msg")
    assert state_diff(check_before, settled_state(check_ns)) == [], "check mode changed the kernel"
    done = run_module("net_state", dict(task, namespace=ns))
    assert not done.get("failed") and done["changed"], done.get("msg")
    assert done["commands"] == [c.replace(check_ns, ns) for c in preview["commands"]]
    assert prediction_misses(preview["state"], done["state"]) == []
    print(f"net_state plan of {len(done['commands'])} operations:\n  " + "\n  ".join(done["commands"]))
    after = settled_state(ns)
    again = run_module("net_state", dict(task, namespace=ns))
    assert not again.get("failed") and not again["changed"], again.get("commands") or again.get("msg")
    assert state_diff(after, settled_state(ns)) == []
    return done


def links(ns: str) -> dict:
    return {link["ifname"]: link for link in settled_state(ns)["links"]}


# -- (a) the live uplink becomes a bond, a guest pinging through it ---------------------------------------------

def _ping_summary(text: str) -> tuple:
    found = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    assert found, text
    return int(found.group(1)), int(found.group(2))


def test_a_uplink_becomes_a_bond_under_the_bridge_while_a_guest_pings_through_it(namespaces, tmp_path):
    ns, check_ns, switch, guest = namespaces.new(), namespaces.new(), namespaces.new(), namespaces.new()
    iproute(ns, [line.replace("peer name sw1", f"peer name sw1 netns {switch}")
                 .replace("peer name sw2", f"peer name sw2 netns {switch}")
                 .replace("peer name ct100", f"peer name ct100 netns {guest}") for line in PEERS + A_HOST])
    iproute(switch, ["ip link add swbr type bridge stp_state 0 forward_delay 0", "ip link set sw1 master swbr",
                     "ip link set sw2 master swbr", "ip link set sw1 up", "ip link set sw2 up", "ip link set swbr up",
                     "ip link set sw1 mtu 9000", "ip link set sw2 mtu 9000", "ip link set swbr mtu 9000",
                     "ip address add 192.0.2.1/24 dev swbr"])
    iproute(guest, ["ip link set lo up", "ip link set ct100 up", "ip address add 192.0.2.100/24 dev ct100"])
    wait_carrier(ns, ("eno1", "eno2", "vmbr0"), polls=600)
    iproute(check_ns, ["ip link set lo up", *SCENARIOS["a"][0]])

    def ping(count=None):
        words = ["ip", "netns", "exec", guest, "ping", "-n", "-i", "0.01", "-W", "1"]
        return words + (["-c", str(count)] if count else []) + ["192.0.2.1"]

    warm = subprocess.run(ping(5), capture_output=True, text=True, timeout=60, check=False)
    assert warm.returncode == 0, warm.stdout + warm.stderr   # the guest reaches the switch before the change
    preview = run_module("net_state", dict(A_TASK, namespace=check_ns), check=True)
    assert not preview.get("failed") and preview["changed"], preview.get("msg")
    out = tmp_path / "ping.out"
    with open(out, "w") as handle:
        pinger = subprocess.Popen(ping(), stdout=handle, stderr=subprocess.STDOUT)   # pylint: disable=consider-using-with
        try:
            time.sleep(1)
            done = run_module("net_state", dict(A_TASK, namespace=ns))
            time.sleep(1)
        finally:
            pinger.send_signal(signal.SIGINT)
            pinger.wait(timeout=30)
    sent, received = _ping_summary(out.read_text())
    print(f"(a) pings from the guest every 10 ms through vmbr0 during the change: {sent} sent, {received} received, "
          f"{sent - received} lost; plan of {len(done.get('commands') or [])} operations")
    assert not done.get("failed") and done["changed"], done.get("msg")
    assert done["commands"] == [c.replace(check_ns, ns) for c in preview["commands"]]
    assert prediction_misses(preview["state"], done["state"]) == []
    now = links(ns)
    assert now["bond0"]["master"] == "vmbr0" and now["eno1"]["master"] == now["eno2"]["master"] == "bond0"
    assert now["veth100i0"]["master"] == "vmbr0", "the guest left vmbr0"
    assert now["bond0"]["mtu"] == now["vmbr0"]["mtu"] == 9000
    assert "eno1" not in [name for name, link in now.items() if link.get("master") == "vmbr0"]
    after = subprocess.run(ping(5), capture_output=True, text=True, timeout=60, check=False)
    assert after.returncode == 0, after.stdout + after.stderr   # the guest still reaches the switch
    changed = settled_state(ns)
    again = run_module("net_state", dict(A_TASK, namespace=ns))
    assert not again.get("failed") and not again["changed"], again.get("commands") or again.get("msg")
    assert state_diff(changed, settled_state(ns)) == []


# -- (c) VLANs re-parented onto the new bond, in the same task -----------------------------------------------------

def test_c_vlans_reparented_onto_the_bond_made_in_the_same_task(namespaces):
    ns, check_ns = namespaces.new(), namespaces.new()
    setup, task, _probe = SCENARIOS["c"]
    applied_idempotent_and_predicted(ns, check_ns, setup, task)
    now = links(ns)
    assert now["eno1"]["master"] == now["eno2"]["master"] == "bond0"
    assert now["vlan50"]["link"] == "bond0" and now["bond0.100"]["link"] == "bond0"
    assert "eno1.100" not in now
    assert now["bond0.100"]["master"] == "vmbr100" and now["tap100i0"]["master"] == "vmbr100"
    dump = settled_state(ns)
    assert [a for a in dump["addrs"]["vlan50"] if a.startswith("198.51.100.10/")], dump["addrs"]
    assert [r for r in dump["routes"] if r.get("dst") == "default" and r.get("dev") == "vlan50"], dump["routes"]


# -- (d) a bridge made vlan-aware with its guests' VLANs ------------------------------------------------------------

def test_d_bridge_made_vlan_aware_with_its_guests_vlans(namespaces):
    ns, check_ns = namespaces.new(), namespaces.new()
    setup, task, _probe = SCENARIOS["d"]
    done = applied_idempotent_and_predicted(ns, check_ns, setup, task)
    bridge = done["state"]["bridges"]["vmbr0"]
    assert bridge["vlan_filtering"] is True
    assert bridge["guest_ports"] == ["tap100i0", "veth101i0"]
    print(f"(d) port VLANs after the change: {bridge['port_vlans']}")
    assert set(bridge["port_vlans"]) >= {"eno1", "tap100i0", "veth101i0"}, bridge["port_vlans"]


# -- the undo sweep: every operation refused in turn (tests/sweep.py) --------------------------------------------

SWEPT = {"a": "(a) uplink to a bond under the bridge, MTU 9000", "c": "(c) VLANs re-parented onto a new bond",
         "d": "(d) bridge made vlan-aware with port VLANs"}


@pytest.mark.parametrize("scenario", sorted(SWEPT))
def test_every_step_undoes_to_the_complete_dump(scenario, netns):
    setup, task, _probe = SCENARIOS[scenario]
    result = sweep(SWEPT[scenario], netns, setup, "net_state", task)
    assert result.findings == [], result.report()


# -- the SIGKILL sweep: net_state with `checkpoint` killed after every operation -----------------------------------

# Every k costs a watchdog's and a module's Python start under emulation (about 45 s of the VM's two vCPUs): the
# lane's default run kills at the first, a middle and the last operation of each plan; NETSAFE_KILL_SWEEP=every
# kills at every k (measured: 34 runs, about 35 minutes for the three plans; docs/testing.md).
KILL_EVERY = os.environ.get("NETSAFE_KILL_SWEEP") == "every"
KILL_TIMEOUT = float(os.environ.get("NETSAFE_KILL_SWEEP_TIMEOUT", "90"))   # s: a batch's arming under emulation fits
KILL_BATCH = int(os.environ.get("NETSAFE_KILL_SWEEP_BATCH", "4"))           # modules arming at once

_KILLED = ("import sys, json; sys.path[:0] = [sys.argv[1], sys.argv[2]]; from modrun import run_module; "
           "print(json.dumps(run_module('net_state', json.loads(sys.argv[3]))))")


def _killed(args: dict, k: int) -> subprocess.Popen:
    env = dict(os.environ, NETSAFE_KILL_AT=str(k))
    return subprocess.Popen([sys.executable, "-c", _KILLED, str(TESTS), str(COLLECTIONS), json.dumps(args)],  # pylint: disable=consider-using-with
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _last(root: Path, ns: str, checkpoint_id: str | None, limit: float) -> dict:
    path = root / "var/lib/netsafe/checkpoint" / f"netns-{ns}" / "last.json"
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        if path.exists():
            last = json.loads(path.read_text())
            if last.get("outcome") != "armed" and (checkpoint_id is None or last.get("id") == checkpoint_id):
                return last
        time.sleep(0.5)
    log = root / "run/netsafe/checkpoint" / f"netns-{ns}" / "watchdog.log"
    raise AssertionError(f"no outcome in {path} within {limit} s; log:\n{log.read_text() if log.exists() else '-'}")


def _killed_run_problems(k: int, proc: subprocess.Popen, root: Path, ns: str, before: dict) -> list:
    out, err = proc.communicate()
    if proc.returncode != -signal.SIGKILL:
        return [f"the module was not killed (rc {proc.returncode}): {out[-800:]} {err[-800:]}"]
    last = _last(root, ns, None, KILL_TIMEOUT + 240)
    problems = []
    if last.get("outcome") != "rolled_back" or not str(last.get("by", "")).startswith("watchdog"):
        problems.append(f"outcome {last.get('outcome')!r} by {last.get('by')!r}: {last.get('reason')}")
    elif "not confirmed before its deadline" not in last.get("reason", ""):
        problems.append(f"rolled back for another reason: {last.get('reason')}")
    if bool(last.get("commands")) != (k > 0):
        problems.append(f"rollback commands {last.get('commands')} after {k} operations (was the deadline "
                        f"before the kill? raise NETSAFE_KILL_SWEEP_TIMEOUT)")
    had_carrier = [link["ifname"] for link in before["links"] if "LOWER_UP" in link["flags"]]
    wait_carrier(ns, [name for name in ("eno1", "eno2") if name in had_carrier], polls=600)
    return problems + [f"state differs: {line}" for line in state_diff(before, settled_state(ns))]


def kill_sweep(label: str, namespaces, tmp_path: Path, setup: list, task: dict, probe: str) -> list:
    """For every k of the plan (KILL_EVERY; else the first, a middle and the last), in fresh namespaces: net_state with `checkpoint` SIGKILLed once operations
    0..k-1 reached the kernel (NETSAFE_KILL_AT=k); its watchdog rolls back at the deadline (the gate never
    starts before it); the complete dump must equal the one before. The findings, one per k that went wrong.

    Arming is what costs under emulation, waiting for the deadline costs nothing: KILL_BATCH modules arm at
    a time, and every watchdog then waits out its deadline while the next batch arms."""
    check_ns = namespaces.new()
    fresh_namespace(check_ns, setup)
    preview = run_module("net_state", dict(task, namespace=check_ns), check=True)
    assert not preview.get("failed") and preview["changed"], preview.get("msg")
    n = len(preview["commands"])
    swept = list(range(n)) if KILL_EVERY else sorted({0, n // 2, n - 1})
    runs, roots = [], []
    try:
        for first in range(0, len(swept), KILL_BATCH):
            batch = []
            for k in swept[first:first + KILL_BATCH]:
                ns, root = namespaces.new(), tmp_path / f"root{k}"
                root.mkdir()
                roots.append(root)
                fresh_namespace(ns, setup)
                guard = {"timeout": KILL_TIMEOUT, "gate_settle": 3600, "root": str(root),
                         "probes": [{"type": "icmp", "target": probe, "count": 1}]}
                batch.append((k, ns, root, settled_state(ns), _killed(dict(task, namespace=ns, checkpoint=guard), k)))
            for run in batch:
                run[4].wait(timeout=KILL_TIMEOUT + 120)
            runs += batch
        findings = []
        for k, ns, root, before, proc in runs:
            problems = _killed_run_problems(k, proc, root, ns, before)
            if problems:
                findings.append(f"k={k} (killed before '{preview['commands'][k]}'):\n    " + "\n    ".join(problems))
    finally:
        for root in roots:
            kill_watchdogs(root)
    print(f"kill sweep {label}: plan of {n} operations, killed at k = {', '.join(map(str, swept))}, "
          f"{len(findings)} findings")
    return findings


# Found by this sweep (2026-12-07) and fixed in the rollback: (d) turned vlan_filtering off and left the port
# VLANs the change made ("bridge_vlans eno1: ['1 Egress Untagged PVID'] -> ['1 Egress Untagged PVID', '30-31']",
# rollback._vlan_tables_back); (c) left vlan50's LOOSE_BINDING flag as the change set it (plan_vlan gives a
# snapshot's binding back).


@pytest.mark.slow
@pytest.mark.sweep
@pytest.mark.parametrize("scenario", ["a", "c", "d"])
def test_killed_at_every_operation_the_watchdog_restores_the_host(scenario, namespaces, tmp_path):
    setup, task, probe = SCENARIOS[scenario]
    findings = kill_sweep(f"({scenario})", namespaces, tmp_path, setup, task, probe)
    assert findings == [], "\n".join(findings)
