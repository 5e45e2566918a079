"""What a rollback keeps of what is new, and what a kept device gives back (review of issue 22, items 1 and 6).

A new bridge, bond or VLAN stays only when it carries what the change cannot have made: a guest port that joined
since the checkpoint, or a new device of a kind netsafe never creates (veth, macvlan, vxlan, tap...). A name alone
keeps nothing. A kept device gives back what the snapshot has: its snapshot ports, the snapshot's addresses, the
default routes through it. On the kernel: tests/checkpoint/test_att_names_like_plumbing.py,
test_att_container_bridge.py, test_review_op_kept_bridge.py.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_DEL, undo_sequence
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.rollback import plan_rollback

from unit.test_guest_guard import snapshot_host as guest_guard_host

GUESTS = GuestMatcher()


def snapshot_host() -> HostNetwork:
    """test_guest_guard's host (vmbr0 on eno1, VMs on vmbr0, eno2 spare), eno2 down and IPv6 on vmbr0 as well."""
    host = guest_guard_host()
    host.get("eno2").up = False
    host.get("vmbr0").ip = IpConfig(addresses=["192.0.2.10/24", "2001:db8::10/64"], gateway4="192.0.2.1",
                                    gateway6="2001:db8::1")
    return host


def moved_onto(snapshot: HostNetwork, name: str, *extra) -> HostNetwork:
    """The change: a new bridge `name` takes eno1, eno2 (up), the host's addresses (IPv4 as a /25) and gateways."""
    host = snapshot.clone()
    host.add(Bridge(name=name, mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=False,
                    ip=IpConfig(addresses=["192.0.2.10/25", "2001:db8::10/64"], gateway4="192.0.2.1",
                                gateway6="2001:db8::1")))
    host.get("vmbr0").ip = IpConfig(addresses=[])
    for port in ("eno1", "eno2"):
        host.get(port).master, host.get(port).up = name, True
    for dev in extra:
        host.add(dev)
    return host


def state(host: HostNetwork) -> dict:
    return {name: (dev.master, dev.up, dev.ip.addresses and sorted(dev.ip.addresses), dev.ip.gateway4, dev.ip.gateway6)
            for name, dev in sorted(host.devices.items())}


@pytest.mark.parametrize("name", ["vmbr0v5", "virbr7", "fwbr9i0", "vmbrY"])
def test_a_name_alone_keeps_nothing(name):
    snapshot = snapshot_host()
    changed = moved_onto(snapshot, name)
    plan = plan_rollback(changed, snapshot, GUESTS)
    assert [op.device for op in plan.operations if op.action == LINK_DEL] == [name]
    assert plan.left == []
    assert state(plan.predict(changed)) == state(snapshot)


@pytest.mark.parametrize("port, kind", [
    (Nic(name="veth3f2a1b0", mtu=1500, up=True, kind="veth"), "veth"),        # Docker, Podman, LXC
    (Nic(name="macvtap0", mtu=1500, up=True, kind="macvlan"), "macvlan"),
    (Nic(name="vxlan100", mtu=1450, up=True, kind="vxlan"), "vxlan"),          # an SDN zone
    (GuestPort(name="vnet9", mtu=1500, up=True, kind="tap"), None),            # a guest: its own reason
])
def test_a_new_device_of_a_kind_netsafe_never_creates_keeps_its_bridge_which_gives_back_the_hosts(port, kind):
    snapshot = snapshot_host()
    port.master = "docker0"
    changed = moved_onto(snapshot, "docker0", port)
    changed.get("docker0").ip.addresses.append("172.17.0.1/16")      # its own address: the snapshot never had it
    plan = plan_rollback(changed, snapshot, GUESTS)
    assert [op.device for op in plan.operations if op.action == LINK_DEL] == []
    [item] = plan.left
    why = (f"carries {port.name} ({kind}), made since the checkpoint: netsafe never creates such devices" if kind
           else f"carries guest port {port.name}, which joined it since the checkpoint")
    assert item["reason"] == why + "; taken back from it: " + ", ".join(item["taken_back"])
    assert item["taken_back"] == [
        "default route via 192.0.2.1", "default route via 2001:db8::1",
        "address 192.0.2.10/25 (the snapshot's, on vmbr0)", "address 2001:db8::10/64 (the snapshot's, on vmbr0)",
        "port eno1 (back to vmbr0)", "port eno2 (it had no master)"]
    after = plan.predict(changed)
    expected = dict(state(snapshot), docker0=(None, True, ["172.17.0.1/16"], None, None),
                    **{port.name: ("docker0", True, None, None, None)})
    assert state(after) == expected
    assert plan_rollback(after, snapshot, GUESTS).operations == []
    # The undo (newest first) puts the change back: each gateway is reachable again before its route returns.
    assert state(predict(after, undo_sequence(plan.operations))) == state(changed)


def test_new_devices_netsafe_creates_keep_nothing_for_each_other():
    """A new bridge on a new bond and a new VLAN, the snapshot's tap moved onto the bridge: all of it the change's."""
    snapshot = snapshot_host()
    changed = snapshot.clone()
    changed.add(Vlan(name="eno2.30", mtu=1500, up=True, parent="eno2", vlan_id=30, protocol="802.1Q",
                     master="vmbr9"))
    changed.add(Bond(name="bond9", mtu=1500, up=True, mode="active-backup", master="vmbr9"))
    changed.add(Bridge(name="vmbr9", mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=False))
    changed.get("tap100i0").master = "vmbr9"
    plan = plan_rollback(changed, snapshot, GUESTS)
    assert [op.device for op in plan.operations if op.action == LINK_DEL] == ["eno2.30", "vmbr9", "bond9"]
    assert plan.left == [] and state(plan.predict(changed)) == state(snapshot)


def test_a_rollback_of_some_devices_takes_back_only_theirs():
    """devices=[vmbr0]: vmbr0 and its snapshot port eno1 come back from the kept bridge; eno2 (not named) stays."""
    snapshot = snapshot_host()
    guest = GuestPort(name="veth500i0", mtu=1500, up=True, master="vmbr5", kind="veth")
    changed = moved_onto(snapshot, "vmbr5", guest)
    plan = plan_rollback(changed, snapshot, GUESTS, devices=["vmbr0"])
    after = plan.predict(changed)
    assert after.get("eno1").master == "vmbr0" and after.get("eno2").master == "vmbr5"
    assert after.get("vmbr0").ip == snapshot.get("vmbr0").ip and after.get("vmbr5").ip.addresses == []
    assert [item["device"] for item in plan.left] == ["vmbr5"]
