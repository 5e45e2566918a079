"""The watchdog's rules without a kernel: how long a probe may take (one validation for net_probe and
net_checkpoint), which clock a checkpoint's deadline follows, and what its loop does with an error it did not
expect (issue 22, items 1-3)."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from modrun import run_module
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes as p
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import watchdog

ICMP = {"type": "icmp", "target": "192.0.2.1"}
TCP = {"type": "tcp", "target": "192.0.2.1", "port": 22}


@pytest.mark.parametrize("spec, longest", [
    (dict(ICMP, count=10, timeout=3), 30),                    # the fault table's blackhole probe: allowed
    (dict(ICMP, count=100, timeout=3), 300),                  # exactly the bound
    (dict(TCP, count=100, timeout=2), 297.4),                 # 200 s of attempts, 97.4 s of waits between them
    (dict(TCP), 3.6),                                         # the defaults: 3 x 1 s, waits 0.2 + 0.4
])
def test_a_probe_within_the_bound_is_accepted(spec, longest):
    assert p.probe_problems([spec]) == []
    normal = p.normalize([spec])[0]
    assert p.longest(normal["type"], normal["count"], normal["timeout"]) == longest


@pytest.mark.parametrize("spec, message", [
    (dict(ICMP, count=100, timeout=3.5),
     "probes[0].count and probes[0].timeout: 100 attempts of up to 3.5 s may take 350 s; a probe may take at most "
     "300 s: lower count or timeout"),
    (dict(TCP, count=100, timeout=2.1),
     "probes[0].count and probes[0].timeout: 100 attempts of up to 2.1 s, plus 97.4 s between them, may take "
     "307.4 s; a probe may "
     "take at most 300 s: lower count or timeout"),
    (dict(ICMP, timeout=301), "probes[0].count and probes[0].timeout: 3 attempts of up to 301 s may take 903 s; "
                              "a probe may take at most 300 s: lower count or timeout"),
    (dict(ICMP, count=101, timeout=0.1), "probes[0].count: must be a whole number from 1 to 100, got 101"),
])
def test_a_probe_that_could_outlast_the_bound_is_refused(spec, message):
    assert p.probe_problems([spec]) == [message]


def test_net_probe_and_net_checkpoint_refuse_it_alike_before_anything_runs():
    slow = [ICMP, dict(ICMP, count=100, timeout=4)]
    want = ("probes[1].count and probes[1].timeout: 100 attempts of up to 4 s may take 400 s; a probe may take at "
            "most 300 s: lower count or timeout")
    probe = run_module("net_probe", {"probes": slow, "namespace": "nsdoesnotexist"})
    checkpoint = run_module("net_checkpoint", {"state": "armed", "probes": slow, "namespace": "nsdoesnotexist",
                                               "root": "/nonexistent"})
    for result in (probe, checkpoint):
        assert result["failed"] and result["msg"] == want and result["changed"] is False, result


def _record(wall_left: float, boottime_left, boot: str | None = None) -> dict:
    now, booted = time.time(), cp.boottime()
    record = {"id": "20261206T000000Z-000000", "created": now - 10, "deadline": now + wall_left, "timeout": 60,
              "boot_id": boot or cp.boot_id(), "snapshot": {"devices": []}, "state": cp.ARMED, "watchdog": None}
    if boottime_left is not None:
        record.update(created_boottime=booted - 10, deadline_boottime=booted + boottime_left)
    return record


def test_the_deadline_follows_clock_boottime_in_its_own_boot():
    """The wall clock was stepped by an hour either way since arming: the time left is still the boot-time one,
    and the deadline shown is that time on today's wall clock."""
    for wall_left in (-3600 + 30, 3600 + 30):
        view = cp.describe(_record(wall_left, 30), time.time())
        assert 29 <= cp.remaining(_record(wall_left, 30)) <= 30
        assert 29 <= view["remaining"] <= 30 and 9.5 <= view["age"] <= 11, view
        shown = datetime.strptime(view["deadline_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert abs(shown.timestamp() - (time.time() + 30)) < 1.5, view


def test_a_record_from_another_boot_or_without_boot_time_follows_the_wall_clock():
    for record in (_record(-5, 3600, boot="00000000-0000-0000-0000-000000000000"), _record(-5, None)):
        assert -6 <= cp.remaining(record) <= -5
        assert cp.describe(record, time.time())["deadline_at"] == cp.iso(record["deadline"])


def test_an_unexpected_error_in_the_loop_is_logged_and_retried_never_a_crash(tmp_path, monkeypatch):
    """The loop's own logic (the kernel tests break it for real): each error is logged with its traceback, the
    next look follows a doubling pause that never runs past the deadline, and the watchdog goes on."""
    store = cp.Store(None, str(tmp_path), lock_required=False)
    Path(store.run_dir).mkdir(parents=True)
    clock = [1000.0]   # boot time that moves only while the watchdog pauses: the test judges logic, not speed
    monkeypatch.setattr(cp, "boottime", lambda: clock[0])
    record = dict(_record(0.15, 0.15), namespace=None, probes=[])
    waits = []

    def pause(seconds):
        waits.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(watchdog, "pause", pause)
    faults = [KeyError("state"), ValueError("a netlink message the codec did not expect")]

    class Flaky(watchdog.Watchdog):
        def step(self):
            if faults:
                raise faults.pop(0)
            return 0

    assert Flaky(store, record).run() == 0
    log = Path(store.run_path(cp.LOG)).read_text()
    assert "unexpected KeyError: 'state'; tries again (error 1 in a row)\nTraceback (most recent call last)" in log
    assert "unexpected ValueError: a netlink message the codec did not expect; tries again (error 2 in a row)" in log
    assert waits[:2] == [0.1, pytest.approx(0.05)], waits   # 0.2 s would run past the deadline
