"""Atomic replacement of configuration files (_common/files.py), proven by killing the writer.

A child process writes with the crash failpoint set to each step in turn and
dies by SIGKILL there; afterwards the file holds exactly the old content or
exactly the new one, and nothing a network stack would read is left beside it.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import files as fileops

ROOT = Path(__file__).resolve().parents[2]
WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.files import write_atomic
    write_atomic(sys.argv[2], sys.argv[3].encode(), mode=0o600)
""")
OLD = "auto lo\niface lo inet loopback\n" * 200
NEW = "auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports eno1\n" * 300


def write_in_child(path: Path, text: str, crash_at: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop(fileops.CRASH_AT_ENV, None)
    if crash_at:
        env[fileops.CRASH_AT_ENV] = crash_at
    return subprocess.run([sys.executable, "-c", WRITER, str(ROOT / ".tmp" / "collections"), str(path), text],
                          env=env, capture_output=True, text=True, check=False)


def visible_entries(directory: Path) -> list:
    """What `source dir/*`, NetworkManager and networkd would consider: names not starting with a dot."""
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("step", fileops.STEPS)
def test_a_writer_killed_at_any_step_leaves_the_old_file_or_the_new_one(tmp_path, step):
    target = tmp_path / "interfaces.d" / "vmbr0"
    target.parent.mkdir()
    target.write_text(OLD)
    os.chmod(target, 0o640)
    proc = write_in_child(target, NEW, step)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    content = target.read_text()
    assert content in (OLD, NEW)
    # Before the rename the old file is intact; from the rename on, the new one is complete.
    renamed = fileops.STEPS.index(step) > fileops.STEPS.index("rename")
    assert content == (NEW if renamed else OLD)
    assert visible_entries(target.parent) == ["vmbr0"]
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(".")]
    assert all(fileops.is_temporary(name) for name in leftovers)
    # The next writer clears what the crash left and completes the change.
    fileops.remove_stale_temporaries(str(target.parent))
    assert write_in_child(target, NEW, None).returncode == 0
    assert target.read_text() == NEW
    assert sorted(p.name for p in target.parent.iterdir()) == ["vmbr0"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the original's mode, not the new-file default


def test_a_new_file_gets_the_mode_asked_for_and_the_directory_is_clean(tmp_path):
    target = tmp_path / "vmbr1.nmconnection"
    assert write_in_child(target, NEW, None).returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["vmbr1.nmconnection"]


def test_an_unknown_crash_step_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv(fileops.CRASH_AT_ENV, "halfway")
    with pytest.raises(fileops.FileWriteError, match="halfway.*allowed create, write"):
        fileops.write_atomic(str(tmp_path / "x"), b"data")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_removes_its_temporary_and_keeps_the_original(tmp_path, monkeypatch):
    target = tmp_path / "interfaces"
    target.write_text(OLD)

    def refuse(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileops.os, "fsync", refuse)
    with pytest.raises(OSError, match="No space"):
        fileops.write_atomic(str(target), NEW.encode())
    assert target.read_text() == OLD
    assert [p.name for p in tmp_path.iterdir()] == ["interfaces"]


def test_backups_go_under_the_backup_directory_by_run_and_original_path(tmp_path):
    run = fileops.BackupRun(str(tmp_path / "backups"), stamp=0)
    backup = run.save("/etc/network/interfaces", OLD.encode(), 0o644)
    assert backup == str(tmp_path / "backups" / "19700101T000000.000000Z" / "etc" / "network" / "interfaces")
    assert Path(backup).read_text() == OLD
    assert stat.S_IMODE(Path(backup).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(backup).parent.stat().st_mode) == 0o700
