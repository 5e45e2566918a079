"""Review 27b (attacker): a host's network file that is not UTF-8 crashes the window with a traceback.

/etc/network/interfaces holding bytes that are not UTF-8 (a stray Latin-1 comment, a half-written file from another
tool) is read with a strict decode. The new unchanged-window proof (net_state `checkpoint.persist`, the host already
as wanted: guarded._files_proven -> files_before) reads the files through persist_spec.preflight_files, which raises
UnicodeDecodeError; files_before catches only NetsafeError, so the module dies with a Python traceback (Ansible's
"MODULE FAILURE"). net_persist does the same.

Expected: bad input refused clearly: a failed result naming the file (and that it is not UTF-8 text), nothing changed.
"""
from __future__ import annotations

import pytest

from jumbo_lab import build
from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from watchdogs import kill_watchdogs

pytestmark = pytest.mark.kernel

NOT_UTF8 = b"auto lo\niface lo inet loopback\n# caf\xe9 \xff\xfe\n"


def _lab(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])   # already as the task wants
    root = tmp_path / "root"
    (root / "etc/network").mkdir(parents=True)
    (root / "etc/network/interfaces").write_bytes(NOT_UTF8)
    return hv, root


def test_an_unchanged_window_refuses_a_file_that_is_not_utf8_clearly(namespaces, tmp_path):
    hv, root = _lab(namespaces, tmp_path)
    before = kernel_state(hv)
    task = {"namespace": hv, "bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}],
            "checkpoint": {"timeout": 60, "probes": [{"type": "icmp", "target": "192.0.2.1", "count": 1}],
                           "root": str(root), "persist": {"format": "ifupdown2"}}}
    try:
        result = run_module("net_state", task)   # What happens: UnicodeDecodeError out of the module
        assert result.get("failed") and "interfaces" in result["msg"], result
        assert state_diff(before, kernel_state(hv)) == []
        assert (root / "etc/network/interfaces").read_bytes() == NOT_UTF8
    finally:
        kill_watchdogs(root)


def test_net_persist_refuses_a_file_that_is_not_utf8_clearly(namespaces, tmp_path):
    hv, root = _lab(namespaces, tmp_path)
    result = run_module("net_persist", {"namespace": hv, "format": "ifupdown2", "root": str(root),
                                        "devices": ["vmbr0"]})
    assert result.get("failed") and "interfaces" in result["msg"], result
    assert (root / "etc/network/interfaces").read_bytes() == NOT_UTF8
