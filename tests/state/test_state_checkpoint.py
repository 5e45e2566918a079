"""net_state with `checkpoint` on the host kernel: the dangerous half of a change window in one task.

The host: vmbr0 on eno1 with the host's address and default route and a VM tap; eno1 and eno2 lead to a switch
namespace bridging their peers with the gateway 192.0.2.1; eno3's peer is outside the switch (a dead uplink).
- probes pass: the change stays, the task returns outcome `armed` and the checkpoint, which net_checkpoint confirms;
- the probes fail after the change (the gateway is reachable only through the old uplink): the task rolls back in
  the same run, fails, reports `rollback`, and the complete dump equals the one before;
- the preflight probe fails: nothing is touched and nothing is armed.
"""
from __future__ import annotations

import subprocess

import pytest

import persist_lab
from modrun import run_module
from nstools import iproute, settled_state, state_diff
from watchdogs import kill_watchdogs, watchdog_pids

pytestmark = pytest.mark.kernel

GATEWAY = {"type": "icmp", "target": "192.0.2.1", "count": 2}


@pytest.fixture
def host(namespaces, tmp_path):
    """(namespace, scratch root): vmbr0 on eno1 with a tap, behind a switch holding the gateway."""
    ns, switch = namespaces.new(), namespaces.new()
    persist_lab.nics(ns, switch, ("eno1", "eno2", "eno3"))
    iproute(ns, [
        "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
        "ip link set eno1 master vmbr0",
        "ip link set eno1 up", "ip link set eno2 up", "ip link set eno3 up", "ip link set vmbr0 up",
        "ip address add 192.0.2.10/24 dev vmbr0",
        "ip route add default via 192.0.2.1 dev vmbr0",
    ])
    persist_lab.guests(ns)
    # arp_ignore=1: otherwise sw3 (outside the switch) would answer ARP for the switch's address.
    subprocess.run(["ip", "netns", "exec", switch, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"], check=True)
    iproute(switch, ["ip link add swbr type bridge stp_state 0 forward_delay 0", "ip link set sw1 master swbr",
                     "ip link set sw2 master swbr", "ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr"])
    root = tmp_path / "root"
    root.mkdir()
    try:
        yield ns, root
    finally:
        kill_watchdogs(root)


def state_task(ns, root, uplink: str, probes: list) -> dict:
    return {"namespace": ns, "bridges": [{"name": "vmbr0", "ports": [uplink]}],
            "checkpoint": {"timeout": 120, "probes": probes, "gate_settle": 30, "root": str(root)}}


def query(ns, root) -> dict:
    return run_module("net_checkpoint", {"state": "query", "namespace": ns, "root": str(root)})


def test_probes_pass_the_change_stays_armed_and_net_checkpoint_confirms_it(host):
    ns, root = host
    done = run_module("net_state", state_task(ns, root, "eno2", [GATEWAY]))
    assert not done.get("failed"), done.get("msg")
    assert done["changed"] and done["outcome"] == "armed", done
    assert [p["ok"] for p in done["probes"]["preflight"]] == [True]
    assert [p["ok"] for p in done["probes"]["after"]] == [True]
    bridge = done["state"]["bridges"]["vmbr0"]
    assert (bridge["ports"], bridge["guest_ports"]) == (["eno2"], ["tap100i0", "veth101i0"]), bridge
    checkpoint = done["checkpoint"]
    assert checkpoint["id"] and watchdog_pids(root) == [checkpoint["watchdog"]["pid"]]
    changed = settled_state(ns)
    armed = query(ns, root)
    assert armed["armed"] and armed["checkpoint"]["id"] == checkpoint["id"], armed
    confirmed = run_module("net_checkpoint", {"state": "confirmed", "id": checkpoint["id"], "namespace": ns,
                                              "root": str(root)})
    assert not confirmed.get("failed") and confirmed["outcome"]["outcome"] == "confirmed", confirmed
    assert query(ns, root)["armed"] is False
    assert state_diff(changed, settled_state(ns)) == []
    again = run_module("net_state", state_task(ns, root, "eno2", [GATEWAY]))
    assert not again.get("failed") and not again["changed"] and again["outcome"] == "unchanged", again
    assert "checkpoint" not in again and query(ns, root)["armed"] is False


def test_probes_failing_after_the_change_roll_it_back_in_the_same_run(host):
    ns, root = host
    before = settled_state(ns)
    failed = run_module("net_state", state_task(ns, root, "eno3", [GATEWAY]))
    assert failed.get("failed"), failed
    assert failed["msg"].startswith("probes failed after the change (icmp 192.0.2.1"), failed["msg"]
    assert "rolled back in" in failed["msg"], failed["msg"]
    assert failed["outcome"] == "rolled_back" and failed["rollback"]["outcome"] == "rolled_back", failed
    assert failed["rollback"]["commands"], failed["rollback"]
    assert [p["ok"] for p in failed["probes"]["preflight"]] == [True]
    assert [p["ok"] for p in failed["probes"]["after"]] == [False]
    diff = state_diff(before, settled_state(ns))
    assert diff == [], "the rollback did not restore the host:\n" + "\n".join(diff)
    assert query(ns, root)["armed"] is False
    assert watchdog_pids(root) == []


def test_a_failing_preflight_probe_touches_nothing_and_arms_nothing(host):
    ns, root = host
    before = settled_state(ns)
    unreachable = {"type": "icmp", "target": "203.0.113.99", "count": 1}
    failed = run_module("net_state", state_task(ns, root, "eno2", [unreachable]))
    assert failed.get("failed") and failed["changed"] is False, failed
    assert failed["msg"].startswith("preflight probes failed, the host was not touched: icmp 203.0.113.99"), failed
    assert failed["outcome"] == "not_touched" and "checkpoint" not in failed, failed
    assert state_diff(before, settled_state(ns)) == []
    assert query(ns, root)["armed"] is False
    assert watchdog_pids(root) == [] and not list(root.rglob("checkpoint.json"))


# -- the window's second run: the same task with checkpoint.confirm ---------------------------------------------------

def armed_on_eno2(ns, root) -> tuple:
    """The window's first run, vmbr0 moved to eno2 inside a checkpoint: (its id, the host's dump after it)."""
    done = run_module("net_state", state_task(ns, root, "eno2", [GATEWAY]))
    assert not done.get("failed") and done["outcome"] == "armed", done
    return done["checkpoint"]["id"], settled_state(ns)


def test_the_same_task_with_checkpoint_confirm_confirms_what_it_sees(host):
    ns, root = host
    checkpoint_id, changed = armed_on_eno2(ns, root)
    confirm = state_task(ns, root, "eno2", [GATEWAY])
    confirm["checkpoint"]["confirm"] = checkpoint_id

    preview = run_module("net_state", confirm, check=True)
    assert not preview.get("failed") and preview["changed"] and preview["outcome"] == "confirmed", preview
    assert query(ns, root)["armed"] is True   # check mode confirmed nothing

    confirmed = run_module("net_state", confirm)
    assert not confirmed.get("failed"), confirmed.get("msg")
    assert confirmed["changed"] and confirmed["outcome"] == "confirmed" and confirmed["commands"] == [], confirmed
    assert confirmed["confirmation"]["outcome"] == "confirmed" and confirmed["confirmation"]["by"] == "net_state"
    assert confirmed["confirmation"]["id"] == checkpoint_id and confirmed["confirmation"]["before_deadline"] > 0
    assert confirmed["state"]["bridges"]["vmbr0"]["ports"] == ["eno2"]
    assert query(ns, root)["armed"] is False and watchdog_pids(root) == []
    assert state_diff(changed, settled_state(ns)) == []
    again = run_module("net_state", confirm)   # already confirmed: nothing to do
    assert not again.get("failed") and again["changed"] is False, again
    assert again["confirmation"]["id"] == checkpoint_id


def test_a_confirmation_that_finds_the_host_otherwise_confirms_nothing(host):
    ns, root = host
    checkpoint_id, changed = armed_on_eno2(ns, root)
    # The task says eno1, the host has eno2: not what the window made (or a change since); nothing confirmed.
    confirm = state_task(ns, root, "eno1", [GATEWAY])
    confirm["checkpoint"]["confirm"] = checkpoint_id
    refused = run_module("net_state", confirm)
    assert refused.get("failed") and refused["changed"] is False, refused
    assert refused["msg"].startswith("checkpoint.confirm: the host is not in the state this task describes"), refused
    assert f"checkpoint {checkpoint_id} was NOT confirmed and its watchdog rolls the change back" in refused["msg"]
    assert "ip -n" in refused["msg"] and "eno1" in refused["msg"], refused["msg"]
    armed = query(ns, root)
    assert armed["armed"] and armed["checkpoint"]["id"] == checkpoint_id, armed
    assert state_diff(changed, settled_state(ns)) == []
    # A wrong id: refused naming the one that is armed.
    wrong = state_task(ns, root, "eno2", [GATEWAY])
    wrong["checkpoint"]["confirm"] = "20991231T000000Z-nothing"
    failed = run_module("net_state", wrong)
    assert failed.get("failed") and f"{checkpoint_id} is" in failed["msg"], failed
    assert query(ns, root)["armed"] is True
