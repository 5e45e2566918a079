"""The safety net's rules found wanting by the attacker review (issue 22), without a kernel: a tcp attempt's name
resolution and connection share one timeout, probe counts are ASCII digits, a record its outcome closed is history,
a live watchdog past its deadline is reported overdue.

On the kernel: tests/checkpoint/test_att_slow_tcp_by_name.py, test_att_readonly_state.py, test_att_signals.py.
"""
from __future__ import annotations

import json
import os
import socket
import time

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes as p
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import common, dns, tcp


class Clock:
    """A monotonic clock that moves only when the fakes below say the network took time."""

    def __init__(self):
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


class SilentSocket:
    """A tcp socket to an address that never answers: connect() takes its whole timeout."""

    def __init__(self, clock: Clock, waits: list):
        self.clock, self.waits, self.timeout = clock, waits, None

    def settimeout(self, value: float) -> None:
        self.timeout = value

    def connect(self, _address) -> None:
        self.waits.append(("connect", self.timeout))
        self.clock.now += self.timeout
        raise socket.timeout()

    def close(self) -> None:
        pass


def test_a_tcp_attempt_by_name_resolves_and_connects_within_its_one_timeout(monkeypatch):
    """A resolver that answers each query just before the timeout (A empty, then AAAA), an address that never
    answers: before, A, AAAA and connect each got the whole timeout (3 s for a 1 s attempt)."""
    clock, waits = Clock(), []
    monkeypatch.setattr(dns, "time", clock)
    monkeypatch.setattr(tcp, "time", clock)
    monkeypatch.setattr(dns, "_hosts_lookup", lambda name: [])
    monkeypatch.setattr(dns, "read_resolv_conf", lambda: "192.0.2.53")

    def slow_dns(_ns, _server, _name, record, timeout):
        waits.append((record, timeout))
        took = min(0.45, timeout)
        clock.now += took
        return "NOERROR", ([] if record == "A" else ["2001:db8::7"]), took

    monkeypatch.setattr(dns, "dns_exchange", slow_dns)
    monkeypatch.setattr(tcp, "open_socket", lambda *_a: (SilentSocket(clock, waits), 0))
    spec = {"target": "controller.example", "port": 22}
    with pytest.raises(common.ProbeFailure, match="timed out"):
        tcp.connect(None, spec, 1.0)
    assert waits == [("A", 1.0), ("AAAA", pytest.approx(0.55)), ("connect", pytest.approx(0.1))]
    assert clock.now == pytest.approx(101.0)
    waits.clear()
    with pytest.raises(common.ProbeFailure, match="took the whole 0.9 s"):   # nothing left for the connection
        tcp.connect(None, spec, 0.9)


@pytest.mark.parametrize("key, value", [("count", "１０"), ("count", "²"), ("count", "+3"), ("port", "２２")])
def test_numbers_in_a_probe_spec_are_ascii_digits(key, value):
    spec = dict({"type": "tcp", "target": "192.0.2.1", "port": 22}, **{key: value})
    [problem] = p.probe_problems([spec])
    assert problem.startswith(f"probes[0].{key}: must be ") and repr(value) in problem


def _record(checkpoint_id: str) -> dict:
    now, booted = time.time(), cp.boottime()
    return {"id": checkpoint_id, "namespace": None, "created": now - 60, "deadline": now - 30, "timeout": 30,
            "created_boottime": booted - 60, "deadline_boottime": booted - 30, "boot_id": cp.boot_id(),
            "state": cp.ARMED, "snapshot": {"devices": []},
            "watchdog": {"kind": "detached", "pid": os.getpid(), "start": cp.process_start(os.getpid())}}


def test_a_record_the_last_outcome_bears_the_id_of_is_history(tmp_path):
    """What a read-only state directory leaves: the finished record's copy, beside (a copy of) its outcome."""
    store = cp.Store(None, str(tmp_path))
    os.makedirs(store.state_dir)
    os.makedirs(store.run_dir)
    stale = _record("20261206T000000Z-aaaaaa")
    with open(store.state_path(cp.RECORD), "w", encoding="utf-8") as handle:
        json.dump(stale, handle)
    assert store.load()["id"] == stale["id"]             # no outcome yet: still armed
    with open(store.run_path(cp.LAST), "w", encoding="utf-8") as handle:
        json.dump({"id": stale["id"], "outcome": cp.CONFIRMED}, handle)
    assert store.load() is None


def test_a_live_watchdog_past_its_deadline_is_overdue_and_says_why():
    """This test's own process stands for the watchdog: alive, not stopped, 30 s past the deadline."""
    view = cp.describe(_record("20261206T000000Z-bbbbbb"), time.time())
    assert view["watchdog_alive"] and not view["orphaned"] and view["overdue"]
    assert view["problem"].startswith(f"overdue: not rolled back 30 s after its deadline; the watchdog pid "
                                      f"{os.getpid()} is alive but has not rolled back: it waits for the network lock")
    on_time = dict(_record("20261206T000000Z-cccccc"), deadline_boottime=cp.boottime() - 1)
    rolling = dict(_record("20261206T000000Z-dddddd"), state=cp.ROLLING_BACK)   # a long rollback under way
    for record in (on_time, rolling):
        view = cp.describe(record, time.time())
        assert not view["overdue"] and "problem" not in view, view
