# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Checkpoints: a complete snapshot of the host's network, kept on the host, one at a time.

A checkpoint lives in two places. The run directory
(/run/netsafe/checkpoint/<scope>/, gone at reboot) holds the record the
watchdog follows, its log, the lock and the code the watchdog runs. The
state directory (/var/lib/netsafe/checkpoint/<scope>/) holds a copy of the
record, so that a checkpoint armed before a reboot or a power cut is found
and reported, and `last.json`: what happened to the last checkpoint
(confirmed, rolled back: when, why, by whom, with which commands), which the
next `query` reports. <scope> is `host`, or `netns-<name>` for a namespace:
one window per host or namespace.

Every change of a checkpoint's state (arm, confirm, roll back, the
watchdog's own rollback) happens under an flock on the run directory's
`lock`, so a confirmation and a deadline that meet can never both win.

Clocks: a deadline is kept on CLOCK_BOOTTIME, paired with the boot id the
record stores (`remaining`), so a wall-clock step (NTP, an operator, a bad
RTC) moves no deadline; wall time is kept beside it for display. Writes that
happen while a checkpoint is finished or rolled back are best effort: a full
/var/lib or /run must not stop a rollback, so each place that refused is
named in the outcome's `not_written` instead.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import signal
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.files import (
    RUN_TOP, STATE_TOP, UnsafeDirectory, private_directory, remove_durably, under_root, write_atomic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import scope_of

RUN_DIR = RUN_TOP + "/checkpoint"
STATE_DIR = STATE_TOP + "/checkpoint"
RECORD = "checkpoint.json"
LAST = "last.json"
FAILED = "failed.json"     # the record of a checkpoint whose rollback failed: its snapshot, for a retry
READY = "watchdog.ready"
LOG = "watchdog.log"

ARMED, ROLLING_BACK = "armed", "rolling_back"
CONFIRMED, ROLLED_BACK, ROLLBACK_FAILED, DISCARDED = "confirmed", "rolled_back", "rollback_failed", "discarded"
NAMESPACE_GONE = "namespace_gone"   # its namespace was deleted while armed: nothing left to roll back
# Seconds past its deadline after which query calls an armed checkpoint whose watchdog is alive overdue: a
# rollback starts (the record says rolling_back) within 0.5 s of the deadline, unless the watchdog is stopped
# or waits for another writer.
OVERDUE = 2.0


class CheckpointError(NetsafeError):
    """A checkpoint request that cannot be honoured; the message says what is armed and what to do."""


def boottime() -> float:
    """Seconds since boot, suspend included, never stepped: the clock every deadline is kept on (Linux)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def on_boottime(record: dict) -> bool:
    """The record's boot-time fields mean something here: it was armed in this boot (and has them)."""
    return "deadline_boottime" in record and record.get("boot_id") == boot_id()


def remaining(record: dict) -> float:
    """Seconds until `record`'s deadline, negative once it passed.

    On CLOCK_BOOTTIME within the boot that armed it, so a wall-clock step moves
    nothing. A record from another boot can only be judged by the wall clock
    (it is orphaned anyway: its watchdog died with that boot).
    """
    if on_boottime(record):
        return record["deadline_boottime"] - boottime()
    return record["deadline"] - time.time()


def why(exc) -> str:
    """An OSError (or a refused directory) in a few words, for a `not_written` line."""
    return getattr(exc, "strerror", None) or str(exc)


def boot_id() -> str:
    """This boot's id: a record written under another boot was armed before a reboot."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _stat_fields(pid: int):
    """The fields of /proc/<pid>/stat after the command name, or None when no such process runs (a zombie too)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] == "Z" else fields


def process_start(pid: int):
    """The start time (clock ticks since boot) of `pid`, or None when no such process runs.

    Recorded with the pid so that a recycled pid is never taken for our watchdog.
    """
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def process_stopped(pid: int) -> bool:
    """`pid` is stopped (SIGSTOP, SIGTSTP, a debugger): it runs no deadline until SIGCONT."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] in ("T", "t")


def new_id(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(3)


def iso(epoch) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int((epoch % 1) * 1000):03d}Z"


class Store:
    """The files of one scope (host or namespace) under `root` (a scratch tree in tests).

    The namespace name and `root` are judged here, before any path is built
    from them; every directory is made through files.private_directory.
    """

    def __init__(self, namespace=None, root: str = "/", lock_required: bool = True):
        self.namespace = namespace
        self.scope = scope_of(namespace)   # the same scope as the host's network lock
        self.run_top, self.state_top = under_root(root, RUN_TOP), under_root(root, STATE_TOP)
        self.run_dir = os.path.join(under_root(root, RUN_DIR), self.scope)
        self.state_dir = os.path.join(under_root(root, STATE_DIR), self.scope)
        self.lock_required = lock_required   # False for the watchdog: a lock it cannot open stops no rollback
        self.lock_problem = None
        self.pending = None    # an outcome finish() could not write to the state directory yet
        self._older = None     # the id last.json had when that happened
        self._lock_fd = None

    def make_run_dir(self, *below: str) -> str:
        """The run directory (or a directory below it), every level private to root."""
        return private_directory(os.path.join(self.run_dir, *below), self.run_top)

    def kept_anything(self) -> bool:
        """Whether a checkpoint was ever kept for this scope (its directories exist); a namespace deleted since
        may still have one to close."""
        return os.path.isdir(self.run_dir) or os.path.isdir(self.state_dir)

    def run_path(self, name: str) -> str:
        return os.path.join(self.run_dir, name)

    def state_path(self, name: str) -> str:
        return os.path.join(self.state_dir, name)

    # -- the lock ------------------------------------------------------------

    def __enter__(self):
        """Take the checkpoint's lock. Without `lock_required`, a lock file that cannot be opened is noted
        (lock_problem) and the caller goes on: nobody else can open it either, so nobody can race it."""
        self.lock_problem = None
        try:
            self.make_run_dir()
            fd = os.open(self.run_path("lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except (OSError, UnsafeDirectory) as exc:
            if self.lock_required:
                raise
            self.lock_problem = f"{self.run_path('lock')}: {why(exc)}"
            return self
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd
        return self

    def __exit__(self, *exc):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
        self._lock_fd = None

    # -- records -------------------------------------------------------------

    def load(self):
        """The armed record: the run directory's, else the state directory's copy (a reboot wiped /run).

        A record whose id the last outcome already bears is history, never armed
        again: finish() could not remove it (a read-only state directory), and it
        said so in that outcome's `not_written`.
        """
        record = read_json(self.run_path(RECORD)) or read_json(self.state_path(RECORD))
        if record is not None and (self.last() or {}).get("id") == record["id"]:
            return None
        return record

    def last(self):
        """The last outcome: the run directory's copy while the state directory could not take it, else the state's."""
        return read_json(self.run_path(LAST)) or read_json(self.state_path(LAST))

    def _record_places(self):
        return ((self.state_dir, self.state_top, self.state_path(RECORD)),
                (self.run_dir, self.run_top, self.run_path(RECORD)))

    def save(self, record: dict) -> None:
        """Write the record to the state directory first (what a reboot finds), then the run directory.

        Strict, for arming: when either place refuses, neither keeps the record
        (nothing is armed) and the OSError (or UnsafeDirectory) names the path.
        """
        data = json.dumps(record, sort_keys=True).encode()
        for directory, top, path in self._record_places():
            try:
                private_directory(directory, top)
                write_atomic(path, data, mode=0o600)
            except (OSError, UnsafeDirectory) as exc:
                for _directory, _top, written in self._record_places():
                    _remove(written)
                if isinstance(exc, UnsafeDirectory):
                    raise
                raise OSError(exc.errno, f"{path}: {why(exc)}") from None

    def try_save(self, record: dict) -> list:
        """save() for a rollback, which a full disk must not stop: each place tried; what refused, one line each."""
        data = json.dumps(record, sort_keys=True).encode()
        problems = []
        for directory, top, path in self._record_places():
            try:
                private_directory(directory, top)
                write_atomic(path, data, mode=0o600)
            except (OSError, UnsafeDirectory) as exc:
                problems.append(f"the {record['state']} state: {path}: {why(exc)}")
        return problems

    def record_outcome(self, outcome: dict) -> bool:
        """Write last.json to the state directory (what a reboot finds); True once it is there.

        When the state directory refuses, the refusal joins outcome["not_written"]
        and a copy goes to the run directory, which last() reads meanwhile; a
        successful write removes that copy.
        """
        data = json.dumps(outcome, sort_keys=True).encode()
        try:
            private_directory(self.state_dir, self.state_top)
            write_atomic(self.state_path(LAST), data, mode=0o600)
        except (OSError, UnsafeDirectory) as exc:
            _note(outcome, f"last.json: {self.state_path(LAST)}: {why(exc)}")
            try:
                write_atomic(self.run_path(LAST), json.dumps(outcome, sort_keys=True).encode(), mode=0o600)
            except OSError as copy_exc:
                _note(outcome, f"its copy: {self.run_path(LAST)}: {why(copy_exc)}")
            return False
        _remove(self.run_path(LAST))
        return True

    def finish(self, record: dict, outcome: dict) -> dict:
        """Record what happened to `record` in last.json, then drop it from both places.

        Best effort: the record goes even when last.json cannot be written
        (a full disk must not keep a finished checkpoint armed). The outcome
        then stays in `pending`, and so does the watchdog's ready file: query
        reports that its outcome is still to be written (pending_outcome). A
        record that cannot be removed (a read-only state directory) is named in
        `not_written`; last.json (or its copy) bearing its id makes it history
        (load()).
        """
        outcome = dict(outcome, id=record["id"], armed_at=record["created"], deadline=record["deadline"])
        outcome["not_written"] = list(outcome.get("not_written") or [])
        written = self.record_outcome(outcome)
        stale = self._drop_records()
        if stale:
            outcome["not_written"] += stale
            written = self.record_outcome(outcome) or written
        self.pending = None if written else outcome
        if self.pending:   # what last.json says now is older than ours: retry_pending may replace only that
            self._older = (_read_quietly(self.state_path(LAST)) or {}).get("id")
        else:
            _remove(self.run_path(READY))
        return outcome

    def _drop_records(self) -> list:
        """Remove the record from both places; a `not_written` line for each that stays."""
        stale = []
        for path in (self.run_path(RECORD), self.state_path(RECORD)):
            problem = _remove(path)
            if problem:
                stale.append(f"the finished record: {path}: {problem} (it stays, as history: the outcome bears its "
                             f"id, so it is never taken for an armed checkpoint)")
        return stale

    def retry_pending(self) -> bool:
        """Write the pending outcome, unless last.json already tells of a later checkpoint; True when done.

        Call it holding the lock."""
        outcome = self.pending
        now = (_read_quietly(self.state_path(LAST)) or {}).get("id")
        if now not in (self._older, outcome["id"]):
            self.pending = None    # a checkpoint armed after ours has its outcome there: ours is history
            return True
        if not self.record_outcome(outcome):
            return False
        self.pending = None
        ready = _read_quietly(self.run_path(READY))
        if ready and ready.get("id") == outcome["id"]:
            _remove(self.run_path(READY))
        return True

    def amend_last(self, checkpoint_id: str, **fields) -> None:
        """Add to last.json (or to the pending outcome), if it is still about `checkpoint_id`; best effort."""
        if self.pending and self.pending["id"] == checkpoint_id:
            self.pending.update(fields)
            self.retry_pending()
            return
        last = self.last()
        if last and last.get("id") == checkpoint_id:
            last.update(fields)
            self.record_outcome(last)

    def ready(self):
        return read_json(self.run_path(READY))

    # -- a failed rollback ---------------------------------------------------

    def keep_failed(self, record: dict) -> list:
        """Keep the record of a checkpoint whose rollback failed (snapshot and all), so that the operator can
        try the rollback again; best effort: what refused, one line each (a `not_written` entry)."""
        try:
            private_directory(self.state_dir, self.state_top)
            write_atomic(self.state_path(FAILED), json.dumps(record, sort_keys=True).encode(), mode=0o600)
        except (OSError, UnsafeDirectory) as exc:
            return [f"the snapshot kept for a retry: {self.state_path(FAILED)}: {why(exc)}"]
        return []

    def failed(self, checkpoint_id: str):
        """The kept record of `checkpoint_id`, while last.json still tells of its failed rollback; else None."""
        last = self.last()
        if not last or last.get("id") != checkpoint_id or last.get("outcome") != ROLLBACK_FAILED:
            return None
        kept = _read_quietly(self.state_path(FAILED))
        return kept if kept and kept.get("id") == checkpoint_id else None

    def drop_failed(self) -> None:
        """The failed rollback was tried again or its network accepted: its kept record goes (best effort)."""
        _remove(self.state_path(FAILED))


def _note(outcome: dict, line: str) -> None:
    notes = outcome.setdefault("not_written", [])
    if line not in notes:
        notes.append(line)


def _remove(path: str):
    """Delete `path` if it is there; best effort: what refused (a read-only file system), or None."""
    try:
        remove_durably(path)
    except OSError as exc:
        return why(exc) if os.path.lexists(path) else None   # gone, or only its directory's fsync failed
    return None


def _read_quietly(path: str):
    try:
        return read_json(path)
    except (OSError, CheckpointError):
        return None


def read_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise CheckpointError(f"{path} is not readable JSON ({exc}); inspect it, then remove it to go on") from exc


def watchdog_alive(record: dict) -> bool:
    """The record's watchdog runs: same boot, same pid, same process start time."""
    dog = record.get("watchdog") or {}
    if record.get("boot_id") != boot_id() or not dog.get("pid"):
        return False
    return process_start(dog["pid"]) == dog.get("start")


def describe(record: dict, now: float) -> dict:
    """What `query` and refusals report about an armed record (without its snapshot).

    `remaining` and `age` follow the deadline's clock (remaining()); `deadline_at`
    is that deadline on today's wall clock, `now`, for display.
    """
    alive = watchdog_alive(record)
    rebooted = record.get("boot_id") != boot_id()
    left = remaining(record)
    age = boottime() - record["created_boottime"] if on_boottime(record) else now - record["created"]
    view = {k: record.get(k) for k in ("id", "namespace", "timeout", "devices", "state", "watchdog", "probes")}
    shown = now + left if on_boottime(record) else record["deadline"]
    view.update(armed_at=iso(record["created"]), deadline_at=iso(shown), age=round(age, 1), remaining=round(left, 1),
                watchdog_alive=alive, rebooted_since=rebooted, orphaned=not alive,
                devices_in_snapshot=len(record["snapshot"]["devices"]))
    dog = record.get("watchdog") or {}
    view["overdue"] = alive and left < -OVERDUE and record.get("state") == ARMED
    if rebooted:
        view["problem"] = ("the host rebooted after this checkpoint was armed: it booted into its persistent "
                           "configuration and the watchdog did not survive the reboot")
    elif not alive:
        view["problem"] = (f"its watchdog ({dog.get('kind', 'unknown')} pid {dog.get('pid')}) is not running: "
                           f"nothing will roll back at the deadline")
    elif view["overdue"]:
        view["problem"] = (f"overdue: not rolled back {-left:.0f} s after its deadline; the watchdog pid {dog['pid']} "
                           f"is alive but " + ("stopped (SIGSTOP or a debugger): it rolls back as soon as it gets "
                                               "SIGCONT" if process_stopped(dog["pid"]) else
                                               "has not rolled back: it waits for the network lock another writer "
                                               "holds, or cannot get on (its log says which)"))
    return view


def orphan_advice(view: dict) -> str:
    return (f"checkpoint {view['id']} (armed {view['armed_at']}, deadline {view['deadline_at']}) is orphaned: "
            f"{view['problem']}. Run state=rolled_back to restore its snapshot, or state=confirmed with "
            f"id={view['id']} to keep the network as it is now")


def stop_watchdog(record: dict) -> None:
    """Ask the record's watchdog to exit (it also exits by itself once the record is gone)."""
    dog = record.get("watchdog") or {}
    if watchdog_alive(record):
        try:
            os.kill(dog["pid"], signal.SIGTERM)
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise


def pending_outcome(store: Store, last) -> dict | None:
    """A checkpoint its watchdog finished but could not yet record (both directories full), or None.

    Its ready file is left in place for as long as the watchdog keeps trying
    (Store.finish), and the watchdog still runs.
    """
    ready = _read_quietly(store.run_path(READY))
    if not ready or not ready.get("pid") or (last and last.get("id") == ready.get("id")):
        return None
    if process_start(ready["pid"]) != ready.get("start"):
        return None
    return {"id": ready.get("id"), "watchdog_pid": ready["pid"],
            "problem": (f"checkpoint {ready.get('id')} was finished by its watchdog (pid {ready['pid']}), which could "
                        f"not write last.json yet ({store.state_dir} and {store.run_dir} refused: full?); it keeps "
                        f"trying, and its log and the journal say what happened")}
