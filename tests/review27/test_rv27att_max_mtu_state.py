"""Review 27 (attacker): net_state (with and without a checkpoint) against an uplink whose driver caps its MTU.

A native XDP program on the switch-side peer caps eth1's max_mtu at what one page holds (tests/kernel/
test_mtu_path.py's xdp_pass). `bridges: [{name: vmbr0, mtu: 9000}]` must be refused before anything: in check
mode, in a plain run, and in a checkpointed run (no probe run, nothing armed, nothing under the root), naming
eth1; the complete state dump equal.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import fresh_namespace
from watchdogs import kill_watchdogs

pytestmark = pytest.mark.kernel

_SPEC = importlib.util.spec_from_file_location("rv27_mtu_path", Path(__file__).parents[1] / "kernel" / "test_mtu_path.py")
MTU_PATH = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(MTU_PATH)


@pytest.mark.parametrize("checkpointed", [False, True], ids=["plain", "checkpoint"])
@pytest.mark.parametrize("check", [True, False], ids=["check mode", "run"])
def test_a_capped_uplink_is_refused_before_anything(netns, tmp_path, checkpointed, check):
    fresh_namespace(netns, MTU_PATH.HOST)
    MTU_PATH.xdp_pass(netns, "sw1")
    limit = MTU_PATH.host_of(netns).get("eth1").max_mtu
    assert 1500 < limit < 9000, limit
    before = kernel_state(netns)
    root = tmp_path / "root"
    root.mkdir()
    args = {"namespace": netns, "bridges": [{"name": "vmbr0", "ports": ["eth1", "tap100i0", "veth101i0"], "mtu": 9000}]}
    if checkpointed:
        args["checkpoint"] = {"root": str(root), "timeout": 60, "gate_settle": 0,
                              "probes": [{"type": "icmp", "target": "192.0.2.10"}]}
    try:
        result = run_module("net_state", args, check=check)
        assert result.get("failed") and not result.get("changed"), result
        assert f"eth1 takes at most {limit} (its driver's max_mtu), not 9000" in result["msg"], result["msg"]
        assert "probes" not in result or not result["probes"].get("after"), result["probes"]
        assert state_diff(before, kernel_state(netns)) == []
        assert not [p for p in root.rglob("*") if p.is_file()], sorted(map(str, root.rglob("*")))
    finally:
        kill_watchdogs(root)
