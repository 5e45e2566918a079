"""Static routes on the real kernel: the read of every field, the requests netsafe sends, and the kernel's own
rules for dropping a device's routes (pinned here; kinds/route.py dropped_by and the simulator follow them)."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import NetlinkConfigurator
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route, dropped_by
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_DEL, LINK_SET, STATIC_ROUTE_ADD, STATIC_ROUTE_CHANGE, STATIC_ROUTE_DEL, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict

from nstools import ip, iproute, kernel_state

pytestmark = pytest.mark.kernel

V4 = ["10.20.0.0/16 via 192.0.2.254 dev d1",
      "10.21.0.0/16 via 192.0.2.254 dev d1 table 100 metric 5",
      "10.22.0.0/16 dev d1 proto static",
      "10.23.0.0/16 via 203.0.113.1 dev d1 onlink",
      "10.24.0.0/16 via 192.0.2.254 dev d1 table 1000 proto static"]
V6 = ["2001:db8:20::/48 via 2001:db8:1::1 dev d1",
      "2001:db8:21::/48 via 2001:db8:1::1 dev d1 table 100",
      "2001:db8:22::/48 dev d1 proto static metric 7",
      "2001:db8:23::/48 via 2001:db8:99::1 dev d1 onlink"]
EXPECTED = [
    Route("10.20.0.0/16", "192.0.2.254", 254, 0, False, "boot"),
    Route("10.22.0.0/16", None, 254, 0, False, "static"),
    Route("10.23.0.0/16", "203.0.113.1", 254, 0, True, "boot"),
    Route("10.21.0.0/16", "192.0.2.254", 100, 5, False, "boot"),
    Route("10.24.0.0/16", "192.0.2.254", 1000, 0, False, "static"),
    Route("2001:db8:20::/48", "2001:db8:1::1", 254, 1024, False, "boot"),
    Route("2001:db8:22::/48", None, 254, 7, False, "static"),
    Route("2001:db8:23::/48", "2001:db8:99::1", 254, 1024, True, "boot"),
    Route("2001:db8:21::/48", "2001:db8:1::1", 100, 1024, False, "boot"),
]


def read(ns):
    with Netlink(ns) as netlink:
        return read_host(netlink, GuestMatcher())


def lab(ns, v4=True, v6=True):
    """d1 (a veth, up) with 192.0.2.10/24, 198.51.100.10/24 and 2001:db8:1::10/64, and the routes above."""
    iproute(ns, ["ip link add d1 type veth peer name d1p", "ip link set d1 up", "ip link set d1p up",
                 "ip address add 192.0.2.10/24 dev d1", "ip address add 198.51.100.10/24 dev d1",
                 "ip address add 2001:db8:1::10/64 dev d1 nodad"])
    iproute(ns, ["ip route add " + line for line in (V4 if v4 else []) + (V6 if v6 else [])])


def routes_of(ns, name="d1"):
    return read(ns).host.get(name).ip.routes


def sort_key(route):
    return (route.family, route.table, route.dst)


def test_read_gives_every_field_of_both_families_and_every_table(netns):
    lab(netns)
    ip("route", "add", "default", "via", "192.0.2.1", ns=netns)
    snap = read(netns)
    d1 = snap.host.get("d1")
    assert sorted(d1.ip.routes, key=sort_key) == sorted(EXPECTED, key=sort_key)
    assert d1.ip.gateway4 == "192.0.2.1"          # the main table's default via a gateway stays gateway4
    assert snap.host.get("lo").ip.routes == []    # read: full knowledge
    assert snap.other_routes == {}


def test_a_default_route_of_proto_kernel_is_the_gateway_as_ifupdown2_makes_it(netns):
    """ifupdown2 adds a stanza's `gateway` as `proto kernel` (found by the power-cut lane: a read that skipped
    every proto kernel route lost the host's gateway, and the role's default probes had nothing to probe)."""
    lab(netns)
    ip("route", "add", "default", "via", "192.0.2.1", "proto", "kernel", ns=netns)
    ip("-6", "route", "add", "default", "via", "2001:db8:1::1", "proto", "kernel", ns=netns)
    snap = read(netns)
    d1 = snap.host.get("d1")
    assert (d1.ip.gateway4, d1.ip.gateway6) == ("192.0.2.1", "2001:db8:1::1")
    assert snap.other_routes == {}


def test_routes_netsafe_does_not_manage_are_read_apart(netns):
    lab(netns, v6=False)
    iproute(netns, ["ip route add 10.30.0.0/16 via 192.0.2.250 dev d1 proto dhcp",
                    "ip route add 10.31.0.0/16 via 192.0.2.250 dev d1 proto bird",
                    "ip route add 10.32.0.0/16 nexthop via 192.0.2.250 dev d1 nexthop via 192.0.2.251 dev d1",
                    "ip route add 10.33.0.0/16 via 192.0.2.250 dev d1 src 192.0.2.10",
                    "ip route add blackhole 10.34.0.0/16"])
    snap = read(netns)
    others = {(route.dst, why) for route, why in snap.other_routes["d1"]}
    assert others == {("10.30.0.0/16", "proto dhcp"), ("10.31.0.0/16", "proto bird"),
                      ("10.32.0.0/16", "a multipath route"),
                      ("10.33.0.0/16", "a route with source address 192.0.2.10")}
    assert {r.dst for r in snap.host.get("d1").ip.routes} == {r.dst for r in EXPECTED if r.family == 4}


def run(ns, operations):
    snap = read(ns)
    with Netlink(ns) as netlink:
        NetlinkConfigurator(netlink, snap.index_of).apply(operations)


def test_add_change_and_delete_requests_equal_their_ip_route_commands(namespaces):
    """Each operation's request leaves the kernel exactly as its `ip route` line does (ip -batch)."""
    by_netsafe, by_iproute = namespaces.new(), namespaces.new()
    for ns in (by_netsafe, by_iproute):
        lab(ns, v4=False, v6=False)
    ops = [Operation.static_route(STATIC_ROUTE_ADD, "d1", route.normalized()) for route in
           [Route("10.20.0.0/16", "192.0.2.254"), Route("10.21.0.0/16", "192.0.2.254", table=100, metric=5),
            Route("10.22.0.0/16", proto="boot"), Route("10.23.0.0/16", "203.0.113.1", onlink=True),
            Route("10.24.0.0/16", "192.0.2.254", table=1000), Route("2001:db8:20::/48", "2001:db8:1::1"),
            Route("2001:db8:21::/48", "2001:db8:1::1", table="100", metric=7),
            Route("2001:db8:23::/48", "2001:db8:99::1", onlink=True), Route("0.0.0.0/0", table=100),
            Route("::/0", "2001:db8:1::1", table=1000)]]
    ops.append(Operation.static_route(STATIC_ROUTE_CHANGE, "d1", Route("10.20.0.0/16", "198.51.100.1").normalized()))
    ops.append(Operation.static_route(STATIC_ROUTE_CHANGE, "d1",
                                      Route("2001:db8:20::/48", "2001:db8:1::2", proto="boot").normalized()))
    ops.append(Operation.static_route(STATIC_ROUTE_DEL, "d1", ops[1].route()))
    ops.append(Operation.static_route(STATIC_ROUTE_DEL, "d1", ops[6].route()))
    run(by_netsafe, ops)
    iproute(by_iproute, [f"ip {op.batch_line()}" for op in ops])
    assert kernel_state(by_netsafe)["routes"] == kernel_state(by_iproute)["routes"]
    host = read(by_netsafe).host
    assert host.get("d1").ip.routes == predict(read(by_iproute).host, []).get("d1").ip.routes
    assert Route("10.20.0.0/16", "198.51.100.1", 254, 0, False, "static") in host.get("d1").ip.routes
    assert Route("2001:db8:20::/48", "2001:db8:1::2", 254, 1024, False, "boot") in host.get("d1").ip.routes
    assert len(host.get("d1").ip.routes) == 10 - 2   # ten added, two deleted; the changes replaced, not added
    assert all(route.proto == "static" or route.dst in ("10.22.0.0/16", "2001:db8:20::/48")
               for route in host.get("d1").ip.routes)


def test_the_simulator_predicts_each_request(netns):
    lab(netns)
    host = read(netns).host
    route = Route("10.40.0.0/16", "192.0.2.254", table=100).normalized()
    ops = [Operation.static_route(STATIC_ROUTE_ADD, "d1", route),
           Operation.static_route(STATIC_ROUTE_CHANGE, "d1", Route("10.20.0.0/16", "198.51.100.1", metric=0).normalized()),
           Operation.static_route(STATIC_ROUTE_DEL, "d1", EXPECTED[1])]
    run(netns, ops)
    assert read(netns).host.get("d1").ip.routes == predict(host, ops).get("d1").ip.routes


# -- the kernel's own rules --------------------------------------------------------------------------------

def test_admin_down_drops_every_route_of_the_device_in_both_families_and_every_table(netns):
    lab(netns)
    before = read(netns).host
    ip("link", "set", "d1", "down", ns=netns)
    assert routes_of(netns) == []
    assert dropped_by(True, False, False, EXPECTED) == EXPECTED
    assert predict(before, [Operation(LINK_SET, "d1", {"up": False})]).get("d1").ip.routes == []


def test_a_route_cannot_be_added_on_a_device_that_is_down(netns):
    lab(netns, v4=False, v6=False)
    ip("link", "set", "d1", "down", ns=netns)
    for line in ("10.23.0.0/16 via 203.0.113.1 dev d1 onlink", "2001:db8:23::/48 via 2001:db8:99::1 dev d1 onlink"):
        assert "Nexthop device is not up" in ip("route", "add", *line.split(), ns=netns, check=False).stderr


def test_losing_the_gateway_subnet_address_drops_nothing_but_the_last_ipv4_address_drops_every_ipv4_route(netns):
    lab(netns)
    before = read(netns).host
    ip("address", "del", "192.0.2.10/24", "dev", "d1", ns=netns)
    ip("address", "del", "2001:db8:1::10/64", "dev", "d1", ns=netns)
    assert sorted(routes_of(netns), key=sort_key) == sorted(EXPECTED, key=sort_key)   # left with dead gateways
    steps = [Operation(ADDR_DEL, "d1", {"address": a}) for a in ("192.0.2.10/24", "2001:db8:1::10/64")]
    assert sorted(predict(before, steps).get("d1").ip.routes, key=sort_key) == sorted(EXPECTED, key=sort_key)
    ip("address", "del", "198.51.100.10/24", "dev", "d1", ns=netns)
    ipv6 = [r for r in EXPECTED if r.family == 6]
    assert sorted(routes_of(netns), key=sort_key) == sorted(ipv6, key=sort_key)
    steps.append(Operation(ADDR_DEL, "d1", {"address": "198.51.100.10/24"}))
    assert sorted(predict(before, steps).get("d1").ip.routes, key=sort_key) == sorted(ipv6, key=sort_key)


def test_enslaving_into_a_bridge_and_losing_the_carrier_drop_nothing(netns):
    lab(netns)
    iproute(netns, ["ip link add vmbr9 type bridge", "ip link set vmbr9 up", "ip link set d1 master vmbr9"])
    assert sorted(routes_of(netns), key=sort_key) == sorted(EXPECTED, key=sort_key)
    iproute(netns, ["ip link set d1 nomaster", "ip link set d1p down"])
    assert sorted(routes_of(netns), key=sort_key) == sorted(EXPECTED, key=sort_key)


def test_deleting_the_device_drops_its_routes_and_nothing_else(netns):
    lab(netns)
    iproute(netns, ["ip link add vmbr9 type bridge", "ip link set vmbr9 up",
                    "ip address add 192.0.2.20/24 dev vmbr9",
                    "ip route add 10.50.0.0/16 via 192.0.2.254 dev vmbr9 table 100"])
    ip("link", "del", "vmbr9", ns=netns)
    assert sorted(routes_of(netns), key=sort_key) == sorted(EXPECTED, key=sort_key)
    assert "10.50.0.0" not in ip("route", "show", "table", "all", ns=netns).stdout
