# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""One change at a time per host (or network namespace): an flock that names its holder.

Every writer of the network takes it around read, plan, apply and verify:
the modules (through the core's converge()), the checkpoint watchdog's
rollback and each tap_guard pass. A second writer therefore plans against
the first one's result instead of a state that is about to change under it.

The lock is an flock on /run/netsafe/lock/<scope>.lock (<scope> is `host` or
`netns-<name>`, as for checkpoints). The kernel drops an flock with the last
descriptor of the process that held it, so a holder killed with SIGKILL
leaves nothing behind. The holder writes who it is into the file it locked;
a writer that gives up after `timeout` seconds names it (what, pid, since
when) and has changed nothing.

Within one process the lock is re-entrant: a checkpoint rollback takes it
before it marks the checkpoint as rolling back (a rollback that cannot have
the lock leaves the checkpoint armed), and the converge() it runs inside
takes it again without waiting for itself.

On a full /run the flock still excludes: only the holder's note is lost
(`problems` says so). A writer that must not be stopped by the file system
(the checkpoint watchdog, `must_lock=False`) goes on without the lock when
its file cannot even be opened; no other writer can open it then either.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.files import RUN_TOP, UnsafeDirectory, private_directory
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.names import SAFE_CHARACTERS, is_safe

LOCK_DIR = RUN_TOP + "/lock"
DEFAULT_TIMEOUT = 60.0
ADVICE = "Run again when it is done, or raise lock_timeout"   # what a timed-out task can do
POLL = 0.02          # seconds between attempts while another writer holds the lock


@dataclass(frozen=True)
class Writer:
    """Who is about to change the network (written into the lock), and how long it waits for another writer."""

    holder: str = "netsafe.hypervisor"
    lock_timeout: float = DEFAULT_TIMEOUT
    advice: str = ADVICE
    must_lock: bool = True

    def lock(self, namespace) -> "HostLock":
        return HostLock(namespace, self.holder, self.lock_timeout, self.advice, self.must_lock)


class LockTimeout(NetsafeError):
    """Another writer held the host's network lock for longer than the caller would wait."""


# A namespace name becomes a file name (/run/netns/<name>, netns-<name>.lock, checkpoint/netns-<name>/):
# iproute2's rule (no '/', not '.' or '..', a file name's 255 bytes) narrowed to the safe characters
# (names.py), and short enough for `netns-<name>.lock`.
NAMESPACE_MAX = 255 - len("netns-") - len(".lock")
NAMESPACE_RULE = f"{SAFE_CHARACTERS}, at most {NAMESPACE_MAX} characters"


def namespace_problem(name):
    """Why `name` cannot be a namespace we work in, or None (None means the host itself).

    An empty name is refused, not read as the host: `namespace: "{{ x }}"` with `x` empty would otherwise plan a
    task meant for a namespace against the host's own network.
    """
    if name is None:
        return None
    if name == "":
        return ("namespace: '' is not a valid namespace name (it is empty); omit namespace (or give null) to work "
                f"on the host itself, or name a network namespace: {NAMESPACE_RULE}")
    if not isinstance(name, str) or len(name) > NAMESPACE_MAX or not is_safe(name):
        return f"namespace: {name!r} is not a valid namespace name; allowed {NAMESPACE_RULE}"
    return None


def scope_of(namespace) -> str:
    """`host` or `netns-<name>`: where every path of a scope comes from, so a name is judged before any path is built."""
    problem = namespace_problem(namespace)
    if problem:
        raise ValidationError([problem])
    return f"netns-{namespace}" if namespace else "host"


def lock_path(namespace) -> str:
    return os.path.join(LOCK_DIR, scope_of(namespace) + ".lock")


_held: dict = {}     # path -> [fd, depth]: the locks this process holds


def describe_holder(info: dict, now: float) -> str:
    if not info:
        return "a writer that has not yet said who it is"
    since = info.get("since", now)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    return f"{info.get('holder', 'unknown')} (pid {info.get('pid')}, holding it since {stamp}, {now - since:.1f} s)"


def read_holder(path: str) -> dict:
    """Who wrote itself into the lock file last (the current holder while the lock is taken); {} if unknown."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


class HostLock:
    """`with HostLock(namespace, "netsafe.hypervisor.net_bridge", timeout):` around one change."""

    def __init__(self, namespace, holder: str, timeout: float = DEFAULT_TIMEOUT,
                 advice: str = ADVICE, must_lock: bool = True):
        self.namespace = namespace
        self.holder = holder
        self.timeout = timeout
        self.advice = advice
        self.must_lock = must_lock
        self.path = lock_path(namespace)
        self.waited = 0.0
        self.waited_for = ""    # who held the lock when this writer started waiting
        self.problems = []      # what the file system refused (the holder's note, the lock file itself)

    def __enter__(self):
        entry = _held.get(self.path)
        if entry is not None:
            entry[1] += 1
            return self
        try:
            private_directory(LOCK_DIR, RUN_TOP)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except (OSError, UnsafeDirectory) as exc:
            if self.must_lock:
                raise
            self.problems.append(f"{self.path}: {getattr(exc, 'strerror', None) or exc}: went on without the lock "
                                 f"(no other writer can open it either)")
            _held[self.path] = [None, 1]
            return self
        started = time.monotonic()
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not self.waited_for:
                        self.waited_for = describe_holder(read_holder(self.path), time.time())
                    if time.monotonic() - started >= self.timeout:
                        raise self._timed_out() from None
                    time.sleep(POLL)
            self.waited = time.monotonic() - started
            self._note_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        _held[self.path] = [fd, 1]
        return self

    def _note_holder(self, fd: int) -> None:
        """Say who holds the lock, for a writer that waits; best effort (the flock is what excludes)."""
        me = {"holder": self.holder, "pid": os.getpid(), "since": time.time()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        except OSError as exc:
            self.problems.append(f"{self.path}: {exc.strerror or exc}: held without the holder's name")

    def __exit__(self, *exc):
        entry = _held[self.path]
        entry[1] -= 1
        if entry[1] == 0:
            del _held[self.path]
            if entry[0] is None:
                return
            try:
                os.ftruncate(entry[0], 0)
            finally:
                os.close(entry[0])   # closing releases the flock

    def _timed_out(self) -> LockTimeout:
        where = f"namespace {self.namespace}" if self.namespace else "the host"
        holder = describe_holder(read_holder(self.path), time.time())
        return LockTimeout(
            f"another change holds the network lock of {where} ({self.path}): {holder}. Waited "
            f"lock_timeout={self.timeout:g} s; nothing was changed. {self.advice}")
