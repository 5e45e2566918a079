"""Review 25 (rvatt): route inputs the checks let through to the kernel, which then refuses them or keeps
something else: the task fails only after changing the host (and undoing it), with a message about the
kernel instead of the option. Each must be refused before any change, naming routes[i] and the field."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import fresh_namespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))
from test_routes_module import ROUTED, ROUTES  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.kernel


def _refused_up_front(ns: str, setup: list, extra: dict, words: tuple) -> None:
    fresh_namespace(ns, ROUTED + setup)
    before = kernel_state(ns)
    result = run_module("net_bridge", {"name": "vmbr1", "namespace": ns, "routes": ROUTES + [extra]})
    assert kernel_state(ns) == before, state_diff(before, kernel_state(ns))
    assert result["failed"] and not result["changed"]
    assert "routes[3]" in result["msg"], result["msg"]
    for word in words:
        assert word in result["msg"], result["msg"]
    assert not result.get("commands"), result.get("commands")


# An IPv6 route with metric 0 is what the kernel makes of it, metric 1024 (kinds/route.py Route.normalized):
# accepted, see test_rvop_ipv6_metric0.py.


def test_the_main_default_route_in_routes_is_refused_naming_gateway4(netns):
    _refused_up_front(netns, [], {"dst": "0.0.0.0/0", "via": "192.0.2.254"}, ("gateway4",))


def test_the_main_default_route_in_routes_with_the_gateway_present_is_refused_naming_gateway4(netns):
    _refused_up_front(netns, ["ip route add default via 192.0.2.254 dev vmbr1"],
                      {"dst": "0.0.0.0/0", "via": "192.0.2.254"}, ("gateway4",))


@pytest.mark.xfail(strict=True, reason="review 25: a blackhole route with the same key is not seen; the kernel says "
                                       "File exists after the change")
def test_a_route_whose_key_a_blackhole_holds_is_refused_naming_the_blackhole(netns):
    _refused_up_front(netns, ["ip route add blackhole 10.87.0.0/16"], {"dst": "10.87.0.0/16", "via": "192.0.2.254"},
                      ("blackhole",))
