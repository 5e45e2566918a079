"""The `fullkernel` marker on this machine: probes answer for real, skip
reasons name the missing feature, and inside the lane a missing feature fails."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fullkernel.features import probe

TESTS = Path(__file__).resolve().parents[1]


def _run_marked(tmp_path, marker_args: str, lane: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_marked.py").write_text(textwrap.dedent(f"""
        import pytest

        @pytest.mark.fullkernel({marker_args})
        def test_it():
            pass
    """))
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    env.pop("NETSAFE_FULLKERNEL_LANE", None)
    if lane:
        env["NETSAFE_FULLKERNEL_LANE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "fullkernel.plugin", "-p", "no:cacheprovider",
         "--strict-markers", str(tmp_path / "test_marked.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False)


@pytest.mark.kernel
def test_probe_says_yes_to_what_every_kernel_here_has():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    assert probe("veth") == (True, "ok")
    assert probe("bridge") == (True, "ok")


@pytest.mark.kernel
def test_missing_feature_is_named_in_the_skip_reason(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    present, _detail = probe("bonding")
    if present:
        pytest.skip("this kernel has bonding: nothing to skip")
    run = _run_marked(tmp_path, '"veth", "bonding"', lane=False)
    assert run.returncode == 0, run.stdout
    assert "host kernel lacks bonding; runs in the full-kernel lane" in run.stdout
    assert "1 skipped" in run.stdout


@pytest.mark.kernel
def test_missing_feature_fails_inside_the_lane(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    present, _detail = probe("bonding")
    if present:
        pytest.skip("this kernel has bonding: nothing is missing")
    run = _run_marked(tmp_path, '"bonding"', lane=True)
    assert run.returncode == 1, run.stdout
    assert "the full-kernel lane's kernel lacks bonding" in run.stdout


def test_unknown_feature_is_a_usage_error(tmp_path):
    run = _run_marked(tmp_path, '"bondng"', lane=False)
    assert run.returncode == 4, run.stdout + run.stderr
    assert "unknown kernel feature(s) bondng" in run.stdout + run.stderr
