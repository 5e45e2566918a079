"""Review (attacker): a bridge the change itself built, named like hypervisor plumbing, survives the rollback.

_safety/rollback.py `_kept` keeps any new bridge whose *name* matches `fwbr<n>i<n>`, `virbr<n>` or `<bridge>v<n>`
(model.hypervisor_bridge), whatever it carries. A change that builds such a bridge and moves the host's uplink and
address onto it is rolled back into a host with the address on two bridges, one of them empty.
"""
from __future__ import annotations

import subprocess

import pytest

import persist_lab
from checkpoint.conftest import Host
from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]


def ping(ns: str, target: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "2", "-W", "1", "-i", "0.3", target],
                          capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("name", ["vmbr0v5", "virbr7", "fwbr9i0"])
def test_a_bridge_the_change_built_named_like_plumbing_is_deleted_by_the_rollback(namespaces, tmp_path, name):
    ns = persist_lab.change_window_host(namespaces)
    host = Host(ns, None, tmp_path)
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0"])
    assert ping(ns, "192.0.2.1")
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
        reachable = ping(ns, "192.0.2.1")
        diff = state_diff(before, after)
        print("left:", rolled.get("last", {}).get("left"))
        print("commands:", rolled.get("commands"))
        assert diff == [] and reachable, (reachable, diff, rolled.get("last", {}).get("left"))
    finally:
        from watchdogs import kill_watchdogs
        kill_watchdogs(tmp_path)


def test_a_vm_joining_the_bridge_that_took_the_uplink_makes_the_watchdogs_rollback_fail(namespaces, tmp_path):
    """No plumbing name needed: the change builds vmbrY and moves the uplink eno1 and the host address onto it
    (this cuts the host off: eno1's peer... no, it keeps the path, but the change is still to be undone). A VM
    starts on vmbrY during the window. At the deadline the watchdog must put eno1 and the address back on vmbr0;
    the tap203i0 may keep vmbrY."""
    import guestvm
    from checkpoint.test_watchdog_bad_days import rollback_seen  # noqa: F401  (same helpers)
    ns = persist_lab.change_window_host(namespaces)
    host = Host(ns, None, tmp_path)
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0"])
    before = host.state()
    checkpoint = host.checkpoint(state="armed", timeout=5)["checkpoint"]
    try:
        iproute(ns, ["ip link add vmbrY type bridge stp_state 0 forward_delay 0", "ip link set vmbrY up",
                     "ip link set eno1 master vmbrY", "ip address del 192.0.2.10/24 dev vmbr0",
                     "ip address add 192.0.2.10/24 dev vmbrY", "ip route replace default via 192.0.2.1 dev vmbrY"])
        names = guestvm.start(ns, guestvm.vm_on(203, "vmbrY"))
        during = host.state()
        last = host.wait_outcome(checkpoint["id"], 30)
        print(last)
        after = host.state()
        expected = guestvm.left_as_they_were(before, during, names + ["vmbrY"])
        # vmbrY stays for the VM, but the uplink and the host address go back to vmbr0
        assert last["outcome"] == "rolled_back", last
        assert state_diff(expected, after) == []
    finally:
        from watchdogs import kill_watchdogs
        kill_watchdogs(tmp_path)


def test_a_vm_joining_the_new_bridge_the_host_address_moved_to_keeps_the_host_cut_off(namespaces, tmp_path):
    """The change builds vmbrY on eno3 (not cabled: the change cuts the host off) and moves the host address and
    the default route there. A VM starts on vmbrY during the window. At the deadline the watchdog rolls back:
    the address goes back to vmbr0, but it stays on vmbrY as well (vmbrY is kept for the VM, and the rollback
    only plans snapshot devices), so the host's own connected route may point at the dead bridge."""
    import guestvm
    ns = persist_lab.change_window_host(namespaces, uplink3_cabled=False)
    host = Host(ns, None, tmp_path)
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0"])
    assert ping(ns, "192.0.2.1")
    before = host.state()
    checkpoint = host.checkpoint(state="armed", timeout=5)["checkpoint"]
    try:
        iproute(ns, ["ip link add vmbrY type bridge stp_state 0 forward_delay 0", "ip link set vmbrY up",
                     "ip link set eno3 up", "ip link set eno3 master vmbrY",
                     "ip address del 192.0.2.10/24 dev vmbr0",
                     "ip address add 192.0.2.10/24 dev vmbrY", "ip route replace default via 192.0.2.1 dev vmbrY"])
        assert not ping(ns, "192.0.2.1")
        names = guestvm.start(ns, guestvm.vm_on(203, "vmbrY"))
        during = host.state()
        last = host.wait_outcome(checkpoint["id"], 30)
        print(last)
        after = host.state()
        import time
        time.sleep(5)   # anything transient (ARP, carrier) has settled
        reachable = ping(ns, "192.0.2.1")
        print(subprocess.run(["ip", "-n", ns, "route", "get", "192.0.2.1"], capture_output=True, text=True).stdout)
        print(subprocess.run(["ip", "-n", ns, "-4", "route"], capture_output=True, text=True).stdout)
        print(subprocess.run(["ip", "-n", ns, "-4", "-br", "addr"], capture_output=True, text=True).stdout)
        expected = guestvm.left_as_they_were(before, during, names + ["vmbrY", "eno3"])
        assert last["outcome"] == "rolled_back", last
        assert reachable and state_diff(expected, after) == [], (reachable, state_diff(expected, after))
    finally:
        from watchdogs import kill_watchdogs
        kill_watchdogs(tmp_path)
