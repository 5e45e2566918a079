"""Review 25 (rvatt): the undo of a NIC taken down gives its IPv6 address back (plan.flushed_on_down) without the
address's flags: an address made with nodad comes back with duplicate address detection (tentative first, and
dadfailed if another host has it). The full state dump differs after the undo."""
from __future__ import annotations

import pytest

from sweep import sweep

pytestmark = pytest.mark.kernel

SETUP = ["ip link add eth2 type veth peer name sw2", "ip link set sw2 up", "ip link set eth2 up",
         "ip address add 203.0.113.5/24 dev eth2", "ip -6 address add 2001:db8:9::5/64 dev eth2 nodad",
         "ip -6 route add 2001:db8:30::/48 via 2001:db8:9::1 dev eth2 proto static"]


@pytest.mark.xfail(strict=True, reason="review 25: an IPv6 address flushed by a down comes back without nodad")
def test_sweep_a_nic_with_a_nodad_address_taken_down(netns):
    task = {"name": "eth2", "admin_state": "down", "routes": []}
    result = sweep("nic down, nodad address", netns, SETUP, "net_nic", task)
    assert result.findings == [], result.report()
