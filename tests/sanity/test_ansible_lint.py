"""ansible-lint, production profile, on a copy of the collection: clean, with no skip list or ignore file.

A task that must fail on purpose says so in the playbook (failed_when), not
with a `# noqa`; the linter runs offline (--offline: Galaxy is unreachable).
"""
from __future__ import annotations

import os
import subprocess

import pytest

from collection_copy import ROOT, copy_collection

pytestmark = [pytest.mark.ansible, pytest.mark.slow]


def test_ansible_lint_production_profile_is_clean(tmp_path):
    for name in (".ansible-lint", ".ansible-lint-ignore", ".config/ansible-lint.yml"):
        assert not (ROOT / name).exists(), f"{name}: no lint configuration that could skip rules"
    dest = copy_collection(tmp_path)
    venv_bin = ROOT / ".venv" / "bin"
    env = dict(os.environ, PATH=f"{venv_bin}:{os.environ.get('PATH', '')}", NO_COLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path), HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [str(venv_bin / "ansible-lint"), "--offline", "--profile", "production", "--nocolor", "-f", "pep8"],
        cwd=dest, env=env, capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, f"ansible-lint found problems:\n{proc.stdout[-20000:]}\n{proc.stderr[-5000:]}"
    assert "production" in proc.stderr, proc.stderr[-2000:]   # it ran and reported the profile it passed
