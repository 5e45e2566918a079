"""Review 26 (op): taking down the bridge that carries the host's default route must be refused, as for a NIC.

`nics: [{name: eth1, admin_state: down}]` is refused when it leaves the host's default route with no way out
("... cuts the host off. Set allow_default_route_loss: true ..."). The same mistake on the bridge itself
(`bridges: [{name: vmbr0, admin_state: down}]`, vmbr0 holding the address and the default route) is planned without
a word: the default route is deleted and the bridge taken down, and the host is cut off.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import iproute

pytestmark = pytest.mark.kernel

HOST = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set sw1 up", "ip link set eth1 up", "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip route add default via 192.0.2.1 dev vmbr0",
]


def test_taking_down_the_nic_under_the_default_route_is_refused(netns):
    iproute(netns, HOST)
    failed = run_module("net_state", {"namespace": netns, "nics": [{"name": "eth1", "admin_state": "down"}]}, check=True)
    assert failed.get("failed") and "default via 192.0.2.1" in failed["msg"], failed.get("commands")


def test_taking_down_the_bridge_that_holds_the_default_route_is_refused(netns):
    iproute(netns, HOST)
    result = run_module("net_state", {"namespace": netns, "bridges": [{"name": "vmbr0", "admin_state": "down"}]},
                        check=True)
    assert result.get("failed"), result.get("commands")
    assert "default via 192.0.2.1" in result["msg"]
