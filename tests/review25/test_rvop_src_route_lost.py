"""Review 25 (rvop): a route with a source address is silently lost when net_bridge moves the host address.

docs/net_bridge.md: routes with a `src` are not netsafe's and "are never changed"; a change that would make
the kernel delete one is refused, naming it. The kernel deletes every route whose preferred source is an
address that goes away, so moving vmbr1's address (new one added, old one deleted) deletes
`10.60.0.0/16 via 192.0.2.254 dev vmbr1 src 192.0.2.10` without a word: no refusal, no warning.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import ip
from sweep import fresh_namespace

pytestmark = pytest.mark.kernel

VMBR1 = ["ip link add eth1 type veth peer name sw1", "ip link set sw1 up",
         "ip link add vmbr1 type bridge stp_state 0 forward_delay 0", "ip link set eth1 master vmbr1",
         "ip link set eth1 up", "ip link set vmbr1 up", "ip address add 192.0.2.10/24 dev vmbr1",
         "ip route add 10.60.0.0/16 via 192.0.2.254 dev vmbr1 src 192.0.2.10"]


def test_the_kernel_deletes_a_route_whose_source_address_goes(netns):
    fresh_namespace(netns, VMBR1 + ["ip address add 198.51.100.10/24 dev vmbr1",
                                    "ip address del 192.0.2.10/24 dev vmbr1"])
    assert "10.60.0.0/16" not in ip("route", "show", "table", "all", ns=netns).stdout


def test_moving_the_address_names_the_src_route_it_loses(netns):
    fresh_namespace(netns, VMBR1)
    result = run_module("net_bridge", dict(name="vmbr1", namespace=netns, addresses=["198.51.100.10/24"]))
    said = (result.get("msg") or "") + " ".join(str(w) for w in result.get("warnings") or [])
    kept = "10.60.0.0/16" in ip("route", "show", "table", "all", ns=netns).stdout
    assert kept or "10.60.0.0/16" in said, "the route went without a word"
