"""Review 25 (rvatt): a device's default route with a metric (gateway4 of a second uplink, or NetworkManager's
425 of a bridge) next to the host's main default route (metric 0) on another device.

The dump reads any main-table default via a gateway as the device's gateway4, whatever its metric; the plan
writes it back as `ip route replace default via GW dev DEV`, metric 0. The kernel's replace matches
destination, table and metric: it takes the OTHER device's metric-0 default, the host's way out, and puts
this device in its place; the device's own metric-425 route stays. So changing vmbr1's gateway moves the
host's default route off eth2 (the host's uplink), and a rollback that restores vmbr1 fails as a whole (its
verification still misses the routes) and undoes itself (test_rvatt_rollback_routes.py).
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

HOST = ROUTED + ["ip link set eth2 up", "ip address add 203.0.113.5/24 dev eth2",
                 "ip route add default via 203.0.113.1 dev eth2",
                 "ip route add default via 192.0.2.254 dev vmbr1 metric 425 proto static"]


def _defaults(state: dict) -> dict:
    return {(r["dev"], r.get("metric", 0)): r.get("gateway") for r in state["routes"]
            if r["dst"] == "default" and r.get("table", "main") == "main" and "." in (r.get("gateway") or "")}


@pytest.mark.xfail(strict=True, reason="review 25: gateway4 of a device whose default has a metric is written as "
                                       "`route replace default` at metric 0, replacing another device's default")
def test_changing_a_bridges_metric_default_gateway_leaves_the_hosts_default_on_its_uplink(netns):
    fresh_namespace(netns, HOST)
    before = kernel_state(netns)
    assert _defaults(before) == {("eth2", 0): "203.0.113.1", ("vmbr1", 425): "192.0.2.254"}
    result = run_module("net_bridge", {"name": "vmbr1", "gateway4": "192.0.2.253", "namespace": netns})
    after = kernel_state(netns)
    if result.get("failed"):
        assert not result["changed"] and after == before, state_diff(before, after)
        return
    assert _defaults(after).get(("eth2", 0)) == "203.0.113.1", (result["commands"], state_diff(before, after))
    assert ("vmbr1", 425) not in _defaults(after) or _defaults(after)[("vmbr1", 425)] == "192.0.2.253", \
        (result["commands"], state_diff(before, after))
