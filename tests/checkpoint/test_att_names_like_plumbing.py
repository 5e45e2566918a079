"""Review (attacker): a bridge the change itself built, named like hypervisor plumbing, survives the rollback.

_safety/rollback.py `_kept` keeps any new bridge whose *name* matches `fwbr<n>i<n>`, `virbr<n>` or `<bridge>v<n>`
(model.hypervisor_bridge), whatever it carries. A change that builds such a bridge and moves the host's uplink and
address onto it is rolled back into a host with the address on two bridges, one of them empty.
Now a name keeps nothing, and a bridge kept for a guest gives back what the snapshot has (rollback._give_back).
"""
from __future__ import annotations


import pytest

import guestvm
import persist_lab
from checkpoint.conftest import Host
from nstools import answers, iproute, state_diff

pytestmark = [pytest.mark.kernel]


@pytest.mark.parametrize("name", ["vmbr0v5", "virbr7", "fwbr9i0"])
def test_a_bridge_the_change_built_named_like_plumbing_is_deleted_by_the_rollback(namespaces, tmp_path, name):
    ns = persist_lab.change_window_host(namespaces)
    host = Host(ns, None, tmp_path)
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0"])
    assert answers(ns, "192.0.2.1")
    before = host.state()
    result = host.checkpoint(state="armed", timeout=60)
    assert not result.get("failed"), result
    # The operator's change: a new bridge (their own name) takes the uplink, the address and the default route.
    iproute(ns, [f"ip link add {name} type bridge stp_state 0 forward_delay 0", f"ip link set {name} up",
                 f"ip link set eno1 master {name}", "ip address del 192.0.2.10/24 dev vmbr0",
                 f"ip address add 192.0.2.10/24 dev {name}", f"ip route replace default via 192.0.2.1 dev {name}"])
    try:
        rolled = host.checkpoint(state="rolled_back")
        assert not rolled.get("failed"), rolled
        after = host.state()
        reachable = answers(ns, "192.0.2.1")
        diff = state_diff(before, after)
        print("left:", rolled.get("last", {}).get("left"))
        print("commands:", rolled.get("commands"))
        assert diff == [] and reachable, (reachable, diff, rolled.get("last", {}).get("left"))
    finally:
        from watchdogs import kill_watchdogs
        kill_watchdogs(tmp_path)


def given_back(before: dict, during: dict, guests: list, kept: str) -> dict:
    """The dump a rollback must leave: `before`, the new guests as they left them, and `kept` (the bridge the change
    built, which a VM joined) with its own guest plumbing only: no address, no route, no snapshot device as a port.
    With its uplink gone, a bridge without a MAC of its own takes its remaining port's (the guest's tap)."""
    expected = guestvm.left_as_they_were(before, during, guests + [kept])
    link = next(l for l in expected["links"] if l["ifname"] == kept)
    mac = next(l["address"] for l in during["links"] if l["ifname"] == guests[0])
    priority = link["kind_data"]["bridge_id"].split(".")[0]
    link["address"] = mac
    link["kind_data"]["bridge_id"] = priority + "." + ":".join(f"{int(part, 16):x}" for part in mac.split(":"))
    expected["addrs"][kept] = {}
    expected["routes"] = [r for r in expected["routes"] if r.get("dev") != kept]
    return expected


@pytest.mark.parametrize("uplink, cabled, port", [
    ("eno1", True, "port eno1 (back to vmbr0)"),     # the uplink moved: the rollback failed, eno1 a port of vmbrY
    ("eno3", False, "port eno3 (it had no master)"),  # an uncabled NIC: the address stayed on vmbrY, host cut off
])
def test_a_vm_joining_the_bridge_the_change_moved_the_host_onto_gets_the_host_back(
        namespaces, tmp_path, uplink, cabled, port):
    """No plumbing name needed: the change builds vmbrY on `uplink` and moves the host address and the default route
    onto it. A VM starts on vmbrY during the window. At the deadline the watchdog must put the address and the route
    back on vmbr0 and `uplink` where the snapshot had it (eno1 on vmbr0; eno3 on nothing, down); vmbrY stays for the
    VM's tap203i0, the outcome says what was taken back from it, and the host reaches its gateway."""
    ns = persist_lab.change_window_host(namespaces, uplink3_cabled=cabled)
    host = Host(ns, None, tmp_path)
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0"])
    before = host.state()
    checkpoint = host.checkpoint(state="armed", timeout=5)["checkpoint"]
    try:
        iproute(ns, ["ip link add vmbrY type bridge stp_state 0 forward_delay 0", "ip link set vmbrY up",
                     f"ip link set {uplink} up", f"ip link set {uplink} master vmbrY",
                     "ip address del 192.0.2.10/24 dev vmbr0", "ip address add 192.0.2.10/24 dev vmbrY",
                     "ip route replace default via 192.0.2.1 dev vmbrY"])
        assert answers(ns, "192.0.2.1", within=0 if not cabled else 5.0) == cabled
        names = guestvm.start(ns, guestvm.vm_on(203, "vmbrY"))
        during = host.state()
        last = host.wait_outcome(checkpoint["id"], 30)
        after = host.state()
        assert last["outcome"] == "rolled_back", last
        diff = state_diff(given_back(before, during, names, "vmbrY"), after)
        assert diff == [], diff
        assert answers(ns, "192.0.2.1")
        taken = ["default route via 192.0.2.1", "address 192.0.2.10/24 (the snapshot's, on vmbr0)", port]
        assert last["left"] == [{"device": "vmbrY", "taken_back": taken,
                                 "reason": "carries guest port tap203i0, which joined it since the checkpoint; "
                                           "taken back from it: " + ", ".join(taken)}]
        # Loopback is never announced (it was: 'lo ::1: Network is unreachable' in every outcome). A global IPv6
        # address still in duplicate address detection after its bridge got its carrier back may be reported.
        assert [e for e in last["announce_errors"] if e.startswith("lo ")] == [], last["announce_errors"]
    finally:
        from watchdogs import kill_watchdogs
        kill_watchdogs(tmp_path)
