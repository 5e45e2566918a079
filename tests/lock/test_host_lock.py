"""One change at a time per host (issue 15): the network lock every writer takes.

Real processes on the real kernel, in throwaway namespaces: each task is the
module's own entry point run as its own Python process, the way Ansible runs
it on a host (`python net_bridge.py ARGS_FILE`), so two of them really race.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from modproc import holder, result_of, start_task, warnings_of
from nstools import ip, kernel_state, state_diff

pytestmark = [pytest.mark.kernel]

GUESTS = 1000
ROUNDS = 20


@pytest.fixture
def bridge_with_guests(netns):
    """vmbr0 with an uplink and 1,000 guest taps (MTU 1500), as the issue's user had it."""
    lines = ["link add eth1 type veth peer name eth1p", "link add vmbr0 type bridge stp_state 0",
             "link set eth1 master vmbr0", "link set eth1 up", "link set vmbr0 up"]
    for n in range(GUESTS):
        lines += [f"tuntap add dev tap{100 + n}i0 mode tap", f"link set tap{100 + n}i0 master vmbr0"]
    subprocess.run(["ip", "-n", netns, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)
    return netns


def mtu(ns: str, dev: str) -> int:
    return json.loads(ip("-j", "link", "show", dev, ns=ns).stdout)[0]["mtu"]


@pytest.mark.slow
def test_two_tasks_on_one_bridge_take_turns(bridge_with_guests, tmp_path):
    """Twenty rounds of two net_bridge tasks started together with different MTUs: the second
    always plans from the first's result, reports the change it made from there, and wins."""
    ns = bridge_with_guests
    previous = 1500
    for round_no in range(ROUNDS):
        wanted = {"a": 1400 + round_no, "b": 1300 + round_no}
        procs = {name: start_task(tmp_path, name, {"name": "vmbr0", "namespace": ns, "mtu": value})
                 for name, value in wanted.items()}
        results = {name: result_of(proc) for name, proc in procs.items()}
        for name, result in results.items():
            assert not result.get("failed"), result
            assert result["changed"], (round_no, name, result)
        befores = {name: result["diff"]["before"]["mtu"] for name, result in results.items()}
        afters = {name: result["diff"]["after"]["mtu"] for name, result in results.items()}
        assert afters == wanted, (round_no, results)
        # One of them ran first, from the state the round started with; the other from the first's result.
        first = next(name for name, before in befores.items() if before == previous)
        second = "b" if first == "a" else "a"
        assert befores == {first: previous, second: wanted[first]}, (round_no, befores, wanted)
        assert mtu(ns, "vmbr0") == wanted[second], round_no
        previous = wanted[second]
    # Nothing of the guests was lost in forty changes.
    masters = json.loads(ip("-j", "link", "show", "master", "vmbr0", ns=ns).stdout)
    assert len(masters) == GUESTS + 1


def test_a_holder_killed_with_sigkill_leaves_no_lock(netns, tmp_path):
    ip("link", "add", "vmbr0", "type", "bridge", ns=netns)
    proc = holder(netns)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    result = result_of(start_task(tmp_path, "task", {"name": "vmbr0", "namespace": netns, "mtu": 1400,
                                                     "lock_timeout": 0}))
    assert not result.get("failed") and result["changed"], result
    assert not any("waited" in w for w in warnings_of(result)), result
    assert mtu(netns, "vmbr0") == 1400   # with lock_timeout 0, a lock left behind would have failed the task


def test_lock_timeout_names_the_holder_and_changes_nothing(netns, tmp_path):
    ip("link", "add", "vmbr0", "type", "bridge", ns=netns)
    before = kernel_state(netns)
    proc = holder(netns)
    try:
        result = result_of(start_task(tmp_path, "task", {"name": "vmbr0", "namespace": netns, "mtu": 1400,
                                                         "lock_timeout": 0.5}))
    finally:
        proc.kill()
        proc.wait(10)
    assert result.get("failed"), result
    assert result["changed"] is False
    msg = result["msg"]
    assert f"namespace {netns}" in msg and "a test's lock holder" in msg and f"pid {proc.pid}" in msg, msg
    assert "lock_timeout=0.5 s" in msg and "nothing was changed" in msg, msg
    assert state_diff(before, kernel_state(netns)) == []


def test_a_waiting_task_runs_when_the_holder_is_done_and_says_it_waited(netns, tmp_path):
    ip("link", "add", "vmbr0", "type", "bridge", ns=netns)
    proc = holder(netns)
    task = start_task(tmp_path, "task", {"name": "vmbr0", "namespace": netns, "mtu": 1400})
    time.sleep(2)
    assert task.poll() is None, "the task did not wait for the holder"
    assert mtu(netns, "vmbr0") == 1500
    proc.kill()
    proc.wait(10)
    result = result_of(task)
    assert not result.get("failed") and result["changed"], result
    assert any("waited" in w and "a test's lock holder" in w for w in warnings_of(result)), result
    assert mtu(netns, "vmbr0") == 1400


def test_check_mode_does_not_wait(netns, tmp_path):
    ip("link", "add", "vmbr0", "type", "bridge", ns=netns)
    proc = holder(netns)
    try:
        result = result_of(start_task(tmp_path, "task", {"name": "vmbr0", "namespace": netns, "mtu": 1400,
                                                         "lock_timeout": 0, "_ansible_check_mode": True}))
    finally:
        proc.kill()
        proc.wait(10)
    assert not result.get("failed") and result["changed"], result
    assert mtu(netns, "vmbr0") == 1500


def test_negative_lock_timeout_is_refused(netns, tmp_path):
    ip("link", "add", "vmbr0", "type", "bridge", ns=netns)
    result = result_of(start_task(tmp_path, "task", {"name": "vmbr0", "namespace": netns, "mtu": 1400,
                                                     "lock_timeout": -1}))
    assert result.get("failed") and result["msg"].startswith("lock_timeout: -1 is negative"), result
    assert mtu(netns, "vmbr0") == 1500
