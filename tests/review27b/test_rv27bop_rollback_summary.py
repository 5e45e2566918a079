"""Review 27b (operator): the ROLLED BACK summary of a jumbo window says the probe failure twice.

The switch port is still at 1500; the window raises vmbr0 and eno1 to 9000, the path MTU probe fails, the window
rolls back (as docs/change_window.md's worked example says). The summary an operator reads at 02:00:

    hv1: ROLLED BACK. Why: 'Apply the change inside a checkpoint' failed: probes failed after the change (path mtu
    192.0.2.1: path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do); no reply to 3 echo requests within
    1.0 s each); checkpoint ... rolled back in 10.4 ms (2 commands). Restored by the role: probes failed after the
    change: path mtu 192.0.2.1: path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do); no reply to 3
    echo requests within 1.0 s each, 2 commands in 10.4 ms. Probes after the rollback: ...

The reason (and the rollback's time and command count) is given twice, so the one line that matters is buried in a
wall of repeated text. Expected: the failure once (Why:), then what restored the host.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nstools import settled_state, state_diff
from jumbo_lab import build

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review27"))
from rv27op_lab import report_of, window  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def test_the_rolled_back_summary_names_the_failure_once(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)   # the switch at 1500
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    proc, results = window(tmp_path, hv, root)
    summary = report_of(results)["summary"]
    assert proc.returncode != 0 and summary.startswith("hv1: ROLLED BACK."), summary
    assert state_diff(before, settled_state(hv)) == []
    # What happens: twice.
    assert summary.count("8972-byte packets to 192.0.2.1 do not pass (1472 do)") == 1, summary
