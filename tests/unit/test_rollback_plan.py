"""The rollback plan (pure logic): from a changed host back to the snapshot, predicted by the core's simulator.

The kernel side of the same thing is tests/checkpoint; these cases name the
shapes a rollback must undo: devices the change built (with VLANs riding on
them), a guest moved to a new bridge, a default route the snapshot did not have.
"""
from __future__ import annotations

import copy

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_DEL, ROUTE_DEL
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.rollback import plan_rollback

from persist_hosts import proxmox_host

GUESTS = GuestMatcher()


# Left out of the comparison, each with its reason: what the read reports but no plan sets.
NOT_STATE = {
    "operstate": "reported by the kernel (carrier), never part of a desired state",
    "index": "allocated by the kernel",
    "mac": "left to the kernel: a re-created bridge, bond or VLAN takes its first port's or parent's MAC "
           "(rollback.py); the lane's tests compare the real MACs in the complete state dump",
}


def comparable(host: HostNetwork) -> dict:
    """Every device as its whole to_dict() (MTU, admin state, bond options, VLAN id, port VLANs...), minus NOT_STATE."""
    out = {}
    for name, dev in sorted(host.devices.items()):
        data = {k: v for k, v in dev.to_dict().items() if k not in NOT_STATE}
        data["ip"] = dict(data["ip"], addresses=dev.ip.normalized().addresses or [])
        out[name] = data
    return out


def with_guest(host: HostNetwork) -> HostNetwork:
    host = copy.deepcopy(host)
    host.add(GuestPort(name="tap100i0", master="vmbr10", up=True, mtu=1500))
    return host


def test_built_devices_are_deleted_riders_first_and_the_snapshot_comes_back():
    snapshot = with_guest(proxmox_host())
    changed = copy.deepcopy(snapshot)
    changed.add(Bond(name="bond1", mode="active-backup", up=True))
    changed.add(Vlan(name="bond1.20", parent="bond1", vlan_id=20, up=True))
    changed.add(Bridge(name="vmbr20", up=True, ip=IpConfig(addresses=["198.51.100.2/24"], gateway4="198.51.100.1")))
    changed.get("bond1.20").master = "vmbr20"
    changed.get("tap100i0").master = "vmbr20"
    for dev in changed.devices.values():
        dev.ip.gateway4 = dev.ip.gateway4 if dev.name == "vmbr20" else None
    plan = plan_rollback(changed, snapshot, GUESTS)
    deletes = [op.device for op in plan.operations if op.action == LINK_DEL]
    assert deletes == ["bond1.20", "vmbr20", "bond1"]
    assert comparable(plan.predict(changed)) == comparable(snapshot)
    assert plan_rollback(plan.predict(changed), snapshot, GUESTS).operations == []


def test_a_default_route_the_snapshot_did_not_have_is_deleted():
    snapshot = proxmox_host()
    for dev in snapshot.devices.values():
        dev.ip.gateway6 = None
    changed = copy.deepcopy(snapshot)
    vlan = next(d for d in changed.devices.values() if d.ip.addresses and d.ip.gateway4)
    vlan.ip.addresses = sorted(vlan.ip.addresses + ["2001:db8:9::2/64"])
    vlan.ip.gateway6 = "2001:db8:9::1"
    plan = plan_rollback(changed, snapshot, GUESTS)
    assert [op.device for op in plan.operations if op.action == ROUTE_DEL] == [vlan.name]
    assert comparable(plan.predict(changed)) == comparable(snapshot)


def test_a_guest_without_a_bridge_in_the_snapshot_is_never_detached():
    snapshot = with_guest(proxmox_host())
    snapshot.get("tap100i0").master = None
    changed = copy.deepcopy(snapshot)
    changed.get("tap100i0").master = "vmbr10"
    plan = plan_rollback(changed, snapshot, GUESTS)
    assert not [op for op in plan.operations if op.device == "tap100i0"]


def test_devices_limit_the_rollback():
    snapshot = with_guest(proxmox_host())
    changed = copy.deepcopy(snapshot)
    changed.add(Bridge(name="vmbr99", up=True))
    changed.get("tap100i0").master = "vmbr99"
    plan = plan_rollback(changed, snapshot, GUESTS, devices=["vmbr10"])
    assert [op.device for op in plan.operations] == ["tap100i0"]  # guests always; vmbr99 not named, so kept
