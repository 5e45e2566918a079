"""The tap_guard role: the files it installs, and the watcher started the way its unit starts it."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PVE, assert_watcher_restores, build_pve_node

pytestmark = [pytest.mark.ansible, pytest.mark.kernel]
ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

ROLE_PLAY = """
- hosts: lab
  gather_facts: false
  roles:
    - role: netsafe.hypervisor.tap_guard
      vars:
        tap_guard_source: proxmox
        tap_guard_proxmox_dir: "{{ pve }}"
        tap_guard_namespace: "{{ ns }}"
        tap_guard_bridges: [vmbr0, vmbr1]
        tap_guard_python: "{{ python }}"
        tap_guard_lib_dir: "{{ root }}/lib"
        tap_guard_config_path: "{{ root }}/etc/netsafe/tap_guard.json"
        tap_guard_unit_dir: "{{ root }}/etc/systemd/system"
        tap_guard_manage_service: false
"""

EXPECTED_UNIT = """\
# Managed by Ansible (netsafe.hypervisor.tap_guard); local edits are overwritten.
# netsafe.hypervisor.tap_guard: puts guest tap/veth ports back on their bridge
# as soon as the bridge is (re)created. Settings: {root}/etc/netsafe/tap_guard.json
[Unit]
Description=netsafe tap_guard: re-attach guest ports when their bridge reappears
Documentation=https://example.invalid/netsafe/hypervisor/docs/tap_reenslave.md
After=local-fs.target pve-cluster.service libvirtd.service

[Service]
Type=notify
Environment=PYTHONPATH={root}/lib
ExecStart={python} -m ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.watcher --config {root}/etc/netsafe/tap_guard.json
Restart=always
RestartSec=2
# Setting a port's master needs CAP_NET_ADMIN; entering a namespace needs CAP_SYS_ADMIN.
CapabilityBoundingSet=CAP_NET_ADMIN CAP_SYS_ADMIN
NoNewPrivileges=yes
ProtectSystem=strict
# The host's network lock (/run/netsafe/lock/<scope>.lock), shared with the collection's
# modules and the checkpoint watchdog: created if missing, writable here, kept at stop.
RuntimeDirectory=netsafe/lock
RuntimeDirectoryMode=0700
RuntimeDirectoryPreserve=yes
ProtectHome=yes
PrivateTmp=yes
RestrictAddressFamilies=AF_NETLINK AF_UNIX

[Install]
WantedBy=multi-user.target
"""


def play(playbook: str, workdir: Path, extra_vars: dict) -> subprocess.CompletedProcess:
    """ansible-playbook against the local 'lab' host, as tests/conftest.py's run_playbook does."""
    book = workdir / "play.yml"
    book.write_text(playbook)
    inventory = workdir / "inventory.ini"
    inventory.write_text(f"lab ansible_connection=local ansible_python_interpreter={VENV_BIN / 'python'}\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".tmp" / "collections"),
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(book), "-e", json.dumps(extra_vars)],
                          capture_output=True, text=True, env=env, cwd=workdir, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The role run once (and once more) for a Proxmox VE node in its own namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    ns = f"nstg{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        build_pve_node(ns)
        workdir = tmp_path_factory.mktemp("tap_guard_role")
        root = workdir / "host"
        extra = {"ns": ns, "pve": str(PVE), "root": str(root), "python": sys.executable}
        first = play(ROLE_PLAY, workdir, extra)
        assert first.returncode == 0, first.stdout + first.stderr
        second = play(ROLE_PLAY, workdir, extra)
        yield root, first, second, extra
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_role_renders_the_unit(installed):
    root = installed[0]
    unit = (root / "etc/systemd/system/netsafe-tap-guard.service").read_text()
    assert unit == EXPECTED_UNIT.format(root=root, python=sys.executable)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(installed):
    root = installed[0]
    proc = subprocess.run(["systemd-analyze", "verify", str(root / "etc/systemd/system/netsafe-tap-guard.service")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_role_writes_the_settings_and_the_code(installed):
    root, _first, _second, extra = installed
    settings = json.loads((root / "etc/netsafe/tap_guard.json").read_text())
    assert settings == {"source": "proxmox", "proxmox_dir": str(PVE), "libvirt_xml_dir": "/etc/libvirt/qemu",
                        "libvirt_status_dir": "/run/libvirt/qemu", "libvirt_read": "auto",
                        "ports": None, "bridges": ["vmbr0", "vmbr1"], "namespace": extra["ns"],
                        "event_buffer": 8388608, "lock_timeout": 300.0}
    code = root / "lib/ansible_collections/netsafe/hypervisor/plugins/module_utils"
    assert (code / "_guests" / "watcher.py").is_file() and (code / "_network" / "netlink.py").is_file()
    assert (code / "_common" / "hostlock.py").is_file()


def test_role_second_run_changes_nothing(installed):
    _root, first, second, _extra = installed
    assert re.search(r"lab\s*: ok=\d+\s+changed=[1-9]", first.stdout), first.stdout
    assert second.returncode == 0
    assert re.search(r"lab\s*: ok=\d+\s+changed=0\s", second.stdout), second.stdout


def test_watcher_runs_as_the_unit_starts_it(installed, tmp_path):
    """ExecStart and Environment from the rendered unit, only the installed code on the path."""
    root, _first, _second, extra = installed
    unit = (root / "etc/systemd/system/netsafe-tap-guard.service").read_text().splitlines()
    env_line = next(l for l in unit if l.startswith("Environment="))[len("Environment="):]
    argv = shlex.split(next(l for l in unit if l.startswith("ExecStart="))[len("ExecStart="):])
    key, _sep, value = env_line.partition("=")
    assert_watcher_restores(argv, extra["ns"], tmp_path, {key: value})
