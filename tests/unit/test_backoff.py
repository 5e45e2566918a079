"""Backoff policy and retry runner, on a fake clock: no test here waits for real."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.backoff import (
    BackoffPolicy, RetryError, RetryRunner, Verdict,
)

TRANSIENT = Verdict(True, "connection_refused", "the service", "ConnectionRefusedError", "refused")
PERMANENT = Verdict(False, "invalid_login", "the password", "vim.fault.InvalidLogin", "Login failure")


class FakeTime:
    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    """Fails ``failures`` times with ``exc``, each failure costing ``cost`` seconds."""

    def __init__(self, t: FakeTime, failures: int, exc: Exception | None = None, cost: float = 0.0):
        self.t, self.failures, self.cost = t, failures, cost
        self.exc = exc or ConnectionRefusedError(111, "Connection refused")
        self.calls = 0
        self.remaining_seen: list[float | None] = []

    def __call__(self, remaining):
        self.calls += 1
        self.remaining_seen.append(remaining)
        self.t.now += self.cost
        if self.calls <= self.failures:
            raise self.exc
        return "session"


def runner(t: FakeTime, policy: BackoffPolicy, verdict: Verdict = TRANSIENT, **kw) -> RetryRunner:
    return RetryRunner(policy=policy, classify=lambda exc: verdict, clock=t.clock, sleep=t.sleep,
                       wall=lambda: 1.7e9 + t.now, rand=lambda: 0.5, **kw)


def test_ceiling_doubles_from_base_and_stops_at_cap():
    p = BackoffPolicy(base=1, cap=60)
    assert [p.ceiling(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_ceiling_survives_huge_exponents():
    assert BackoffPolicy(base=1, cap=60).ceiling(10_000) == 60


@given(n=st.integers(min_value=0, max_value=200), r=st.floats(min_value=0, max_value=0.999999))
def test_full_jitter_stays_between_zero_and_ceiling(n, r):
    p = BackoffPolicy(base=0.5, cap=30)
    assert 0 <= p.delay(n, lambda: r) <= p.ceiling(n)


def test_no_jitter_waits_the_ceiling():
    assert BackoffPolicy(base=1, cap=5, jitter="none").schedule(4) == [1, 2, 4, 5]


@pytest.mark.parametrize("kw", [dict(base=0), dict(base=2, cap=1), dict(max_attempts=-1),
                                dict(deadline=0), dict(jitter="decorrelated"), dict(factor=0.5)])
def test_invalid_policy_is_refused(kw):
    with pytest.raises(ValueError):
        BackoffPolicy(**kw)


def test_succeeds_after_transient_failures_and_records_each_attempt():
    t = FakeTime()
    fn = Flaky(t, failures=2, cost=0.25)
    r = runner(t, BackoffPolicy(base=1, cap=60, max_attempts=5, deadline=100))
    assert r.run(fn) == "session"
    assert [a.ok for a in r.attempts] == [False, False, True]
    first = r.attempts[0]
    assert (first.number, first.error_class, first.category, first.transient) == \
        (1, "ConnectionRefusedError", "connection_refused", True)
    assert first.duration == pytest.approx(0.25)
    assert first.message == "refused"
    # rand() = 0.5: waits are half of 1, 2
    assert t.sleeps == [0.5, 1.0]
    assert [a.wait_after for a in r.attempts] == [0.5, 1.0, 0.0]
    assert r.attempts[1].offset == pytest.approx(0.25 + 0.5)
    assert r.attempts[0].started == pytest.approx(1.7e9 + 1000.0)


def test_permanent_error_stops_after_exactly_one_attempt():
    t = FakeTime()
    fn = Flaky(t, failures=5)
    r = runner(t, BackoffPolicy(max_attempts=10), verdict=PERMANENT)
    with pytest.raises(RetryError) as err:
        r.run(fn)
    assert fn.calls == 1
    assert err.value.reason == "permanent"
    assert "invalid_login" in err.value.message and "the password" in err.value.message
    assert t.sleeps == []


def test_max_attempts_ends_the_run_with_the_history():
    t = FakeTime()
    r = runner(t, BackoffPolicy(base=1, cap=2, max_attempts=3, deadline=None))
    with pytest.raises(RetryError) as err:
        r.run(Flaky(t, failures=99))
    assert err.value.reason == "attempts"
    assert len(err.value.attempts) == 3
    assert len(t.sleeps) == 2  # no pointless wait after the last attempt


def test_never_sleeps_past_the_deadline():
    t = FakeTime()
    r = RetryRunner(policy=BackoffPolicy(base=1, cap=60, max_attempts=0, deadline=20),
                    classify=lambda exc: TRANSIENT, clock=t.clock, sleep=t.sleep,
                    rand=lambda: 0.999)
    with pytest.raises(RetryError) as err:
        r.run(Flaky(t, failures=10**6, cost=0.1))
    assert err.value.reason == "deadline"
    assert t.now - 1000.0 <= 20
    assert "next attempt would start after it" in err.value.message


@settings(max_examples=100, deadline=None)
@given(base=st.floats(0.01, 5), cap=st.floats(5, 120), deadline=st.floats(0.5, 200),
       cost=st.floats(0.05, 3), r=st.floats(0, 0.999))
def test_deadline_property_total_time_never_exceeds_deadline_plus_last_attempt(base, cap, deadline, cost, r):
    t = FakeTime()
    rr = RetryRunner(policy=BackoffPolicy(base=base, cap=cap, max_attempts=0, deadline=deadline),
                     classify=lambda exc: TRANSIENT, clock=t.clock, sleep=t.sleep, rand=lambda: r)
    with pytest.raises(RetryError):
        rr.run(Flaky(t, failures=10**9, cost=cost))
    # Sleeps end before the deadline; only the last attempt's own (bounded) time may cross it.
    assert sum(t.sleeps) < deadline
    assert t.now - 1000.0 <= deadline + cost


def test_fn_is_told_the_time_left_before_the_deadline():
    t = FakeTime()
    fn = Flaky(t, failures=1, cost=1.0)
    runner(t, BackoffPolicy(base=1, deadline=30)).run(fn)
    assert fn.remaining_seen[0] == pytest.approx(30)
    assert fn.remaining_seen[1] == pytest.approx(30 - 1.0 - 0.5)


def test_redact_applies_to_messages_and_log_lines():
    t = FakeTime()
    lines: list[str] = []
    r = RetryRunner(policy=BackoffPolicy(max_attempts=1), classify=lambda exc: Verdict(
        False, "x", "", "E", "bad secret hunter2"), clock=t.clock, sleep=t.sleep, log=lines.append,
        redact=lambda s: s.replace("hunter2", "***"))
    with pytest.raises(RetryError) as err:
        r.run(Flaky(t, failures=1))
    assert "hunter2" not in err.value.message
    assert "hunter2" not in err.value.attempts[0].message
    assert lines and all("hunter2" not in line for line in lines)


class FakeGate:
    """A link monitor on the fake clock: a list of (time, up) transitions."""

    def __init__(self, t: FakeTime, timeline: list[tuple[float, bool]]):
        self.t, self.timeline = t, sorted(timeline)
        self.waits: list[tuple[str, float]] = []

    def _state_at(self, when: float) -> bool:
        up = True
        for at, state in self.timeline:
            if at <= when:
                up = state
        return up

    def _next_change(self, after: float, to: bool) -> float | None:
        for at, state in self.timeline:
            if at > after and state == to:
                return at
        return None

    def all_up(self) -> bool:
        return self._state_at(self.t.now)

    def down(self) -> list[str]:
        return [] if self.all_up() else ["eth9 (LOWERLAYERDOWN)"]

    def wait_up(self, timeout: float) -> bool:
        self.waits.append(("up", timeout))
        if self.all_up():
            return True
        at = self._next_change(self.t.now, True)
        if at is not None and at - self.t.now <= timeout:
            self.t.now = at
            return True
        self.t.now += timeout
        return False

    def wait_down(self, timeout: float) -> bool:
        self.waits.append(("down", timeout))
        at = self._next_change(self.t.now, False)
        if at is not None and at - self.t.now <= timeout:
            self.t.now = at
            return True
        self.t.now += timeout
        return False


def test_no_attempt_while_links_are_down_and_attempt_at_the_link_up_event():
    t = FakeTime()
    gate = FakeGate(t, [(999.0, False), (1007.5, True)])  # down at start, up 7.5 s in
    fn = Flaky(t, failures=0)
    r = runner(t, BackoffPolicy(base=1, max_attempts=3, deadline=60), gate=gate, max_network_wait=30)
    r.run(fn)
    assert fn.calls == 1
    assert r.attempts[0].offset == pytest.approx(7.5)  # right at the event, not at a backoff tick
    assert len(r.network_waits) == 1 and r.network_waits[0].recovered
    assert r.network_waits[0].duration == pytest.approx(7.5)


def test_link_loss_during_backoff_ends_the_wait_and_the_retry_follows_the_link_up():
    t = FakeTime()
    # first attempt fails at t=0; during the 0.5 s wait... make the wait long instead:
    gate = FakeGate(t, [(1003.0, False), (1010.0, True)])
    fn = Flaky(t, failures=1)
    r = RetryRunner(policy=BackoffPolicy(base=40, cap=40, max_attempts=5, deadline=100, jitter="none"),
                    classify=lambda exc: TRANSIENT, clock=t.clock, sleep=t.sleep, gate=gate,
                    max_network_wait=30)
    r.run(fn)
    assert fn.calls == 2
    assert r.attempts[1].offset == pytest.approx(10.0)  # not 40 s after the first failure
    assert ("down", 40) in gate.waits


def test_attempt_that_fails_because_the_link_went_down_is_not_counted():
    t = FakeTime()
    gate = FakeGate(t, [(1000.5, False), (1002.0, True)])
    fn = Flaky(t, failures=1, cost=1.0, exc=TimeoutError("timed out"))
    r = runner(t, BackoffPolicy(max_attempts=1, deadline=60), gate=gate, max_network_wait=30)
    assert r.run(fn) == "session"  # max_attempts=1, yet the uncounted failure did not use it up
    assert [a.counted for a in r.attempts] == [False, True]


def test_network_wait_limit_fails_with_reason_network_and_no_attempts():
    t = FakeTime()
    gate = FakeGate(t, [(999.0, False)])
    fn = Flaky(t, failures=0)
    r = runner(t, BackoffPolicy(deadline=300), gate=gate, max_network_wait=12)
    with pytest.raises(RetryError) as err:
        r.run(fn)
    assert err.value.reason == "network"
    assert fn.calls == 0
    assert err.value.network_waits[0].duration == pytest.approx(12)
    assert "eth9" in err.value.message


def test_network_wait_is_cut_by_the_deadline():
    t = FakeTime()
    gate = FakeGate(t, [(999.0, False)])
    r = runner(t, BackoffPolicy(deadline=5), gate=gate, max_network_wait=300)
    with pytest.raises(RetryError) as err:
        r.run(Flaky(t, failures=0))
    assert err.value.reason == "deadline"
    assert t.now - 1000.0 == pytest.approx(5)
