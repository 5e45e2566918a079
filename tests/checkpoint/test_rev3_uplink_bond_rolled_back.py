"""Rolling back "the live uplink becomes a bond under the same bridge" fails: the change stays (review 3).

The classic job, as playbooks/move_bridge_to_bond.yml ships it (README: "vmbr0 from a NIC to a bond with a new
MTU, guests kept"): vmbr0 (192.0.2.10/24) on eno1, eno2 spare and up; the change builds bond0 (802.3ad, miimon 100,
lacp_rate fast, layer3+4, MTU 9000) of eno1 and eno2 and puts it under vmbr0 in eno1's place, MTU 9000. The switch
side of the LACP bond not being ready is the bad day this window's rollback exists for. The rollback deletes bond0
(the change built it) and puts eno1 back on vmbr0.

What happens: when a bond is deleted the kernel releases its slaves, and releasing closes each one (and gives it
back the MTU it had before it was enslaved). simulate.py models a release by `nomaster` (it closes the device)
but not the release a bond's deletion does: the prediction keeps eno1 and eno2 up, so plan_host sends no `up` for
them; the kernel has both down, the verifying re-plan wants `ip link set dev eno1 up` and `eno2 up`, converge()
undoes the whole rollback, and the change stays: outcome `rollback_failed`.

What must happen: docs/change_window.md, "Rollback": "every bridge, bond, VLAN and NIC of the snapshot is planned
back"; the rollback restores the snapshot: the complete state dump equals the one before the change.
"""
from __future__ import annotations

import pytest

import guestvm
from nstools import iproute, kernel_state, state_diff

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import rollback, window

pytestmark = [pytest.mark.kernel, pytest.mark.fullkernel("bonding", "dummy")]


def test_a_rollback_of_a_new_bond_under_the_bridge_puts_the_uplink_back_up(netns):
    iproute(netns, guestvm.DUMMY_HOST)
    before = kernel_state(netns)
    snapshot = window.snapshot(netns, GuestMatcher())
    # The change: the uplink becomes a bond of eno1 and eno2 under the same bridge.
    iproute(netns, ["ip link add bond0 type bond mode 802.3ad miimon 100 lacp_rate fast xmit_hash_policy layer3+4",
                    "ip link set eno1 nomaster", "ip link set eno1 down", "ip link set eno2 down",
                    "ip link set eno1 master bond0", "ip link set eno2 master bond0", "ip link set bond0 mtu 9000",
                    "ip link set bond0 master vmbr0", "ip link set vmbr0 mtu 9000", "ip link set bond0 up"])
    result = rollback.roll_back(netns, snapshot, GuestMatcher())
    assert not result.get("failed"), (result.get("msg"), result.get("commands"))
    assert state_diff(before, kernel_state(netns)) == [], result["commands"]
