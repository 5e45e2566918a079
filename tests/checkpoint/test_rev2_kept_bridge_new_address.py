"""A bridge a rollback keeps for a guest keeps no address in the host's own subnets (review 2, item 1).

The change moves the host onto a new bridge *and renumbers it in the same subnet*: vmbr5 on eno3 gets
192.0.2.11/24 and the default route, vmbr0 loses 192.0.2.10/24. A container starts on vmbr5 during the window, so
the rollback keeps vmbr5 (docs/change_window.md, "Guests that start during the window"). It used to take back
only the addresses whose IP the snapshot had (rollback._give_back): 192.0.2.11/24 stayed on vmbr5, and with it a
connected route 192.0.2.0/24 through a bridge with only the container left. That route was made first, so the
kernel kept preferring it over vmbr0's: the host no longer reached its gateway, yet the outcome said rolled_back.
Now an address on a kept device whose subnet overlaps one the snapshot has is taken back too (rollback._claim).

Both ways back: the task's `state=rolled_back` and the watchdog's at its deadline. After either, the complete
state dump equals the one before the window except the kept bridge and the container's veth pair, vmbr5 has no
address and no route, and the gateway answers. Seen failing before the fix: "vmbr5 (kept for the guest) keeps
the change's address ['192.0.2.11/24'] in the host's subnet", "the host no longer reaches its gateway".
"""
from __future__ import annotations

import subprocess
import time

import pytest

import guestvm
import persist_lab
from modrun import run_module
from nstools import answers, iproute, kernel_state, state_diff
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel]

CONTAINER = ("veth500i0", "ct500")


def _the_watchdogs_outcome(ns: str, root, limit: float) -> dict:
    """last.json's outcome once the watchdog has closed the checkpoint (polls `query`)."""
    give_up = time.monotonic() + limit
    while True:
        q = run_module("net_checkpoint", {"state": "query", "namespace": ns, "root": str(root)})
        if not q["armed"] and (q.get("last") or {}).get("outcome"):
            return q["last"]
        assert time.monotonic() < give_up, q
        time.sleep(1)


@pytest.mark.parametrize("how", ["task", "watchdog"])
def test_a_kept_bridge_keeps_no_new_address_in_the_hosts_subnet(namespaces, tmp_path, how):
    ns = persist_lab.change_window_host(namespaces)      # eno3 cabled to the switch
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0"])   # no STP run time (ageing) in the dumps
    root = tmp_path / "root"
    root.mkdir()
    assert answers(ns, "192.0.2.1")
    before = kernel_state(ns)
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
        assert answers(ns, "192.0.2.1")                     # the change itself works
        # A container starts on the new bridge during the window.
        guestvm.start(ns, guestvm.container_on(500, "vmbr5"))
        if how == "task":
            back = run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})
            assert not back.get("failed"), back
            outcome = back["outcome"]
        else:
            outcome = _the_watchdogs_outcome(ns, root, 40)
        assert outcome["outcome"] == "rolled_back", outcome
        [left] = outcome["left"]
        assert left["device"] == "vmbr5"
        assert "address 192.0.2.11/24 (in the snapshot's subnet 192.0.2.0/24 of vmbr0)" in left["taken_back"], left
        after = kernel_state(ns)
        links = {l["ifname"]: l for l in after["links"]}
        assert links["veth500i0"]["master"] == "vmbr5"   # the guest keeps its bridge
        routes = subprocess.run(["ip", "-n", ns, "-4", "route"], capture_output=True, text=True, check=True).stdout
        problems = []
        if after["addrs"].get("vmbr5"):
            problems.append(f"vmbr5 (kept for the guest) keeps the change's address {sorted(after['addrs']['vmbr5'])}"
                            f" in the host's subnet")
        if "vmbr5" in routes:
            problems.append(f"routes through vmbr5 stay:\n{routes}")
        if not answers(ns, "192.0.2.1"):
            problems.append("after a 'rolled_back' outcome the host no longer reaches its gateway 192.0.2.1")
        # Everything else is as before the window: only the kept bridge and the container are new.
        problems += state_diff(guestvm.left_as_they_were(before, after, ("vmbr5",) + CONTAINER), after)
        assert problems == []
    finally:
        kill_watchdogs(root)
