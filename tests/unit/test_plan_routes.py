"""plan_routes.py on the model: a device's desired routes, and keep_routes over finished plans (the kernel's drop
rules in the simulator; tests/kernel/test_routes_*.py prove them on the kernel)."""
import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bond, GuestMatcher, IpConfig, Nic
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import undo_sequence
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan, plan_mtu_ip_state
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bond import plan_bond
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge_absent
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_routes import keep_routes
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict
from test_plan_bond_vlan import host_with_bond

STORAGE = Route("10.20.0.0/16", "192.0.2.254", 254, 0, False, "static")
TABLE_100 = Route("0.0.0.0/0", "192.0.2.254", 100, 0, False, "boot")


def routed_bond():
    host = host_with_bond()
    host.get("bond0").ip = IpConfig(addresses=["192.0.2.10/24"], routes=[TABLE_100, STORAGE])
    for dev in host.devices.values():
        if dev.ip.routes is None:
            dev.ip.routes = []
    return host


def kept(host, plan, others=None):
    return keep_routes(plan, host, others or {})


def test_a_bond_mode_change_deletes_its_routes_before_and_adds_them_after_so_the_undo_keeps_them_too():
    host = routed_bond()
    plan = kept(host, plan_bond(host, Bond(name="bond0", mode="active-backup"), ["eth1", "eth2"], True))
    commands = plan.commands()
    assert commands[:3] == ["ip route del 0.0.0.0/0 via 192.0.2.254 dev bond0 table 100 metric 0 proto boot",
                            "ip route del 10.20.0.0/16 via 192.0.2.254 dev bond0 metric 0 proto static",
                            "ip link set dev bond0 down"]
    assert commands[-2:] == ["ip route add 0.0.0.0/0 via 192.0.2.254 dev bond0 table 100 metric 0 proto boot",
                             "ip route add 10.20.0.0/16 via 192.0.2.254 dev bond0 metric 0 proto static"]
    assert plan.predict(host).get("bond0").ip.routes == [TABLE_100, STORAGE]
    assert predict(plan.predict(host), undo_sequence(plan.operations)) == host


def test_a_plan_that_leaves_routes_alone_is_returned_as_it_is():
    host = routed_bond()
    plan = plan_bond(host, Bond(name="bond0", miimon=200), None, True)
    assert kept(host, plan).operations == plan.operations


def test_deleting_a_device_with_routes_is_refused_naming_each_route():
    host = routed_bond()
    host.get("vmbr0").ip = IpConfig(addresses=["192.0.2.10/24"], routes=[STORAGE])
    host.get("bond0").ip.routes = []
    with pytest.raises(ValidationError) as refused:
        kept(host, plan_bridge_absent(host, "vmbr0", GuestMatcher(), True))
    assert "vmbr0: route '10.20.0.0/16 via 192.0.2.254 dev vmbr0 metric 0 proto static' would be lost" \
        in str(refused.value)


def test_an_unmanaged_route_the_kernel_would_drop_is_refused():
    host = routed_bond()
    dhcp = Route("10.30.0.0/16", "192.0.2.1", 254, 0, False, "dhcp")
    plan = Plan(plan_bond(host, Bond(name="bond0", mode="active-backup"), ["eth1", "eth2"], True).operations)
    with pytest.raises(ValidationError, match="route '10.30.0.0/16 via 192.0.2.1 dev bond0 metric 0 proto dhcp' "
                                              r"\(proto dhcp\) is not managed by netsafe"):
        kept(host, plan, {"bond0": [(dhcp, "proto dhcp")]})


def test_a_route_cannot_be_added_where_another_device_holds_its_key():
    host = routed_bond()
    host.add(Nic(name="eth9", mtu=1500, up=True, kind="veth", ip=IpConfig(addresses=["192.0.2.11/24"], routes=[])))
    ops = plan_mtu_ip_state(host, "eth9", host.get("eth9"), None,
                            IpConfig(routes=[Route("10.20.0.0/16", "192.0.2.254").normalized()]), True)
    with pytest.raises(ValidationError, match="has '10.20.0.0/16 via 192.0.2.254 dev bond0 metric 0 proto static'"):
        kept(host, Plan(ops))


def test_a_plan_that_lets_lost_routes_go_is_not_refused_and_keeps_its_own_attributes():
    """A plan back to a snapshot (a rollback) deletes a device the change made, routes and all."""
    host = routed_bond()
    host.get("vmbr0").ip = IpConfig(addresses=["192.0.2.10/24"], routes=[STORAGE])
    host.get("bond0").ip.routes = []

    class Back(Plan):
        refuses_lost_routes = False

    plan = Back(plan_bridge_absent(host, "vmbr0", GuestMatcher(), True).operations)
    plan.left = ["kept"]
    result = kept(host, plan)
    assert isinstance(result, Back) and result.left == ["kept"] and result.operations == plan.operations
