"""Review 25 (rvatt): a link-local IPv6 gateway (fe80::1), the usual one on hosting networks and behind routers
that advertise themselves, is refused as "not inside any IPv6 address", for a route's via and for gateway6.

The kernel takes `ip -6 route add DST via fe80::1 dev DEV` without onlink: a link-local gateway is always on
the link the route names. The module refuses it, even when the kernel already holds exactly that (a task that
restates the host as it is fails), so a playbook that carries a host's real configuration cannot run.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modrun import run_module
from nstools import ip, kernel_state, state_diff
from sweep import fresh_namespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))
from test_routes_module import ROUTED, ROUTES  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.kernel

LL_ROUTE = {"dst": "2001:db8:50::/48", "via": "fe80::1"}


def test_the_kernel_takes_a_link_local_gateway_without_onlink(netns):
    """The fact the module should follow (held on today's kernel)."""
    fresh_namespace(netns, ROUTED + ["ip -6 route add default via fe80::1 dev vmbr1",
                                     "ip -6 route add 2001:db8:50::/48 via fe80::1 dev vmbr1 proto static"])
    shown = ip("-6", "route", "show", ns=netns).stdout
    assert "default via fe80::1 dev vmbr1" in shown
    assert "2001:db8:50::/48 via fe80::1 dev vmbr1 proto static" in shown and "onlink" not in shown


def test_a_route_via_a_link_local_gateway_is_made(netns):
    fresh_namespace(netns, ROUTED)
    result = run_module("net_bridge", {"name": "vmbr1", "namespace": netns, "routes": ROUTES + [LL_ROUTE]})
    assert not result.get("failed"), result.get("msg")
    assert "2001:db8:50::/48 via fe80::1 dev vmbr1" in ip("-6", "route", "show", ns=netns).stdout


def test_restating_a_link_local_default_gateway_the_host_has_changes_nothing_and_succeeds(netns):
    fresh_namespace(netns, ROUTED + ["ip -6 route add default via fe80::1 dev vmbr1"])
    before = kernel_state(netns)
    result = run_module("net_bridge", {"name": "vmbr1", "namespace": netns, "gateway6": "fe80::1"})
    assert kernel_state(netns) == before, state_diff(before, kernel_state(netns))
    assert not result.get("failed"), result.get("msg")
    assert not result["changed"]
