"""A rollback never re-creates a firewall bridge Proxmox VE removed during the window (review 2, item 4).

VM 301 runs under the firewall when the checkpoint is armed (tap301i0 and fwln301i0 on fwbr301i0, fwpr301p0 on
vmbr0). During the window its NIC is re-plugged without the firewall (the operator unticks "Firewall" on net0, or
the VM restarts with firewall=0): Proxmox VE deletes fwbr301i0 with the veth pair and puts tap301i0 straight on
vmbr0. The window's own change is vmbr0's MTU. The rollback used to re-create fwbr301i0 (a bridge of the snapshot)
and move tap301i0 onto it, where nothing links it to vmbr0: the VM lost its network. Now guest plumbing its
hypervisor removed (the firewall bridge gone together with its fwln link, which netsafe never deletes) stays gone,
the guest stays where its hypervisor put it, and `left` says so.

Seen failing before the fix: tap301i0's master was fwbr301i0 after the rollback.
"""
from __future__ import annotations

import pytest

import guestvm
from nstools import ip, iproute, kernel_state, state_diff

pytestmark = [pytest.mark.kernel]


def test_a_vm_whose_firewall_was_turned_off_in_the_window_stays_on_its_bridge(host):
    guestvm.start(host.ns, guestvm.firewalled_vm(301, "vmbr0"))
    armed_state = kernel_state(host.ns)
    assert host.checkpoint(state="armed", timeout=300)["armed"]
    ip("link", "set", "vmbr0", "mtu", "1400", ns=host.ns)                  # the change
    # Proxmox VE re-plugs net0 without the firewall.
    iproute(host.ns, ["ip link del fwpr301p0", "ip link del fwbr301i0", "ip link set tap301i0 master vmbr0"])
    replugged = kernel_state(host.ns)
    back = host.checkpoint(state="rolled_back")
    assert not back.get("failed"), back.get("msg")
    after = kernel_state(host.ns)
    links = {l["ifname"]: l for l in after["links"]}
    assert links["vmbr0"]["mtu"] == 1500                                   # the change is undone: holds
    assert links["tap301i0"].get("master") == "vmbr0", (links["tap301i0"].get("master"), back["commands"])
    assert "fwbr301i0" not in links, back["commands"]
    assert {"tap301i0", "fwbr301i0"} <= {e["device"] for e in back["outcome"]["left"]}, back["outcome"]["left"]
    # Everything is as the hypervisor left it, but vmbr0, which is as it was at the checkpoint.
    assert state_diff(guestvm.left_as_they_were(replugged, armed_state, ("vmbr0",)), after) == [], back["commands"]
