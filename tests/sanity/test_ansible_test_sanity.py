"""ansible-test sanity on a copy of the collection: clean, with no ignore file."""
from __future__ import annotations

import os
import subprocess

import pytest

from collection_copy import ROOT, copy_collection

pytestmark = [pytest.mark.ansible, pytest.mark.slow]


def test_sanity_is_clean_without_an_ignore_file(tmp_path):
    assert not list((ROOT / "tests" / "sanity").glob("ignore-*.txt")), "no ignore file allowed"
    dest = copy_collection(tmp_path)
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-test"), "sanity", "--local", "--python", "3.11", "--color", "no"],
        cwd=dest, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"ansible-test sanity failed:\n{proc.stdout[-20000:]}\n{proc.stderr[-5000:]}"
