"""The route kind (kinds/route.py) and IpConfig.routes: checks, canonical form, identity, dict round trip."""
import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route, route_problems
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bridge, Device, IpConfig


def test_normalized_fills_the_kernels_defaults_and_keeps_proto_open():
    route = Route(dst="10.20.1.7/16", via="192.0.2.1").normalized()
    assert route == Route(dst="10.20.0.0/16", via="192.0.2.1", table=254, metric=0, onlink=False, proto=None)
    six = Route(dst="2001:db8:20::/48", table="100").normalized()
    assert (six.table, six.metric, six.family) == (100, 1024, 6)


def test_a_route_read_as_boot_satisfies_one_asked_without_proto():
    wanted = Route(dst="10.20.0.0/16", via="192.0.2.1").normalized()
    read = Route(dst="10.20.0.0/16", via="192.0.2.1", table=254, metric=0, onlink=False, proto="boot")
    assert read.satisfies(wanted)
    assert not read.satisfies(Route(dst="10.20.0.0/16", via="192.0.2.1", proto="static").normalized())
    assert not read.satisfies(Route(dst="10.20.0.0/16", via="192.0.2.2").normalized())


@pytest.mark.parametrize("route, fragment", [
    (Route(dst="10.20.0.0/33"), "dst '10.20.0.0/33' is not a destination"),
    (Route(dst="10.20.0.0/16", via="2001:db8::1"), "via 2001:db8::1 is IPv6 but dst 10.20.0.0/16 is IPv4"),
    (Route(dst="10.20.0.0/16", table=255), "table 255 is not a routing table"),
    (Route(dst="10.20.0.0/16", table="local"), "table 'local' is not a routing table"),
    (Route(dst="10.20.0.0/16", metric=-1), "metric -1 is out of range"),
    (Route(dst="10.20.0.0/16", onlink=True), "onlink needs a gateway"),
    (Route(dst="10.20.0.0/16", proto="kernel"), "proto 'kernel' is not one netsafe manages"),
    (Route(dst="224.0.0.0/4"), "multicast"),
])
def test_bad_routes_are_named(route, fragment):
    problems = route_problems([route])
    assert len(problems) == 1 and problems[0].startswith("routes[0]: ") and fragment in problems[0], problems


def test_two_routes_with_one_key_are_refused():
    problems = route_problems([Route(dst="10.20.0.0/16", via="192.0.2.1"), Route(dst="10.20.0.1/16", via="192.0.2.2")])
    assert problems and "routes[1]" in problems[0] and "routes[0]" in problems[0]
    assert not route_problems([Route(dst="10.20.0.0/16", via="192.0.2.1"),
                               Route(dst="10.20.0.0/16", via="192.0.2.2", metric=10)])


def test_words_are_what_ip_route_takes():
    route = Route(dst="0.0.0.0/0", via="198.51.100.1", table=100, metric=5, onlink=True, proto="static")
    assert route.words("vmbr1") == ["0.0.0.0/0", "via", "198.51.100.1", "dev", "vmbr1", "table", "100",
                                    "metric", "5", "onlink", "proto", "static"]
    assert Route(dst="10.0.0.0/8", table=254, metric=0).words("eth0") == ["10.0.0.0/8", "dev", "eth0", "metric", "0"]


def test_routes_round_trip_through_the_snapshot_dict_and_clone():
    bridge = Bridge(name="vmbr1", ip=IpConfig(addresses=["192.0.2.10/24"], routes=[
        Route(dst="10.20.0.0/16", via="192.0.2.1", table=254, metric=0, onlink=False, proto="boot")]))
    again = Device.from_dict(bridge.to_dict())
    assert again == bridge
    copy = bridge.clone()
    copy.ip.routes[0].via = "192.0.2.2"
    assert bridge.ip.routes[0].via == "192.0.2.1"


def test_a_snapshot_written_before_routes_leaves_them_unmanaged():
    old = {"type": "nic", "name": "eth0", "ip": {"addresses": [], "gateway4": None, "gateway6": None}}
    assert Device.from_dict(old).ip.routes is None
