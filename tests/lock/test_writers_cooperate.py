"""The three writers of a hypervisor's network take turns (issue 15): a change window's modules,
the tap_guard watcher re-attaching guests, and the checkpoint watchdog rolling back.

Real processes on the real kernel, in throwaway namespaces: tap_guard runs as
its own process (tests/tapguard_proc.py), the window's modules run as the
module's own entry point in their own processes, the watchdog is the real
detached one.
"""
from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from modproc import holder, run_task
from modrun import run_module
from nstools import ip, settled_state, state_diff
from tapguard_proc import ENV, Watcher, watcher_argv
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

GUESTS = [f"tap{100 + n}i0" for n in range(50)]


def build(ns: str, peer: str) -> None:
    """vmbr0 on eth1 (a veth to a peer namespace) with 50 guest taps, up."""
    lines = ["link add eth1 type veth peer name sw1 netns " + peer, "link add vmbr0 type bridge stp_state 0 forward_delay 0",
             "link set eth1 master vmbr0", "link set eth1 up", "link set vmbr0 up"]
    for tap in GUESTS:
        lines += [f"tuntap add dev {tap} mode tap", f"link set {tap} master vmbr0", f"link set {tap} up"]
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)
    ip("link", "set", "sw1", "up", ns=peer)


def masters(ns: str) -> dict:
    return {link["ifname"]: link.get("master") for link in json.loads(ip("-j", "link", "show", ns=ns).stdout)
            if link["ifname"] in GUESTS}


def reattached(log: str) -> int:
    """How many guest ports the watcher says it re-attached, over all its passes."""
    return sum(int(n) for n in re.findall(r"re-attached (\d+) guest port", log))


@pytest.fixture
def lab(namespaces, tmp_path):
    ns, peer = namespaces.new(), namespaces.new()
    build(ns, peer)
    config = tmp_path / "tap_guard.json"
    config.write_text(json.dumps({"source": "explicit", "namespace": ns,
                                  "ports": [{"device": tap, "bridge": "vmbr0"} for tap in GUESTS]}))
    watcher = Watcher(watcher_argv("--config", str(config)), tmp_path, ENV)
    try:
        watcher.wait_ready()
        yield ns, watcher
    finally:
        watcher.stop()
        kill_watchdogs(tmp_path)


def checkpoint(ns: str, tmp_path, **args) -> dict:
    return run_module("net_checkpoint", dict(args, namespace=ns, root=str(tmp_path)))


def test_tap_guard_leaves_the_network_alone_while_another_writer_holds_the_lock(lab, tmp_path):
    """What keeps the watcher from fighting a change: the bridge comes back while a change holds the
    lock; the watcher neither re-attaches in its first pass nor in its full pass until the holder is done."""
    ns, watcher = lab
    proc = holder(ns)
    try:
        subprocess.run(["ip", "-n", ns, "-batch", "-"], text=True, check=True,
                       input="link del vmbr0\nlink add vmbr0 type bridge stp_state 0 forward_delay 0\n"
                             "link set eth1 master vmbr0\nlink set vmbr0 up\n")
        watcher.wait_log("first pass skipped")
        assert "a test's lock holder" in watcher.log
        time.sleep(1)   # the full pass is waiting for the lock: nothing may have been re-attached meanwhile
        assert set(masters(ns).values()) == {None}, watcher.log
    finally:
        proc.kill()
        proc.wait(10)
    watcher.wait_log("full pass: re-attached 50 guest port(s)")
    assert set(masters(ns).values()) == {"vmbr0"}


def test_a_window_recreating_a_bridge_with_guests_confirms_while_tap_guard_runs(lab, tmp_path):
    ns, watcher = lab
    armed = checkpoint(ns, tmp_path, state="armed", timeout=300)
    assert armed.get("armed"), armed
    # The change: vmbr0 deleted (its guests fall off) and made again with STP on; tap_guard sees it appear
    # while the second task still holds the lock and puts the guests back only once that task is done.
    gone = run_task(tmp_path, "delete", {"name": "vmbr0", "namespace": ns, "state": "absent",
                                         "detach_guests": True})
    assert gone["changed"] and not gone.get("failed"), gone
    made = run_task(tmp_path, "create", {"name": "vmbr0", "namespace": ns, "ports": ["eth1"], "stp": True})
    assert made["changed"] and not made.get("failed"), made
    watcher.wait_log("bridge vmbr0 appeared")
    watcher.wait_log("full pass")
    # The window's next steps: tap_reenslave (nothing left to do) and the confirmation.
    tap = run_task(tmp_path, "tap", {"namespace": ns, "ports": [{"device": t, "bridge": "vmbr0"} for t in GUESTS]},
                   module="tap_reenslave")
    assert not tap.get("failed"), tap
    confirmed = checkpoint(ns, tmp_path, state="confirmed", id=armed["checkpoint"]["id"])
    assert not confirmed.get("failed") and confirmed["armed"] is False, confirmed
    assert set(masters(ns).values()) == {"vmbr0"}
    # No fight: every guest was re-attached exactly once, by one writer or the other, never undone.
    log = watcher.log
    assert reattached(log) + len(tap["reattached"]) == len(GUESTS), log
    assert "refused" not in log and "did not complete" not in log, log


def test_a_watchdog_rollback_with_tap_guard_running_ends_exactly_at_the_snapshot(lab, tmp_path):
    ns, watcher = lab
    before = settled_state(ns)
    armed = checkpoint(ns, tmp_path, state="armed", timeout=5)
    assert armed.get("armed"), armed
    # The change the deadline undoes: vmbr0 gone with its guests' memberships, a new bridge vmbrX on eth1.
    gone = run_task(tmp_path, "delete", {"name": "vmbr0", "namespace": ns, "state": "absent",
                                         "detach_guests": True})
    assert gone["changed"], gone
    made = run_task(tmp_path, "create", {"name": "vmbrX", "namespace": ns, "ports": ["eth1"]})
    assert made["changed"], made
    give_up = time.monotonic() + 60
    last = tmp_path / "var/lib/netsafe/checkpoint" / f"netns-{ns}" / "last.json"
    while time.monotonic() < give_up and not (last.exists() and json.loads(last.read_text()).get("outcome") != "armed"):
        time.sleep(0.1)
    outcome = json.loads(last.read_text())
    assert outcome["outcome"] == "rolled_back", outcome
    watcher.wait_log("bridge vmbr0 appeared")
    watcher.wait_log("full pass")
    diff = state_diff(before, settled_state(ns))
    assert diff == [], "\n".join(diff) + "\n" + watcher.log
    assert "refused" not in watcher.log and "did not complete" not in watcher.log, watcher.log


def read_json(path):
    return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture
def armed_lab(netns, tmp_path):
    """make(timeout): vmbr0 in a namespace, a checkpoint of it armed, then its MTU changed."""

    def make(timeout: int):
        ip("link", "add", "vmbr0", "type", "bridge", ns=netns)
        ip("link", "set", "vmbr0", "up", ns=netns)
        before = settled_state(netns)
        armed = checkpoint(netns, tmp_path, state="armed", timeout=timeout)
        assert armed.get("armed"), armed
        ip("link", "set", "vmbr0", "mtu", "1400", ns=netns)
        return netns, before, armed["checkpoint"]["id"]

    try:
        yield make
    finally:
        kill_watchdogs(tmp_path)


def test_the_watchdog_waits_for_a_change_in_progress_and_the_checkpoint_stays_armed(armed_lab, tmp_path):
    ns, before, checkpoint_id = armed_lab(5)
    run_dir = tmp_path / "run/netsafe/checkpoint" / f"netns-{ns}"
    last = tmp_path / "var/lib/netsafe/checkpoint" / f"netns-{ns}" / "last.json"
    proc = holder(ns)
    try:
        time.sleep(8)   # the deadline (5 s) passes while another writer holds the lock
        query = checkpoint(ns, tmp_path, state="query")   # answered while the watchdog waits
        assert query["armed"] and query["checkpoint"]["watchdog_alive"], query
        record = read_json(run_dir / "checkpoint.json")
        assert record is not None and record["id"] == checkpoint_id and record["state"] == "armed", record
        assert read_json(last) is None
        assert json.loads(ip("-j", "link", "show", "vmbr0", ns=ns).stdout)[0]["mtu"] == 1400
    finally:
        proc.kill()
        proc.wait(10)
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up and read_json(last) is None:
        time.sleep(0.1)
    outcome = read_json(last)
    assert outcome and outcome["outcome"] == "rolled_back" and outcome["id"] == checkpoint_id, outcome
    assert state_diff(before, settled_state(ns)) == []


def test_a_rollback_task_that_cannot_have_the_lock_leaves_the_checkpoint_armed(armed_lab, tmp_path):
    ns, before, checkpoint_id = armed_lab(300)
    changed = settled_state(ns)
    assert state_diff(before, changed) != []
    proc = holder(ns)
    try:
        refused = checkpoint(ns, tmp_path, state="rolled_back", lock_timeout=0.5)
        bad = checkpoint(ns, tmp_path, state="rolled_back", lock_timeout=-1)
        after_refusals = settled_state(ns)   # the kernel while the holder still holds the lock
    finally:
        proc.kill()
        proc.wait(10)
    assert refused.get("failed") and "a test's lock holder" in refused["msg"], refused
    assert bad.get("failed") and bad["msg"].startswith("lock_timeout: -1 is negative"), bad
    query = checkpoint(ns, tmp_path, state="query")
    assert query["armed"] and query["checkpoint"]["id"] == checkpoint_id, query
    assert query["checkpoint"]["watchdog_alive"], query
    assert state_diff(changed, after_refusals) == []   # the refused rollbacks changed nothing
    rolled = checkpoint(ns, tmp_path, state="rolled_back")   # the holder is gone: now it can
    assert not rolled.get("failed") and rolled["outcome"]["outcome"] == "rolled_back", rolled
    assert state_diff(before, settled_state(ns)) == []
