"""Review 25 (rvatt): a bridge's IPv4 address changed inside its own subnet (192.0.2.10/24 -> 192.0.2.11/24).

The plan adds the new address (the kernel makes it a secondary of the old
one) and then deletes the old primary. With promote_secondaries off (the
kernel's default, and what a namespace has) the kernel deletes the secondary
with its primary: the device has no IPv4 address left for a moment, and the
kernel drops every IPv4 route through it, the host's default route too. The
verification sees the missing address, the undo puts the old address back
but not the routes: the task fails with changed=true, the host is left
without its default route and the static routes.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import fresh_namespace, sweep

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))
from test_routes_module import ROUTED  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.kernel

HOST = ROUTED + ["ip route add default via 192.0.2.254 dev vmbr1"]
NEW_ADDRESSES = ["192.0.2.11/24", "2001:db8:1::10/64"]


def _outcome(ns: str, before: dict) -> None:
    result = run_module("net_bridge", {"name": "vmbr1", "addresses": NEW_ADDRESSES, "namespace": ns})
    after = kernel_state(ns)
    if result.get("failed"):
        assert not result["changed"], result["msg"]
        assert after == before, state_diff(before, after)
        return
    routes = {(r["dst"], r["table"]) for r in after["routes"] if r.get("dev") == "vmbr1"}
    assert {("default", "main"), ("10.20.0.0/16", "main"), ("default", "100")} <= routes, state_diff(before, after)


def test_an_address_moved_inside_its_subnet_keeps_the_default_route_or_changes_nothing(netns):
    fresh_namespace(netns, HOST)
    _outcome(netns, kernel_state(netns))


def test_with_promote_secondaries_on_the_same_change_keeps_every_route(netns):
    """What systemd's sysctl.d/50-default.conf sets on a real Debian host: the secondary is promoted."""
    fresh_namespace(netns, HOST)
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w", "net.ipv4.conf.vmbr1.promote_secondaries=1"],
                   check=True)
    _outcome(netns, kernel_state(netns))


NIC = ["ip link add eth2 type veth peer name sw2", "ip link set sw2 up", "ip link set eth2 up",
       "ip address add 203.0.113.5/24 dev eth2", "ip route add 10.30.0.0/16 via 203.0.113.1 dev eth2 proto static",
       "ip route add default via 203.0.113.1 dev eth2"]


def test_net_nic_moving_its_address_inside_the_subnet_keeps_its_routes_or_changes_nothing(netns):
    fresh_namespace(netns, NIC)
    before = kernel_state(netns)
    result = run_module("net_nic", {"name": "eth2", "namespace": netns, "addresses": ["203.0.113.6/24"],
                                    "routes": [{"dst": "10.30.0.0/16", "via": "203.0.113.1"}]})
    after = kernel_state(netns)
    if result.get("failed"):
        assert not result["changed"], result["msg"]
        assert after == before, state_diff(before, after)
        return
    routes = {r["dst"] for r in after["routes"] if r.get("dev") == "eth2" and r.get("table") == "main"}
    assert {"default", "10.30.0.0/16"} <= routes, state_diff(before, after)


def test_sweep_an_address_moved_inside_its_subnet_with_the_default_and_static_routes(netns):
    """plan._cycle_subnets: the old address and the default route go first, the new address and the route come
    back, the static routes are kept by plan_routes.keep_routes; refused at every k, the dump is equal again."""
    result = sweep("address moved inside its subnet", netns, HOST, "net_bridge",
                   {"name": "vmbr1", "addresses": NEW_ADDRESSES})
    assert result.findings == [], result.report()
