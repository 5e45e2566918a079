"""Review 25 (rvatt): an MTU below 1280, IPv6's minimum, on a device with IPv6 addresses and routes.

The kernel turns IPv6 off on a device whose MTU goes below 1280 (addrconf, NETDEV_CHANGEMTU): every IPv6
address of the device and every IPv6 route through it is deleted, and raising the MTU again brings none back.
net_nic and net_bridge apply such an MTU without a word: the task succeeds and the host has silently lost its
IPv6 address and static IPv6 routes (the default IPv6 route too). They must refuse (naming mtu, the addresses
and routes at stake) and change nothing, or keep them.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import fresh_namespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))
from test_routes_module import ROUTED  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.kernel

NIC = ["ip link add eth2 type veth peer name sw2", "ip link set sw2 up", "ip link set eth2 up",
       "ip address add 203.0.113.5/24 dev eth2", "ip -6 address add 2001:db8:9::5/64 dev eth2 nodad",
       "ip route add 10.30.0.0/16 via 203.0.113.1 dev eth2 proto static",
       "ip -6 route add 2001:db8:30::/48 via 2001:db8:9::1 dev eth2 proto static",
       "ip -6 route add default via 2001:db8:9::1 dev eth2"]


def _ipv6_kept_or_refused(ns: str, module: str, dev: str, before: dict) -> None:
    result = run_module(module, {"name": dev, "mtu": 1200, "namespace": ns})
    after = kernel_state(ns)
    if result.get("failed"):
        assert not result["changed"] and "mtu" in result["msg"], result["msg"]
        assert after == before, state_diff(before, after)
        return
    lost = [line for line in state_diff(before, after) if "inet6" in line or "route gone" in line]
    assert lost == [], (result.get("warnings"), lost)


def test_net_nic_mtu_below_1280_keeps_or_refuses_for_ipv6(netns):
    fresh_namespace(netns, NIC)
    _ipv6_kept_or_refused(netns, "net_nic", "eth2", kernel_state(netns))


def test_net_bridge_mtu_below_1280_keeps_or_refuses_for_ipv6(netns):
    fresh_namespace(netns, ROUTED)
    _ipv6_kept_or_refused(netns, "net_bridge", "vmbr1", kernel_state(netns))


def test_net_nic_mtu_below_1280_on_a_bridge_port_keeps_or_refuses_for_the_bridges_ipv6(netns):
    fresh_namespace(netns, ROUTED)
    before = kernel_state(netns)
    result = run_module("net_nic", {"name": "eth1", "mtu": 1200, "namespace": netns})
    after = kernel_state(netns)
    if result.get("failed"):
        assert not result["changed"] and "mtu" in result["msg"], result["msg"]
        assert after == before, state_diff(before, after)
        return
    lost = [line for line in state_diff(before, after) if "vmbr1" in line and ("inet6" in line or "route gone" in line)]
    assert lost == [], (result.get("warnings"), lost)
