"""Review 26 (op): net_state's top-level `routes` are checked like a device's own `routes` (docs/net_state.md:
"exactly, like that device's own routes option").

They are not: the same values that `nics[0].routes[0]` (and net_nic's `routes`) refuse with a clear message
("table 255 is not a routing table; allowed 1-4294967295 except 255 (local), or main or default") pass through
`routes[0]` unchecked. A wrong table (255, local, 0, a typo, out of range) silently becomes a route in the main
table; a negative or too large metric is planned as given; a malformed dst crashes the module with a ValueError
traceback instead of an error naming the option. The role's change_window_routes inherits all of it.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import iproute, kernel_state, state_diff

pytestmark = pytest.mark.kernel

HOST = [
    "ip link add eth1 type veth peer name sw1",
    "ip link set sw1 up", "ip link set eth1 up",
    "ip address add 192.0.2.10/24 dev eth1",
]
ROUTE = {"device": "eth1", "dst": "10.0.0.0/8", "via": "192.0.2.1"}
WRONG = [
    ("table", 255), ("table", "local"), ("table", 0), ("table", "banana"), ("table", 4294967296),
    ("metric", -1), ("metric", 4294967296),
    ("dst", "10.0.0.0/33"), ("dst", "banana"),
]


def run(args: dict, check: bool) -> dict:
    try:
        return run_module("net_state", args, check=check)
    # A crash is the defect: report it as a result.
    except Exception as exc:  # pylint: disable=broad-except
        return {"crashed": repr(exc)}


@pytest.mark.parametrize("option, value", WRONG)
def test_a_devices_own_routes_refuse_the_value_naming_it(netns, option, value):
    iproute(netns, HOST)
    entry = {k: v for k, v in dict(ROUTE, **{option: value}).items() if k != "device"}
    failed = run({"namespace": netns, "nics": [{"name": "eth1", "routes": [entry]}]}, check=True)
    assert failed.get("failed") and f"nics[0].routes[0]: {option}" in failed["msg"], failed


@pytest.mark.parametrize("option, value", WRONG)
def test_top_level_routes_refuse_the_value_naming_it_and_change_nothing(netns, option, value):
    iproute(netns, HOST)
    before = kernel_state(netns)
    failed = run({"namespace": netns, "routes": [dict(ROUTE, **{option: value})]}, check=False)
    assert state_diff(before, kernel_state(netns)) == [], failed.get("commands")
    assert failed.get("failed"), failed
    assert "routes[0]" in failed["msg"] and option in failed["msg"], failed["msg"]
