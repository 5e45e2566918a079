"""A rollback that puts the host's addresses back makes the wrong one primary: the host's source address changes.

vmbr0 has 192.0.2.10/24 (the host's address, primary) and a second address in the same subnet added after it,
192.0.2.5/24 (a service address: secondary). The change moves the host's addresses and default route onto a new
bridge on eno3, as "the host address moves onto a new bridge" (docs/design, "The whole host as one change"); the
rollback deletes that bridge and adds both addresses back to vmbr0.

What happens: the model keeps a device's addresses sorted by value, and the rollback adds them in that order:
192.0.2.5 first, so the kernel makes it the primary and 192.0.2.10 a secondary. Every connection the host opens
in 192.0.2.0/24 and through its gateway now leaves from 192.0.2.5 (`ip route get 192.0.2.1` says `src
192.0.2.5`): the controller, vCenter, a firewall rule or an NFS export that knows the host by 192.0.2.10 sees
another host. The outcome says rolled_back.

What must happen: the rollback restores the snapshot: "Compare complete state dumps" (the state dump keeps each
address's `secondary` flag); docs/change_window.md, "Rollback": every device of the snapshot "is planned back".
"""
from __future__ import annotations

import subprocess

import pytest

import persist_lab
from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel]


@pytest.mark.xfail(strict=True, reason="known limit: the model keeps a device's addresses sorted by value, not which "
                   "IPv4 address is primary; the complete model (issue 25) keeps the kernel's order")
def test_a_rollback_keeps_the_hosts_primary_address(namespaces, tmp_path):
    ns = persist_lab.change_window_host(namespaces)      # vmbr0 192.0.2.10/24 on eno1, eno3 cabled to the switch
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0", "ip address add 192.0.2.5/24 dev vmbr0"])
    root = tmp_path / "root"
    root.mkdir()
    before = kernel_state(ns)
    try:
        armed = run_module("net_checkpoint", {"state": "armed", "namespace": ns, "root": str(root), "timeout": 300})
        assert armed["armed"], armed
        for args in ({"name": "vmbr5", "ports": ["eno3"], "stp": False, "forward_delay": 0,
                      "addresses": ["192.0.2.10/24", "192.0.2.5/24"], "gateway4": "192.0.2.1"},
                     {"name": "vmbr0", "addresses": []}):
            result = run_module("net_bridge", dict(args, namespace=ns))
            assert not result.get("failed"), result
        back = run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})
        assert not back.get("failed"), back
        assert back["outcome"]["outcome"] == "rolled_back", back["outcome"]
        route = subprocess.run(["ip", "-n", ns, "route", "get", "192.0.2.1"], capture_output=True, text=True,
                               check=True).stdout
        assert "src 192.0.2.10 " in route, f"the host's source address changed: {route.strip()}; {back['commands']}"
        assert state_diff(before, kernel_state(ns)) == [], back["commands"]
    finally:
        kill_watchdogs(root)
