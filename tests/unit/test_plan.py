"""Planning a bridge: order, guest safety, inverses, commands, refusals."""
from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    LINK_ADD, LINK_DEL, Operation, undo_sequence,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import (
    plan_bridge, plan_bridge_absent,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import bridge_view

GUESTS = GuestMatcher()


def lab() -> HostNetwork:
    host = HostNetwork()
    host.add(Nic(name="lo", mtu=65536, mac="00:00:00:00:00:00", up=True, ip=IpConfig(addresses=["127.0.0.1/8"])))
    host.add(Bridge(name="vmbr0", mtu=1500, mac="52:54:00:00:00:01", up=True, stp=False, forward_delay=0,
                    vlan_filtering=False, ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    host.add(Nic(name="eth1", mtu=1500, up=True, master="vmbr0", kind="veth", ip=IpConfig(addresses=[])))
    host.add(Nic(name="eth2", mtu=9000, up=False, kind="veth", ip=IpConfig(addresses=[])))
    host.add(Nic(name="eth3", mtu=1500, up=True, master="bond0", kind="veth", ip=IpConfig(addresses=[])))
    host.add(Bond(name="bond0", mtu=1500, up=True, mode="active-backup", ip=IpConfig(addresses=[])))
    host.add(Bridge(name="vmbr1", mtu=1500, up=True, stp=False, forward_delay=0, ip=IpConfig(addresses=[])))
    host.add(GuestPort(name="tap100i0", mtu=1500, up=True, master="vmbr0", kind="tap", ip=IpConfig(addresses=[])))
    host.add(GuestPort(name="veth101i0", mtu=1500, up=True, master="vmbr0", kind="veth", ip=IpConfig(addresses=[])))
    return host


def plan(host, ports=None, admin_up=True, **fields):
    return plan_bridge(host, Bridge(name=fields.pop("name", "vmbr0"), ip=IpConfig(
        addresses=fields.pop("addresses", None), gateway4=fields.pop("gateway4", None),
        gateway6=fields.pop("gateway6", None)), **fields), ports, admin_up, GUESTS)


def test_matching_state_plans_nothing():
    p = plan(lab(), ports=["eth1"], stp=False, forward_delay=0, mtu=1500, addresses=["192.0.2.10/24"],
             gateway4="192.0.2.1")
    assert not p and p.commands() == []


def test_new_bridge_is_created_then_ports_up_addresses_route():
    host = lab()
    p = plan(host, name="vmbr9", ports=["eth2"], stp=True, forward_delay=4, mtu=9000,
             addresses=["198.51.100.2/24"], gateway4="198.51.100.1")
    assert p.commands("hv1") == [
        "ip -n hv1 link add name vmbr9 type bridge stp_state 1 forward_delay 400",
        "ip -n hv1 link set dev vmbr9 mtu 9000",   # before a port joins: the bridge's own (plan_bridge)
        "ip -n hv1 link set dev eth2 master vmbr9",
        "ip -n hv1 link set dev eth2 up",
        "ip -n hv1 link set dev vmbr9 up",
        "ip -n hv1 address add 198.51.100.2/24 dev vmbr9",
        "ip -n hv1 route replace default via 198.51.100.1 dev vmbr9",
    ]
    assert p.operations[0].inverse == [Operation(LINK_DEL, "vmbr9")]


def test_guest_ports_are_never_released_when_ports_change():
    p = plan(lab(), ports=["eth2"])
    released = [op.device for op in p.operations if op.params.get("master", "x") is None]
    assert released == ["eth1"]
    assert "tap100i0" not in " ".join(p.commands()) and "veth101i0" not in " ".join(p.commands())


def test_old_uplink_leaves_before_the_new_one_joins():
    cmds = plan(lab(), ports=["eth2"]).commands()
    assert cmds.index("ip link set dev eth1 nomaster") < cmds.index("ip link set dev eth2 master vmbr0")


def test_empty_ports_releases_every_uplink_but_no_guest():
    p = plan(lab(), ports=[])
    assert p.commands() == ["ip link set dev eth1 nomaster"]


def test_ports_none_leaves_uplinks_alone():
    assert plan(lab(), mtu=1500).commands() == []


def test_stp_off_goes_before_a_short_forward_delay():
    host = lab()
    host.get("vmbr0").stp = True
    host.get("vmbr0").forward_delay = 15
    assert plan(host, stp=False, forward_delay=0).commands() == [
        "ip link set dev vmbr0 type bridge stp_state 0",
        "ip link set dev vmbr0 type bridge forward_delay 0",
    ]


def test_stp_on_goes_after_a_longer_forward_delay():
    assert plan(lab(), stp=True, forward_delay=2).commands() == [
        "ip link set dev vmbr0 type bridge forward_delay 200",
        "ip link set dev vmbr0 type bridge stp_state 1",
    ]


def test_enabling_stp_with_a_zero_forward_delay_is_refused():
    with pytest.raises(ValidationError, match="stp: enabling STP needs forward_delay"):
        plan(lab(), stp=True)


def test_addresses_are_added_before_old_ones_go():
    cmds = plan(lab(), addresses=["198.51.100.11/24", "2001:db8::11/64"]).commands()
    assert cmds == [
        "ip address add 198.51.100.11/24 dev vmbr0",
        "ip address add 2001:db8::11/64 dev vmbr0",
        "ip address del 192.0.2.10/24 dev vmbr0",
    ]


def test_an_ipv4_address_changed_inside_its_subnet_goes_first_with_the_default_route_that_comes_back():
    """The kernel would make 192.0.2.11 a secondary of 192.0.2.10 and delete both with the primary
    (plan._cycle_subnets); IPv6 has no primaries, its new address still comes first."""
    cmds = plan(lab(), addresses=["192.0.2.11/24", "2001:db8::11/64"]).commands()
    assert cmds == [
        "ip route del default via 192.0.2.1 dev vmbr0",
        "ip address del 192.0.2.10/24 dev vmbr0",
        "ip address add 192.0.2.11/24 dev vmbr0",
        "ip address add 2001:db8::11/64 dev vmbr0",
        "ip route replace default via 192.0.2.1 dev vmbr0",
    ]


def test_old_addresses_go_after_the_gateway_moves_so_the_undo_restores_them_first():
    p = plan(lab(), addresses=["198.51.100.2/24"], gateway4="198.51.100.1")
    assert p.commands() == [
        "ip address add 198.51.100.2/24 dev vmbr0",
        "ip route replace default via 198.51.100.1 dev vmbr0",
        "ip address del 192.0.2.10/24 dev vmbr0",
    ]
    undo = [inverse.command() for op in reversed(p.operations) for inverse in op.inverse]
    # The old gateway is reachable again (its address is back) before its route is restored.
    assert undo == [
        "ip address add 192.0.2.10/24 dev vmbr0",
        "ip route replace default via 192.0.2.1 dev vmbr0",
        "ip address del 198.51.100.2/24 dev vmbr0",
    ]


def test_a_device_goes_up_before_its_new_addresses_so_the_undo_deletes_them_while_it_is_up():
    p = plan(lab(), name="vmbr9", addresses=["2001:db8:9::1/64"])
    undo = [inverse.command() for op in reversed(p.operations) for inverse in op.inverse]
    # Down first would flush the IPv6 address (keep_addr_on_down=0) and its delete would fail.
    assert undo.index("ip address del 2001:db8:9::1/64 dev vmbr9") < undo.index("ip link set dev vmbr9 down")


def test_gateway_outside_every_address_is_refused():
    with pytest.raises(ValidationError, match=r"gateway4: 203.0.113.1 is not inside any IPv4 address of vmbr0 \(192.0.2.10/24\)"):
        plan(lab(), gateway4="203.0.113.1")


def test_gateway_with_bridge_down_is_refused():
    with pytest.raises(ValidationError, match="gateway4: a default route needs vmbr0 up"):
        plan(lab(), gateway4="192.0.2.1", admin_up=False)


def test_gateway_moves_from_another_device_and_undo_puts_it_back():
    host = lab()
    host.get("vmbr0").ip.gateway4 = None
    host.get("bond0").ip = IpConfig(addresses=["192.0.2.99/24"], gateway4="192.0.2.254")
    p = plan(host, gateway4="192.0.2.1")
    assert p.commands() == ["ip route replace default via 192.0.2.1 dev vmbr0"]
    assert p.operations[0].inverse[0].command() == "ip route replace default via 192.0.2.254 dev bond0"


@pytest.mark.parametrize("ports, fragment", [
    (["eth7"], "ports: 'eth7' does not exist"),
    (["vmbr1"], "ports: 'vmbr1' is a bridge"),
    (["eth3"], "ports: 'eth3' is already a port of 'bond0'"),
    (["eth1", "eth1"], "ports: 'eth1' is listed twice"),
    (["vmbr0"], "ports: 'vmbr0' is the bridge itself"),
    (["lo"], "ports: 'lo' is a loopback device"),
    (["x" * 16], "ports: 'xxxxxxxxxxxxxxxx' is 16 characters long"),
])
def test_bad_ports_are_refused_with_the_reason(ports, fragment):
    with pytest.raises(ValidationError) as info:
        plan(lab(), ports=ports)
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_name_taken_by_another_kind_of_device():
    with pytest.raises(ValidationError, match="name: 'bond0' already exists and is a bond"):
        plan(lab(), name="bond0")


def test_mtu_above_a_port_warns():
    host = lab()
    p = plan_bridge(host, Bridge(name="vmbr0", mtu=9000), None, True, GUESTS)
    assert p.commands() == ["ip link set dev vmbr0 mtu 9000"]
    assert "port eth1 has mtu 1500" in p.warnings[0]


def test_absent_refuses_while_guests_are_attached():
    with pytest.raises(ValidationError, match="still carries guest ports tap100i0, veth101i0"):
        plan_bridge_absent(lab(), "vmbr0", GUESTS, detach_guests=False)


def test_absent_with_detach_guests_deletes_and_can_rebuild_everything():
    host = lab()
    p = plan_bridge_absent(host, "vmbr0", GUESTS, detach_guests=True)
    assert p.commands() == ["ip link del dev vmbr0"]
    assert p.warnings
    rebuilt = [op.command() for op in p.operations[0].inverse]
    # vlan_filtering off is a new bridge's default: not sent (a kernel without VLAN filtering refuses it)
    assert rebuilt[0] == "ip link add name vmbr0 address 52:54:00:00:00:01 type bridge stp_state 0 forward_delay 0"
    assert "ip link set dev tap100i0 master vmbr0" in rebuilt
    assert "ip link set dev eth1 master vmbr0" in rebuilt
    assert "ip address add 192.0.2.10/24 dev vmbr0" in rebuilt
    assert rebuilt[-1] == "ip route replace default via 192.0.2.1 dev vmbr0"


def test_absent_of_a_missing_bridge_is_a_no_op_and_of_a_nic_is_refused():
    assert not plan_bridge_absent(lab(), "vmbr7", GUESTS, False)
    with pytest.raises(ValidationError, match="is a nic, not a bridge; refusing to delete it"):
        plan_bridge_absent(lab(), "eth2", GUESTS, False)


def test_check_mode_prediction_shows_the_after_state():
    host = lab()
    p = plan(host, ports=["eth2"], mtu=9000)
    after = bridge_view(p.predict(host), "vmbr0", GUESTS)
    assert after["ports"] == ["eth2"] and after["guest_ports"] == ["tap100i0", "veth101i0"] and after["mtu"] == 9000
    assert bridge_view(host, "vmbr0", GUESTS)["ports"] == ["eth1"]  # prediction works on a copy


def undo_in_model(host: HostNetwork, p: Plan) -> HostNetwork:
    """The model after `p` and then everything the configurator would run to undo it."""
    return predict(p.predict(host), undo_sequence(p.operations))


addresses = st.lists(st.sampled_from(["192.0.2.10/24", "192.0.2.11/24", "2001:db8::5/64", "198.51.100.7/25"]),
                     unique=True, max_size=3)


@settings(max_examples=150, deadline=None)
@given(ports=st.none() | st.lists(st.sampled_from(["eth1", "eth2"]), unique=True),
       stp=st.none() | st.booleans(), fd=st.none() | st.integers(2, 30),
       mtu=st.none() | st.integers(1280, 9000), addrs=st.none() | addresses,
       admin_up=st.booleans(), name=st.sampled_from(["vmbr0", "vmbr5"]))
def test_any_plan_converges_in_the_model_and_its_inverses_restore_it(ports, stp, fd, mtu, addrs, admin_up, name):
    host = lab()
    before = copy.deepcopy(host)
    desired = Bridge(name=name, stp=stp, forward_delay=fd, mtu=mtu, ip=IpConfig(addresses=addrs))
    if name == "vmbr5" and ports and "eth1" in ports:
        with pytest.raises(ValidationError, match="'eth1' is already a port of 'vmbr0'"):
            plan_bridge(host, desired, ports, admin_up, GUESTS)
        return
    if name == "vmbr0" and stp and fd is None:
        with pytest.raises(ValidationError, match="needs forward_delay"):
            plan_bridge(host, desired, ports, admin_up, GUESTS)
        return
    p = plan_bridge(host, desired, ports, admin_up, GUESTS)
    future = p.predict(host)
    assert not plan_bridge(future, desired, ports, admin_up, GUESTS), "a second run would change something"
    restored = undo_in_model(host, p)
    assert bridge_view(restored, "vmbr0", GUESTS) == bridge_view(before, "vmbr0", GUESTS)
    assert all(restored.get(n).master == before.get(n).master for n in before.devices)
    assert host == before
    if name == "vmbr5":
        assert p.operations[0].action == LINK_ADD
