"""The watchdog's deadline rollback of bonds, VLANs and a vlan-aware bridge, on a kernel that has them (issue 24).

Runs inside the full-kernel VM (the host kernel has no bonding, 802.1Q or
VLAN filtering). The host is persist_lab.vlan_aware: bond0 (active-backup,
miimon 100, primary eno1) carries bond0.10, a port of the vlan-aware vmbr0
with a VM tap on VLAN 30 and a container veth on VLAN 31. A checkpoint is
armed, then one change breaks everything a rollback of these devices must put
back, each through its module as a change window would
(persist_lab.VLAN_AWARE_BREAK): the bond's mode and options (balance-xor,
miimon 250, layer3+4), a VLAN's id and parent (bond0.10 re-created as id 20
on eno3), the port VLANs of the vlan-aware bridge (uplink and both guests on
other VLANs) and its MTU. The watchdog rolls it back at its deadline, and the
complete state dump must equal the one taken before the checkpoint.

Arming costs 20-40 s under emulation (the watchdog's Python start), more
under load: a timeout long enough for that and the break would mostly be
idle VM time, and a short one could pass in the middle of the break. So the
watchdog is stopped (SIGSTOP) as soon as it is armed, the break and the
check-mode preview are made, and once its deadline has passed it is let go
(SIGCONT): its own loop then finds the deadline passed and rolls back, as a
watchdog the scheduler starved would. (It keeps its deadline on
CLOCK_BOOTTIME and its record in memory, so nothing written to the record
could bring the deadline forward.)

The same break through the change_window role, rolled back by the role over
ssh, is tests/changewindow/test_rollback_role_lane.py.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

import persist_lab
from modrun import run_module
from nstools import settled_state, state_diff, wait_carrier
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.fullkernel("bonding", "8021q", "bridge_vlan_filtering")]

TIMEOUT = 60          # seconds: more than arming takes here; the watchdog is stopped until it has passed


@pytest.fixture
def host(namespaces, tmp_path):
    """The vlan_aware host and its switch; every watchdog started under the scratch root killed at the end."""
    ns, switch = namespaces.new(), namespaces.new()
    persist_lab.vlan_aware(ns, switch)
    wait_carrier(ns, persist_lab.VLAN_AWARE_CARRIER, polls=600)
    root = tmp_path / "root"
    root.mkdir()
    try:
        yield ns, root
    finally:
        kill_watchdogs(root)


def test_watchdog_rolls_back_bond_mode_vlan_id_and_parent_and_port_vlans(host):
    ns, root = host
    before = settled_state(ns)

    def checkpoint(check=False, **args):
        return run_module("net_checkpoint", dict(args, namespace=ns, root=str(root)), check=check)

    armed = checkpoint(state="armed", timeout=TIMEOUT)
    assert not armed.get("failed"), armed
    record = armed["checkpoint"]
    deadline = time.monotonic() + record["remaining"]
    dog = record["watchdog"]["pid"]
    os.kill(dog, signal.SIGSTOP)
    assert time.monotonic() < deadline, f"arming took longer than its {TIMEOUT} s timeout here: raise TIMEOUT"
    for module, args in persist_lab.VLAN_AWARE_BREAK:
        result = run_module(module, dict(args, namespace=ns))
        assert not result.get("failed") and result["changed"], (module, result.get("msg"))
    wait_carrier(ns, ("eno1", "eno2", "bond0", "vmbr0"), polls=600)
    changed = settled_state(ns)
    assert persist_lab.vlan_aware_broken(before, changed) == []

    # Before the deadline: the rollback's plan in check mode (the planner used to refuse a bond's
    # snapshot in another mode) changes nothing.
    preview = checkpoint(state="rolled_back", check=True)
    assert not preview.get("failed") and preview["changed"], preview.get("msg")
    assert any("type bond mode active-backup" in command for command in preview["commands"]), preview["commands"]
    assert state_diff(changed, settled_state(ns)) == []

    time.sleep(max(0.0, deadline - time.monotonic()) + 0.5)
    os.kill(dog, signal.SIGCONT)   # past its deadline: the watchdog's own loop decides
    give_up = time.time() + 120
    query = checkpoint(state="query")
    while query["armed"] and time.time() < give_up:
        time.sleep(1)
        query = checkpoint(state="query")
    last = query["last"]
    assert not query["armed"] and last["id"] == record["id"], query
    assert last["outcome"] == "rolled_back" and last["by"].startswith("watchdog pid"), last
    assert "not confirmed before its deadline" in last["reason"]
    wait_carrier(ns, persist_lab.VLAN_AWARE_CARRIER, polls=600)
    diff = state_diff(before, settled_state(ns))
    assert diff == [], "the watchdog's rollback did not restore the host:\n" + "\n".join(diff)
