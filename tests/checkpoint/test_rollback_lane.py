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
checkpoint is armed for 600 s and, once the change is made, its deadline is
brought forward to now in the record, under the store's lock (what arming
with a shorter timeout would have written). The watchdog reads its deadline
from the record; what happens at the deadline is its own code, unchanged.

The same break through the change_window role, rolled back by the role over
ssh, is tests/changewindow/test_rollback_role_lane.py.
"""
from __future__ import annotations

import time

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp

import persist_lab
from modrun import run_module
from nstools import settled_state, state_diff, wait_carrier
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.fullkernel("bonding", "8021q", "bridge_vlan_filtering")]

TIMEOUT = 600         # brought forward once the change is made (bring_deadline_forward)


def bring_deadline_forward(ns: str, root, checkpoint_id: str) -> float:
    """Set the armed record's deadline to now (see the module docstring); returns it."""
    store = cp.Store(ns, str(root))
    with store:
        record = store.load()
        assert record["id"] == checkpoint_id and record["state"] == cp.ARMED, record["state"]
        record["deadline"] = time.time()
        store.save(record)
    return record["deadline"]


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

    deadline = bring_deadline_forward(ns, root, record["id"])
    give_up = deadline + 120
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
