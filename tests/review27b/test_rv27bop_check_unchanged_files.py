"""Review 27b (operator): --check --diff of a host already at 9000 hides the files it would write and the probe.

vmbr0 and eno1 were raised to 9000 by hand before the window; /etc/network/interfaces does not say 9000 yet.
The real window (item 4 of issue 27) proves 9000 on the path and then writes `mtu 9000` into the files (or stops
NOT TOUCHED when the path does not carry it). Its check mode, which the operator runs first, does neither:
net_state's preview (guarded.previewed) looks at the files and the path MTU probes only when there is a plan.

What happens: `--check --diff` prints `hv1: UNCHANGED. Already in the wanted state ... probes: none run; files
written: 0.`, the diff is the state's only (before == after), there is no `path_mtu`; then the real run writes
the file (`files written: 1`), or, with the switch at 1500, fails NOT TOUCHED on a probe --check never named.

Expected: check mode previews what the real run does: the files' diff after the state's (as for a change), and
the path MTU probe the files' new MTU needs in `path_mtu` (and so in the PREVIEW summary).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nstools import iproute, settled_state, state_diff
from jumbo_lab import build, set_switch_mtu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review27"))
from rv27op_lab import report_of, task, window  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def raised_by_hand(namespaces, tmp_path, switch_mtu: int) -> tuple:
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, switch_mtu)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])
    root = tmp_path / "root"
    root.mkdir()
    return hv, root


def file_diffs(diff) -> list:
    """The files' diffs of a result's `diff` (a list: the state's, then one per file)."""
    return [d for d in (diff if isinstance(diff, list) else [diff]) if "after_header" in d]


def test_check_diff_shows_the_files_the_unchanged_window_writes(namespaces, tmp_path):
    hv, root = raised_by_hand(namespaces, tmp_path, 9000)
    before = settled_state(hv)
    proc, results = window(tmp_path, hv, root, "--check", "--diff")
    preview = task(results, "Preview the change in check mode")["result"]
    assert proc.returncode == 0 and state_diff(before, settled_state(hv)) == []
    assert not (root / "etc/network/interfaces").exists()
    files = file_diffs(preview["diff"])
    # What happens: the diff is the state's alone, and the summary says "files written: 0".
    assert files and any("mtu 9000" in d["after"] for d in files), (report_of(results)["summary"], preview["diff"])
    # The real run writes them, as the preview should have shown.
    proc, results = window(tmp_path, hv, root)
    assert proc.returncode == 0 and "\tmtu 9000" in (root / "etc/network/interfaces").read_text()


def test_check_names_the_probe_the_unchanged_window_runs(namespaces, tmp_path):
    hv, root = raised_by_hand(namespaces, tmp_path, 1500)
    proc, results = window(tmp_path, hv, root, "--check")
    preview = task(results, "Preview the change in check mode")["result"]
    summary = report_of(results)["summary"]
    assert proc.returncode == 0
    # What happens: "UNCHANGED ... probes: none run; files written: 0", no path_mtu; the real run then fails.
    assert [p for p in preview.get("path_mtu") or [] if p["target"] == "192.0.2.1" and p["mtu"] == 9000], preview
    assert "9000" in summary, summary
    proc, results = window(tmp_path, hv, root)
    assert proc.returncode != 0 and report_of(results)["outcome"] == "not_touched"
