"""Who decides a port's admin state: its own description, never the bridge or bond it belongs to.

A whole described host (a rollback's snapshot, net_persist `restored`) says of each NIC whether it is up. A
bridge that brought every listed port up fought that description: the verifying re-plan was never empty and
every rollback of a host with an uplink taken down failed (the operator review). net_bridge alone, which says
nothing of its ports' state, still brings up an uplink it lists.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import plan_host

GUESTS = GuestMatcher()


def host() -> HostNetwork:
    """vmbr1 on eno2 (taken down by its operator), eno3 and eno4 down and free."""
    out = HostNetwork()
    for name, up, master in (("eno2", False, "vmbr1"), ("eno3", False, None), ("eno4", False, None)):
        out.add(Nic(name=name, mtu=1500, up=up, master=master, kind="veth", ip=IpConfig(addresses=[])))
    out.add(Bridge(name="vmbr1", mtu=1500, up=True, stp=False, forward_delay=0, ip=IpConfig(addresses=[])))
    return out


def described(current: HostNetwork, **changes) -> HostNetwork:
    """`current` as a whole-host description, each device's fields replaced by `changes[name]`."""
    want = HostNetwork()
    for name, dev in current.devices.items():
        dev = dev.clone()
        for key, value in changes.get(name, {}).items():
            setattr(dev, key, value)
        want.add(dev)
    return want


def converges(start: HostNetwork, want: HostNetwork) -> list:
    """The plan's commands, after checking that planning again from its prediction finds nothing left."""
    plan = plan_host(start, want, GUESTS)
    assert plan_host(plan.predict(start), want, GUESTS).commands() == []
    return plan.commands()


def test_net_bridge_alone_brings_up_the_uplinks_it_lists():
    cmds = plan_bridge(host(), Bridge(name="vmbr1"), ["eno2", "eno3"], True, GUESTS).commands()
    assert cmds == ["ip link set dev eno2 up", "ip link set dev eno3 master vmbr1", "ip link set dev eno3 up"]


def test_a_port_whose_state_is_decided_elsewhere_is_not_brought_up_by_its_bridge():
    cmds = plan_bridge(host(), Bridge(name="vmbr1"), ["eno2", "eno3"], True, GUESTS,
                       port_states={"eno2": False, "eno3": False}).commands()
    assert cmds == ["ip link set dev eno3 master vmbr1"]


def test_a_described_host_keeps_a_bridge_port_down_and_brings_up_one_described_up():
    start = host()
    assert converges(start, described(start)) == []
    want = described(start, eno3={"master": "vmbr1"}, eno4={"master": "vmbr1", "up": True})
    assert converges(start, want) == ["ip link set dev eno4 up", "ip link set dev eno3 master vmbr1",
                                      "ip link set dev eno4 master vmbr1"]


def test_a_bond_port_described_down_is_taken_down_again_after_the_bond_opens_it():
    start = host()
    want = described(start)
    want.add(Bond(name="bond0", mtu=1500, up=True, mode="active-backup", ip=IpConfig(addresses=[])))
    want.get("eno3").master = want.get("eno4").master = "bond0"
    want.get("eno4").up = True
    cmds = converges(start, want)
    assert cmds[-1] == "ip link set dev eno3 down", cmds   # the kernel opens a device it enslaves


def test_a_deleted_bond_closes_its_slaves_and_the_rollback_brings_them_up_again():
    """The kernel releases a deleted bond's slaves and closes them, as it closes a port a bond releases.

    The simulator kept them up, so the rollback of "the uplink becomes a bond" planned no `up` for them and the
    kernel's re-read (eno1, eno2 down) undid the whole rollback: rollback_failed (review 3; the lane test
    tests/checkpoint/test_rev3_uplink_bond_rolled_back.py runs it on the kernel).
    """
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan, plan_delete
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.rollback import plan_rollback

    snapshot = HostNetwork()
    for name in ("eno1", "eno2"):
        snapshot.add(Nic(name=name, mtu=1500, up=True, master="vmbr0" if name == "eno1" else None, kind="",
                         ip=IpConfig(addresses=[])))
    snapshot.add(Bridge(name="vmbr0", mtu=1500, up=True, stp=False, forward_delay=0,
                        ip=IpConfig(addresses=["192.0.2.10/24"])))
    changed = snapshot.clone()
    changed.get("eno1").master = changed.get("eno2").master = "bond0"
    changed.add(Bond(name="bond0", mtu=1500, up=True, master="vmbr0", mode="active-backup", miimon=100,
                     ip=IpConfig(addresses=[])))
    after_delete = Plan([plan_delete(changed, "bond0")]).predict(changed)
    assert (after_delete.get("eno1").up, after_delete.get("eno2").up) == (False, False)
    plan = plan_rollback(changed, snapshot, GUESTS)
    restored = plan.predict(changed)
    assert (restored.get("eno1").up, restored.get("eno2").up, restored.get("eno1").master) == (True, True, "vmbr0")
    assert not plan_rollback(restored, snapshot, GUESTS).operations
