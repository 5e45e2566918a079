"""Review 26 (attacker): what net_state (and the per-device modules, which plan the same way) make of a new port's
IP configuration when it does not fit the simple case: two ports with a default route each, a master that already
holds the port's address, a port listed twice or a bridge listed as its own port, routes given for a device the
same task makes a port."""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import iproute, kernel_state, state_diff

pytestmark = pytest.mark.kernel

TWO_UPLINKS = [
    "ip link add eth1 type veth peer name sw1", "ip link add eth2 type veth peer name sw2",
    "ip link set sw1 up", "ip link set sw2 up", "ip link set eth1 up", "ip link set eth2 up",
]


def routes_of(ns: str, family: str = "") -> list:
    defaults = [r for r in kernel_state(ns)["routes"] if r.get("dst") == "default"]
    return [r for r in defaults if not family or family in r.get("gateway", "")]


def test_two_new_ports_with_a_default_route_each_are_refused_naming_both_or_keep_both(netns):
    """eth1 and eth2 each carry an IPv6 default route (metrics 100 and 200); vmbr1 takes both ports. Today the
    plan keeps eth2's (the less preferred) and drops eth1's without a word, while the warnings say each port's
    default routes move to vmbr1."""
    iproute(netns, TWO_UPLINKS + [
        "ip address add 2001:db8:1::10/64 dev eth1 nodad", "ip address add 2001:db8:2::10/64 dev eth2 nodad",
        "ip -6 route add default via 2001:db8:1::1 dev eth1 metric 100",
        "ip -6 route add default via 2001:db8:2::1 dev eth2 metric 200"])
    before = kernel_state(netns)
    result = run_module("net_state", {"namespace": netns, "bridges": [{"name": "vmbr1", "ports": ["eth1", "eth2"]}]})
    if result.get("failed"):
        assert "2001:db8:1::1" in result["msg"] and "2001:db8:2::1" in result["msg"] and "gateway6" in result["msg"]
        assert state_diff(before, kernel_state(netns)) == []
    else:
        assert {r["gateway"] for r in routes_of(netns, ":")} == {"2001:db8:1::1", "2001:db8:2::1"}


def test_a_master_that_already_holds_its_new_ports_address_takes_the_port(netns):
    """Half a migration done by hand (the address added to vmbr1, still on eth1 too): the task finishes it."""
    iproute(netns, TWO_UPLINKS + [
        "ip link add vmbr1 type bridge stp_state 0 forward_delay 0", "ip link set vmbr1 up",
        "ip address add 192.0.2.10/24 dev vmbr1", "ip address add 192.0.2.10/24 dev eth1"])
    result = run_module("net_state", {"namespace": netns, "bridges": [{"name": "vmbr1", "ports": ["eth1"]}]})
    assert not result.get("failed"), result.get("msg")
    dump = kernel_state(netns)
    assert not [a for a in dump["addrs"]["eth1"] if not a.startswith("fe80")]
    assert "192.0.2.10/24" in dump["addrs"]["vmbr1"]


def test_a_port_listed_twice_is_named_as_listed_twice(netns):
    iproute(netns, TWO_UPLINKS)
    before = kernel_state(netns)
    bridge = run_module("net_bridge", {"namespace": netns, "name": "vmbr1", "ports": ["eth1", "eth1"]})
    state = run_module("net_state", {"namespace": netns, "bridges": [{"name": "vmbr1", "ports": ["eth1", "eth1"]}]})
    assert bridge.get("failed") and state.get("failed")
    assert "None" not in bridge["msg"] and "ports: 'eth1' is listed twice" in bridge["msg"], bridge["msg"]
    assert "bridges[0].ports: 'eth1' is listed twice" in state["msg"], state["msg"]
    assert state_diff(before, kernel_state(netns)) == []


def test_a_bridge_listed_as_its_own_port_gets_one_clear_error(netns):
    iproute(netns, TWO_UPLINKS + ["ip link add vmbr1 type bridge", "ip address add 192.0.2.10/24 dev vmbr1"])
    result = run_module("net_bridge", {"namespace": netns, "name": "vmbr1", "ports": ["vmbr1"]})
    assert result.get("failed")
    assert "'vmbr1' is the bridge itself" in result["msg"] and "twice" not in result["msg"], result["msg"]


@pytest.mark.parametrize("task", [
    {"routes": [{"device": "eth1", "dst": "10.9.0.0/16", "via": "192.0.2.254"}]},
    {"nics": [{"name": "eth1", "gateway4": "192.0.2.1"}]},
    {"nics": [{"name": "eth1", "routes": [{"dst": "10.9.0.0/16", "via": "192.0.2.254"}]}]},
], ids=["top-level routes", "nic gateway4", "nic routes"])
def test_ip_configuration_given_for_a_device_that_becomes_a_port_is_refused_before_any_change(netns, task):
    iproute(netns, TWO_UPLINKS + ["ip address add 192.0.2.10/24 dev eth1"])
    before = kernel_state(netns)
    result = run_module("net_state", dict(task, namespace=netns, bridges=[{"name": "vmbr1", "ports": ["eth1"]}]))
    assert result.get("failed") and result["changed"] is False, result.get("commands")
    assert state_diff(before, kernel_state(netns)) == []
    assert "a port of vmbr1 carries none" in result["msg"], result["msg"]


def test_describing_a_bridges_uplinks_does_not_release_its_guests(netns):
    """`ports` lists uplinks only; guest ports always stay (docs/net_state.md). vmbr0 described with its uplink
    says nothing about tap100i0, so another bridge listing tap100i0 is refused as without that description."""
    iproute(netns, TWO_UPLINKS + [
        "ip link add vmbr0 type bridge stp_state 0 forward_delay 0", "ip link set eth1 master vmbr0",
        "ip tuntap add tap100i0 mode tap", "ip link set tap100i0 master vmbr0", "ip link set vmbr0 up"])
    before = kernel_state(netns)
    alone = run_module("net_state", {"namespace": netns, "bridges": [{"name": "vmbr9", "ports": ["tap100i0"]}]})
    assert alone.get("failed") and "'tap100i0' is already a port of 'vmbr0'" in alone["msg"], alone
    described = run_module("net_state", {"namespace": netns, "bridges": [
        {"name": "vmbr0", "ports": ["eth1"]}, {"name": "vmbr9", "ports": ["tap100i0"]}]})
    assert described.get("failed") and "'tap100i0' is already a port of 'vmbr0'" in described["msg"], described
    assert state_diff(before, kernel_state(netns)) == []
