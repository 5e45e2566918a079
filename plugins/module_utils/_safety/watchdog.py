# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The watchdog: a process on the host that rolls a checkpoint back unless it is confirmed in time.

It must outlive the module that arms it, the SSH session and the controller,
so it cannot run from Ansible's temporary module payload (Ansible deletes it
when the module returns). `spawn` copies the collection's module_utils it
needs (stdlib only, nothing else) into the checkpoint's run directory and
starts them there:
- as a transient systemd unit (`systemd-run`) where systemd is PID 1, so the
  journal has its output and `systemctl` shows it;
- otherwise as a detached process: double fork, its own session, stdin on
  /dev/null, stdout/stderr to the run directory's log, no inherited file
  descriptors (an SSH channel it held open would keep the session alive).
`main` is the watchdog itself: it polls its record, rolls back at the
deadline (under the store's lock, so a confirmation that arrives at the same
moment wins or loses cleanly), and, with gate probes, rolls back at once when
the network changed, settled, and the probes fail.
"""
from __future__ import annotations

import json
import os
import pkgutil
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, qualname
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import LockTimeout, Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import namespace_path
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import window

BASE = "ansible_collections.netsafe.hypervisor.plugins.module_utils"
PACKAGES = ("_common", "_network", "_safety")
LIB = "lib"         # in the run directory: the code the watchdog runs
POLL = 0.1          # seconds between looks at the record: the deadline is kept within this
# A rollback waits this long at a time for a change still running (its writer holds the network
# lock), holding the checkpoint's own lock, then lets go of both for a moment and tries again: a
# net_checkpoint task (query, confirm, rolled_back) is never kept waiting for long.
WATCHDOG_LOCK_WAIT = 5.0
WAIT_LOG_EVERY = 12   # attempts: the log says the rollback waits about once a minute
WATCHDOG_UMASK = 0o077   # what the watchdog writes (its bytecode caches, records, logs) is root's alone
STATE_POLL = 0.5    # seconds between kernel reads while gate probes wait for the change to settle
ERROR_PAUSE, ERROR_PAUSE_MAX = 0.1, 5.0   # back-off after an unexpected error (never past the deadline)
# After a rollback whose outcome or log lines could not be written (a full disk): tries again with
# this back-off, for this long at most (the outcome), or this long (only log lines).
PENDING_PAUSE, PENDING_PAUSE_MAX, PENDING_GIVE_UP, LOG_GIVE_UP = 0.5, 10.0, 24 * 3600.0, 600.0
ENTRY = """import sys
sys.path.insert(0, {lib!r})
from {base}._safety.watchdog import main
sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/"))
"""


def export_code(store: cp.Store) -> None:
    """Write the sources of PACKAGES (from files or Ansible's zipped payload alike) under the run directory's LIB.

    Root runs this code: every directory is private to root and every file 0600, whatever the umask.
    """
    parts = BASE.split(".")
    for depth in range(1, len(parts) + 1):
        directory = store.make_run_dir(LIB, *parts[:depth])
        _write_private(os.path.join(directory, "__init__.py"), "")
    todo = list(PACKAGES)
    while todo:
        package = todo.pop()
        module = sys.modules.get(f"{BASE}.{package}") or __import__(f"{BASE}.{package}", fromlist=["_"])
        directory = store.make_run_dir(LIB, *parts, *package.split("."))
        _write_private(os.path.join(directory, "__init__.py"), module.__spec__.loader.get_source(module.__name__) or "")
        for info in pkgutil.iter_modules(module.__path__):
            if info.ispkg:   # a package inside (_network/kinds/): its own directory
                todo.append(f"{package}.{info.name}")
                continue
            fullname = f"{BASE}.{package}.{info.name}"
            _write_private(os.path.join(directory, f"{info.name}.py"), _loader(module, info.name).get_source(fullname) or "")


def _write_private(path: str, text: str) -> None:
    """A file only root can read or change (the mode does not depend on the umask; a symlink is not followed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, 0o600)
        handle.write(text)


def _loader(package, name: str):
    for info in pkgutil.iter_modules(package.__path__):
        if info.name == name:
            spec = info.module_finder.find_spec(f"{package.__name__}.{name}")
            return spec.loader
    raise NetsafeError(f"cannot find {package.__name__}.{name} to give the watchdog")


def systemd_runs() -> bool:
    """systemd is PID 1 (its runtime directory exists) and systemd-run is installed."""
    return os.path.isdir("/run/systemd/system") and shutil.which("systemd-run") is not None


def _command(store: cp.Store, root: str) -> list:
    return [sys.executable, "-s", store.run_path("watchdog.py"), store.run_dir, root]


def _spawn_detached(store: cp.Store, root: str) -> None:
    command = _command(store, root)
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}
    for key in ("NETSAFE_KILL_AT", "NETSAFE_FAIL_AT", "NETSAFE_FAIL_UNDO_AT"):
        env.pop(key, None)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns into the caller
        try:
            os.setsid()
            if os.fork():
                os._exit(0)
            null = os.open(os.devnull, os.O_RDWR)
            out = os.open(store.run_path(cp.LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
            os.chdir("/")
            os.umask(WATCHDOG_UMASK)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.execve(command[0], command, env)
        finally:
            os._exit(127)
    os.waitpid(pid, 0)


def _spawn_systemd(store: cp.Store, root: str, record: dict) -> None:
    unit = f"netsafe-checkpoint-{record['id']}"
    proc = subprocess.run(["systemd-run", "--quiet", "--collect", f"--unit={unit}",
                           f"--description=netsafe.hypervisor watchdog of checkpoint {record['id']} ({store.scope})",
                           "--property=KillMode=process", f"--property=UMask={WATCHDOG_UMASK:04o}"]
                          + _command(store, root),
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise OSError(f"systemd-run failed (rc {proc.returncode}): {(proc.stderr or proc.stdout).strip()}")


def spawn(store: cp.Store, record: dict, root: str, kind: str, wait: float) -> dict:
    """Start the watchdog for `record` and wait until it reports ready; returns its description."""
    lib = store.run_path(LIB)
    shutil.rmtree(lib, ignore_errors=True)
    export_code(store)
    _write_private(store.run_path("watchdog.py"), ENTRY.format(lib=lib, base=BASE))
    fallback = None
    if kind == "auto":
        kind = "systemd" if systemd_runs() else "detached"
    if kind == "systemd":
        try:
            _spawn_systemd(store, root, record)
        except OSError as exc:
            fallback = f"{exc}; started as a detached process instead"
            kind = "detached"
    if kind == "detached":
        _spawn_detached(store, root)
    give_up = time.monotonic() + wait
    while time.monotonic() < give_up:
        ready = store.ready()
        if ready and ready.get("id") == record["id"]:
            ready.update(kind=kind, fallback=fallback,
                         unit=f"netsafe-checkpoint-{record['id']}" if kind == "systemd" else None)
            return ready
        time.sleep(0.02)
    raise cp.CheckpointError(f"the watchdog did not start within {wait} s (see {store.run_path(cp.LOG)}); "
                             f"the checkpoint was not armed")


# -- the watchdog process -----------------------------------------------------

def pause(seconds: float) -> None:
    """Wait; never raises, since the loop's own back-off depends on it.

    Python 3.11+ sleeps until an absolute CLOCK_MONOTONIC time (clock_nanosleep);
    where the clock calls are interposed (libfaketime 0.9.10 refuses that call
    with EINVAL) select's relative timeout still waits.
    """
    try:
        time.sleep(seconds)
    except OSError:
        select.select([], [], [], seconds)


class Interrupted(BaseException):
    """SIGTERM or SIGINT, raised only out of a wait (a pause, the gate probes), never in the middle of a rollback."""


# Signals left as they are: those that cannot be caught, those whose default does no harm, and the faults of
# the process itself (ignoring one would loop on the faulting instruction).
_UNTOUCHED = frozenset(getattr(signal, name) for name in (
    "SIGKILL", "SIGSTOP", "SIGCHLD", "SIGCONT", "SIGWINCH", "SIGURG",
    "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT", "SIGTRAP", "SIGSYS") if hasattr(signal, name))
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Signals:
    """What a signal may do to the watchdog: while armed, never end it without a rollback.

    SIGTERM and SIGINT (`systemctl stop`, `kill`, a confirmation's stop) are
    noted and cut a wait short: while the checkpoint is armed the watchdog
    rolls back at once, the reason naming the signal; once it is no longer
    armed (a confirmation removes the record before it signals) it exits.
    Every other signal whose default would end the process (SIGHUP, SIGQUIT,
    SIGUSR1/2, SIGALRM, SIGPIPE, SIGXCPU, real-time signals...) is ignored.
    """

    def __init__(self):
        self.received = None
        self._waiting = False

    def install(self) -> None:
        for number in STOP_SIGNALS:
            signal.signal(number, self._stop)
        for number in sorted(set(signal.valid_signals()) - _UNTOUCHED - set(STOP_SIGNALS)):
            try:
                signal.signal(number, signal.SIG_IGN)
            except (OSError, ValueError):
                pass   # one the C library keeps for itself

    def _stop(self, number, _frame) -> None:
        self.received = signal.Signals(number).name
        if self._waiting:
            self._waiting = False
            raise Interrupted(self.received)

    def wait(self, seconds: float) -> None:
        """pause(), cut short by SIGTERM or SIGINT (the caller looks at `received` next)."""
        self.interruptible(pause, seconds)

    def interruptible(self, work, *args, default=None):
        """work(*args), or `default` when SIGTERM or SIGINT cut it short (or came before it)."""
        if self.received:
            return default
        try:
            self._waiting = True
            try:
                return work(*args)
            finally:
                self._waiting = False
        except Interrupted:
            return default


class _Gate:
    """Runs the gate probes once the network differs from the snapshot and has settled."""

    def __init__(self, record: dict):
        self.record = record
        self.guests = GuestMatcher(record["guest_patterns"])
        self.probed = window.fingerprint(HostNetwork.from_dict(record["snapshot"]))
        self.seen, self.since, self.next_read = None, 0.0, 0.0

    def failure(self, store: cp.Store, deadline: float):
        """A reason to roll back now, or None. `deadline` (time.monotonic()) bounds the probes: the time left."""
        now = time.monotonic()
        if now < self.next_read:
            return None
        self.next_read = now + STATE_POLL
        current = window.fingerprint(window.snapshot(self.record["namespace"], self.guests))
        if current != self.seen:
            self.seen, self.since = current, now
            return None
        if current == self.probed or now - self.since < self.record["gate_settle"]:
            return None
        from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes  # only when gated
        results = probes.run_probes(self.record["probes"], self.record["namespace"], deadline=deadline)
        self.probed = current
        failed = probes.failed_required(results)
        lines = "; ".join(probes.summary_line(r) for r in results)
        window.log(store, f"{self.record['id']}: gate probes after the change: {lines}")
        if failed:
            return "gate probes failed after the change: " + "; ".join(probes.summary_line(r) for r in failed)
        return None


def _probes_after(store: cp.Store, record: dict, signals: Signals) -> None:
    """After a rollback, run the gate probes once more and add them to last.json: did the way back work?

    They are a report, not a safety step: after a rollback on SIGTERM or
    SIGINT (`systemctl stop`, a shutdown) they are skipped, and such a signal
    while they run ends them. Otherwise they would hold the exit for up to
    count x timeout (300 s allowed; systemd SIGKILLs after 90 s). last.json
    then says why in `probes_after_skipped`.
    """
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes
    skipped = f"{signals.received} received before they ran" if signals.received else None
    if skipped is None:
        try:
            results = signals.interruptible(probes.run_probes, record["probes"], record["namespace"], None)
        except (NetsafeError, OSError, LookupError) as exc:
            window.log(store, f"{record['id']}: probes after the rollback could not run: {exc}")
            return
        if results is None:
            skipped = f"{signals.received} received while they ran"
    if skipped:
        window.log(store, f"{record['id']}: probes after the rollback not run: {skipped}; the watchdog exits")
        store.amend_last(record["id"], probes_after_skipped=skipped)
        return
    window.log(store, f"{record['id']}: probes after the rollback: " + "; ".join(probes.summary_line(r) for r in results))
    store.amend_last(record["id"], probes_after=results)


def _still_armed(record, armed_id: str) -> bool:
    """Still ours to roll back: armed, or rolling back (our own attempt that an unexpected error cut short:
    a module that rolls back stops the watchdog before it marks the record)."""
    return record is not None and record["id"] == armed_id and record["state"] in (cp.ARMED, cp.ROLLING_BACK)


class _Watch:
    """The armed record, kept in memory as it was armed; the files only say whether it is still ours.

    The file is re-read when it changes. What it may change is the record's
    state and its watchdog's description (arming adds it); the deadline and
    the snapshot stay as armed. A file that cannot be read (a disk error, a
    half-gone directory) keeps the checkpoint armed; only a record gone from
    both places, or another state or id in a file that reads, ends the watch.
    """

    def __init__(self, store: cp.Store, record: dict):
        self.store, self.record, self.stamp = store, record, None

    def armed(self) -> bool:
        try:
            st = os.stat(self.store.run_path(cp.RECORD))
        except FileNotFoundError:
            return self._state_copy_armed()
        except OSError:
            return True
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self.stamp:
            try:
                found = cp.read_json(self.store.run_path(cp.RECORD))
            except (OSError, cp.CheckpointError):
                return True
            if found is None:
                return self._state_copy_armed()
            self.stamp = stamp
            if not self._take(found):
                return False
        return True

    def _state_copy_armed(self) -> bool:
        """The run directory's record is gone: finished (Store.finish removes both places), unless the state
        directory still has ours armed. A copy an outcome closed (a read-only state directory kept it) is history."""
        if not os.path.exists(self.store.state_path(cp.RECORD)):
            return False
        try:
            found = self.store.load()
        except (OSError, cp.CheckpointError):
            return True
        return _still_armed(found, self.record["id"])

    def _take(self, found: dict) -> bool:
        """Learn state and watchdog from a record that was read; False when it is not ours to roll back."""
        if not _still_armed(found, self.record["id"]):
            return False
        self.record.update(state=found["state"], watchdog=found.get("watchdog"))
        return True

    def under_lock(self):
        """The record to roll back, as the files say while the caller holds the store's lock (memory when they
        cannot say), or None when it is no longer ours."""
        try:
            found = self.store.load()
        except (OSError, cp.CheckpointError):
            return self.record
        return self.record if found is not None and self._take(found) else None


class _Namespace:
    """The namespace the checkpoint was armed in, held open: a namespace deleted, or replaced by another of
    the same name, is told from the one we guard (holding it keeps its inode number from being reused)."""

    def __init__(self, name):
        self.name, self.fd = name, None
        if name:
            try:
                self.fd = os.open(namespace_path(name), os.O_RDONLY | os.O_CLOEXEC)
            except (OSError, LookupError):
                self.fd = None

    def gone(self) -> bool:
        if not self.name:
            return False
        try:
            now = os.stat(namespace_path(self.name))
        except (OSError, LookupError):
            return True
        if self.fd is None:
            return False
        held = os.fstat(self.fd)
        return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Watchdog:
    """One armed checkpoint's watchdog: while the checkpoint is armed it never exits without rolling back.

    Every unexpected error in its loop is logged and retried after a back-off
    that never runs past the deadline; writing state is best effort
    (window._roll_back_locked); a rollback that could not write its outcome
    stays to write it once there is space (linger).
    """

    def __init__(self, store: cp.Store, record: dict, signals: Signals | None = None):
        self.store, self.id = store, record["id"]
        self.by = f"watchdog pid {os.getpid()}"
        self.watch = _Watch(store, record)
        self.namespace = _Namespace(record["namespace"])
        self.gate = _Gate(record) if record.get("probes") else None
        self.signals = signals or Signals()
        self.waits = self.errors = 0

    def run(self) -> int:
        try:
            while True:
                try:
                    code = self.step()
                except Exception as exc:  # pylint: disable=broad-except  # it must outlive what it can survive
                    self.errors += 1
                    window.log(self.store, f"{self.id}: unexpected {qualname(exc)}: {exc}; tries again "
                                           f"(error {self.errors} in a row)\n{traceback.format_exc()}")
                    self.signals.wait(self._backoff())
                    continue
                self.errors = 0
                if code is not None:
                    self.linger()
                    return code
        finally:
            self.namespace.close()

    def _backoff(self) -> float:
        """ERROR_PAUSE doubled per error in a row up to ERROR_PAUSE_MAX, and never past the deadline."""
        wait = min(ERROR_PAUSE * 2 ** (self.errors - 1), ERROR_PAUSE_MAX)
        left = cp.remaining(self.watch.record)
        return min(wait, left) if left > 0 else wait   # before the deadline, wake at it; after it, back off

    def step(self):
        """One look: an exit code when the watch is over, None to look again."""
        if not self.watch.armed():
            told = f" on {self.signals.received}" if self.signals.received else ""
            window.log(self.store, f"{self.id}: watchdog {os.getpid()} exits{told}, the checkpoint is no longer armed")
            return 0
        if self.namespace.gone():
            return self._closed_gone()
        reason = self._signalled() or self._deadline_passed()
        if reason is None and self.gate is not None:
            failure = self._gate_failure()
            reason = self._signalled() or self._deadline_passed() or failure
        if reason:
            return self.roll_back(reason)
        self.signals.wait(min(POLL, max(0.01, cp.remaining(self.watch.record))))
        return None

    def _signalled(self):
        name = self.signals.received
        return f"{name} received while armed: rolled back at once rather than exit without it" if name else None

    def _deadline_passed(self):
        record = self.watch.record
        if cp.remaining(record) > 0:
            return None
        return f"not confirmed before its deadline {cp.iso(record['deadline'])}"

    def _gate_failure(self):
        """The gate's reason to roll back now; probes are given the time left, so the deadline holds."""
        try:
            return self.signals.interruptible(self.gate.failure, self.store,
                                              time.monotonic() + cp.remaining(self.watch.record))
        except LookupError:
            return None   # the namespace is gone: the next step closes the checkpoint
        except (NetsafeError, OSError) as exc:
            window.log(self.store, f"{self.id}: gate probes could not run: {exc}")
            return None

    def _closed_gone(self) -> int:
        with self.store:
            record = self.watch.under_lock()
            if record is not None:
                window.close_gone(self.store, record, self.by)
        return 0

    def roll_back(self, reason: str):
        """Roll back under the store's lock and the network lock; None while another writer keeps the network."""
        writer = Writer(f"netsafe.hypervisor checkpoint watchdog (checkpoint {self.id})", WATCHDOG_LOCK_WAIT,
                        "The watchdog tries again", must_lock=False)
        try:
            with self.store:
                if self.store.lock_problem:
                    window.log(self.store, f"{self.id}: the checkpoint's lock could not be opened "
                                           f"({self.store.lock_problem}); rolling back without it")
                record = self.watch.under_lock()
                if record is None:
                    return None   # confirmed (or rolled back) while we waited for the lock: the next step exits
                if self.namespace.gone():
                    window.close_gone(self.store, record, self.by)
                    return 0
                result = window.roll_back_record(self.store, record, reason, self.by, writer=writer)
        except LockTimeout as exc:
            if self.waits % WAIT_LOG_EVERY == 0:
                window.log(self.store, f"{self.id}: rollback waits: {exc}")
            self.waits += 1
            pause(POLL)
            return None   # still armed and untouched: try again
        if record.get("probes"):
            _probes_after(self.store, record, self.signals)
        return 2 if result.get("failed") else 0

    def linger(self) -> None:
        """Stay, after the rollback, until what could not be written for a full disk is written.

        The outcome (last.json) is worth PENDING_GIVE_UP seconds of trying, log
        lines alone LOG_GIVE_UP; a back-off up to PENDING_PAUSE_MAX, the outcome
        under the store's lock.
        """
        if not self._left_to_write():
            return
        started, wait = cp.boottime(), PENDING_PAUSE
        limit = PENDING_GIVE_UP if self.store.pending else LOG_GIVE_UP
        while cp.boottime() - started < limit:
            self.signals.wait(wait)
            if self.signals.received:
                window.log(self.store, f"{self.id}: {self.signals.received} received after the rollback: exits "
                                       f"without writing what was left")
                return
            wait = min(wait * 2, PENDING_PAUSE_MAX)
            late = f"{cp.boottime() - started:.1f} s late"
            try:
                if self.store.pending:
                    self.store.pending["recorded_late"] = late
                    with self.store:
                        self.store.retry_pending()
                window.flush_log(self.store)
            except Exception as exc:  # pylint: disable=broad-except
                window.log(self.store, f"{self.id}: writing what was left failed again: {qualname(exc)}: {exc}")
                continue
            if not self._left_to_write():
                window.log(self.store, f"{self.id}: what could not be written before is written now, {late}")
                return
        window.log(self.store, f"{self.id}: gave up writing what was left after {limit:g} s")

    def _left_to_write(self) -> bool:
        return bool(self.store.pending) or window.log_waits_for_space()


def _announce_ready(store: cp.Store, armed_id: str) -> bool:
    """Tell the arming module that we run (pid and process start, so a recycled pid is never taken for us)."""
    me = {"id": armed_id, "pid": os.getpid(), "start": cp.process_start(os.getpid())}
    try:
        with open(store.run_path(cp.READY) + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(json.dumps(me))
        os.rename(store.run_path(cp.READY) + ".tmp", store.run_path(cp.READY))
    except OSError as exc:
        window.log(store, f"{armed_id}: watchdog {os.getpid()} cannot say it is ready ({exc}); the module "
                          f"discards the checkpoint")
        return False
    return True


def main(run_dir: str, root: str = "/") -> int:
    """Watch the record in `run_dir` until it is confirmed, rolled back, or its deadline passes."""
    signals = Signals()
    signals.install()
    try:
        record = cp.read_json(os.path.join(run_dir, cp.RECORD))
    except (OSError, cp.CheckpointError):
        record = None
    if record is None:
        return 1
    store = cp.Store(record["namespace"], root, lock_required=False)
    if not _announce_ready(store, record["id"]):
        return 1
    window.log(store, f"{record['id']}: watchdog {os.getpid()} armed, deadline {cp.iso(record['deadline'])} "
                      f"({cp.remaining(record):.1f} s on CLOCK_BOOTTIME)")
    return Watchdog(store, record, signals).run()
