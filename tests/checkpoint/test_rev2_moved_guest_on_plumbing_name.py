"""A guest the change moved onto its own bridge goes back, whatever that bridge is named (review 2, item 3).

The change builds a bridge (net_bridge, with eno3) and moves VM 100's tap100i0 onto it; a new VM starts on it during
the window, so the rollback keeps the bridge. rollback._guest_ops used to leave a snapshot guest on a kept bridge
whenever the bridge's *name* looked like plumbing (virbr7, vmbr0v5): VM 100 stayed on a bridge with no uplink once
eno3 was taken back. A name alone decides nothing: a snapshot guest stays on a kept bridge only when its
hypervisor re-plugged it there, told by structure (model.firewalled_guest: its own firewall bridge, with its
fwln link).

Seen failing before the fix: tap100i0 stayed on virbr7 and on vmbr0v5 (vmbr5, a plain name, passed).
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
        links = {l["ifname"]: l for l in kernel_state(ns)["links"]}
        assert links["tap200i0"]["master"] == name               # the new guest keeps its bridge: holds
        assert links["eno3"].get("master") is None              # the change's uplink is taken back: holds
        assert links["tap100i0"]["master"] == "vmbr0", back["outcome"]["left"]
    finally:
        kill_watchdogs(root)
