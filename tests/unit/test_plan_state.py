"""net_state's planning without a kernel: order, take-overs, moved addresses, and what a request contradicts in itself.

The kernel tests (tests/state/, the full-kernel lane) prove the plans on a real kernel; these pin the rules."""
from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import undo_sequence
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_state import plan_state
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict
from ansible_collections.netsafe.hypervisor.plugins.modules import net_state

GUESTS = GuestMatcher()


def task(**lists) -> tuple:
    """(requests, places) of a net_state task, its options validated and defaulted as AnsibleModule does."""
    result = ArgumentSpecValidator(net_state.ARGUMENT_SPEC).validate(lists)
    assert not result.error_messages, result.error_messages
    return net_state.requests_of(result.validated_parameters)


def plan(host, **lists):
    requests, places = task(**lists)
    return plan_state(host, requests, places, GUESTS)


def vmbr0_on_eno1() -> HostNetwork:
    host = HostNetwork()
    for name in ("eno1", "eno2"):
        host.add(Nic(name=name, mtu=1500, up=True, ip=IpConfig(addresses=[], routes=[]),
                     master="vmbr0" if name == "eno1" else None))
    host.add(GuestPort(name="tap100i0", mtu=1500, up=True, kind="tun", master="vmbr0", ip=IpConfig(addresses=[], routes=[])))
    host.add(Bridge(name="vmbr0", mtu=1500, up=True, stp=False, forward_delay=0,
                    ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1", routes=[])))
    return host


BOND_UNDER_VMBR0 = dict(bonds=[{"name": "bond0", "ports": ["eno1", "eno2"], "mode": "active-backup", "mtu": 9000}],
                        bridges=[{"name": "vmbr0", "ports": ["bond0"], "mtu": 9000}])


def test_a_bond_takes_the_live_uplink_from_the_bridge_the_task_describes_without_it():
    host = vmbr0_on_eno1()
    done = plan(host, **BOND_UNDER_VMBR0)
    after = done.predict(host)
    assert sorted(p.name for p in after.ports_of("bond0")) == ["eno1", "eno2"]
    assert sorted(p.name for p in after.ports_of("vmbr0")) == ["bond0", "tap100i0"]
    assert (after.get("vmbr0").mtu, after.get("bond0").mtu) == (9000, 9000)
    assert after.get("vmbr0").ip.addresses == ["192.0.2.10/24"] and after.get("vmbr0").ip.gateway4 == "192.0.2.1"
    assert not plan(after, **BOND_UNDER_VMBR0)   # planned again from there: nothing left


def test_the_bond_alone_may_not_take_a_port_of_a_bridge_the_task_does_not_describe():
    with pytest.raises(ValidationError, match=r"bonds\[0\] \(bond0\).*'eno1' is a port of 'vmbr0'; set take_over_ports"):
        plan(vmbr0_on_eno1(), bonds=BOND_UNDER_VMBR0["bonds"])


def test_a_port_of_two_masters_a_device_twice_and_a_deleted_device_in_use_are_refused_together():
    with pytest.raises(ValidationError) as caught:
        plan(vmbr0_on_eno1(),
             bonds=[{"name": "bond0", "ports": ["eno1", "eno2"]}, {"name": "bond1", "state": "absent"}],
             bridges=[{"name": "vmbr0", "ports": ["eno1"]}, {"name": "vmbr9", "ports": ["bond1"]},
                      {"name": "bond0", "state": "absent"}])
    text = str(caught.value)
    assert "'eno1' is a port in bonds[0] (bond0) and bridges[0] (vmbr0)" in text
    assert "bonds[0] and bridges[2] all describe 'bond0'" in text
    assert "bridges[1] (vmbr9) stands on 'bond1', which bonds[1] deletes" in text


def test_an_entry_with_a_bad_value_is_named_by_its_place():
    with pytest.raises(ValidationError, match=r"bridges\[1\]\.mtu"):
        task(bridges=[{"name": "vmbr0"}, {"name": "vmbr1", "mtu": 20}])


def nic_with_the_host() -> HostNetwork:
    host = HostNetwork()
    host.add(Nic(name="eth1", mtu=1500, up=True, ip=IpConfig(
        addresses=["192.0.2.10/24"], gateway4="192.0.2.1",
        routes=[Route(dst="10.20.0.0/16", via="192.0.2.254", proto="static").normalized()])))
    return host


def test_the_address_default_route_and_static_routes_of_a_new_port_move_to_its_bridge():
    host = nic_with_the_host()
    done = plan(host, bridges=[{"name": "vmbr1", "ports": ["eth1"], "addresses": ["192.0.2.10/24"]}])
    after = done.predict(host)
    assert after.get("eth1").ip.addresses == [] and after.get("eth1").ip.gateway4 is None
    assert not after.get("eth1").ip.routes
    assert after.get("vmbr1").ip.addresses == ["192.0.2.10/24"] and after.get("vmbr1").ip.gateway4 == "192.0.2.1"
    assert [r.dst for r in after.get("vmbr1").ip.routes] == ["10.20.0.0/16"]
    assert any("eth1 becomes a port of vmbr1" in w for w in done.warnings)
    # Addresses not given on the bridge: the port's are taken over as they are.
    implicit = plan(host, bridges=[{"name": "vmbr1", "ports": ["eth1"]}]).predict(host)
    assert implicit.get("vmbr1").ip.addresses == ["192.0.2.10/24"] and implicit.get("eth1").ip.addresses == []


def test_a_port_whose_own_entry_keeps_addresses_is_refused():
    with pytest.raises(ValidationError, match=r"nics \(eth1\): addresses: a port of vmbr1 carries none"):
        plan(nic_with_the_host(), nics=[{"name": "eth1", "addresses": ["192.0.2.10/24"]}],
             bridges=[{"name": "vmbr1", "ports": ["eth1"]}])


def test_routes_named_twice_or_for_a_missing_device_are_refused():
    with pytest.raises(ValidationError, match=r"routes: 'vmbr1' has an entry \(bridges\[0\]\)"):
        task(bridges=[{"name": "vmbr1"}], routes=[{"device": "vmbr1", "dst": "10.0.0.0/8", "via": "192.0.2.1"}])
    with pytest.raises(ValidationError, match=r"'eth9' does not exist and no entry of this task creates it"):
        plan(nic_with_the_host(), routes=[{"device": "eth9", "dst": "10.0.0.0/8", "via": "192.0.2.1"}])


def renamed_vlan_host() -> HostNetwork:
    host = HostNetwork()
    for name in ("eno1", "eno2"):
        host.add(Nic(name=name, mtu=1500, up=True, ip=IpConfig(addresses=[], routes=[])))
    host.add(Vlan(name="eno1.100", parent="eno1", vlan_id=100, protocol="802.1Q", mtu=1500, up=True,
                  master="vmbr100", ip=IpConfig(addresses=[], routes=[])))
    host.add(Bridge(name="vmbr100", mtu=1500, up=True, stp=False, forward_delay=0, ip=IpConfig(addresses=[], routes=[])))
    return host


def test_a_vlan_renamed_onto_a_new_bond_is_deleted_first_and_its_bridge_takes_the_new_one():
    host = renamed_vlan_host()
    lists = dict(bonds=[{"name": "bond0", "ports": ["eno1", "eno2"]}],
                 vlans=[{"parent": "bond0", "vlan_id": 100}, {"name": "eno1.100", "state": "absent"}],
                 bridges=[{"name": "vmbr100", "ports": ["bond0.100"]}])
    done = plan(host, **lists)
    devices = [op.device for op in done.operations]
    assert devices.index("eno1.100") < devices.index("bond0")
    after = done.predict(host)
    assert after.get("eno1.100") is None
    assert [p.name for p in after.ports_of("vmbr100")] == ["bond0.100"]
    assert after.get("bond0.100").parent == "bond0"
    assert not plan(after, **lists)


def test_the_bond_is_made_before_the_live_uplink_breaks():
    """bond0 of the free eno2 comes up first, vmbr0 moves from eno1 onto it, eno1 joins the bond last: the cut is
    one release and one enslave apart (docs/net_state.md)."""
    commands = [c.replace("ip link set dev ", "") for c in plan(vmbr0_on_eno1(), **BOND_UNDER_VMBR0).commands()]
    assert commands.index("eno2 master bond0") < commands.index("bond0 up") < commands.index("eno1 nomaster")
    assert commands.index("eno1 nomaster") + 1 == commands.index("bond0 master vmbr0")
    assert commands[-1] == "eno1 master bond0"


def test_a_primary_that_is_a_live_port_is_set_once_that_port_joins():
    lists = dict(bonds=[{"name": "bond0", "ports": ["eno1", "eno2"], "mode": "active-backup", "primary": "eno1"}],
                 bridges=[{"name": "vmbr0", "ports": ["bond0"]}])
    host = vmbr0_on_eno1()
    done = plan(host, **lists)
    commands = done.commands()
    assert commands.index("ip link set dev eno1 master bond0") < commands.index("ip link set dev bond0 type bond primary eno1")
    after = done.predict(host)
    assert after.get("bond0").primary == "eno1"
    assert not plan(after, **lists)


def nics_with_a_vlan() -> HostNetwork:
    """eno1 (up) carries vlan50 (up, the host's address); eno2 is free."""
    host = HostNetwork()
    for name in ("eno1", "eno2"):
        host.add(Nic(name=name, mtu=1500, up=True, kind="veth", ip=IpConfig(addresses=[], routes=[])))
    host.add(Vlan(name="vlan50", parent="eno1", vlan_id=50, protocol="802.1Q", loose_binding=False, mtu=1500, up=True,
                  ip=IpConfig(addresses=["198.51.100.10/24"], gateway4="198.51.100.1", routes=[])))
    return host


def test_a_vlan_on_a_nic_a_new_bond_takes_down_is_loosely_bound_meanwhile_and_after_the_undo_too():
    """Found by the lane's failpoint sweep of (c): the kernel took vlan50 down with eno1 (enslaved to the new bond
    before vlan50 is re-made on it), which deleted its default route; the undo brought eno1 up, not the route."""
    host = nics_with_a_vlan()
    done = plan(host, bonds=[{"name": "bond0", "mode": "active-backup", "miimon": 100, "slaves": ["eno1", "eno2"]}],
                vlans=[{"name": "vlan50", "parent": "bond0", "vlan_id": 50}])
    commands = done.commands()
    loose, down = (commands.index("ip link set dev vlan50 type vlan loose_binding on"),
                   commands.index("ip link set dev eno1 down"))
    assert loose < down
    strict = commands.index("ip link set dev vlan50 type vlan loose_binding off")
    assert down < strict < commands.index("ip link del dev vlan50")
    undo = [op.command() for op in undo_sequence(done.operations)]
    assert undo.index("ip link set dev eno1 up") < undo.index("ip link set dev vlan50 type vlan loose_binding off")
    assert predict(done.predict(host), undo_sequence(done.operations)).get("vlan50").loose_binding is False
    assert done.predict(host).get("vlan50").loose_binding is False and done.predict(host).get("vlan50").parent == "bond0"


def test_a_loosely_bound_or_down_vlan_and_a_nic_taken_by_a_bridge_need_no_binding_change():
    host = nics_with_a_vlan()
    host.get("vlan50").loose_binding = True
    bond = {"bonds": [{"name": "bond0", "mode": "active-backup", "miimon": 100, "slaves": ["eno1", "eno2"]}]}
    assert not [c for c in plan(host, **bond).commands() if "loose_binding" in c]
    host = nics_with_a_vlan()
    host.get("vlan50").up = False
    assert not [c for c in plan(host, **bond).commands() if "loose_binding" in c]
    bridge = {"bridges": [{"name": "vmbr0", "ports": ["eno1"]}]}   # a bridge port stays up
    assert not [c for c in plan(nics_with_a_vlan(), **bridge).commands() if "loose_binding" in c]
