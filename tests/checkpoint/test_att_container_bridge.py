"""Review (attacker): a container runtime that starts during the window (Docker, Podman, LXD/Incus, plain LXC:
veths with random names, not tun and not matched by guest_patterns) makes a bridge the rollback then deletes,
detaching the containers. Only tun devices and names matching guest_patterns count as guests in _kept().
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import rollback, window

from nstools import iproute, kernel_state

pytestmark = [pytest.mark.kernel]


def test_a_container_bridge_made_in_the_window_is_not_deleted(namespaces):
    ns, container = namespaces.new(), namespaces.new()
    iproute(ns, ["ip link add vmbr0 type bridge stp_state 0 forward_delay 0", "ip link set vmbr0 up"])
    snapshot = window.snapshot(ns, GuestMatcher())
    # The change: a new bridge (goes). The container runtime, meanwhile: docker0 with a container's veth.
    iproute(ns, ["ip link add vmbrX type bridge", "ip link add docker0 type bridge", "ip link set docker0 up",
                 f"ip link add veth3f2a1b0 type veth peer name eth0 netns {container}",
                 "ip link set veth3f2a1b0 master docker0", "ip link set veth3f2a1b0 up"])
    result = rollback.roll_back(ns, snapshot, GuestMatcher())
    links = {l["ifname"]: l for l in kernel_state(ns)["links"]}
    print(result["commands"], result["left"])
    assert "vmbrX" not in links
    assert links.get("veth3f2a1b0", {}).get("master") == "docker0", result["commands"]
