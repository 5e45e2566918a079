"""tap_guard runs from the code the role's module installs, and from nothing else (issue 25, item 5).

`netsafe.hypervisor.tap_guard_code` (the role's one code task) writes the
watcher's import closure into a scratch directory; the watcher is started
from it with Debian's `/usr/bin/python3 -I -S` (no site-packages, no Ansible;
-I ignores PYTHONPATH and the current directory: the directory is put on
sys.path by the command itself). It must start, and put the guests back when vmbr0 is
deleted and re-created. With one installed file taken out it must fail to
start, naming it: that is how this test shows it can fail.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import PVE, assert_watcher_restores
from modrun import run_module
from tapguard_proc import ENTRY

pytestmark = [pytest.mark.kernel]

PYTHON = "/usr/bin/python3"   # the host's own interpreter, not this venv's


def isolated_argv(lib, config) -> list:
    """`python3 -I -S` running the watcher's module from `lib` alone, as `-m` would with lib on the path."""
    boot = f"import runpy, sys; sys.path.insert(0, {str(lib)!r}); runpy.run_module({ENTRY!r}, run_name='__main__', alter_sys=True)"
    return [PYTHON, "-I", "-S", "-c", boot, "--config", str(config)]


@pytest.mark.skipif(not os.path.exists(PYTHON), reason=f"{PYTHON} is the host's Python")
def test_the_watcher_runs_from_the_installed_code_alone(pve_node, tmp_path):
    lib = tmp_path / "lib"
    installed = run_module("tap_guard_code", {"dest": str(lib)})
    assert installed["changed"] and not installed.get("failed"), installed
    config = tmp_path / "tap_guard.json"
    config.write_text(json.dumps({"source": "proxmox", "proxmox_dir": str(PVE), "namespace": pve_node,
                                  "bridges": ["vmbr0", "vmbr1"]}))

    # One file out: it cannot start, and says which module is missing.
    proxmox = lib / "ansible_collections/netsafe/hypervisor/plugins/module_utils/_guests/proxmox.py"
    proxmox.rename(proxmox.with_suffix(".away"))
    failed = subprocess.run(isolated_argv(lib, config), env={}, cwd="/", capture_output=True, text=True, timeout=60,
                            check=False)
    assert failed.returncode != 0 and "_guests.proxmox" in failed.stderr and "Error" in failed.stderr, failed.stderr
    proxmox.with_suffix(".away").rename(proxmox)

    assert_watcher_restores(isolated_argv(lib, config), pve_node, tmp_path)
