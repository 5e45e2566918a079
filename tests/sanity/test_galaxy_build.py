"""The collection builds and installs the usual way; ansible-doc reads it and a module runs from there.

module_utils holds packages (_network, _guests, ...): the module run from the
installed tarball proves that AnsiballZ ships them with the module.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nstools import ip

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
pytestmark = pytest.mark.ansible

MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))


def run(*cmd, env=None, cwd=None):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_build_install_ansible_doc_and_a_module_run_from_the_tarball(tmp_path, netns):
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
    assert (inside / "plugins" / "module_utils" / "_network" / "netlink.py").is_file()
    assert not (inside / ".venv").exists() and not (inside / ".tmp").exists()
    # A module from the installed copy, against a throwaway namespace: packages under module_utils travel.
    ip("link", "add", "eth1", "type", "veth", "peer", "name", "sw1", ns=netns)
    env = dict(env, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               PYTHONPATH="")
    out = run(BIN / "ansible", "localhost", "-c", "local", "-e", f"ansible_python_interpreter={BIN / 'python'}", "-vvv",
              "-m", "netsafe.hypervisor.net_bridge", "-a", json.dumps({"name": "vmbr0", "ports": ["eth1"], "mtu": 1400,
                                                                       "namespace": netns}),
              env=env, cwd=tmp_path)
    assert f"Using module file {inside}/plugins/modules/net_bridge.py" in out
    result = json.loads(out[out.index("localhost | CHANGED => ") + len("localhost | CHANGED => "):])
    assert result["state"]["ports"] == ["eth1"] and result["state"]["mtu"] == 1400
    assert "master vmbr0" in ip("-d", "link", "show", "eth1", ns=netns).stdout
