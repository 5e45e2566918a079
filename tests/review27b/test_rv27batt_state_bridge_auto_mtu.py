"""Review 27b (attacker): the bridge-first fix of review 27 (bridge auto-MTU) does not hold when net_state also
describes the uplink's MTU.

The fix sets a bridge's own MTU before its uplinks (plan_bridge), so the kernel counts it as set by the user
(BROPT_MTU_SET_BY_USER) and a port joining at 1500 no longer sizes it down (br_mtu_auto_adjust). But an operator who
writes the whole path, `bridges: [{name: vmbr0, ports: [eth1], mtu: 9000}]` with `nics: [{name: eth1, mtu: 9000}]`
(the natural way to say "jumbo on this path"), gets plan_host's dependency order: eth1 first (a port before its
bridge), which raises vmbr0 with it by auto-sizing; the `link set vmbr0 mtu 9000` that follows changes nothing, so
the bridge is still the kernel's to size. The next guest started at 1500 (a tap joining) takes vmbr0 back to 1500:
every other guest and the host lose jumbo frames mid-window, and a confirmation then refuses, rolling back a good
change (review 27's xfail 2, back through net_state).

Expected: vmbr0 keeps 9000 when a guest port at 1500 joins, however the task describes the path.
"""
from __future__ import annotations

import pytest

from jumbo_lab import mtus
from modrun import run_module
from nstools import iproute
from sweep import fresh_namespace

pytestmark = pytest.mark.kernel

SETUP = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("sw1", "eth1", "vmbr0")),
]
GUEST_JOINS = ["ip tuntap add tap100i0 mode tap", "ip link set tap100i0 master vmbr0", "ip link set tap100i0 up"]
BRIDGE = {"name": "vmbr0", "ports": ["eth1"], "mtu": 9000}


def test_the_bridge_alone_keeps_its_mtu_when_a_guest_joins(netns):
    """Control: the bridge described alone is set first and holds."""
    fresh_namespace(netns, SETUP)
    done = run_module("net_state", {"namespace": netns, "bridges": [BRIDGE]})
    assert not done.get("failed") and done["changed"], done.get("msg")
    iproute(netns, GUEST_JOINS)
    assert mtus(netns, "vmbr0", "eth1") == {"vmbr0": 9000, "eth1": 9000}


def test_the_bridge_keeps_its_mtu_when_the_task_describes_the_uplinks_mtu_too(netns):
    fresh_namespace(netns, SETUP)
    done = run_module("net_state", {"namespace": netns, "bridges": [BRIDGE], "nics": [{"name": "eth1", "mtu": 9000}]})
    assert not done.get("failed") and done["changed"], done.get("msg")
    # The plan: ['... link set dev eth1 mtu 9000', '... link set dev vmbr0 mtu 9000'] (the second a no-op)
    iproute(netns, GUEST_JOINS)
    # What happens: {'vmbr0': 1500, 'eth1': 9000}
    assert mtus(netns, "vmbr0", "eth1") == {"vmbr0": 9000, "eth1": 9000}
