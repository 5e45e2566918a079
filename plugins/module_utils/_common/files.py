# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Replacing a configuration file so that a crash leaves the old one or the new one, never half.

The steps: write a temporary file in the same directory (so the rename stays
on one filesystem), fsync it, give it the original's mode and owner, rename
it over the original, fsync the directory (so the rename itself survives a
power cut). The temporary file's name starts with a dot and ends in `.tmp`:
ifupdown2's `source dir/*` globs, NetworkManager's keyfile reader and
networkd all skip such names, so one left by a crash is never read; the next
write in that directory removes it.

Crash failpoint (for tests; docs/testing.md): NETSAFE_CRASH_WRITE_AT=<step>
kills the writing process with SIGKILL just before that step, where the
steps are the names in STEPS; with NETSAFE_CRASH_WRITE_FILE=<n> it does so
only on the n-th file written (0-based) by the process.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import tempfile
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError

TEMP_MARK = ".netsafe-"
STEPS = ("create", "write", "fsync", "chmod", "rename", "fsync_dir")
CRASH_AT_ENV = "NETSAFE_CRASH_WRITE_AT"
CRASH_FILE_ENV = "NETSAFE_CRASH_WRITE_FILE"
_written = [0]


class FileWriteError(NetsafeError):
    """A configuration file could not be written; the original is untouched."""


def _crashpoint(step: str) -> None:
    wanted = os.environ.get(CRASH_AT_ENV)
    if not wanted:
        return
    if wanted not in STEPS:
        raise FileWriteError(f"{CRASH_AT_ENV}: {wanted!r} is not a step; allowed {', '.join(STEPS)}")
    if wanted == step and str(_written[0]) == os.environ.get(CRASH_FILE_ENV, str(_written[0])):
        os.kill(os.getpid(), signal.SIGKILL)


def is_temporary(name: str) -> bool:
    """Whether a directory entry is a temporary file of ours (left behind by a crash)."""
    return name.startswith(".") and TEMP_MARK in name and name.endswith(".tmp")


def remove_stale_temporaries(directory: str) -> list:
    """Remove temporary files a crashed write left in `directory`; returns their paths."""
    removed = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return removed
    for name in names:
        if is_temporary(name):
            path = os.path.join(directory, name)
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o644, owner=None) -> None:
    """Replace (or create) `path` with `data`; keeps the old file's mode and owner when it exists.

    `mode` and `owner` ((uid, gid) or None: the writer's) apply to a new file only.
    """
    directory = os.path.dirname(path) or "."
    try:
        st = os.stat(path)
        mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
    except FileNotFoundError:
        pass
    _crashpoint("create")
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}{TEMP_MARK}", suffix=".tmp", dir=directory)
    try:
        try:
            _crashpoint("write")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            _crashpoint("fsync")
            os.fsync(fd)
            _crashpoint("chmod")
            os.fchmod(fd, mode)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                os.fchown(fd, *owner)
        finally:
            os.close(fd)
        _crashpoint("rename")
        os.rename(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    _crashpoint("fsync_dir")
    fsync_directory(directory)
    _written[0] += 1


def remove_durably(path: str) -> None:
    """Delete `path` and make the deletion survive a power cut."""
    os.unlink(path)
    fsync_directory(os.path.dirname(path) or ".")


# A run's backup directory: its UTC start to the microsecond, and -N when that name is taken (old runs: to the second).
BACKUP_RUN_NAME = re.compile(r"^\d{8}T\d{6}(\.\d{6})?Z(-\d+)?$")


def make_private_dir(path: str, exist_ok: bool = True) -> str:
    """Create `path` and its missing parents, each mode 0700 whatever the umask; returns `path`.

    The one place backups make a directory, so that the rules for directories
    under /var/lib/netsafe live in one function. With `exist_ok` false the last
    level must be new (FileExistsError otherwise): how a run claims a unique name.
    """
    missing = []
    head = os.path.abspath(path)
    while not os.path.lexists(head):
        missing.append(head)
        head = os.path.dirname(head)
    if not missing and not exist_ok:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    for level in reversed(missing):
        try:
            os.mkdir(level, 0o700)
        except FileExistsError:
            if level == missing[0] and not exist_ok:
                raise
            continue
        os.chmod(level, 0o700)   # mkdir's mode is filtered by the umask
    return path


def _run_order(name: str) -> tuple:
    """Runs by time, then by the -N a second run of the same microsecond got (-10 after -9)."""
    base, _sep, number = name.partition("-")
    return base, int(number or 1)


class BackupRun:
    """The backups of one run: one directory of its own under `root`, made on the first backup.

    Two runs never share a directory, even within one second (the name holds
    microseconds, and a name already taken gets -2, -3...), so no run
    overwrites another's originals. `prune()` then keeps the newest `keep` runs
    (0: all); it only ever removes directories named like a run.
    """

    def __init__(self, root: str, keep: int = 0, stamp: float | None = None):
        self.root, self.keep = root, keep
        self.stamp = time.time() if stamp is None else stamp
        self.directory = None
        self.files: list = []

    def _claim(self) -> str:
        seconds = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.stamp))
        base = f"{seconds}.{int(self.stamp * 1000000) % 1000000:06d}Z"
        make_private_dir(self.root)
        for attempt in range(1, 1000):
            candidate = os.path.join(self.root, base if attempt == 1 else f"{base}-{attempt}")
            try:
                return make_private_dir(candidate, exist_ok=False)
            except FileExistsError:
                continue
        raise FileWriteError(f"no free backup directory name under {self.root} for {base}")

    def save(self, original: str, data: bytes, mode: int) -> str:
        """Store the previous content of `original` (its path as the host sees it); returns the backup's path.

        Never next to the original: `source interfaces.d/*`, NetworkManager and
        networkd read every file in their directories.
        """
        if self.directory is None:
            self.directory = self._claim()
        backup_file = os.path.join(self.directory, original.lstrip("/"))
        make_private_dir(os.path.dirname(backup_file))
        write_atomic(backup_file, data, mode=mode & 0o600 or 0o600)
        self.files.append(backup_file)
        return backup_file

    def prune(self) -> list:
        """Remove the oldest runs beyond `keep` (this one always stays); returns the directories removed."""
        if not self.keep or self.directory is None:
            return []
        runs = sorted((name for name in os.listdir(self.root) if BACKUP_RUN_NAME.match(name)
                       and os.path.isdir(os.path.join(self.root, name))
                       and not os.path.islink(os.path.join(self.root, name))), key=_run_order)
        mine = os.path.basename(self.directory)
        others = [name for name in runs if name != mine]
        removed = []
        for name in others[:max(0, len(others) - (self.keep - 1))]:
            shutil.rmtree(os.path.join(self.root, name))
            removed.append(os.path.join(self.root, name))
        return removed
