"""Static routes through the modules (net_bridge here; net_bond and net_vlan share the option through DEVICE_ARGS):
apply, idempotence, check mode, `ip -batch` of the commands, refusals, and the undo sweeps (tests/sweep.py)."""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import ip, iproute, kernel_state, state_diff
from sweep import fresh_namespace, sweep
from test_bridge_options import HV

pytestmark = pytest.mark.kernel

# vmbr1 on eth1 with a VM on it.
VMBR1 = HV + [
    "ip link add vmbr1 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr1",
    "ip link set tap100i0 master vmbr1",
    "ip link set eth1 up",
    "ip link set vmbr1 up",
]
# ... with addresses of both families and routes in main and table 100.
ROUTED = VMBR1 + [
    "ip address add 192.0.2.10/24 dev vmbr1",
    "ip address add 2001:db8:1::10/64 dev vmbr1 nodad",
    "ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr1 proto static",
    "ip route add 0.0.0.0/0 via 192.0.2.254 dev vmbr1 table 100 proto static",
    "ip route add 2001:db8:20::/48 via 2001:db8:1::1 dev vmbr1 table 100 proto static",
]
ROUTES = [
    {"dst": "10.20.0.0/16", "via": "192.0.2.254"},
    {"dst": "0.0.0.0/0", "via": "192.0.2.254", "table": 100},
    {"dst": "2001:db8:20::/48", "via": "2001:db8:1::1", "table": "100"},
]
TASK = {"name": "vmbr1", "ports": ["eth1"], "addresses": ["192.0.2.10/24", "2001:db8:1::10/64"], "routes": ROUTES}


def bridge(ns, **args):
    return run_module("net_bridge", dict(args, namespace=ns))


def routes_shown(ns) -> str:
    return ip("route", "show", "table", "all", ns=ns).stdout


def test_routes_are_made_then_a_second_run_sends_nothing_and_check_mode_predicted_it(namespaces):
    ns, check_ns, batch_ns = namespaces.new(), namespaces.new(), namespaces.new()
    for each in (ns, check_ns, batch_ns):
        iproute(each, HV)
    preview = run_module("net_bridge", dict(TASK, namespace=check_ns), check=True)
    done = bridge(ns, **TASK)
    assert not done.get("failed"), done.get("msg")
    assert done["changed"]
    assert [c.replace(f" -n {ns} ", " ") for c in done["commands"][-3:]] == [
        "ip route add 0.0.0.0/0 via 192.0.2.254 dev vmbr1 table 100 metric 0 proto static",
        "ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr1 metric 0 proto static",
        "ip route add 2001:db8:20::/48 via 2001:db8:1::1 dev vmbr1 table 100 metric 1024 proto static"]
    assert done["state"]["routes"] == [
        {"dst": "0.0.0.0/0", "via": "192.0.2.254", "table": 100, "metric": 0, "onlink": False, "proto": "static"},
        {"dst": "10.20.0.0/16", "via": "192.0.2.254", "table": 254, "metric": 0, "onlink": False, "proto": "static"},
        {"dst": "2001:db8:20::/48", "via": "2001:db8:1::1", "table": 100, "metric": 1024, "onlink": False,
         "proto": "static"}]
    shown = routes_shown(ns)
    assert "10.20.0.0/16 via 192.0.2.254 dev vmbr1 proto static" in shown
    assert "default via 192.0.2.254 dev vmbr1 table 100 proto static" in shown
    # check mode: the same result as the real run, and nothing sent
    for key in ("routes", "addresses", "up", "ports", "guest_ports"):
        assert preview["state"][key] == done["state"][key], key
    assert preview["diff"]["after"]["routes"] == done["diff"]["after"]["routes"]
    assert "10.20.0.0" not in routes_shown(check_ns)
    # the commands reproduce the change
    iproute(batch_ns, [c.replace(f" -n {ns} ", " ") for c in done["commands"]])
    assert kernel_state(batch_ns)["routes"] == kernel_state(ns)["routes"]
    again = bridge(ns, **TASK)
    assert (again["changed"], again["commands"]) == (False, [])


def test_a_route_is_changed_in_place_and_an_extra_one_removed(netns):
    fresh_namespace(netns, ROUTED + ["ip route add 10.21.0.0/16 via 192.0.2.254 dev vmbr1"])
    result = bridge(netns, name="vmbr1", routes=[{"dst": "10.20.0.0/16", "via": "192.0.2.253", "metric": 0},
                                                 ROUTES[1], ROUTES[2]])
    assert not result.get("failed"), result.get("msg")
    assert [c.replace(f" -n {netns} ", " ") for c in result["commands"]] == [
        "ip route replace 10.20.0.0/16 via 192.0.2.253 dev vmbr1 metric 0 proto static",
        "ip route del 10.21.0.0/16 via 192.0.2.254 dev vmbr1 metric 0 proto boot"]
    shown = routes_shown(netns)
    assert "10.20.0.0/16 via 192.0.2.253" in shown and "10.21.0.0" not in shown
    emptied = bridge(netns, name="vmbr1", routes=[])
    assert emptied["changed"] and emptied["state"]["routes"] == []
    assert "default via 192.0.2.254 dev vmbr1 table 100" not in routes_shown(netns)


def test_a_route_whose_gateway_is_out_of_reach_is_refused_before_any_change(netns):
    fresh_namespace(netns, ROUTED)
    before = kernel_state(netns)
    result = bridge(netns, name="vmbr1", routes=[{"dst": "10.30.0.0/16", "via": "203.0.113.1"}])
    assert result["failed"] and not result["changed"]
    assert "routes[0] (10.30.0.0/16 via 203.0.113.1 dev vmbr1 metric 0): via 203.0.113.1 is not inside any IPv4 " \
           "address of vmbr1 (192.0.2.10/24)" in result["msg"]
    bad = bridge(netns, name="vmbr1", routes=[{"dst": "10.30.0.0/16", "table": 255}, {"dst": "nope"}])
    assert bad["failed"] and "routes[0]: table 255 is not a routing table" in bad["msg"]
    assert "routes[1]: dst 'nope' is not a destination" in bad["msg"]
    assert kernel_state(netns) == before
    onlink = bridge(netns, name="vmbr1", routes=ROUTES + [{"dst": "10.30.0.0/16", "via": "203.0.113.1", "onlink": True}])
    assert not onlink.get("failed"), onlink.get("msg")
    assert "10.30.0.0/16 via 203.0.113.1 dev vmbr1 proto static onlink" in routes_shown(netns)


def test_deleting_a_bridge_that_carries_a_route_is_refused_naming_the_route(netns):
    fresh_namespace(netns, ROUTED)
    before = kernel_state(netns)
    result = bridge(netns, name="vmbr1", state="absent", detach_guests=True)
    assert result["failed"] and not result["changed"]
    assert "route '10.20.0.0/16 via 192.0.2.254 dev vmbr1 metric 0 proto static' would be lost" in result["msg"]
    assert "'ip link del dev vmbr1'" in result["msg"] and "vmbr1 is deleted afterwards" in result["msg"]
    assert "table 100" in result["msg"]
    assert kernel_state(netns) == before, state_diff(before, kernel_state(netns))
    emptied = bridge(netns, name="vmbr1", routes=[])
    assert not emptied.get("failed"), emptied.get("msg")
    gone = bridge(netns, name="vmbr1", state="absent", detach_guests=True)
    assert not gone.get("failed") and gone["changed"], gone.get("msg")


def test_a_change_that_would_drop_a_route_netsafe_does_not_manage_is_refused(netns):
    fresh_namespace(netns, ROUTED + ["ip route add 10.40.0.0/16 via 192.0.2.250 dev vmbr1 proto dhcp",
                                     "ip route add 10.41.0.0/16 proto bird nexthop via 192.0.2.250 dev vmbr1 "
                                     "nexthop via 192.0.2.251 dev vmbr1"])
    before = kernel_state(netns)
    result = bridge(netns, name="vmbr1", admin_state="down", routes=[])
    assert result["failed"] and not result["changed"]
    assert "route '10.40.0.0/16 via 192.0.2.250 dev vmbr1 metric 0 proto dhcp' (proto dhcp) is not managed by " \
           "netsafe" in result["msg"]
    assert "'10.41.0.0/16 dev vmbr1 metric 0 proto bird' (a multipath route)" in result["msg"]
    assert kernel_state(netns) == before, state_diff(before, kernel_state(netns))
    untouched = bridge(netns, name="vmbr1", routes=ROUTES[:1])   # routes: [] of its own ones leaves theirs alone
    assert not untouched.get("failed"), untouched.get("msg")
    shown = routes_shown(netns)
    assert "10.40.0.0/16 via 192.0.2.250 dev vmbr1 proto dhcp" in shown and "10.41.0.0/16 proto bird" in shown
    clash = bridge(netns, name="vmbr1", routes=ROUTES[:1] + [{"dst": "10.40.0.0/16", "via": "192.0.2.254"}])
    assert clash["failed"] and "(proto dhcp, not managed by netsafe)" in clash["msg"]


def test_taking_a_bridge_down_without_removing_its_routes_is_refused(netns):
    fresh_namespace(netns, ROUTED)
    before = kernel_state(netns)
    result = bridge(netns, name="vmbr1", admin_state="down")
    assert result["failed"] and "is down afterwards" in result["msg"]
    assert "'ip link set dev vmbr1 down'" in result["msg"]
    assert kernel_state(netns) == before


def test_losing_the_last_ipv4_address_keeps_ipv4_routes_only_when_given_elsewhere(netns):
    """Addresses replaced in one task: the new one is added before the old goes, so the routes stay; routes whose
    gateway the new subnet does not hold are refused, naming them."""
    fresh_namespace(netns, ROUTED)
    before = kernel_state(netns)
    result = bridge(netns, name="vmbr1", addresses=["198.51.100.10/24", "2001:db8:1::10/64"])
    assert result["failed"] and "gateway out of reach" in result["msg"] and "10.20.0.0/16" in result["msg"]
    assert kernel_state(netns) == before


# -- undo sweeps ---------------------------------------------------------------------------

def test_sweep_bridge_routes_made_changed_and_removed(netns):
    change = {"name": "vmbr1", "addresses": ["192.0.2.10/24", "198.51.100.10/24", "2001:db8:1::10/64"],
              "routes": [{"dst": "10.20.0.0/16", "via": "198.51.100.1", "metric": 0},
                         {"dst": "10.22.0.0/16", "via": "198.51.100.1", "table": 100, "metric": 5},
                         ROUTES[2]]}
    result = sweep("routes made, changed and removed", netns, ROUTED, "net_bridge", change)
    assert result.findings == [], result.report()


# IPv4 addresses only: taking a device down flushes its IPv6 addresses, which no undo of the down brings back
# (not a route's matter); the IPv6 route is onlink.
ROUTED_V4 = VMBR1 + [
    "ip address add 192.0.2.10/24 dev vmbr1",
    "ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr1 proto static",
    "ip route add 0.0.0.0/0 via 192.0.2.254 dev vmbr1 table 100 proto static",
    "ip route add 2001:db8:20::/48 via 2001:db8:1::1 dev vmbr1 table 100 proto static onlink",
]


def test_sweep_bridge_taken_down_with_its_routes_and_up_again_with_them(netns):
    down = sweep("bridge down, routes removed", netns, ROUTED_V4, "net_bridge",
                 {"name": "vmbr1", "admin_state": "down", "routes": []})
    assert down.findings == [], down.report()
    downed = ROUTED_V4[:-3] + ["ip link set vmbr1 down"]
    routes = ROUTES[:2] + [dict(ROUTES[2], onlink=True)]
    up = sweep("bridge up, routes added", netns, downed, "net_bridge",
               {"name": "vmbr1", "admin_state": "up", "routes": routes})
    assert up.findings == [], up.report()


# -- full-kernel lane: an address moved with its routes --------------------------------------

LANE = pytest.mark.fullkernel("bonding", "8021q", "dummy")
# eth1 carries the host's address and its routes (main and table 100, both families); eth2 is spare.
ON_ETH1 = [
    "ip link add eth1 type dummy",
    "ip link add eth2 type dummy",
    "ip link set eth1 up",
    "ip link set eth2 up",
    "ip address add 192.0.2.10/24 dev eth1",
    "ip address add 2001:db8:1::10/64 dev eth1",
    "ip route add 10.20.0.0/16 via 192.0.2.254 dev eth1 proto static",
    "ip route add 0.0.0.0/0 via 192.0.2.254 dev eth1 table 100 proto static",
    "ip route add 2001:db8:20::/48 via 2001:db8:1::1 dev eth1 table 100 proto static",
]
MOVE = {"name": "bond0", "mode": "active-backup", "miimon": 100, "ports": ["eth1", "eth2"], "take_over_ports": True,
        "addresses": ["192.0.2.10/24", "2001:db8:1::10/64"], "routes": ROUTES}


@LANE
def test_sweep_a_bond_taking_over_its_port_moves_the_address_with_its_routes(netns):
    """The port loses its address and goes down (the kernel drops its routes); the bond gets both: every undo
    puts the routes back on the port."""
    result = sweep("address and routes moved onto a new bond", netns, ON_ETH1, "net_bond", MOVE)
    assert result.findings == [], result.report()
    fresh_namespace(netns, ON_ETH1)
    done = run_module("net_bond", dict(MOVE, namespace=netns))
    assert done["changed"] and not done.get("failed"), done.get("msg")
    shown = routes_shown(netns)
    assert "10.20.0.0/16 via 192.0.2.254 dev bond0 proto static" in shown
    assert "default via 192.0.2.254 dev bond0 table 100 proto static" in shown and "dev eth1" not in shown
    again = run_module("net_bond", dict(MOVE, namespace=netns))
    assert (again["changed"], again["commands"]) == (False, [])


@LANE
def test_a_bond_taking_over_a_port_with_routes_it_does_not_take_is_refused(netns):
    fresh_namespace(netns, ON_ETH1)
    before = kernel_state(netns)
    result = run_module("net_bond", dict(MOVE, namespace=netns, routes=ROUTES[:1]))
    assert result["failed"] and not result["changed"]
    assert "eth1: route '0.0.0.0/0 via 192.0.2.254 dev eth1 table 100 metric 0 proto static' would be lost" \
        in result["msg"]
    assert "give it in the routes of the device that takes over" in result["msg"]
    assert kernel_state(netns) == before


# uplink.v, a VLAN on eth4 and a port of vmbrx, carries the address and routes (main and table 100).
VLAN_PORT = [
    "ip link add eth4 type dummy",
    "ip link set eth4 up",
    "ip tuntap add tap100i0 mode tap",
    "ip link add link eth4 name uplink.v type vlan id 20",
    "ip link add vmbrx type bridge forward_delay 0",
    "ip link set uplink.v master vmbrx",
    "ip link set tap100i0 master vmbrx",
    "ip link set uplink.v up",
    "ip link set vmbrx up",
    "ip address add 192.0.2.10/24 dev uplink.v",
    "ip route add 10.20.0.0/16 via 192.0.2.254 dev uplink.v proto static",
    "ip route add 0.0.0.0/0 via 192.0.2.254 dev uplink.v table 100",
]


@LANE
def test_sweep_a_vlan_recreated_for_an_id_change_keeps_its_routes(netns):
    """The delete takes the routes with the device (its undo, the rebuild, adds them back); the task did not
    name them, so they are added again on the new device at the end."""
    change = {"name": "uplink.v", "parent": "eth4", "vlan_id": 21}
    result = sweep("vlan id change with routes", netns, VLAN_PORT, "net_vlan", change)
    assert result.findings == [], result.report()
    assert result.commands[-2:] == [
        f"ip -n {netns} route add 0.0.0.0/0 via 192.0.2.254 dev uplink.v table 100 metric 0 proto boot",
        f"ip -n {netns} route add 10.20.0.0/16 via 192.0.2.254 dev uplink.v metric 0 proto static"]
    fresh_namespace(netns, VLAN_PORT)
    done = run_module("net_vlan", dict(change, namespace=netns))
    assert done["changed"] and not done.get("failed"), done.get("msg")
    again = run_module("net_vlan", dict(change, namespace=netns))
    assert (again["changed"], again["commands"]) == (False, [])


# Both families, both default gateways and static routes: what a bridge going down loses in the kernel (its IPv6
# addresses, its default routes, its static routes) is deleted by the plan before the down (plan.flushed_on_down,
# plan_routes.keep_routes), so the undo of the down puts every one back once the bridge is up again.
# (No `nodad`: the model does not keep that flag, and the undo's address comes back without it.)
ROUTED_DUAL = [line.replace(" nodad", "") for line in ROUTED] + [
    "ip route replace default via 192.0.2.1 dev vmbr1",
    "ip route replace default via 2001:db8:1::1 dev vmbr1",
]


def test_sweep_bridge_with_ipv6_and_default_gateways_taken_down(netns):
    # The bridge holds the host's only default routes: taking it down is refused unless the task says so.
    fresh_namespace(netns, ROUTED_DUAL)
    refused = run_module("net_bridge", {"name": "vmbr1", "admin_state": "down", "routes": [], "namespace": netns},
                         check=True)
    assert refused.get("failed") and "default via 192.0.2.1 dev vmbr1" in refused["msg"], refused
    assert "allow_default_route_loss: true" in refused["msg"], refused["msg"]
    down = sweep("bridge with IPv6 and gateways down", netns, ROUTED_DUAL, "net_bridge",
                 {"name": "vmbr1", "admin_state": "down", "routes": [], "allow_default_route_loss": True})
    assert down.findings == [], down.report()
    assert any("address del 2001:db8:1::10/64 dev vmbr1" in c for c in down.commands), down.commands
