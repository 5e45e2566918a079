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
import shutil
import signal
import subprocess
import sys
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import LockTimeout, Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork
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
    for package in PACKAGES:
        module = sys.modules.get(f"{BASE}.{package}") or __import__(f"{BASE}.{package}", fromlist=["_"])
        directory = store.make_run_dir(LIB, *parts, package)
        names = ["__init__"] + [info.name for info in pkgutil.iter_modules(module.__path__)]
        for name in names:
            fullname = f"{BASE}.{package}" if name == "__init__" else f"{BASE}.{package}.{name}"
            loader = module.__spec__.loader if name == "__init__" else _loader(module, name)
            _write_private(os.path.join(directory, f"{name}.py"), loader.get_source(fullname) or "")


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

class _Gate:
    """Runs the gate probes once the network differs from the snapshot and has settled."""

    def __init__(self, record: dict):
        self.record = record
        self.guests = GuestMatcher(record["guest_patterns"])
        self.probed = window.fingerprint(HostNetwork.from_dict(record["snapshot"]))
        self.seen, self.since, self.next_read = None, 0.0, 0.0

    def failure(self, store: cp.Store):
        """A reason to roll back now, or None."""
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
        results = probes.run_probes(self.record["probes"], self.record["namespace"], deadline=None)
        self.probed = current
        failed = probes.failed_required(results)
        lines = "; ".join(probes.summary_line(r) for r in results)
        window.log(store, f"{self.record['id']}: gate probes after the change: {lines}")
        if failed:
            return "gate probes failed after the change: " + "; ".join(probes.summary_line(r) for r in failed)
        return None


def _probes_after(store: cp.Store, record: dict) -> None:
    """After a rollback, run the gate probes once more and add them to last.json: did the way back work?"""
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes
    try:
        results = probes.run_probes(record["probes"], record["namespace"], deadline=None)
    except (NetsafeError, OSError) as exc:
        window.log(store, f"{record['id']}: probes after the rollback could not run: {exc}")
        return
    window.log(store, f"{record['id']}: probes after the rollback: " + "; ".join(probes.summary_line(r) for r in results))
    store.amend_last(record["id"], probes_after=results)


class _Watch:
    """The record as last read; re-read only when the file changes (a 1,000-guest snapshot is not small)."""

    def __init__(self, store: cp.Store):
        self.store, self.stamp, self.record = store, None, None

    def current(self):
        try:
            st = os.stat(self.store.run_path(cp.RECORD))
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self.stamp:
            self.stamp, self.record = stamp, self.store.load()
        return self.record


def _still_armed(record, armed_id: str) -> bool:
    return record is not None and record["id"] == armed_id and record["state"] == cp.ARMED


def main(run_dir: str, root: str = "/") -> int:
    """Watch the record in `run_dir` until it is confirmed, rolled back, or its deadline passes."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    record = cp.read_json(os.path.join(run_dir, cp.RECORD))
    if record is None:
        return 1
    store = cp.Store(record["namespace"], root)
    armed_id = record["id"]
    me = {"id": armed_id, "pid": os.getpid(), "start": cp.process_start(os.getpid())}
    with open(store.run_path(cp.READY) + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(me))
    os.rename(store.run_path(cp.READY) + ".tmp", store.run_path(cp.READY))
    window.log(store, f"{armed_id}: watchdog {os.getpid()} armed, deadline {cp.iso(record['deadline'])}")
    gate = _Gate(record) if record.get("probes") else None
    watch = _Watch(store)
    waits = 0
    while True:
        current = watch.current()
        if not _still_armed(current, armed_id):
            window.log(store, f"{armed_id}: watchdog {os.getpid()} exits, the checkpoint is no longer armed")
            return 0
        reason = None
        if time.time() >= current["deadline"]:
            reason = f"not confirmed before its deadline {cp.iso(current['deadline'])}"
        elif gate is not None:
            try:
                reason = gate.failure(store)
            except (NetsafeError, OSError) as exc:
                window.log(store, f"{armed_id}: gate probes could not run: {exc}")
        if reason:
            writer = Writer(f"netsafe.hypervisor checkpoint watchdog (checkpoint {armed_id})", WATCHDOG_LOCK_WAIT,
                            "The watchdog tries again")
            try:
                with store:
                    current = store.load()
                    if not _still_armed(current, armed_id):
                        continue  # confirmed (or rolled back) while we waited for the lock
                    result = window.roll_back_record(store, current, reason, f"watchdog pid {os.getpid()}", writer=writer)
            except LockTimeout as exc:
                if waits % WAIT_LOG_EVERY == 0:
                    window.log(store, f"{armed_id}: rollback waits: {exc}")
                waits += 1
                time.sleep(POLL)
                continue   # still armed and untouched: try again
            if current.get("probes"):
                _probes_after(store, current)
            return 2 if result.get("failed") else 0
        time.sleep(min(POLL, max(0.0, current["deadline"] - time.time())) or 0.01)
