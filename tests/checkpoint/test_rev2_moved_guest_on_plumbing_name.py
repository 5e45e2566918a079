"""Review 2: a guest the change moved onto its own bridge, named like hypervisor plumbing, stays there after the
rollback when another guest joined that bridge in the window.

rollback._guest_ops leaves a snapshot guest on a kept bridge whenever that bridge's *name* is plumbing
(model.hypervisor_bridge): "on virbr7 since the checkpoint, which stays (guest plumbing); not moved back to vmbr0".
But the change itself built virbr7 (net_bridge, with eno3 and the guest tap100i0 it names), so the name says
nothing about who moved tap100i0 (the first review's point: a name alone keeps nothing). The rollback takes eno3
back from virbr7, so VM 100 ends on a bridge with no uplink: the guest loses its network, and the dump differs from
the snapshot by more than the new guest's plumbing.

docs/change_window.md: "one the change moved goes back to its snapshot bridge, even from a bridge that stays
because a new guest joined it".
"""
from __future__ import annotations

import pytest

import persist_lab
from modrun import run_module
from nstools import iproute, kernel_state
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel]


@pytest.mark.parametrize("name", ["virbr7", "vmbr0v5", "vmbr5"])
def test_a_guest_the_change_moved_goes_back_even_from_a_kept_bridge_named_like_plumbing(namespaces, tmp_path, name):
    ns = persist_lab.change_window_host(namespaces)      # vmbr0 on eno1 with tap100i0 and veth101i0
    root = tmp_path / "root"
    root.mkdir()
    try:
        armed = run_module("net_checkpoint", {"state": "armed", "namespace": ns, "root": str(root), "timeout": 300})
        assert armed["armed"], armed
        # The change: a new bridge on eno3 (net_bridge), and VM 100 moved onto it (by hand, as the first review's
        # plumbing-name test makes its change; net_bridge would want it released from vmbr0 first).
        result = run_module("net_bridge", {"name": name, "ports": ["eno3"], "stp": False,
                                           "forward_delay": 0, "namespace": ns})
        assert not result.get("failed"), result
        iproute(ns, [f"ip link set tap100i0 master {name}"])
        # A new VM starts on that bridge during the window.
        iproute(ns, ["ip tuntap add tap200i0 mode tap", f"ip link set tap200i0 master {name}",
                     "ip link set tap200i0 up"])
        back = run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})
        assert not back.get("failed"), back
        print("left:", back["outcome"]["left"])
        links = {l["ifname"]: l for l in kernel_state(ns)["links"]}
        assert links["tap200i0"]["master"] == name               # the new guest keeps its bridge: holds
        assert links["eno3"].get("master") is None              # the change's uplink is taken back: holds
        assert links["tap100i0"]["master"] == "vmbr0", back["outcome"]["left"]
    finally:
        kill_watchdogs(root)
