"""A rollback detaches a VM whose NIC Proxmox VE re-plugged, firewall off, onto the change's new bridge (review 3).

VM 301 runs under the firewall at the checkpoint (tap301i0 and fwln301i0 on fwbr301i0, fwpr301p0 on vmbr0). The
change builds vmbr5 on eno3 (the new uplink) and, to try it, the operator points net0 at vmbr5 with the firewall
off: Proxmox VE deletes fwbr301i0 with its veth pair and plugs tap301i0 straight into vmbr5. Then the window is
rolled back.

What happens: vmbr5 is not kept (its only guest had a bridge in the snapshot, so it counts as one the change moved),
the rollback deletes it, and fwbr301i0 is not re-created either (_removed_plumbing): tap301i0 is left with no
bridge at all, and `left` says it is "on no bridge, where its hypervisor put it", which is not what happened.

What must happen: "A guest port is never released from its bridge unless the task names it: not by an edit, not
by a rollback" (the project's invariants); docs/change_window.md: a guest "whose firewall bridge the hypervisor
removed ... stays" where its hypervisor put it. The tap keeps a bridge (vmbr5, kept for it, or vmbr0 where its
firewall link was); the change's other parts go (eno3 free again, vmbr0 back to MTU 1500).
"""
from __future__ import annotations

import pytest

import guestvm
from nstools import iproute, kernel_state

pytestmark = [pytest.mark.kernel]


def test_a_vm_replugged_without_firewall_onto_the_changes_bridge_keeps_a_bridge(host):
    guestvm.start(host.ns, guestvm.firewalled_vm(301, "vmbr0"))
    assert host.checkpoint(state="armed", timeout=300)["armed"]
    iproute(host.ns, ["ip link set vmbr0 mtu 1400",                                 # the change
                      "ip link add vmbr5 type bridge stp_state 0 forward_delay 0",
                      "ip link set eno3 master vmbr5", "ip link set eno3 up", "ip link set vmbr5 up"])
    # Proxmox VE: net0 now bridge=vmbr5, firewall=0 (fwbr and its veth pair deleted, the tap re-plugged).
    iproute(host.ns, ["ip link del fwpr301p0", "ip link del fwbr301i0", "ip link set tap301i0 master vmbr5"])
    back = host.checkpoint(state="rolled_back")
    assert not back.get("failed"), back.get("msg")
    links = {l["ifname"]: l for l in kernel_state(host.ns)["links"]}
    assert links["vmbr0"]["mtu"] == 1500                                             # the change is undone: holds
    assert links["tap301i0"].get("master") == "vmbr0", (
        f"tap301i0 detached by the rollback: master {links['tap301i0'].get('master')!r}; "
        f"commands {back['commands']}; left {back['outcome']['left']}")
