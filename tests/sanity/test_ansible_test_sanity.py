"""ansible-test sanity on a copy of the collection: clean, with no ignore file."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.ansible, pytest.mark.slow]


def collection_files() -> list:
    """Tracked files plus new ones not ignored: what a commit of this tree would hold."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def test_sanity_is_clean_without_an_ignore_file(tmp_path):
    assert not list((ROOT / "tests" / "sanity").glob("ignore-*.txt")), "no ignore file allowed"
    dest = tmp_path / "ansible_collections" / "netsafe" / "hypervisor"
    for rel in collection_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-test"), "sanity", "--local", "--python", "3.11", "--color", "no"],
        cwd=dest, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"ansible-test sanity failed:\n{proc.stdout[-20000:]}\n{proc.stderr[-5000:]}"
