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

import os
import re
import shutil
import signal
import tempfile
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, ValidationError

RUN_TOP = "/run/netsafe"          # locks, armed checkpoints, the watchdog's code: gone at reboot
STATE_TOP = "/var/lib/netsafe"     # checkpoint copies, last outcomes, backups: kept
TEMP_MARK = ".netsafe-"
STEPS = ("create", "write", "fsync", "chmod", "rename", "fsync_dir")
CRASH_AT_ENV = "NETSAFE_CRASH_WRITE_AT"
CRASH_FILE_ENV = "NETSAFE_CRASH_WRITE_FILE"
_written = [0]


class FileWriteError(NetsafeError):
    """A configuration file could not be written; the original is untouched."""


class UnsafeDirectory(NetsafeError):
    """A directory of ours that another user could have planted or could change: refused, with its path."""


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


# -- our own directories -------------------------------------------------------

def under_root(root: str, path: str, param: str = "root") -> str:
    """`path` (absolute, as the host sees it) inside `root`; refused when `..` or a symlink leads out of root.

    `root` is where a host's / is (a scratch tree in tests, an image being
    prepared); a symlink that stays inside it is followed like any other.
    `param` is the option the path came from (`path`, `backup_dir`), which the
    refusal names: the one to change; `root` itself for paths of our own.
    """
    if root in ("", "/"):
        return path
    joined = os.path.join(root, path.lstrip("/"))
    real_root = os.path.realpath(root)
    real = os.path.realpath(joined)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ValidationError([f"{param}: {joined} leads out of {root} (to {real}) through '..' or a symlink; "
                               f"every path under root must stay inside it"])
    return joined


def netsafe_top(path: str, root: str = "/") -> str:
    """The highest level of `path` that must be private: /run/netsafe or /var/lib/netsafe (under `root`), else `path`."""
    for top in (RUN_TOP, STATE_TOP):
        top = top if root in ("", "/") else os.path.join(root, top.lstrip("/"))
        if path == top or path.startswith(top + os.sep):
            return top
    return path


def private_directory(path: str, top: str) -> str:
    """Make every level of `path` from `top` down a directory of root's that no one else can write.

    Created 0700 whatever the umask. One that exists must be a real directory
    (not a symlink), owned by the user we run as (root), and writable by no one
    else; otherwise UnsafeDirectory names it and nothing below it is touched.
    The levels above `top` are the system's (/run, /var/lib) and only created
    when missing, 0755.
    """
    path, top = os.path.normpath(path), os.path.normpath(top)
    if path != top and not path.startswith(top.rstrip(os.sep) + os.sep):
        raise ValueError(f"{path} is not inside {top}")
    _system_levels(os.path.dirname(top))
    levels = [top]
    if path != top:
        for part in os.path.relpath(path, top).split(os.sep):
            levels.append(os.path.join(levels[-1], part))
    for level in levels:
        try:
            os.mkdir(level, 0o700)
            made = True
        except FileExistsError:
            made = False
        _check_private(level, made)
    return path


def _system_levels(path: str) -> None:
    """Make the missing levels above a private top (/run, /var/lib, or a scratch root's) 0755 whatever the umask."""
    missing = []
    while path and not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for level in reversed(missing):
        try:
            os.mkdir(level, 0o755)
        except FileExistsError:
            continue
        os.chmod(level, 0o755)   # mkdir's mode passes through the umask


def _check_private(level: str, made: bool) -> None:
    """Open `level` without following a symlink; make it 0700 if we just made it, else judge it."""
    try:
        fd = os.open(level, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(level):
            raise UnsafeDirectory(f"{level} is a symlink (to {os.readlink(level)}); netsafe keeps its files only in "
                                  f"real directories owned by root: remove it") from None
        raise UnsafeDirectory(f"{level} cannot be used as a directory: {exc.strerror or exc}") from None
    try:
        if made:
            os.fchmod(fd, 0o700)   # mkdir's mode passes through the umask; this does not
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(f"{level} is owned by uid {st.st_uid}, not root; netsafe keeps its files only in "
                              f"directories owned by root: remove it or give it to root (chown root {level})")
    if st.st_mode & 0o022:
        raise UnsafeDirectory(f"{level} is writable by others (mode {st.st_mode & 0o7777:04o}); netsafe keeps its "
                              f"files only in directories no one else can write: chmod 0700 {level}, after "
                              f"checking what is in it")


# A run's backup directory: its UTC start to the microsecond, and -N when that name is taken (old runs: to the second).
BACKUP_RUN_NAME = re.compile(r"^\d{8}T\d{6}(\.\d{6})?Z(-\d+)?$")


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

    def __init__(self, root: str, keep: int = 0, stamp: float | None = None, top: str | None = None):
        self.root, self.keep = root, keep
        self.top = top or root   # every level from here down is made by private_directory
        self.stamp = time.time() if stamp is None else stamp
        self.directory = None
        self.files: list = []

    def _claim(self) -> str:
        seconds = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.stamp))
        base = f"{seconds}.{int(self.stamp * 1000000) % 1000000:06d}Z"
        private_directory(self.root, self.top)
        for attempt in range(1, 1000):
            candidate = os.path.join(self.root, base if attempt == 1 else f"{base}-{attempt}")
            try:
                os.mkdir(candidate, 0o700)   # making it is what claims the name
            except FileExistsError:
                continue
            return private_directory(candidate, self.top)
        raise FileWriteError(f"no free backup directory name under {self.root} for {base}")

    def save(self, original: str, data: bytes, mode: int) -> str:
        """Store the previous content of `original` (its path as the host sees it); returns the backup's path.

        Never next to the original: `source interfaces.d/*`, NetworkManager and
        networkd read every file in their directories.
        """
        if self.directory is None:
            self.directory = self._claim()
        backup_file = os.path.join(self.directory, original.lstrip("/"))
        private_directory(os.path.dirname(backup_file), self.top)
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
