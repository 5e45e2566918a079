"""Review 25 (rvop): net_checkpoint rollback after the host address moved with its routes onto a new bridge.

vmbr0 holds the host's address, both default routes and the storage routes (main table, table 100 for policy
routing, IPv6). The change builds vmbr9 on eno3 and moves all of it there, as an operator would by hand.
The rollback must give back the complete state dump taken before the checkpoint.
"""
from __future__ import annotations

import pytest

from checkpoint.conftest import host, make_host  # noqa: F401  pylint: disable=unused-import
from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]

STORAGE = [
    "ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr0",
    "ip route add default via 192.0.2.253 dev vmbr0 table 100 proto static",
    "ip route add 2001:db8:20::/48 via 2001:db8::fe dev vmbr0 proto static",
]
MOVE = [
    "ip link add vmbr9 type bridge stp_state 0 forward_delay 0",
    "ip link set eno3 master vmbr9",
    "ip link set eno3 up",
    "ip link set vmbr9 up",
    "ip address del 192.0.2.10/24 dev vmbr0",
    "ip address del 2001:db8::10/64 dev vmbr0",
    "ip route del 2001:db8:20::/48 dev vmbr0",
    "ip route del default via 2001:db8::1 dev vmbr0",
    "ip address add 192.0.2.10/24 dev vmbr9",
    "ip address add 2001:db8::10/64 dev vmbr9 nodad",
    "ip route add default via 192.0.2.1 dev vmbr9",
    "ip route add default via 2001:db8::1 dev vmbr9",
    "ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr9",
    "ip route add default via 192.0.2.253 dev vmbr9 table 100 proto static",
    "ip route add 2001:db8:20::/48 via 2001:db8::fe dev vmbr9 proto static",
]


def test_rolled_back_gives_back_address_gateways_and_routes_on_vmbr0(host):  # noqa: F811
    iproute(host.ns, STORAGE)
    before = host.state()
    assert host.checkpoint(state="armed", timeout=300)["armed"]
    iproute(host.ns, MOVE)
    preview = host.checkpoint(state="rolled_back", check=True)
    assert not preview.get("failed"), preview.get("msg")
    back = host.checkpoint(state="rolled_back")
    assert not back.get("failed") and back["outcome"]["outcome"] == "rolled_back", (back.get("msg"), back.get("commands"))
    assert state_diff(before, host.state()) == [], back.get("commands")
