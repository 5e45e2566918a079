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


def backup_path(backup_dir: str, original: str, stamp: float | None = None) -> str:
    """Where the previous content of `original` goes: <backup_dir>/<UTC time>/<original's absolute path>.

    Never next to the original: `source interfaces.d/*`, NetworkManager and
    networkd read every file in their directories.
    """
    when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if stamp is None else stamp))
    return os.path.join(backup_dir, when, original.lstrip("/"))


def write_backup(backup_file: str, data: bytes, mode: int) -> None:
    """Store a backup (atomically, like everything else), creating its directories private to root."""
    os.makedirs(os.path.dirname(backup_file), mode=0o700, exist_ok=True)
    write_atomic(backup_file, data, mode=mode & 0o600 or 0o600)
