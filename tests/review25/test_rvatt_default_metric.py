"""Review 25 (rvatt): a device's default route with a metric (gateway4 of a second uplink, or NetworkManager's
425 of a bridge) next to the host's main default route (metric 0) on another device.

Found by review 25: the dump read any main-table default via a gateway as the device's gateway4, whatever its
metric, and the plan wrote it back as `ip route replace default via GW dev DEV`, metric 0, which the kernel matches
by destination, table and metric: it took the OTHER device's metric-0 default, the host's way out. Since issue 26 a
default with a non-default metric is a route of its device (kinds/route.Route.is_gateway); gateway4/gateway6 are
the defaults at the family's default metric (0 and 1024).
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


def test_a_bridges_default_route_with_a_metric_is_one_of_its_routes_and_changes_as_one(netns):
    """Since issue 26 a main-table default with a non-default metric is a route of its device, not its gateway4: it
    is shown, kept and changed in `routes`, and the host's default on eth2 (metric 0) is never touched by it."""
    fresh_namespace(netns, HOST)
    before = kernel_state(netns)
    assert _defaults(before) == {("eth2", 0): "203.0.113.1", ("vmbr1", 425): "192.0.2.254"}
    seen = run_module("net_bridge", {"name": "vmbr1", "namespace": netns}, check=True)
    assert seen["state"]["gateway4"] is None
    assert {"dst": "0.0.0.0/0", "via": "192.0.2.254", "table": 254, "metric": 425, "onlink": False,
            "proto": "static"} in seen["state"]["routes"]
    routes = [{k: v for k, v in r.items() if k != "proto"} for r in seen["state"]["routes"] if r["dst"] != "0.0.0.0/0"]
    result = run_module("net_bridge", {"name": "vmbr1", "namespace": netns, "routes": routes + [
        {"dst": "0.0.0.0/0", "via": "192.0.2.253", "metric": 425}]})
    assert not result.get("failed"), result.get("msg")
    after = kernel_state(netns)
    assert _defaults(after) == {("eth2", 0): "203.0.113.1", ("vmbr1", 425): "192.0.2.253"}, state_diff(before, after)


def test_gateway4_at_the_default_metric_in_routes_is_refused_naming_the_option(netns):
    fresh_namespace(netns, HOST)
    before = kernel_state(netns)
    result = run_module("net_bridge", {"name": "vmbr1", "namespace": netns,
                                       "routes": [{"dst": "0.0.0.0/0", "via": "192.0.2.253"}]})
    assert result.get("failed") and "is the device's gateway4 option" in result["msg"]
    assert kernel_state(netns) == before
