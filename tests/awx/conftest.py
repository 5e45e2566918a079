"""The collection tarball the AWX jobs install, built once for every job test of the session."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from awx_job import VENV_BIN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build")
    proc = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", str(ROOT), "--output-path", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("netsafe-hypervisor-*.tar.gz")
    return built
