"""Review 2: a bridge kept for a guest keeps the change's *new* address, in the host's own subnet.

rollback._give_back takes back from a kept bridge only the addresses the snapshot had (matched by IP). A change that
moves the host onto a new bridge *and renumbers it in the same subnet* (192.0.2.10 -> 192.0.2.11, both /24) leaves
192.0.2.11/24 on the kept bridge, and with it a connected route 192.0.2.0/24 through a bridge that has only the
guest's port left (the uplink was taken back). That route was made first, so the kernel prefers it over vmbr0's,
re-added by the rollback: the host no longer reaches its gateway or anything on its subnet, yet the outcome says
rolled_back.

docs/change_window.md / architecture.md "Bad days": a kept device "keeps only its own guest plumbing"; the gateway
answers after the rollback.
"""
from __future__ import annotations

import subprocess
import time

import pytest

import persist_lab
from modrun import run_module
from nstools import iproute, kernel_state
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel]


def reaches_gateway(ns: str, within: float = 6.0) -> bool:
    give_up = time.monotonic() + within
    while True:
        if subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", "192.0.2.1"],
                          capture_output=True, check=False).returncode == 0:
            return True
        if time.monotonic() > give_up:
            return False


@pytest.mark.parametrize("how", ["task", "watchdog"])
def test_a_kept_bridge_keeps_no_new_address_in_the_hosts_subnet(namespaces, tmp_path, how):
    ns = persist_lab.change_window_host(namespaces)      # eno3 cabled to the switch
    root = tmp_path / "root"
    root.mkdir()
    assert reaches_gateway(ns)
    try:
        armed = run_module("net_checkpoint", {"state": "armed", "namespace": ns, "root": str(root),
                                              "timeout": 300 if how == "task" else 12})
        assert armed["armed"], armed
        # The change: management moves to a new bridge on eno3 and gets its new address (same subnet).
        for args in ({"name": "vmbr5", "ports": ["eno3"], "stp": False, "forward_delay": 0},
                     {"name": "vmbr0", "addresses": []},
                     {"name": "vmbr5", "addresses": ["192.0.2.11/24"], "gateway4": "192.0.2.1"}):
            result = run_module("net_bridge", dict(args, namespace=ns))
            assert not result.get("failed"), result
        assert reaches_gateway(ns)                      # the change itself works
        # A container starts on the new bridge during the window.
        iproute(ns, ["ip link add veth500i0 address 52:54:00:cc:f4:01 type veth peer name ct500 "
                     "address 52:54:00:cc:f4:02", "ip link set veth500i0 master vmbr5",
                     "ip link set veth500i0 up", "ip link set ct500 up"])
        if how == "task":
            back = run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})
            assert not back.get("failed"), back
            outcome = back["outcome"]
        else:
            give_up = time.monotonic() + 40
            while True:
                q = run_module("net_checkpoint", {"state": "query", "namespace": ns, "root": str(root)})
                if not q["armed"] and (q.get("last") or {}).get("outcome"):
                    break
                assert time.monotonic() < give_up, q
                time.sleep(1)
            outcome = q["last"]
        assert outcome["outcome"] == "rolled_back", outcome
        state = kernel_state(ns)
        links = {l["ifname"]: l for l in state["links"]}
        assert links["veth500i0"]["master"] == "vmbr5"   # the guest keeps its bridge
        routes = subprocess.run(["ip", "-n", ns, "-4", "route"], capture_output=True, text=True).stdout
        print("left:", outcome.get("left"))
        print("routes:\n" + routes)
        problems = []
        if state["addrs"].get("vmbr5"):
            problems.append(f"vmbr5 (kept for the guest) keeps the change's address {sorted(state['addrs']['vmbr5'])}"
                            f" in the host's subnet")
        if not reaches_gateway(ns):
            problems.append("after a 'rolled_back' outcome the host no longer reaches its gateway 192.0.2.1")
        assert problems == []
    finally:
        kill_watchdogs(root)
