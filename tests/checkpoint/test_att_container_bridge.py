"""Review (attacker): a container runtime that starts during the window (Docker, Podman, LXD/Incus, plain LXC:
veths with random names, not tun and not matched by guest_patterns) makes a bridge the rollback then deletes,
detaching the containers. Only tun devices and names matching guest_patterns counted as guests in _kept().
Now a new device of a kind netsafe never creates keeps its bridge (rollback._keep_reason).
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import rollback, window

import guestvm
from nstools import iproute, kernel_state, state_diff

pytestmark = [pytest.mark.kernel]


def test_a_container_bridge_made_in_the_window_is_not_deleted(namespaces):
    ns, container = namespaces.new(), namespaces.new()
    iproute(ns, ["ip link add vmbr0 type bridge stp_state 0 forward_delay 0", "ip link set vmbr0 up"])
    before = kernel_state(ns)
    snapshot = window.snapshot(ns, GuestMatcher())
    # The change: a new bridge (goes). The container runtime, meanwhile: docker0 with a container's veth.
    iproute(ns, ["ip link add vmbrX type bridge", "ip link add docker0 type bridge", "ip link set docker0 up",
                 f"ip link add veth3f2a1b0 type veth peer name eth0 netns {container}",
                 "ip link set veth3f2a1b0 master docker0", "ip link set veth3f2a1b0 up",
                 "ip address add 172.17.0.1/16 dev docker0"])
    during = kernel_state(ns)
    result = rollback.roll_back(ns, snapshot, GuestMatcher())
    assert result["commands"] == [f"ip -n {ns} link del dev vmbrX"]
    why = "carries veth3f2a1b0 (veth), made since the checkpoint: netsafe never creates such devices"
    assert result["left"] == [{"device": "docker0", "reason": why}]
    # Docker's own address stays with its bridge: the snapshot never had it.
    assert state_diff(guestvm.left_as_they_were(before, during, ["docker0", "veth3f2a1b0"]), kernel_state(ns)) == []
