"""Jumbo frames through a change window on the host kernel: the MTU a change raises is proven on the path.

    guest ns                 hv ns                                         switch ns
    eth0 192.0.2.20 -- veth100i0 -+- vmbr0 192.0.2.10/24, default via .1   swbr 192.0.2.1/24
                                  +- eno1 (veth) ------------------------- sw1
    (tests/jumbo_lab.py; its eno2, down and on no bridge, plays no part here)

The test sets the switch port's MTU (sw1 and swbr). The window (net_state with `checkpoint`) raises vmbr0 to 9000;
its uplink eno1 follows (the MTU follows the path) and the window adds a don't-fragment probe at 9000 to the
gateway (checkpoint.mtu_probe). A switch left at 1500 drops the large frames without a word (a veth drops what
exceeds its peer's MTU, as a switch port does): the probe fails and the change is rolled back, in the run or by
the watchdog's gate once the controller is gone. A switch at 9000 passes it, and a guest at 9000 then reaches the
switch with 8972-byte unfragmented pings through vmbr0.
"""
from __future__ import annotations

import subprocess
import time

import pytest

from jumbo_lab import build, mtus, set_switch_mtu
from modrun import run_module
from nstools import answers, iproute, settled_state, state_diff, wait_carrier
from watchdogs import kill_watchdogs, watchdog_pids

pytestmark = pytest.mark.kernel

GATEWAY = {"type": "icmp", "target": "192.0.2.1", "count": 2}
TOO_BIG = "path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do)"


@pytest.fixture
def lab(namespaces, tmp_path):
    """(hv, switch, guest, scratch root): tests/jumbo_lab.py's lab, vmbr0 on eno1 at 1500 with the default route,
    a container on vmbr0."""
    hv, switch, guest = build(namespaces)
    wait_carrier(hv, ("eno1", "veth100i0", "vmbr0"))
    assert answers(hv, "192.0.2.1"), "the lab's gateway does not answer"   # carrier and ARP settled first
    root = tmp_path / "root"
    root.mkdir()
    try:
        yield hv, switch, guest, root
    finally:
        kill_watchdogs(root)


def window(hv, root, mtu: int, **checkpoint) -> dict:
    return {"namespace": hv, "bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": mtu}],
            "checkpoint": {"timeout": 120, "probes": [GATEWAY], "gate_settle": 30, "root": str(root), **checkpoint}}


def query(hv, root) -> dict:
    return run_module("net_checkpoint", {"state": "query", "namespace": hv, "root": str(root)})


def test_a_switch_left_at_1500_rolls_the_9000_change_back_naming_the_size(lab):
    hv, _switch, _guest, root = lab
    before = settled_state(hv)
    preview = run_module("net_state", window(hv, root, 9000), check=True)
    assert not preview.get("failed"), preview.get("msg")
    assert preview["path_mtu"] == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr0", "eno1"]}], preview

    failed = run_module("net_state", window(hv, root, 9000))
    assert failed.get("failed"), failed
    assert failed["msg"].startswith("probes failed after the change"), failed["msg"]
    assert TOO_BIG in failed["msg"], failed["msg"]
    assert failed["outcome"] == "rolled_back", failed
    assert failed["path_mtu"] == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr0", "eno1"]}]
    # The preflight ran the given probe only (the old path cannot carry 9000); after the change both ran.
    assert [p["ok"] for p in failed["probes"]["preflight"]] == [True]
    assert [(p["target"], p["ok"]) for p in failed["probes"]["after"]] == [("192.0.2.1", True), ("192.0.2.1", False)]
    diff = state_diff(before, settled_state(hv))
    assert diff == [], "the rollback did not restore the host:\n" + "\n".join(diff)
    assert query(hv, root)["armed"] is False and watchdog_pids(root) == []


def test_the_probe_turned_off_lets_the_same_change_through(lab):
    hv, _switch, _guest, root = lab
    done = run_module("net_state", window(hv, root, 9000, mtu_probe=False))
    assert not done.get("failed") and done["outcome"] == "armed", done.get("msg")
    assert "path_mtu" not in done and len(done["probes"]["after"]) == 1


def test_a_switch_at_9000_confirms_and_a_guest_at_9000_passes_8972_unfragmented(lab):
    hv, switch, guest, root = lab
    set_switch_mtu(switch, 9000)
    task = window(hv, root, 9000, persist={"format": "ifupdown2"})
    done = run_module("net_state", task)
    assert not done.get("failed") and done["outcome"] == "armed", done.get("msg")
    assert [(p["target"], p["ok"]) for p in done["probes"]["after"]] == [("192.0.2.1", True), ("192.0.2.1", True)]
    assert mtus(hv, "vmbr0", "eno1") == {"vmbr0": 9000, "eno1": 9000}
    task["checkpoint"]["confirm"] = done["checkpoint"]["id"]
    confirmed = run_module("net_state", task)
    assert not confirmed.get("failed") and confirmed["outcome"] == "confirmed", confirmed.get("msg")
    # The guest's NIC at 9000 (as its hypervisor gives it its bridge's MTU): 8972 bytes + 28 of headers, DF set.
    iproute(hv, ["ip link set veth100i0 mtu 9000"])
    iproute(guest, ["ip link set eth0 mtu 9000"])
    ping = subprocess.run(["ip", "netns", "exec", guest, "ping", "-n", "-q", "-M", "do", "-s", "8972", "-c", "2",
                           "-W", "2", "192.0.2.1"], capture_output=True, text=True, check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    stanzas = (root / "etc/network/interfaces").read_text().split("\n\n")
    lines = {name: [line.strip() for line in next(s for s in stanzas if f"iface {name} " in s).splitlines()]
             for name in ("vmbr0", "eno1")}
    assert "mtu 9000" in lines["eno1"], lines["eno1"]
    assert "post-up ip link set dev vmbr0 mtu 9000" in lines["vmbr0"], lines["vmbr0"]


def test_the_watchdogs_gate_rolls_back_when_the_path_loses_9000_with_the_controller_gone(lab):
    hv, switch, _guest, root = lab
    before = settled_state(hv)
    set_switch_mtu(switch, 9000)
    done = run_module("net_state", window(hv, root, 9000, gate_settle=1))
    assert not done.get("failed") and done["outcome"] == "armed", done.get("msg")
    # The controller is gone (nobody confirms); the switch port goes back to 1500 (a switch config reverted).
    set_switch_mtu(switch, 1500)
    deadline = time.monotonic() + 90
    while query(hv, root)["armed"] and time.monotonic() < deadline:
        time.sleep(0.5)
    last = query(hv, root)
    assert last["armed"] is False, last
    outcome = last["last"]
    assert outcome["outcome"] == "rolled_back" and outcome["by"].startswith("watchdog"), outcome
    assert TOO_BIG in outcome["reason"], outcome
    set_switch_mtu(switch, 1500)
    diff = state_diff(before, settled_state(hv))
    assert diff == [], "the gate's rollback did not restore the host:\n" + "\n".join(diff)


def test_lowering_back_to_1500_needs_no_path_probe_and_goes_top_down(lab):
    hv, switch, _guest, root = lab
    set_switch_mtu(switch, 9000)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])
    done = run_module("net_state", window(hv, root, 1500))
    assert not done.get("failed") and done["outcome"] == "armed", done.get("msg")
    assert "path_mtu" not in done and len(done["probes"]["after"]) == 1
    mtu_commands = [c for c in done["commands"] if " mtu " in c]
    assert [c.split(" dev ")[1].split()[0] for c in mtu_commands] == ["vmbr0", "eno1"], done["commands"]
    assert mtus(hv, "vmbr0", "eno1") == {"vmbr0": 1500, "eno1": 1500}
