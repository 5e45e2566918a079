"""The collection builds and installs the usual way, and ansible-doc reads it from there."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
pytestmark = pytest.mark.ansible

MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))


def run(*cmd, env=None, cwd=None):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_build_install_and_ansible_doc(tmp_path):
    run(BIN / "ansible-galaxy", "collection", "build", ROOT, "--output-path", tmp_path)
    tarballs = list(tmp_path.glob("netsafe-hypervisor-*.tar.gz"))
    assert len(tarballs) == 1
    installed = tmp_path / "installed"
    run(BIN / "ansible-galaxy", "collection", "install", tarballs[0], "-p", installed)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed))
    listing = run(BIN / "ansible-doc", "-l", "netsafe.hypervisor", env=env, cwd=tmp_path)
    for module in MODULES:
        assert f"netsafe.hypervisor.{module}" in listing
    doc = run(BIN / "ansible-doc", "netsafe.hypervisor.net_bridge", env=env, cwd=tmp_path)
    for text in ("OPTIONS", "guest_patterns", "namespace", "detach_guests", "EXAMPLES", "RETURN VALUES", "commands"):
        assert text in doc
    inside = installed / "ansible_collections" / "netsafe" / "hypervisor"
    assert (inside / "plugins" / "module_utils" / "_netlink.py").is_file()
    assert not (inside / ".venv").exists() and not (inside / ".tmp").exists()
