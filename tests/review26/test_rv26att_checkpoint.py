"""Review 26 (attacker): net_state's `checkpoint` on a bad day: probes that fail only after the change, bad
options, another checkpoint or another writer in the way, a full state directory, check mode."""
from __future__ import annotations

import json
import select
import subprocess
import os
import signal
import sys
import time
from pathlib import Path

import pytest

import persist_lab
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import guarded
from modproc import collection_env, holder
from modrun import run_module
from nstools import ip, iproute, settled_state, state_diff
from watchdogs import kill_watchdogs, watchdog_pids

pytestmark = pytest.mark.kernel

# vmbr0 moves from eno1 (the switch with the gateway) to eno3, which leads nowhere: the gateway is cut only
# by the change.
CUT = {"bridges": [{"name": "vmbr0", "ports": ["eno3"]}]}
GATEWAY_PROBE = [{"type": "icmp", "target": "192.0.2.1", "count": 2}]


@pytest.fixture
def lab(namespaces, tmp_path):
    """(namespace, scratch root): the 'bridges' host of persist_lab, guests on vmbr0, its gateway on the switch."""
    ns, peer = persist_lab.bridges_host(namespaces)
    subprocess.run(["ip", "netns", "exec", peer, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"], check=True)
    iproute(peer, ["ip link add swbr type bridge stp_state 0 forward_delay 0", "ip link set sw1 master swbr",
                   "ip link set sw2 master swbr", "ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr"])
    root = tmp_path / "root"
    root.mkdir()
    try:
        yield ns, root
    finally:
        kill_watchdogs(root)


def state(ns, root, check=False, **args) -> dict:
    args.setdefault("namespace", ns)
    if "checkpoint" in args:
        args["checkpoint"] = dict({"root": str(root), "timeout": 60, "gate_settle": 0}, **args["checkpoint"])
    return run_module("net_state", args, check=check)


def query(ns, root) -> dict:
    return run_module("net_checkpoint", {"state": "query", "namespace": ns, "root": str(root)})


def test_a_probe_that_fails_only_after_the_change_rolls_back_in_the_same_run(lab):
    """The rollback itself works (the host is back, nothing armed); the task must fail with the report, not with
    a module traceback that Ansible shows as MODULE FAILURE."""
    ns, root = lab
    before = settled_state(ns)
    result = state(ns, root, checkpoint={"probes": GATEWAY_PROBE}, **CUT)
    assert result.get("failed"), result
    assert result["outcome"] == "rolled_back" and result["changed"] is False, result
    assert result["commands"] and result["rollback"]["outcome"] == "rolled_back", result
    assert [p["ok"] for p in result["probes"]["preflight"]] == [True]
    assert [p["ok"] for p in result["probes"]["after"]] == [False]
    assert state_diff(before, settled_state(ns)) == []
    assert query(ns, root)["armed"] is False
    assert watchdog_pids(root) == []


def test_check_mode_with_a_checkpoint_runs_no_probe_arms_nothing_and_changes_nothing(lab):
    ns, root = lab
    before = settled_state(ns)
    dead = [{"type": "icmp", "target": "203.0.113.99", "count": 1}]   # would fail the preflight if it ran
    result = state(ns, root, check=True, checkpoint={"probes": dead}, **CUT)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and result["commands"]
    assert state_diff(before, settled_state(ns)) == []
    assert query(ns, root)["armed"] is False
    assert not list(root.rglob("*")), sorted(str(p) for p in root.rglob("*"))


def test_a_preflight_probe_that_fails_leaves_the_host_untouched_and_a_host_as_wanted_arms_nothing(lab):
    ns, root = lab
    before = settled_state(ns)
    dead = [{"type": "icmp", "target": "203.0.113.99", "count": 1}]
    refused = state(ns, root, checkpoint={"probes": dead}, **CUT)
    assert refused.get("failed") and refused["changed"] is False and refused["outcome"] == "not_touched", refused
    assert "checkpoint" not in refused and state_diff(before, settled_state(ns)) == []
    as_is = state(ns, root, checkpoint={"probes": GATEWAY_PROBE}, bridges=[{"name": "vmbr0", "ports": ["eno1"]}])
    assert not as_is.get("failed") and not as_is["changed"] and as_is["outcome"] == "unchanged", as_is
    assert query(ns, root)["armed"] is False and watchdog_pids(root) == []


@pytest.mark.parametrize("checkpoint, named", [
    ({"timeout": 1}, "checkpoint.timeout"),
    ({"timeout": 86401}, "checkpoint.timeout"),
    ({"timeout": float("nan")}, "checkpoint.timeout"),
    ({"gate_settle": -1}, "checkpoint.gate_settle"),
    # refused by the argument spec of a probe (PROBE_OPTIONS), naming where
    ({"probes": [{"type": "banana", "target": "192.0.2.1"}]}, "got: banana found in checkpoint -> probes"),
    ({"probes": [{"type": "icmp", "tagret": "192.0.2.1"}]}, "checkpoint.probes.tagret"),
    ({"probes": [{"type": "icmp"}]}, "checkpoint.probes[0]"),
    ({"probes": [{"type": "tcp", "target": "192.0.2.1", "port": 70000}]}, "checkpoint.probes[0]"),
])
def test_bad_checkpoint_options_are_refused_by_name_before_anything(lab, checkpoint, named):
    ns, root = lab
    before = settled_state(ns)
    result = state(ns, root, checkpoint=dict({"probes": GATEWAY_PROBE}, **checkpoint), **CUT)
    assert result.get("failed") and named in result["msg"], result.get("msg")
    assert not result.get("changed")
    assert state_diff(before, settled_state(ns)) == []
    assert query(ns, root)["armed"] is False


def test_a_second_checkpoint_is_refused_and_the_first_stays(lab):
    ns, root = lab
    first = run_module("net_checkpoint", {"state": "armed", "namespace": ns, "root": str(root), "timeout": 60})
    assert not first.get("failed"), first.get("msg")
    before = settled_state(ns)
    result = state(ns, root, checkpoint={"probes": GATEWAY_PROBE}, bridges=[{"name": "vmbr1", "mtu": 1400}])
    assert result.get("failed") and result["changed"] is False, result
    assert first["checkpoint"]["id"] in result["msg"], result["msg"]
    assert state_diff(before, settled_state(ns)) == []
    assert query(ns, root)["checkpoint"]["id"] == first["checkpoint"]["id"]


def test_another_writer_holding_the_lock_with_lock_timeout_0_arms_nothing_and_changes_nothing(lab):
    ns, root = lab
    before = settled_state(ns)
    proc = holder(ns)
    try:
        result = state(ns, root, checkpoint={"probes": GATEWAY_PROBE}, lock_timeout=0,
                       bridges=[{"name": "vmbr1", "mtu": 1400}])
    finally:
        proc.kill()
        proc.wait(10)
    assert result.get("failed") and result["changed"] is False, result
    assert "a test's lock holder" in result["msg"], result["msg"]
    assert state_diff(before, settled_state(ns)) == []
    assert query(ns, root)["armed"] is False
    assert watchdog_pids(root) == []


FULL_DISK = r'''
import json, subprocess, sys
sys.path[:0] = [{tests!r}, {collections!r}]
from modrun import run_module
ns, root, where = sys.argv[1], sys.argv[2], sys.argv[3]
target = root + "/" + where
subprocess.run(["mkdir", "-p", target], check=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", target], check=True)
subprocess.run(["dd", "if=/dev/zero", "of=" + target + "/fill", "bs=64k"], capture_output=True)
args = json.loads(sys.argv[4])
args["checkpoint"]["root"] = root
print(json.dumps(run_module("net_state", args)))
'''


@pytest.mark.parametrize("where", ["run/netsafe", "var/lib/netsafe"])
def test_a_full_state_directory_stops_the_window_before_any_change(lab, where):
    ns, root = lab
    before = settled_state(ns)
    script = root.parent / "full.py"
    tests = Path(__file__).resolve().parents[1]
    script.write_text(FULL_DISK.format(tests=str(tests), collections=str(tests.parent / ".tmp" / "collections")))
    args = dict(CUT, namespace=ns, checkpoint={"probes": GATEWAY_PROBE, "timeout": 60, "gate_settle": 0})
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, str(script), ns, str(root),
                           where, json.dumps(args)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.stdout.strip(), proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result.get("failed") and result["changed"] is False, result
    assert "No space left on device" in result["msg"] and "nothing was armed" in result["msg"], result["msg"]
    assert state_diff(before, settled_state(ns)) == []
    assert watchdog_pids(root) == []


KILLED = ("import json, sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; from modrun import run_module; "
          "print(json.dumps(run_module('net_state', json.loads(sys.argv[3]))))")
# A change of several steps on every kind of line: a new bridge takes eno3 and vmbr0's address moves nowhere.
SWEPT = {"bridges": [{"name": "vmbr0", "ports": ["eno3"], "mtu": 1400}, {"name": "vmbr9", "ports": ["eno1"]}]}


def last_outcome(root, ns, limit: float) -> dict:
    path = root / "var/lib/netsafe/checkpoint" / f"netns-{ns}" / "last.json"
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        if path.exists():
            last = json.loads(path.read_text())
            if last["outcome"] != "armed":
                return last
        time.sleep(0.1)
    raise AssertionError(f"no outcome in {path} within {limit} s")


# Coupled change (b) on eno3: its address and static route move to a new bridge that takes it.
ENO3_ADDRESSED = ["ip address add 198.51.100.10/24 dev eno3", "ip link set eno3 up",
                  "ip route add 10.30.0.0/16 via 198.51.100.254 dev eno3 proto static"]
MOVED = {"bridges": [{"name": "vmbr9", "ports": ["eno3"], "addresses": ["198.51.100.10/24"]}]}


def swept_host(namespaces, setup) -> str:
    ns, _peer = persist_lab.bridges_host(namespaces)
    iproute(ns, setup)
    return ns


@pytest.mark.slow
@pytest.mark.parametrize("variable, change, setup", [
    pytest.param("NETSAFE_KILL_AT", SWEPT, [], marks=pytest.mark.long), ("NETSAFE_FAIL_AT", SWEPT, []),
    pytest.param("NETSAFE_KILL_AT", MOVED, ENO3_ADDRESSED, marks=pytest.mark.long),
], ids=["killed, take-over", "refused, take-over", "killed, (b) address move"])
def test_the_module_killed_or_refused_at_every_step_leaves_the_snapshot(namespaces, tmp_path, variable, change, setup):
    probe_ns = swept_host(namespaces, setup)
    steps = len(run_module("net_state", dict(change, namespace=probe_ns), check=True)["commands"])
    assert steps >= 5
    tests = Path(__file__).resolve().parents[1]
    labs = []
    try:
        for k in range(steps):
            ns = swept_host(namespaces, setup)
            root = tmp_path / f"root{k}"
            root.mkdir()
            labs.append((k, ns, root, settled_state(ns)))
        procs = []
        for k, ns, root, _before in labs:
            guard = {"root": str(root), "timeout": 10, "gate_settle": 0, "probes": [{"type": "icmp", "target": "127.0.0.1"}]}
            args = dict(change, namespace=ns, checkpoint=guard)
            procs.append(subprocess.Popen(
                [sys.executable, "-c", KILLED, str(tests), str(tests.parent / ".tmp" / "collections"), json.dumps(args)],
                env=dict(os.environ, **{variable: str(k)}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outs = [proc.communicate(timeout=300) for proc in procs]
        for (k, ns, root, before), proc, (out, err) in zip(labs, procs, outs):
            if variable == "NETSAFE_KILL_AT":
                assert proc.returncode == -signal.SIGKILL, (k, proc.returncode, out, err)
                assert last_outcome(root, ns, 60)["outcome"] == "rolled_back", k
            else:
                result = json.loads(out[out.index("{"):])
                assert result.get("failed") and result["changed"] is False, (k, result)
                assert query(ns, root)["armed"] is False, k
            assert state_diff(before, settled_state(ns)) == [], k
    finally:
        for _k, _ns, root, _before in labs:
            kill_watchdogs(root)


# Another writer (a tap_guard pass, a second play): waits for the network lock, changes vmbr1, holds it a while.
OTHER_WRITER = """
import subprocess, sys, time
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import HostLock
with HostLock(sys.argv[1], "another writer", 120):
    subprocess.run(["ip", "-n", sys.argv[1], "link", "set", "vmbr1", "mtu", "1400"], check=True)
    print("held", flush=True)
    time.sleep(4)
"""


def mtu(ns: str, dev: str) -> int:
    return json.loads(ip("-j", "link", "show", dev, ns=ns).stdout)[0]["mtu"]


def test_a_writer_that_comes_between_arm_and_apply_keeps_its_change(lab, monkeypatch):
    """Another writer asks for the lock just after net_state armed (its snapshot taken). If it gets the lock before
    net_state's apply, the apply times out having changed nothing, and the rollback to the snapshot undoes the
    other writer's change. It must wait for the window's change instead; then the window is confirmed and both
    changes stay."""
    ns, root = lab
    real_arm = guarded.arming.arm
    started = []

    def arm_then_another_writer(*args, **kwargs):
        record = real_arm(*args, **kwargs)
        proc = subprocess.Popen([sys.executable, "-c", OTHER_WRITER, ns], env=collection_env(), stdout=subprocess.PIPE,
                                text=True)
        started.append(proc)
        select.select([proc.stdout], [], [], 3)   # let it take the lock if it can (bounded: it may have to wait)
        return record

    monkeypatch.setattr(guarded.arming, "arm", arm_then_another_writer)
    result = state(ns, root, checkpoint={"probes": GATEWAY_PROBE, "timeout": 120}, lock_timeout=2,
                   bridges=[{"name": "vmbr0", "mtu": 1400}])
    assert [proc.wait(60) for proc in started] == [0]
    assert not result.get("failed"), result.get("msg")
    confirmed = run_module("net_checkpoint", {"state": "confirmed", "namespace": ns, "root": str(root),
                                              "id": result["checkpoint"]["id"]})
    assert not confirmed.get("failed"), confirmed.get("msg")
    assert (mtu(ns, "vmbr0"), mtu(ns, "vmbr1")) == (1400, 1400)


@pytest.mark.parametrize("then", ["succeeds", "fails"])
def test_a_window_that_outlasts_its_deadline_reports_the_watchdogs_rollback(lab, monkeypatch, then):
    """The apply (a slow host, a huge plan, long probes) ends after checkpoint.timeout: the watchdog, waiting for
    the network lock, rolls back as soon as the apply lets it go. The task must say so, not report a checkpoint
    to confirm; and a failure after that must not roll back a second time over the watchdog's record."""
    ns, root = lab
    before = settled_state(ns)
    real_converge = guarded.converge

    def slow_converge(*args, **kwargs):
        result = real_converge(*args, **kwargs)
        time.sleep(7)   # past the 5 s deadline, still holding the network lock
        if then == "fails":
            raise guarded.NetsafeError("a late failure")
        return result

    monkeypatch.setattr(guarded, "converge", slow_converge)
    result = state(ns, root, checkpoint={"probes": [{"type": "icmp", "target": "127.0.0.1"}], "timeout": 5},
                   bridges=[{"name": "vmbr0", "mtu": 1400}])
    assert result.get("failed"), result
    assert "deadline" in result["msg"] and "watchdog" in result["msg"], result["msg"]
    last = last_outcome(root, ns, 60)
    assert last["by"].startswith("watchdog") and last["commands"], last
    assert state_diff(before, settled_state(ns)) == []
    assert query(ns, root)["armed"] is False
