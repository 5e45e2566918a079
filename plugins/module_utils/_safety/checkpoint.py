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
    RUN_TOP, STATE_TOP, private_directory, remove_durably, under_root, write_atomic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import scope_of

RUN_DIR = RUN_TOP + "/checkpoint"
STATE_DIR = STATE_TOP + "/checkpoint"
RECORD = "checkpoint.json"
LAST = "last.json"
READY = "watchdog.ready"
LOG = "watchdog.log"

ARMED, ROLLING_BACK = "armed", "rolling_back"
CONFIRMED, ROLLED_BACK, ROLLBACK_FAILED, DISCARDED = "confirmed", "rolled_back", "rollback_failed", "discarded"


class CheckpointError(NetsafeError):
    """A checkpoint request that cannot be honoured; the message says what is armed and what to do."""


def boot_id() -> str:
    """This boot's id: a record written under another boot was armed before a reboot."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def process_start(pid: int):
    """The start time (clock ticks since boot) of `pid`, or None when no such process runs.

    Recorded with the pid so that a recycled pid is never taken for our watchdog.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


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

    def __init__(self, namespace=None, root: str = "/"):
        self.namespace = namespace
        self.scope = scope_of(namespace)   # the same scope as the host's network lock
        self.run_top, self.state_top = under_root(root, RUN_TOP), under_root(root, STATE_TOP)
        self.run_dir = os.path.join(under_root(root, RUN_DIR), self.scope)
        self.state_dir = os.path.join(under_root(root, STATE_DIR), self.scope)
        self._lock_fd = None

    def make_run_dir(self, *below: str) -> str:
        """The run directory (or a directory below it), every level private to root."""
        return private_directory(os.path.join(self.run_dir, *below), self.run_top)

    def run_path(self, name: str) -> str:
        return os.path.join(self.run_dir, name)

    def state_path(self, name: str) -> str:
        return os.path.join(self.state_dir, name)

    # -- the lock ------------------------------------------------------------

    def __enter__(self):
        self.make_run_dir()
        self._lock_fd = os.open(self.run_path("lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self._lock_fd)  # closing releases the flock
        self._lock_fd = None

    # -- records -------------------------------------------------------------

    def load(self):
        """The armed record: the run directory's, else the state directory's copy (a reboot wiped /run)."""
        return read_json(self.run_path(RECORD)) or read_json(self.state_path(RECORD))

    def last(self):
        return read_json(self.state_path(LAST))

    def save(self, record: dict) -> None:
        """Write the record to the state directory first (what a reboot finds), then the run directory."""
        data = json.dumps(record, sort_keys=True).encode()
        for directory, top, path in ((self.state_dir, self.state_top, self.state_path(RECORD)),
                                     (self.run_dir, self.run_top, self.run_path(RECORD))):
            private_directory(directory, top)
            write_atomic(path, data, mode=0o600)

    def finish(self, record: dict, outcome: dict) -> dict:
        """Record what happened to `record` in last.json, then drop it from both places."""
        private_directory(self.state_dir, self.state_top)
        outcome = dict(outcome, id=record["id"], armed_at=record["created"], deadline=record["deadline"])
        write_atomic(self.state_path(LAST), json.dumps(outcome, sort_keys=True).encode(), mode=0o600)
        for path in (self.run_path(RECORD), self.state_path(RECORD), self.run_path(READY)):
            try:
                remove_durably(path)
            except FileNotFoundError:
                pass
        return outcome

    def amend_last(self, checkpoint_id: str, **fields) -> None:
        """Add to last.json, if it is still about `checkpoint_id`."""
        last = self.last()
        if last and last.get("id") == checkpoint_id:
            last.update(fields)
            write_atomic(self.state_path(LAST), json.dumps(last, sort_keys=True).encode(), mode=0o600)

    def ready(self):
        return read_json(self.run_path(READY))


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
    """What `query` and refusals report about an armed record (without its snapshot)."""
    alive = watchdog_alive(record)
    rebooted = record.get("boot_id") != boot_id()
    view = {k: record.get(k) for k in ("id", "namespace", "timeout", "devices", "state", "watchdog", "probes")}
    view.update(armed_at=iso(record["created"]), deadline_at=iso(record["deadline"]),
                age=round(now - record["created"], 1), remaining=round(record["deadline"] - now, 1),
                watchdog_alive=alive, rebooted_since=rebooted, orphaned=not alive,
                devices_in_snapshot=len(record["snapshot"]["devices"]))
    if rebooted:
        view["problem"] = ("the host rebooted after this checkpoint was armed: it booted into its persistent "
                           "configuration and the watchdog did not survive the reboot")
    elif not alive:
        view["problem"] = (f"its watchdog ({(record.get('watchdog') or {}).get('kind', 'unknown')} pid "
                           f"{(record.get('watchdog') or {}).get('pid')}) is not running: nothing will roll back "
                           f"at the deadline")
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
