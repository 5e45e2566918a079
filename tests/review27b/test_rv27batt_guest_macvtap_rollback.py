"""Review 27b (attacker): a checkpoint rollback leaves a guest's macvtap lowered, and says it succeeded.

A macvtap on vmbr0 whose name matches the guest patterns (vnet5: `^vnet\\d+$` is a default pattern) is read as a
guest port (GuestPort, with `lower` = vmbr0). Lowering vmbr0 from 9000 to 1500 in a window makes the kernel lower
vnet5 with it (macvlan_device_event). The plan's own undo raises it back (the sweep of the same change is clean),
but the checkpoint's rollback only raises vmbr0 and eth1: guest plumbing is left alone, so vnet5 stays at 1500.
The rollback reports success; the complete dump differs ('link vnet5 mtu: 9000 -> 1500'): the guest has lost its
jumbo frames after a change that was "rolled back".

Expected: the rollback restores what the kernel changed on a guest's macvtap with its lower device (the complete
dump equal), or says it did not.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import fresh_namespace, sweep
from watchdogs import armed_checkpoint

pytestmark = pytest.mark.kernel

JUMBO_GUEST_MACVTAP = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("sw1", "eth1", "vmbr0")),
    "ip link set eth1 mtu 9000", "ip link set vmbr0 mtu 9000",
    "ip link add vnet5 link vmbr0 type macvtap mode bridge", "ip link set vnet5 mtu 9000", "ip link set vnet5 up",
]
LOWER = {"name": "vmbr0", "mtu": 1500}


def test_the_plans_own_undo_restores_the_guest_macvtap(netns):
    """Control: every step of the same lowering, refused, is undone exactly (vnet5 raised back)."""
    result = sweep("guest macvtap lower", netns, JUMBO_GUEST_MACVTAP, "net_bridge", LOWER)
    assert result.findings == [] and result.n == 2, result.report()


def test_a_rollback_restores_the_guest_macvtap_lowered_with_its_bridge(netns, tmp_path):
    fresh_namespace(netns, JUMBO_GUEST_MACVTAP)
    before = kernel_state(netns)
    root = tmp_path / "root"
    with armed_checkpoint(netns, root) as roll_back:
        lowered = run_module("net_bridge", dict(LOWER, namespace=netns))
        assert lowered["changed"] and not lowered.get("failed"), lowered.get("msg")
        back = roll_back()
        assert not back.get("failed"), back.get("msg")
        # What happens: ['link vnet5 mtu: 9000 -> 1500']
        assert state_diff(before, kernel_state(netns)) == []
