"""Review 25 (rvop): an IPv6 route via the router's link-local address, as most IPv6 hosting gives it (fe80::1).

The kernel takes `ip -6 route add DST via fe80::1 dev vmbr1` without onlink (every IPv6 device has fe80::/64),
but net_bridge refuses it as a gateway "not inside any IPv6 address", and its advice (onlink) is not needed.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import ip
from sweep import fresh_namespace

pytestmark = pytest.mark.kernel

VMBR1 = ["ip link add eth1 type veth peer name sw1", "ip link set sw1 up",
         "ip link add vmbr1 type bridge stp_state 0 forward_delay 0", "ip link set eth1 master vmbr1",
         "ip link set eth1 up", "ip link set vmbr1 up",
         "ip address add 192.0.2.10/24 dev vmbr1", "ip address add 2001:db8:1::10/64 dev vmbr1 nodad"]
ROUTE = {"dst": "2001:db8:20::/48", "via": "fe80::1"}


def test_the_kernel_takes_a_route_via_a_link_local_gateway(netns):
    """What the kernel does (no module): holds the route, no onlink needed."""
    fresh_namespace(netns, VMBR1 + ["ip -6 route add 2001:db8:20::/48 via fe80::1 dev vmbr1 proto static"])
    assert "2001:db8:20::/48 via fe80::1 dev vmbr1 proto static" in ip("-6", "route", "show", ns=netns).stdout


def test_net_bridge_adds_a_route_via_a_link_local_gateway_and_a_second_run_is_quiet(netns):
    fresh_namespace(netns, VMBR1)
    task = dict(name="vmbr1", namespace=netns, routes=[ROUTE])
    done = run_module("net_bridge", task)
    assert not done.get("failed"), done.get("msg")
    assert "2001:db8:20::/48 via fe80::1 dev vmbr1 proto static" in ip("-6", "route", "show", ns=netns).stdout
    again = run_module("net_bridge", task)
    assert (again.get("failed"), again["changed"]) == (None, False), again.get("msg")


def test_a_route_via_a_link_local_gateway_made_by_hand_is_kept_by_a_task_that_lists_it(netns):
    fresh_namespace(netns, VMBR1 + ["ip -6 route add 2001:db8:20::/48 via fe80::1 dev vmbr1 proto static"])
    result = run_module("net_bridge", dict(name="vmbr1", namespace=netns, routes=[ROUTE]))
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False


def test_net_bridge_takes_gateway6_on_the_link_local_router(netns):
    fresh_namespace(netns, VMBR1)
    done = run_module("net_bridge", dict(name="vmbr1", namespace=netns, gateway6="fe80::1"))
    assert not done.get("failed"), done.get("msg")
    assert "default via fe80::1 dev vmbr1" in ip("-6", "route", "show", ns=netns).stdout


HETZNER = (
    "auto lo\n"
    "iface lo inet loopback\n"
    "\n"
    "iface eth1 inet manual\n"
    "\n"
    "auto vmbr1\n"
    "iface vmbr1 inet static\n"
    "\taddress 192.0.2.10/24\n"
    "\tgateway 192.0.2.1\n"
    "\tbridge-ports eth1\n"
    "\tbridge-stp off\n"
    "\tbridge-fd 0\n"
    "\tpost-up ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr1\n"
    "\n"
    "iface vmbr1 inet6 static\n"
    "\taddress 2001:db8:1::10/64\n"
    "\tgateway fe80::1\n"
)


def test_net_persist_restores_the_routes_of_a_file_whose_ipv6_gateway_is_fe80_1(netns, tmp_path):
    """A Hetzner-style Proxmox file (their docs write `gateway fe80::1`): the whole restore is refused, so the
    storage route the file holds does not come back either."""
    fresh_namespace(netns, VMBR1 + ["ip route add default via 192.0.2.1 dev vmbr1",
                                    "ip -6 route add default via fe80::1 dev vmbr1"])
    (tmp_path / "etc" / "network").mkdir(parents=True)
    (tmp_path / "etc" / "network" / "interfaces").write_text(HETZNER, encoding="utf-8")
    result = run_module("net_persist", dict(namespace=netns, root=str(tmp_path), format="ifupdown2",
                                            state="restored"))
    assert not result.get("failed"), result.get("msg")
    assert "10.20.0.0/16 via 192.0.2.254 dev vmbr1" in ip("route", "show", ns=netns).stdout
