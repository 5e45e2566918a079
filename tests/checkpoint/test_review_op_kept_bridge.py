"""Review (operator): a rollback that keeps a bridge the change built, because a guest joined it in the window.

The change builds vmbr5 on the spare NIC eno3 and moves the host's addresses and gateways from vmbr0 to it (the
usual "management onto a new bridge" job). A container starts on vmbr5 while the checkpoint is armed. Then the
checkpoint is rolled back (the role's rescue does exactly this call).

docs/change_window.md promises: "Everything else the change built goes", the network "is as it was before the
window, except guest plumbing made since". What happens: vmbr5 stays (documented) but also keeps the host's
addresses, its connected routes, and eno3 as a port, while the rollback sets eno3 down (half of its snapshot state).
The host then holds 192.0.2.10/24 on vmbr0 and vmbr5, the connected route through vmbr5 wins, and the host no longer
reaches its gateway; the new guest's bridge has lost its uplink. The outcome says rolled_back, left names only vmbr5.
"""
from __future__ import annotations


import pytest

import guestvm
import persist_lab
from modrun import run_module
from nstools import answers, kernel_state
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel]


def test_a_kept_bridge_keeps_no_host_address_and_no_half_restored_uplink(namespaces, tmp_path):
    ns = persist_lab.change_window_host(namespaces)      # eno3 cabled to the switch
    root = tmp_path / "root"
    root.mkdir()
    assert answers(ns, "192.0.2.1")
    try:
        armed = run_module("net_checkpoint", {"state": "armed", "namespace": ns, "root": str(root), "timeout": 300})
        assert armed["armed"], armed
        for args in ({"name": "vmbr5", "ports": ["eno3"], "stp": False, "forward_delay": 0},
                     {"name": "vmbr0", "addresses": []},
                     {"name": "vmbr5", "addresses": ["192.0.2.10/24", "2001:db8::10/64"],
                      "gateway4": "192.0.2.1", "gateway6": "2001:db8::1"}):
            result = run_module("net_bridge", dict(args, namespace=ns))
            assert not result.get("failed"), result
        assert answers(ns, "192.0.2.1")                      # the change itself works
        # A container starts on the new bridge during the window (its veth has carrier, as a running one's has).
        guestvm.start(ns, guestvm.container_on(500, "vmbr5"))
        back = run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})
        assert not back.get("failed"), back
        assert back["outcome"]["outcome"] == "rolled_back"
        assert [item["device"] for item in back["outcome"]["left"]] == ["vmbr5"]
        links = {l["ifname"]: l for l in kernel_state(ns)["links"]}
        state = kernel_state(ns)
        assert links["veth500i0"]["master"] == "vmbr5"  # the guest keeps its bridge: holds
        problems = []
        # eno3: either back as it was (no master, down) or left as the kept bridge's working uplink, not half.
        if links["eno3"].get("master") == "vmbr5" and "UP" not in links["eno3"]["flags"]:
            problems.append("eno3 left a port of vmbr5 but set down: the kept guest's bridge has no uplink")
        # The change's addresses do not stay on the kept bridge.
        if state["addrs"].get("vmbr5"):
            problems.append(f"vmbr5 keeps the change's addresses: {sorted(state['addrs']['vmbr5'])}")
        # And the host reaches its gateway again, as before the window.
        if not answers(ns, "192.0.2.1"):
            problems.append("after a 'rolled_back' outcome the host no longer reaches its gateway 192.0.2.1")
        assert problems == []
    finally:
        kill_watchdogs(root)


def test_a_bridge_the_change_built_is_not_kept_for_its_name_alone(namespaces, tmp_path):
    """The change builds `vmbr0v20` (on eno3, with an address) and `virbr7` (no ports, an address); no guest ever
    joins them. The rollback keeps both, with their addresses, and reports them as Proxmox VE's VLAN bridge and a
    libvirt network's bridge: the name alone decides (model.hypervisor_bridge), not who made them."""
    ns = persist_lab.change_window_host(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    try:
        armed = run_module("net_checkpoint", {"state": "armed", "namespace": ns, "root": str(root), "timeout": 300})
        assert armed["armed"], armed
        for args in ({"name": "vmbr0v20", "ports": ["eno3"], "addresses": ["198.51.100.20/24"]},
                     {"name": "virbr7", "addresses": ["198.51.100.30/24"]}):
            result = run_module("net_bridge", dict(args, namespace=ns))
            assert not result.get("failed"), result
        back = run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})
        assert not back.get("failed"), back
        names = {l["ifname"] for l in kernel_state(ns)["links"]}
        assert back["outcome"]["left"] == [] and not names & {"vmbr0v20", "virbr7"}, back["outcome"]["left"]
    finally:
        kill_watchdogs(root)
