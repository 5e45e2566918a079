"""announce() after a rollback tells the switches about the host's addresses, never about loopback's: every rollback
outcome carried `announce_errors: ['lo ::1: Network is unreachable']` (review of issue 22)."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.announce import announce
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host

from nstools import iproute

pytestmark = pytest.mark.kernel


def test_loopback_is_not_announced_and_nothing_else_fails(netns):
    iproute(netns, ["ip link add vmbr0 address 02:42:00:00:00:02 type bridge stp_state 0 forward_delay 0",
                    "ip link set vmbr0 up", "ip address add 192.0.2.10/24 dev vmbr0",
                    "ip address add 2001:db8::10/64 dev vmbr0 nodad"])
    with Netlink(netns) as netlink:
        current = read_host(netlink, GuestMatcher())
    assert current.host.get("lo").up and "::1/128" in current.host.get("lo").ip.addresses   # what was announced
    assert announce(netns, current.host, current.index_of) == []
