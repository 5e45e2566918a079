"""Static routes come back with the bridge a change deleted and re-created (issue 25, "Done when": rollback).

vmbr1 carries the storage network's address and three static routes: 10.20.0.0/16 via 198.51.100.1 in the main
table (as a bare `ip route add` or ifupdown2's `post-up` makes it: proto boot), a default route in table 100
(proto static, as NetworkManager or networkd make it) and an IPv6 route with a metric. The change deletes vmbr1
and builds it again bare, which takes its addresses and every route through it with it. The default probes
(ICMP to the default gateway, on vmbr0) would not notice. Both ways back, the watchdog at its deadline and
net_checkpoint state=rolled_back, must leave the complete state dump (routes of every table) equal to the one
taken before the checkpoint.
"""
from __future__ import annotations

import pytest

from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]

STORAGE = [
    "ip address add 198.51.100.10/24 dev vmbr1",
    "ip address add 2001:db8:51::10/64 dev vmbr1",
    "ip route add 10.20.0.0/16 via 198.51.100.1 dev vmbr1",
    "ip route add default via 198.51.100.1 dev vmbr1 table 100 proto static",
    "ip route add 2001:db8:20::/48 via 2001:db8:51::1 dev vmbr1 metric 50 proto static",
]
REBUILD = [
    "ip link del vmbr1",
    "ip link add vmbr1 type bridge stp_state 0",
    "ip link set eno2 master vmbr1",
    "ip link set vmbr1 up",
]


def routes_of(state: dict) -> list:
    return [r for r in state["routes"] if r.get("dev") == "vmbr1" and r.get("protocol") in ("boot", "static")]


@pytest.fixture
def storage_host(host):
    iproute(host.ns, STORAGE)
    return host


def test_the_watchdog_brings_back_vmbr1s_routes_in_main_and_table_100(storage_host):
    host = storage_host
    before = host.state()
    assert len(routes_of(before)) == 3, before["routes"]   # the dump sees all three, table 100 too
    armed = host.checkpoint(state="armed", timeout=5)["checkpoint"]
    iproute(host.ns, REBUILD)
    assert routes_of(host.state()) == []                   # the kernel took them with the bridge
    last = host.wait_outcome(armed["id"], 60)
    assert last["outcome"] == "rolled_back" and last["by"].startswith("watchdog"), last
    assert state_diff(before, host.state()) == []


def test_net_checkpoint_rolled_back_shows_and_restores_the_routes(storage_host):
    host = storage_host
    before = host.state()
    assert host.checkpoint(state="armed", timeout=300)["armed"]
    iproute(host.ns, REBUILD)
    preview = host.checkpoint(state="rolled_back", check=True)
    commands = "\n".join(preview["commands"])
    for route in ("route add 10.20.0.0/16 via 198.51.100.1 dev vmbr1",
                  "route add 0.0.0.0/0 via 198.51.100.1 dev vmbr1 table 100",
                  "route add 2001:db8:20::/48 via 2001:db8:51::1 dev vmbr1 metric 50"):
        assert route in commands, commands
    back = host.checkpoint(state="rolled_back")
    assert not back.get("failed") and back["outcome"]["outcome"] == "rolled_back", back.get("msg")
    assert state_diff(before, host.state()) == []


def test_a_route_moved_to_another_bridge_and_routes_on_a_bridge_the_change_built_are_undone(storage_host):
    """The change moves the storage route from vmbr1 to vmbr0 (same destination, table and metric: the kernel
    holds it once, so the way back must take it off vmbr0 before vmbr1 gets it) and builds vmbr9 with a static
    route and a routing daemon's route (proto bird). The rollback deletes both bridges' strays by name first,
    vmbr9 with them; the daemon's route goes with vmbr9 and the result says so instead of refusing."""
    host = storage_host
    before = host.state()
    assert host.checkpoint(state="armed", timeout=300)["armed"]
    iproute(host.ns, [
        "ip route del 10.20.0.0/16 dev vmbr1",
        "ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr0 proto static",
        "ip link add vmbr9 type bridge",
        "ip link set eno3 master vmbr9",
        "ip link set vmbr9 up",
        "ip address add 10.99.0.1/24 dev vmbr9",
        "ip route add 10.98.0.0/16 via 10.99.0.254 dev vmbr9 proto static",
        "ip route add 10.97.0.0/16 via 10.99.0.254 dev vmbr9 proto bird",
    ])
    preview = host.checkpoint(state="rolled_back", check=True)
    commands = preview["commands"]
    first_add = next(i for i, c in enumerate(commands) if "route add 10.20.0.0/16" in c)
    assert any("route del 10.20.0.0/16 via 192.0.2.254 dev vmbr0" in c for c in commands[:first_add]), commands
    assert any("route del 10.98.0.0/16 via 10.99.0.254 dev vmbr9" in c for c in commands), commands
    back = host.checkpoint(state="rolled_back")
    assert not back.get("failed") and back["outcome"]["outcome"] == "rolled_back", back.get("msg")
    assert any("10.97.0.0/16" in str(w) and "bird" in str(w) for w in back.get("warnings", [])), back.get("warnings")
    assert state_diff(before, host.state()) == []
