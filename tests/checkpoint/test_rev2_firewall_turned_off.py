"""Review 2: a VM whose Proxmox VE firewall was turned off during the window is moved onto an empty new fwbr.

VM 301 runs under the firewall when the checkpoint is armed (tap301i0 and fwln301i0 on fwbr301i0, fwpr301p0 on
vmbr0). During the window its NIC is re-plugged without the firewall (the operator unticks "Firewall" on net0, or
the VM restarts with firewall=0): Proxmox VE deletes fwbr301i0 and the veth pair and puts tap301i0 straight on
vmbr0. The window's own change is vmbr0's MTU. Then the checkpoint is rolled back.

The snapshot still has fwbr301i0, a bridge (not a guest device), so the rollback re-creates it (empty: its fwln is
a guest port, never planned, and gone anyway) and then, by _guest_ops, moves tap301i0 from vmbr0 onto that new
bridge, which has no link to vmbr0: the VM loses its network. docs/change_window.md: a rollback never detaches a
guest; a guest port the hypervisor re-plugged onto its own plumbing stays there (the firewall turned *on*); the
reverse case re-plugs the guest onto an isolated bridge the rollback itself made.
"""
from __future__ import annotations

import pytest

import guestvm
from nstools import ip, iproute, kernel_state

pytestmark = [pytest.mark.kernel]


def test_a_vm_whose_firewall_was_turned_off_in_the_window_stays_on_its_bridge(host):
    guestvm.start(host.ns, guestvm.firewalled_vm(301, "vmbr0"))
    assert host.checkpoint(state="armed", timeout=300)["armed"]
    ip("link", "set", "vmbr0", "mtu", "1400", ns=host.ns)                  # the change
    # Proxmox VE re-plugs net0 without the firewall.
    iproute(host.ns, ["ip link del fwpr301p0", "ip link del fwbr301i0", "ip link set tap301i0 master vmbr0"])
    back = host.checkpoint(state="rolled_back")
    assert not back.get("failed"), back.get("msg")
    print("commands:", back["commands"])
    print("left:", back["outcome"]["left"])
    links = {l["ifname"]: l for l in kernel_state(host.ns)["links"]}
    assert links["vmbr0"]["mtu"] == 1500                                   # the change is undone: holds
    assert links["tap301i0"].get("master") == "vmbr0", (links["tap301i0"].get("master"), back["commands"])
    assert "fwbr301i0" not in links, back["commands"]
