"""Planning bonds and VLANs: options, live mode change, topology rules, re-creation."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_SET, undo_sequence
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bond import plan_bond, plan_bond_absent
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_vlan import plan_vlan, plan_vlan_absent
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import apply_op, predict


def no_ip():
    return IpConfig(addresses=[])


def host_with_bond() -> HostNetwork:
    host = HostNetwork()
    for n in (1, 2, 3, 4):
        host.add(Nic(name=f"eth{n}", mtu=1500, up=n in (1, 2), kind="dummy", ip=no_ip()))
    host.get("eth1").master = host.get("eth2").master = "bond0"
    host.add(Bond(name="bond0", mtu=1500, up=True, mode="802.3ad", miimon=100, lacp_rate="slow",
                  xmit_hash_policy="layer2", ad_select="stable", updelay=0, downdelay=0, arp_interval=0,
                  arp_ip_target=[], min_links=0, ip=no_ip()))
    host.add(Bridge(name="vmbr0", mtu=1500, up=True, stp=False, forward_delay=0, ip=no_ip()))
    host.add(GuestPort(name="tap100i0", mtu=1500, up=True, master="vmbr0", ip=no_ip()))
    return host


def undo_all(host, plan):
    """The model after `plan` and then everything the configurator would run to undo it."""
    return predict(plan.predict(host), undo_sequence(plan.operations))


def enslaved_while_up(host, plan) -> list:
    """Slaves the plan enslaves while they are up (the kernel refuses that), replaying it step by step."""
    state = copy.deepcopy(host)
    found = []
    for op in plan.operations:
        if op.action == LINK_SET and op.params.get("master") and state.get(op.device).up:
            found.append(op.device)
        apply_op(state, op)
    return found


def test_new_bond_enslaves_slaves_that_are_already_down_without_a_down_step():
    host = host_with_bond()
    assert not host.get("eth3").up and not host.get("eth4").up
    plan = plan_bond(host, Bond(name="bond1", mode="active-backup", miimon=100, primary="eth3"),
                     ["eth3", "eth4"], True)
    assert plan.commands() == [
        "ip link add name bond1 type bond mode active-backup miimon 100",
        "ip link set dev eth3 master bond1",
        "ip link set dev eth4 master bond1",
        "ip link set dev bond1 type bond primary eth3",
        "ip link set dev bond1 up",
    ]
    assert undo_all(host, plan) == host


def test_new_bond_takes_up_slaves_down_before_enslaving_and_undo_brings_them_back_up():
    host = host_with_bond()
    host.get("eth3").up = host.get("eth4").up = True
    plan = plan_bond(host, Bond(name="bond1", mode="active-backup", miimon=100, primary="eth3"),
                     ["eth3", "eth4"], True)
    assert enslaved_while_up(host, plan) == []
    assert plan.commands() == [
        "ip link add name bond1 type bond mode active-backup miimon 100",
        "ip link set dev eth3 down",
        "ip link set dev eth3 master bond1",
        "ip link set dev eth4 down",
        "ip link set dev eth4 master bond1",
        "ip link set dev bond1 type bond primary eth3",
        "ip link set dev bond1 up",
    ]
    undo = [inverse.command() for inverse in undo_sequence(plan.operations)]
    assert [c for c in undo if " eth3 " in c or " eth4 " in c] == [
        "ip link set dev eth4 nomaster", "ip link set dev eth4 up",
        "ip link set dev eth3 nomaster", "ip link set dev eth3 up",
    ]
    undone = undo_all(host, plan)
    assert [(undone.get(n).up, undone.get(n).master) for n in ("eth3", "eth4")] == [(True, None), (True, None)]
    assert undone == host


def test_matching_bond_plans_nothing():
    assert not plan_bond(host_with_bond(), Bond(name="bond0", mode="802.3ad", miimon=100), ["eth1", "eth2"], True)


def test_live_mode_change_releases_and_re_enslaves_in_one_plan():
    host = host_with_bond()
    plan = plan_bond(host, Bond(name="bond0", mode="active-backup"), ["eth1", "eth2"], True)
    assert plan.commands() == [
        "ip link set dev bond0 down",
        "ip link set dev eth1 nomaster",
        "ip link set dev eth2 nomaster",
        "ip link set dev bond0 type bond mode active-backup",
        "ip link set dev eth1 master bond0",
        "ip link set dev eth2 master bond0",
        "ip link set dev bond0 up",
    ]
    assert "mode: bond0 changes from 802.3ad to active-backup" in plan.warnings[0]
    after = plan.predict(host)
    assert after.get("bond0").mode == "active-backup" and [d.name for d in after.ports_of("bond0")] == ["eth1", "eth2"]
    assert undo_all(host, plan) == host


def test_vlans_on_a_bond_that_goes_down_are_loosely_bound_meanwhile_and_after_the_undo_too():
    """A bond going down takes the VLANs on it down: IPv6 addresses flushed, routes through them deleted."""
    host = host_with_bond()
    host.add(Vlan(name="bond0.30", parent="bond0", vlan_id=30, protocol="802.1Q", loose_binding=False, mtu=1500,
                  up=True, ip=IpConfig(addresses=["2001:db8:30::10/64"], gateway6="2001:db8:30::1")))
    host.add(Vlan(name="bond0.40", parent="bond0", vlan_id=40, protocol="802.1Q", loose_binding=True, mtu=1500,
                  up=True, ip=no_ip()))
    host.add(Vlan(name="bond0.50", parent="bond0", vlan_id=50, protocol="802.1Q", loose_binding=False, mtu=1500,
                  up=False, ip=no_ip()))
    plan = plan_bond(host, Bond(name="bond0", mode="active-backup"), ["eth1", "eth2"], True)
    commands = plan.commands()
    assert commands[0] == "ip link set dev bond0.30 type vlan loose_binding on"
    assert commands[1] == "ip link set dev bond0 down"
    assert commands[-2:] == ["ip link set dev bond0 up", "ip link set dev bond0.30 type vlan loose_binding off"]
    assert not [c for c in commands if "bond0.40" in c or "bond0.50" in c]  # loose already, or down anyway
    undo = [inverse.command() for inverse in undo_sequence(plan.operations)]
    assert undo[0] == "ip link set dev bond0.30 type vlan loose_binding on"
    assert undo[-1] == "ip link set dev bond0.30 type vlan loose_binding off"
    assert plan.predict(host).get("bond0.30").loose_binding is False
    assert undo_all(host, plan) == host


def test_a_bond_kept_down_by_the_task_takes_its_vlans_down_without_loose_binding():
    host = host_with_bond()
    host.add(Vlan(name="bond0.30", parent="bond0", vlan_id=30, protocol="802.1Q", loose_binding=False, mtu=1500,
                  up=True, ip=no_ip()))
    plan = plan_bond(host, Bond(name="bond0", mode="active-backup"), ["eth1", "eth2"], False)
    assert not [c for c in plan.commands() if "loose_binding" in c]


def test_undoing_a_mode_change_restores_the_bond_mac_once_every_slave_is_back():
    host = host_with_bond()
    host.get("bond0").mac = "52:54:00:00:00:b0"
    plan = plan_bond(host, Bond(name="bond0", mode="active-backup"), ["eth1", "eth2"], True)
    undo = [inverse.command() for inverse in undo_sequence(plan.operations)]
    # Emptied, the bond took a random MAC; re-enslaved newest first it would take eth2's.
    assert undo[undo.index("ip link set dev eth2 master bond0"):] == [
        "ip link set dev eth2 master bond0", "ip link set dev eth1 master bond0",
        "ip link set dev bond0 address 52:54:00:00:00:b0", "ip link set dev bond0 up"]
    assert undo_all(host, plan) == host


def test_releasing_only_some_slaves_leaves_the_bond_mac_alone():
    plan = plan_bond(host_with_bond(), Bond(name="bond0"), ["eth1"], True)
    assert all("address" not in inverse.command() for op in plan.operations for inverse in op.inverse)


def test_live_option_change_needs_no_down():
    plan = plan_bond(host_with_bond(), Bond(name="bond0", xmit_hash_policy="layer3+4", min_links=1), None, True)
    assert plan.commands() == ["ip link set dev bond0 type bond xmit_hash_policy layer3+4 min_links 1"]
    assert plan.operations[0].inverse[0].command() == "ip link set dev bond0 type bond xmit_hash_policy layer2 min_links 0"


def test_lacp_rate_change_takes_the_bond_down_but_keeps_slaves():
    plan = plan_bond(host_with_bond(), Bond(name="bond0", lacp_rate="fast"), None, True)
    assert plan.commands() == ["ip link set dev bond0 down", "ip link set dev bond0 type bond lacp_rate fast",
                               "ip link set dev bond0 up"]


@pytest.mark.parametrize("bond, slaves, fragment", [
    (Bond(name="bond1", mode="fastest"), [], "mode: 'fastest' is not allowed"),
    (Bond(name="bond1", mode="active-backup", lacp_rate="fast"), [], "lacp_rate: only applies to mode 802.3ad"),
    (Bond(name="bond1", mode="active-backup", miimon=100, arp_interval=200), [], "cannot be used together with miimon"),
    (Bond(name="bond1", miimon=100, updelay=150), [], "updelay: 150 is not a multiple of miimon 100"),
    (Bond(name="bond1", mode="active-backup", primary="eth4"), ["eth3"], "primary: 'eth4' is not one of the bond's ports"),
    (Bond(name="bond1"), ["vmbr0"], "ports: 'vmbr0' is a bridge; bond ports (slaves) must be NICs"),
    (Bond(name="bond1"), ["tap100i0"], "ports: 'tap100i0' is a guest; bond ports (slaves) must be NICs"),
    (Bond(name="bond1"), ["eth1"], "ports: 'eth1' is a port of 'bond0'; set take_over_ports: true"),
    (Bond(name="bond1"), ["eth9"], "ports: 'eth9' does not exist"),
    (Bond(name="vmbr0"), [], "name: 'vmbr0' already exists and is a bridge"),
])
def test_bad_bonds_are_refused(bond, slaves, fragment):
    with pytest.raises(ValidationError) as info:
        plan_bond(host_with_bond(), bond, slaves, True)
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_slave_with_addresses_needs_take_over():
    host = host_with_bond()
    host.get("eth3").ip = IpConfig(addresses=["192.0.2.5/24"])
    with pytest.raises(ValidationError, match="carries addresses 192.0.2.5/24"):
        plan_bond(host, Bond(name="bond1"), ["eth3"], True)
    plan = plan_bond(host, Bond(name="bond1"), ["eth3"], True, take_over=True)
    assert "ip address del 192.0.2.5/24 dev eth3" in plan.commands()
    assert undo_all(host, plan).get("eth3").ip.addresses == ["192.0.2.5/24"]


def test_bond_absent_refused_while_used():
    host = host_with_bond()
    host.get("bond0").master = "vmbr0"
    with pytest.raises(ValidationError, match="state: bond 'bond0' is still used by master vmbr0"):
        plan_bond_absent(host, "bond0")


def test_bond_absent_rebuilds_on_undo():
    host = host_with_bond()
    plan = plan_bond_absent(host, "bond0")
    rebuilt = [op.command() for op in plan.operations[0].inverse]
    assert rebuilt[0] == ("ip link add name bond0 type bond mode 802.3ad lacp_rate slow xmit_hash_policy layer2 "
                          "ad_select stable miimon 100 updelay 0 downdelay 0 min_links 0")
    assert "ip link set dev eth1 master bond0" in rebuilt


def test_bond_without_mii_monitoring_rebuilds_without_updelay_and_downdelay():
    host = host_with_bond()
    bond = host.get("bond0")
    bond.mode, bond.miimon, bond.arp_interval, bond.arp_ip_target = "active-backup", 0, 1000, ["192.0.2.1"]
    rebuilt = [op.command() for op in plan_bond_absent(host, "bond0").operations[0].inverse]
    # The kernel refuses updelay and downdelay, even 0, while miimon is 0 (EPERM).
    assert rebuilt[0] == ("ip link add name bond0 type bond mode active-backup miimon 0 arp_interval 1000 "
                          "min_links 0 arp_ip_target 192.0.2.1")


def vlan_host() -> HostNetwork:
    host = host_with_bond()
    host.get("eth3").up = True  # the kernel keeps a VLAN up only on an up parent
    host.add(Vlan(name="eth3.20", parent="eth3", vlan_id=20, protocol="802.1Q", loose_binding=False, mtu=1500, up=True,
                  master="vmbr0", ip=IpConfig(addresses=["198.51.100.10/24"])))
    return host


def test_new_vlan_on_a_bond():
    plan = plan_vlan(host_with_bond(), Vlan(name="bond0.30", parent="bond0", vlan_id=30), True)
    assert plan.commands() == ["ip link add link bond0 name bond0.30 type vlan protocol 802.1Q id 30",
                               "ip link set dev bond0.30 up"]


def test_vlan_brings_a_down_parent_up():
    plan = plan_vlan(host_with_bond(), Vlan(name="eth3.30", parent="eth3", vlan_id=30), True)
    assert plan.commands() == ["ip link add link eth3 name eth3.30 type vlan protocol 802.1Q id 30",
                               "ip link set dev eth3 up", "ip link set dev eth3.30 up"]


def test_vlan_mtu_above_parent_is_refused():
    with pytest.raises(ValidationError, match=r"mtu: 9000 is above the MTU of parent eth3 \(1500\)"):
        plan_vlan(host_with_bond(), Vlan(name="eth3.20", parent="eth3", vlan_id=20, mtu=9000), True)


@pytest.mark.parametrize("parent, fragment", [("tap100i0", "is a guest"), ("eth7", "does not exist")])
def test_vlan_parent_must_be_nic_bond_or_bridge(parent, fragment):
    with pytest.raises(ValidationError, match=f"parent: '{parent}' {fragment}"):
        plan_vlan(host_with_bond(), Vlan(name="v9", parent=parent, vlan_id=9), True)


def test_changed_vlan_id_is_delete_and_recreate_back_into_its_bridge():
    host = vlan_host()
    plan = plan_vlan(host, Vlan(name="eth3.20", parent="eth3", vlan_id=21), True)
    assert plan.commands() == [
        "ip link del dev eth3.20",
        "ip link add link eth3 name eth3.20 type vlan protocol 802.1Q id 21",
        "ip link set dev eth3.20 master vmbr0",
        "ip link set dev eth3.20 up",
        "ip address add 198.51.100.10/24 dev eth3.20",
    ]
    assert "deleted and re-created (vlan_id 20 -> 21)" in plan.warnings[0]
    assert undo_all(host, plan) == host


def test_matching_vlan_plans_nothing_and_absent_refuses_a_bridge_port():
    host = vlan_host()
    assert not plan_vlan(host, Vlan(name="eth3.20", parent="eth3", vlan_id=20), True)
    with pytest.raises(ValidationError, match="state: vlan 'eth3.20' is still used by master vmbr0"):
        plan_vlan_absent(host, "eth3.20")
    host.get("eth3.20").master = None
    assert Plan(plan_vlan_absent(host, "eth3.20").operations).commands() == ["ip link del dev eth3.20"]


def test_deleting_a_bridge_or_bond_under_a_vlan_is_refused():
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge_absent
    host = vlan_host()
    host.add(Vlan(name="mgmt", parent="vmbr0", vlan_id=5, ip=no_ip()))
    with pytest.raises(ValidationError, match="state: bridge 'vmbr0' is still used by VLAN mgmt"):
        plan_bridge_absent(host, "vmbr0", GuestMatcher(), detach_guests=True)
    host.get("eth3.20").parent = "bond0"
    with pytest.raises(ValidationError, match="still used by VLAN eth3.20"):
        plan_bond_absent(host, "bond0")


def test_a_snapshots_vlan_gives_back_its_binding_and_a_tasks_leaves_it_alone():
    """The kill sweep of net_state's (c) (tests/state/test_state_lane.py): a change cut short after loosening a VLAN's
    binding left it loose after the watchdog's rollback. A snapshot's VLAN says its binding; a task's (None) not."""
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (  # pylint: disable=import-outside-toplevel
        HostNetwork, IpConfig, Nic, Vlan,
    )
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_vlan import plan_vlan  # pylint: disable=import-outside-toplevel
    host = HostNetwork()
    host.add(Nic(name="eno1", mtu=1500, up=True, ip=IpConfig(addresses=[], routes=[])))
    host.add(Vlan(name="vlan50", parent="eno1", vlan_id=50, protocol="802.1Q", loose_binding=True, mtu=1500, up=True,
                  ip=IpConfig(addresses=[], routes=[])))
    back = plan_vlan(host, Vlan(name="vlan50", parent="eno1", vlan_id=50, protocol="802.1Q", loose_binding=False), True)
    assert back.commands() == ["ip link set dev vlan50 type vlan loose_binding off"]
    assert not plan_vlan(host, Vlan(name="vlan50", parent="eno1", vlan_id=50, protocol="802.1Q"), True)
