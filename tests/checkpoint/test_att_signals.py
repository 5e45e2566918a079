"""Review (attacker): signals to an armed watchdog. SIGKILL cannot be caught (the checkpoint is orphaned and query
says so); the others should not make an armed watchdog exit without rolling back.

Decided (watchdog.Signals): SIGTERM and SIGINT while armed roll back at once, the reason naming the signal, then the
watchdog exits; once the checkpoint is no longer armed (a confirmation or a task's rollback finishes the record
before it signals) they end it quietly. Every other signal that would end it is ignored.
"""
from __future__ import annotations

import os
import re
import signal
import time

import pytest

from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]

CHANGE = ["ip link set eno1 nomaster", "ip link add vmbrX type bridge", "ip link set tap100i0 master vmbrX",
          "ip link set vmbr1 mtu 1400"]
IGNORED = [signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE,
           signal.SIGXCPU, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO, signal.SIGPWR, signal.SIGRTMIN + 3]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    give_up = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < give_up:
        time.sleep(0.02)
    return not alive(pid)


def armed_and_changed(host, timeout: float) -> tuple:
    """(the dump before, the checkpoint, its watchdog's pid) once CHANGE is applied under a checkpoint."""
    iproute(host.ns, ["ip link set vmbr1 type bridge stp_state 0"])
    before = host.state()
    checkpoint = host.checkpoint(state="armed", timeout=timeout)["checkpoint"]
    iproute(host.ns, CHANGE)
    return before, checkpoint, checkpoint["watchdog"]["pid"]


def test_other_signals_are_ignored_and_the_deadline_still_rolls_back(host):
    before, checkpoint, pid = armed_and_changed(host, 6)
    for sig in IGNORED:
        os.kill(pid, sig)
    time.sleep(1)
    assert alive(pid), "the watchdog died of one of " + ", ".join(signal.Signals(s).name for s in IGNORED[:-1])
    last = host.wait_outcome(checkpoint["id"], 30)
    assert last["outcome"] == "rolled_back" and "not confirmed before its deadline" in last["reason"], last
    assert state_diff(before, host.state()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_while_armed_rolls_back_at_once_then_exits(host, sig):
    before, checkpoint, pid = armed_and_changed(host, 30)
    os.kill(pid, sig)
    last = host.wait_outcome(checkpoint["id"], 10)
    assert last["outcome"] == "rolled_back", last
    assert last["reason"] == f"{sig.name} received while armed: rolled back at once rather than exit without it"
    assert last["started_after_deadline_ms"] < -20000, last   # at once, not at the deadline 30 s after arming
    assert gone_within(pid, 5)
    assert state_diff(before, host.state()) == []
    assert host.checkpoint(state="query")["armed"] is False


def test_a_confirmation_or_a_tasks_rollback_still_stops_the_watchdog_at_once_and_quietly(make_host):
    confirmed, rolled = make_host(), make_host()
    for host in (confirmed, rolled):
        iproute(host.ns, ["ip link set vmbr1 type bridge stp_state 0"])
    before = rolled.state()
    ids, pids = {}, {}
    for host in (confirmed, rolled):
        checkpoint = host.checkpoint(state="armed", timeout=30)["checkpoint"]
        ids[host.ns], pids[host.ns] = checkpoint["id"], checkpoint["watchdog"]["pid"]
        iproute(host.ns, ["ip link set vmbr1 mtu 1400"])
    changed = confirmed.state()
    assert confirmed.checkpoint(state="confirmed", id=ids[confirmed.ns])["outcome"]["outcome"] == "confirmed"
    back = rolled.checkpoint(state="rolled_back")
    assert back["outcome"]["reason"] == "rolled back on request", back
    for host in (confirmed, rolled):
        assert gone_within(pids[host.ns], 2), host.log()
        # It saw the record gone at its next poll, or got the SIGTERM first: either way it exits, rolling nothing back.
        assert re.search(rf"watchdog {pids[host.ns]} exits( on SIGTERM)?, the checkpoint is no longer armed",
                         host.log()), host.log()
    assert state_diff(changed, confirmed.state()) == []   # the watchdog rolled nothing back
    assert state_diff(before, rolled.state()) == []
    assert rolled.checkpoint(state="query")["last"]["id"] == ids[rolled.ns]


def test_sigstop_past_the_deadline_is_reported_overdue_and_sigcont_rolls_back_at_once(host):
    before, checkpoint, pid = armed_and_changed(host, 5)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(8)   # 3 s past the deadline: overdue after 2 s
        query = host.checkpoint(state="query")["checkpoint"]
        assert query["watchdog_alive"] and query["overdue"] and not query["orphaned"], query
        assert query["problem"].startswith("overdue: not rolled back "), query["problem"]
        assert f"the watchdog pid {pid} is alive but stopped (SIGSTOP or a debugger)" in query["problem"]
    finally:
        os.kill(pid, signal.SIGCONT)
    last = host.wait_outcome(checkpoint["id"], 30)
    assert last["outcome"] == "rolled_back"
    assert state_diff(before, host.state()) == []
