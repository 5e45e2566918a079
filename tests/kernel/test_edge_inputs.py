"""Input at the edges on a real kernel (issue 23, items 5 and 6): module runs in a throwaway namespace.

A name that could glob or split a command, a root a symlink leads out of: each task fails naming the
parameter, and the complete state dump, the network lock's directory and the files stay as they were.
Checkpoint paths (namespace names, private directories) are tests/checkpoint/test_private_dirs.py.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import persist_lab
from modrun import run_module
from nstools import ip, kernel_state, state_diff
from watchdogs import kill_watchdogs

pytestmark = pytest.mark.kernel

ALLOWED = "allowed ASCII letters, digits, '-', '_' and '.', starting with a letter or digit, at most 15 bytes"


@pytest.fixture
def lab(namespaces):
    """(namespace with the 'bridges' host and guests, its peer namespace)."""
    return persist_lab.bridges_host(namespaces)


def files_under(root: Path) -> dict:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


BAD_TASKS = [
    ("net_bridge", {"name": "vm*"}, f"name: 'vm*' is not a valid interface name; {ALLOWED}"),
    ("net_bridge", {"name": "vmbr9", "ports": ["eno3", "eth[0-9]"]}, "ports: 'eth[0-9]' is not a valid interface name"),
    ("net_bridge", {"name": "vmbr1", "vlan_filtering": True, "port_vlans": [{"port": "eno2;x", "pvid": 5}]},
     "port_vlans.port: 'eno2;x' is not a valid interface name"),
    ("net_bond", {"name": "bond$1", "ports": ["eno3"]}, "name: 'bond$1' is not a valid interface name"),
    ("net_bond", {"name": "bond1", "ports": ["eno3"], "mode": "active-backup", "primary": "eno*"},
     "primary: 'eno*' is not a valid interface name"),
    ("net_vlan", {"parent": "eno%d", "vlan_id": 10}, "parent: 'eno%d' is not a valid interface name"),
    ("net_vlan", {"name": "v'10", "parent": "eno3", "vlan_id": 10}, "name: \"v'10\" is not a valid interface name"),
    ("tap_reenslave", {"source": "explicit", "ports": [{"device": "tap100i0", "bridge": "vmbr?"}]},
     f"ports[0]: bridge: 'vmbr?' is not a valid interface name; {ALLOWED}"),
    ("net_checkpoint", {"state": "armed", "devices": ["vmbr0", "vm*"]}, "devices: 'vm*' is not a valid interface name"),
]


def test_a_name_outside_the_rule_fails_naming_its_parameter_and_changes_nothing(lab, tmp_path):
    ns, _peer = lab
    before = kernel_state(ns)
    lock = Path(f"/run/netsafe/lock/netns-{ns}.lock")
    try:
        for module, args, message in BAD_TASKS:
            extra = {"root": str(tmp_path)} if module == "net_checkpoint" else {}
            for check in (True, False):
                result = run_module(module, dict(args, namespace=ns, **extra), check=check)
                assert result.get("failed") and message in result["msg"] and not result["changed"], (module, args, result)
    finally:
        kill_watchdogs(tmp_path)   # had a checkpoint been armed
    assert state_diff(before, kernel_state(ns)) == []
    assert not lock.exists() and list(tmp_path.iterdir()) == []   # no lock taken, no checkpoint directory made


def test_the_commands_a_task_shows_are_shell_quoted(lab):
    """A port another tool named is released as it is; the command shown for it pastes into a shell safely."""
    ns, _peer = lab
    ip("link", "add", "up;link0", "type", "veth", "peer", "name", "up;link1", ns=ns)
    ip("link", "add", "vmbr9", "type", "bridge", ns=ns)
    ip("link", "set", "up;link0", "master", "vmbr9", ns=ns)
    result = run_module("net_bridge", {"name": "vmbr9", "ports": ["eno3"], "namespace": ns}, check=True)
    assert not result.get("failed"), result
    assert f"ip -n {ns} link set dev 'up;link0' nomaster" in result["commands"], result["commands"]


def test_persisting_a_kernel_device_whose_name_would_glob_is_refused(lab, tmp_path):
    """A bridge another tool named `vm*` would be networkd's `Name=vm*`, matching every vmbr at boot."""
    ns, _peer = lab
    ip("link", "add", "vm*", "type", "bridge", ns=ns)
    for fmt in ("networkd", "ifupdown2"):
        for devices in (None, ["vm*"]):
            result = run_module("net_persist", {"format": fmt, "namespace": ns, "root": str(tmp_path), "devices": devices})
            assert result.get("failed") and "devices: 'vm*' is not a valid interface name" in result["msg"], result
    assert files_under(tmp_path) == {}
    ok = run_module("net_persist", {"format": "networkd", "namespace": ns, "root": str(tmp_path), "devices": ["vmbr0"]})
    assert not ok.get("failed") and ok["changed"], ok   # the rest of the host is still ours to write


def test_a_root_a_symlink_leads_out_of_is_refused_and_nothing_is_written_outside(lab, tmp_path):
    ns, _peer = lab
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    outside.mkdir()
    (root / "etc/network").symlink_to(outside)
    before = kernel_state(ns)
    for args in ({}, {"state": "rendered"}, {"path": "/../outside/interfaces"}):
        result = run_module("net_persist", dict({"format": "ifupdown2", "namespace": ns, "root": str(root)}, **args))
        # named by the option that led out (the default path /etc/network/interfaces too), not root
        assert result.get("failed") and result["msg"].startswith("path: ") and "leads out of" in result["msg"], result
    (root / "etc/network").unlink()
    (root / "etc/network").mkdir()
    (root / "var").mkdir()
    (root / "var/lib").symlink_to(outside)   # the default backup_dir, /var/lib/netsafe/backups
    (root / "etc/network/interfaces").write_text("auto lo\niface lo inet loopback\n")
    result = run_module("net_persist", {"format": "ifupdown2", "namespace": ns, "root": str(root)})
    assert result.get("failed") and f"backup_dir: {root}/var/lib/netsafe/backups leads out of" in result["msg"], result
    preview = run_module("net_persist", {"format": "ifupdown2", "namespace": ns, "root": str(root),
                                         "backup_dir": "/srv/../../outside"}, check=True)
    assert preview.get("failed") and preview["msg"].startswith(f"backup_dir: {root}/srv/../../outside leads out of")
    assert (root / "etc/network/interfaces").read_text() == "auto lo\niface lo inet loopback\n"
    assert list(outside.iterdir()) == [] and state_diff(before, kernel_state(ns)) == []


def test_backups_get_private_directories_whatever_the_umask(lab, tmp_path):
    ns, _peer = lab
    (tmp_path / "etc/network").mkdir(parents=True)
    (tmp_path / "etc/network/interfaces").write_text("auto lo\niface lo inet loopback\n")
    old = os.umask(0)
    try:
        result = run_module("net_persist", {"format": "ifupdown2", "namespace": ns, "root": str(tmp_path)})
    finally:
        os.umask(old)
    assert not result.get("failed") and result["backups"], result
    top = tmp_path / "var/lib/netsafe"
    modes = {str(p): oct(stat.S_IMODE(p.lstat().st_mode)) for p in [top] + list(top.rglob("*")) if p.is_dir()}
    assert set(modes.values()) == {"0o700"}, modes
