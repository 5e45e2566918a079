"""A rollback never detaches a guest (issue 22, item 4): guests that start during the window keep their plumbing
through the watchdog's deadline rollback; only what the change built goes, and last.json says what was left and why.

The role's rollback of the same thing: tests/changewindow/test_change_window_guests.py. Proxmox VE's VLAN bridge
with the VLAN uplink it makes for it needs 8021q: that one runs in the full-kernel lane, through the rollback
itself (in-process: a watchdog's Python start costs half a minute under emulation). The rules in pure logic:
tests/unit/test_guest_guard.py.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import rollback, window

import guestvm
from nstools import iproute, kernel_state, state_diff

pytestmark = [pytest.mark.kernel]

# The change: tap100i0 moved to a new bridge (it goes back), a new empty bridge vmbrY, vmbr1's MTU.
CHANGE = ["ip link add vmbrX type bridge stp_state 0 forward_delay 0", "ip link set tap100i0 master vmbrX",
          "ip link set vmbrX up", "ip link add vmbrY type bridge stp_state 0 forward_delay 0", "ip link set vmbrY up",
          "ip link set vmbr1 mtu 1400"]


def test_guests_started_in_the_window_keep_their_bridges_through_the_watchdogs_rollback(host):
    before = host.state()
    checkpoint = host.checkpoint(state="armed", timeout=5)["checkpoint"]
    iproute(host.ns, CHANGE)
    names = guestvm.start(
        host.ns,
        guestvm.firewalled_vm(201, "vmbr0"),                     # the reproduction: fwbr + tap, fwpr/fwln
        guestvm.vm_on(202, "vmbr0v10", create_bridge=True),       # tag=10 on vmbr0 without VLAN filtering
        guestvm.libvirt_network("virbr1", "vnet5", 5),            # a libvirt network started with a guest
        guestvm.vm_on(203, "vmbrY"))                              # a VM started on the bridge the change built
    during = host.state()
    last = host.wait_outcome(checkpoint["id"], 30)
    assert last["outcome"] == "rolled_back" and last["by"].startswith("watchdog pid"), last
    after = host.state()
    assert state_diff(guestvm.left_as_they_were(before, during, names + ["vmbrY"]), after) == []
    assert [c for c in last["commands"] if " link del " in c] == [f"ip -n {host.ns} link del dev vmbrX"]
    left = {item["device"]: item["reason"] for item in last["left"]}
    assert left == {
        "fwbr201i0": "Proxmox VE's firewall bridge of a guest NIC; carries guest ports fwln201i0, tap201i0",
        "vmbr0v10": "Proxmox VE's bridge for VLAN 10 on vmbr0; carries guest port tap202i0",
        "virbr1": "a libvirt network's bridge; carries guest port vnet5",
        "vmbrY": "carries guest port tap203i0, which joined it since the checkpoint",
    }
    assert "left in place: fwbr201i0 (Proxmox VE's firewall bridge" in host.log()
    assert host.checkpoint(state="query")["last"]["left"] == last["left"]


@pytest.mark.fullkernel("8021q", "dummy")
def test_proxmox_vlan_bridge_and_its_vlan_uplink_made_in_the_window_stay(netns):
    """A VM with tag=10 on vmbr0 (no VLAN filtering): Proxmox VE makes eno1.10 and vmbr0v10 for it. The change's
    own VLAN eno2.30 goes; eno1.10, vmbr0v10 and the VM's tap stay as the VM left them."""
    iproute(netns, guestvm.DUMMY_HOST)
    before = kernel_state(netns)
    snapshot = window.snapshot(netns, GuestMatcher())
    change = ["ip link add link eno2 name eno2.30 type vlan id 30", "ip link set eno2.30 up"]
    uplink = ["ip link add link eno1 name eno1.10 type vlan id 10", "ip link set eno1.10 master vmbr0v10",
              "ip link set eno1.10 up"]
    names = guestvm.start(netns, (change, []), guestvm.vm_on(102, "vmbr0v10", create_bridge=True), (uplink, ["eno1.10"]))
    during = kernel_state(netns)
    result = rollback.roll_back(netns, snapshot, GuestMatcher())
    expected = guestvm.left_as_they_were(before, during, names)
    # eno1 counts the bridge its VLAN eno1.10 is on in its promiscuity and allmulti: kernel counters, not config.
    eno1 = {link["ifname"]: link for link in during["links"]}["eno1"]
    next(link for link in expected["links"] if link["ifname"] == "eno1").update(
        promiscuity=eno1["promiscuity"], allmulti=eno1["allmulti"])
    assert state_diff(expected, kernel_state(netns)) == []
    assert [c for c in result["commands"] if " link del " in c] == [f"ip -n {netns} link del dev eno2.30"]
    assert result["left"] == [
        {"device": "eno1.10", "reason": "a port of vmbr0v10, which stays"},
        {"device": "vmbr0v10", "reason": "Proxmox VE's bridge for VLAN 10 on vmbr0; carries guest port tap102i0"}]
