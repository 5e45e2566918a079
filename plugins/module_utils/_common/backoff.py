# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Retry with exponential backoff, full jitter, a cap, an attempt budget and a deadline.

One piece that every retrying part of the collection calls (vCenter connect,
connectivity probes, roles), so that the policy, the attempt history and the
"is this worth retrying?" decision look the same everywhere.

Clock, sleep and random are injectable: unit tests run whole schedules without
waiting. A *gate* (for example the netlink link monitor) can pause the runner
while the network is known to be down; such pauses are not counted as attempts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import qualname

__all__ = [
    "Attempt",
    "BackoffPolicy",
    "Gate",
    "NetworkWait",
    "RetryError",
    "RetryRunner",
    "Verdict",
]


@dataclass(frozen=True)
class Verdict:
    """What a classifier says about one failure: retry it or stop, and why."""

    transient: bool
    category: str
    hint: str = ""
    error_class: str = ""
    message: str = ""


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with optional full jitter.

    The n-th wait (n = 0 after the first failure) is drawn from
    [0, min(cap, base * factor**n)] with full jitter, or is that ceiling itself
    without jitter. ``max_attempts`` 0 means "no limit"; ``deadline`` None means
    "no overall deadline". Full jitter spreads the clients of a recovering
    server best, which is why it is the default.
    """

    base: float = 1.0
    cap: float = 60.0
    factor: float = 2.0
    max_attempts: int = 10
    deadline: float | None = 300.0
    jitter: str = "full"

    def __post_init__(self):
        if self.base <= 0:
            raise ValueError(f"backoff base must be > 0, got {self.base}")
        if self.cap < self.base:
            raise ValueError(f"backoff cap ({self.cap}) must be >= base ({self.base})")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")
        if self.max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0 (0 = unlimited), got {self.max_attempts}")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError(f"deadline must be > 0 seconds, got {self.deadline}")
        if self.jitter not in ("full", "none"):
            raise ValueError(f"jitter must be 'full' or 'none', got {self.jitter!r}")

    def ceiling(self, n: int) -> float:
        """The capped exponential for the n-th wait (no jitter)."""
        # Avoid float overflow for large n: once past the cap, stay there.
        if n > 64:
            return self.cap
        return min(self.cap, self.base * self.factor ** n)

    def delay(self, n: int, rand: Callable[[], float] = random.random) -> float:
        """The n-th wait, jitter applied. ``rand`` returns a float in [0, 1)."""
        top = self.ceiling(n)
        if self.jitter == "none":
            return top
        return top * rand()

    def schedule(self, count: int, rand: Callable[[], float] = random.random) -> list[float]:
        """The first ``count`` waits; handy for docs, benchmarks and tests."""
        return [self.delay(n, rand) for n in range(count)]


@dataclass
class Attempt:
    """One try: when it started, how long it took, and how it ended."""

    number: int
    started: float  # wall-clock (epoch seconds), for humans and logs
    offset: float  # seconds since the runner started (monotonic)
    duration: float
    ok: bool
    counted: bool = True  # False when the link went down under it
    error_class: str | None = None
    category: str | None = None
    transient: bool | None = None
    message: str | None = None
    hint: str | None = None
    phase: str | None = None
    wait_after: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NetworkWait:
    """A pause while required links were down (not an attempt)."""

    offset: float
    duration: float
    down: list[str]
    recovered: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RetryError(Exception):
    """The runner gave up. ``reason`` says why; ``attempts`` is the full history.

    reason is one of: ``permanent`` (classifier said stop), ``attempts``
    (max_attempts used up), ``deadline`` (overall deadline reached or the next
    attempt would start after it) and ``network`` (links stayed down longer than
    max_network_wait).
    """

    def __init__(self, reason: str, message: str, attempts: list[Attempt],
                 network_waits: list[NetworkWait], elapsed: float,
                 verdict: Verdict | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.attempts = attempts
        self.network_waits = network_waits
        self.elapsed = elapsed
        self.verdict = verdict


class Gate(Protocol):
    """Something that knows whether it is worth trying at all (the link monitor)."""

    def all_up(self) -> bool: ...

    def down(self) -> list[str]: ...

    def wait_up(self, timeout: float) -> bool: ...

    def wait_down(self, timeout: float) -> bool: ...


def _no_redact(text: str) -> str:
    return text


@dataclass
class RetryRunner:
    """Call a function until it succeeds, a permanent error occurs, or the budget ends.

    ``fn(remaining)`` receives the seconds left before the deadline (None
    without a deadline) so that it can bound its own timeouts; it may set
    ``runner.phase`` to name the step it is in. ``classify(exc)`` returns a
    Verdict. Waits never run past the deadline: when the next attempt could
    only start after it, the runner stops at once.
    """

    policy: BackoffPolicy
    classify: Callable[[BaseException], Verdict]
    gate: Gate | None = None
    max_network_wait: float | None = None
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    log: Callable[[str], None] | None = None
    redact: Callable[[str], str] = _no_redact
    attempts: list[Attempt] = field(default_factory=list)
    network_waits: list[NetworkWait] = field(default_factory=list)
    phase: str | None = None

    def __post_init__(self):
        self._t0 = 0.0

    # -- helpers -----------------------------------------------------------
    def _now(self) -> float:
        return self.clock() - self._t0

    def _remaining(self) -> float | None:
        if self.policy.deadline is None:
            return None
        return self.policy.deadline - self._now()

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(self.redact(text))

    def _fail(self, reason: str, message: str, verdict: Verdict | None = None):
        raise RetryError(reason, self.redact(message), self.attempts, self.network_waits,
                         self._now(), verdict)

    def _counted(self) -> int:
        return sum(1 for a in self.attempts if a.counted)

    def _wait_for_network(self) -> None:
        """Block while the gate is closed; never counts as an attempt."""
        if self.gate is None:
            raise RuntimeError("no gate to wait on")
        down = self.gate.down()
        limits = [x for x in (self.max_network_wait, self._remaining()) if x is not None]
        limit = max(0.0, min(limits)) if limits else None
        self._say(f"links down: {', '.join(down)}; pausing attempts"
                  + (f" for up to {limit:.1f}s" if limit is not None else ""))
        start = self._now()
        # wait_up needs a finite timeout; without any bound, wait in slices.
        if limit is None:
            while not self.gate.wait_up(3600.0):
                pass
            ok = True
        else:
            ok = self.gate.wait_up(limit)
        waited = self._now() - start
        self.network_waits.append(NetworkWait(round(start, 6), round(waited, 6), down, ok))
        if ok:
            self._say(f"links up again after {waited:.3f}s; attempting now")
            return
        remaining = self._remaining()
        if remaining is not None and remaining <= 0 and (
                self.max_network_wait is None or waited < self.max_network_wait):
            self._fail("deadline", f"deadline of {self.policy.deadline:g}s reached while "
                       f"waiting for links {', '.join(down)} to come up")
        self._fail("network", f"links {', '.join(self.gate.down() or down)} stayed down for "
                   f"{waited:.1f}s (max_network_wait {self.max_network_wait:g}s)")

    # -- the loop -------------------------------------------------------------
    def run(self, fn: Callable[[float | None], Any]) -> Any:
        self._t0 = self.clock()
        retry_n = 0  # exponent of the next wait
        while True:
            if self.gate is not None and not self.gate.all_up():
                self._wait_for_network()
                retry_n = 0  # the outage explained the failures; start afresh
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                self._fail("deadline", self._summary(f"deadline of {self.policy.deadline:g}s reached"))
            number = len(self.attempts) + 1
            started_wall = self.wall()
            started = self._now()
            self.phase = None
            try:
                result = fn(remaining)
            except Exception as exc:  # classified below; nothing is swallowed
                duration = self._now() - started
                verdict = self.classify(exc)
                attempt = Attempt(
                    number=number, started=started_wall, offset=round(started, 6),
                    duration=round(duration, 6), ok=False,
                    error_class=verdict.error_class or qualname(exc),
                    category=verdict.category, transient=verdict.transient,
                    message=self.redact(verdict.message or str(exc)),
                    hint=verdict.hint or None, phase=self.phase)
                self.attempts.append(attempt)
                # A failure while the links went down is the outage's fault: not counted.
                if self.gate is not None and not self.gate.all_up():
                    attempt.counted = False
                self._say(f"attempt {number} failed after {duration:.3f}s"
                          f"{' in ' + self.phase if self.phase else ''}: "
                          f"{attempt.error_class} ({verdict.category}, "
                          f"{'transient' if verdict.transient else 'permanent'}): {attempt.message}"
                          + ("" if attempt.counted else "; links went down, not counted"))
                if not attempt.counted:
                    # Even a "permanent" verdict is suspect when the network vanished
                    # under the call (e.g. DNS unreachable): wait for the links instead.
                    continue
                if not verdict.transient:
                    self._fail("permanent", f"{verdict.category}: {attempt.message}"
                               + (f" -- check {verdict.hint}" if verdict.hint else ""), verdict)
                if self.policy.max_attempts and self._counted() >= self.policy.max_attempts:
                    self._fail("attempts", self._summary(
                        f"gave up after {self._counted()} attempts"), verdict)
                wait = self.policy.delay(retry_n, self.rand)
                retry_n += 1
                remaining = self._remaining()
                if remaining is not None and wait >= remaining:
                    self._fail("deadline", self._summary(
                        f"deadline of {self.policy.deadline:g}s reached: the next attempt "
                        f"would start after it"), verdict)
                attempt.wait_after = round(wait, 6)
                self._pause(wait)
                continue
            duration = self._now() - started
            self.attempts.append(Attempt(
                number=number, started=started_wall, offset=round(started, 6),
                duration=round(duration, 6), ok=True))
            self._say(f"attempt {number} succeeded after {duration:.3f}s")
            return result

    def _pause(self, wait: float) -> None:
        """Sleep ``wait`` seconds; with a gate, wake early when a link goes down."""
        if wait <= 0:
            return
        if self.gate is None:
            self.sleep(wait)
            return
        # wait_down returns early if a required link drops; the loop then pauses
        # on the gate and tries again the moment the link event arrives.
        self.gate.wait_down(wait)

    def _summary(self, head: str) -> str:
        last = self.attempts[-1] if self.attempts else None
        tail = ""
        if last is not None and not last.ok:
            tail = f"; last error: {last.error_class} ({last.category}): {last.message}"
        return f"{head} ({len(self.attempts)} attempts in {self._now():.1f}s){tail}"

    def history(self) -> list[dict[str, Any]]:
        return [a.as_dict() for a in self.attempts]
