"""A rollback takes a libvirt network's own address away when its subnet sits inside a wider host subnet (review 3).

The host has a management /16 (10.20.0.10/16, or an IPv6 ULA /48) on vmbr0. During the window the operator starts
a libvirt NAT network whose /24 (a /64) lies inside it, virbr1 with 10.20.122.1/24, and a VM on it (vnet3): the
rollback keeps virbr1 for that guest (docs/change_window.md, "Guests that start during the window"). The window's
own change is vmbr0's MTU.

What happens: rollback._claim takes back every address on a kept device whose subnet *overlaps* one of the
snapshot's, so 10.20.122.1/24 is deleted from virbr1: the libvirt network loses its gateway address (and with it
its DHCP/DNS and NAT for every guest on it), though the change never touched it. The more specific /24 does not
compete with the host's /16 for the host's own address or gateway; libvirt itself accepts such a network.

What must happen: docs/change_window.md, "Guests that start during the window": "Addresses the snapshot never had
stay"; rollback._claim: "A container's or libvirt network's address on a subnet of its own stays". The kept bridge keeps the address the
hypervisor gave it; the dump equals the one before the window except virbr1 and vnet3, as libvirt left them.
"""
from __future__ import annotations

import pytest

import guestvm
from nstools import iproute, kernel_state, state_diff

pytestmark = [pytest.mark.kernel]


@pytest.mark.parametrize("host_net, guest_net", [("10.20.0.10/16", "10.20.122.1/24"),
                                                 ("fd00:20::10/48", "fd00:20:0:7b::1/64")])
def test_a_libvirt_network_inside_a_host_supernet_keeps_its_address(host, host_net, guest_net):
    nodad = " nodad" if ":" in host_net else ""
    iproute(host.ns, [f"ip address add {host_net} dev vmbr0{nodad}"])
    before = kernel_state(host.ns)
    assert host.checkpoint(state="armed", timeout=300)["armed"]
    iproute(host.ns, ["ip link set vmbr0 mtu 1400"])                         # the change
    lines, names = guestvm.libvirt_network("virbr1", "vnet3", 3)
    guestvm.start(host.ns, (lines + [f"ip address add {guest_net} dev virbr1{nodad}"], names))
    during = kernel_state(host.ns)
    back = host.checkpoint(state="rolled_back")
    assert not back.get("failed"), back.get("msg")
    after = kernel_state(host.ns)
    addrs = after["addrs"].get("virbr1", [])
    assert any(guest_net.split("/")[0] in str(a) for a in addrs), (
        f"the libvirt network's bridge virbr1 lost its address {guest_net}: {back['outcome']['left']}")
    assert state_diff(guestvm.left_as_they_were(before, during, names), after) == []
