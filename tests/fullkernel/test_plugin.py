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


# A feature no kernel can have: its probe asks for a link type that does not
# exist. The subprocess runs below add it to PROBES from a conftest.py, so the
# "feature missing" path runs on every kernel, whatever it has.
NO_SUCH = "netsafe_no_such_kind"
NO_SUCH_CONFTEST = f"""
from fullkernel.features import PROBES

PROBES[{NO_SUCH!r}] = [["ip", "link", "add", "fkx", "type", "netsafe-no-such-kind"]]
"""


def _run_marked(tmp_path, marker_args: str, lane: bool, conftest: str | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "test_marked.py").write_text(textwrap.dedent(f"""
        import pytest

        @pytest.mark.fullkernel({marker_args})
        def test_it():
            pass
    """))
    if conftest is not None:
        (tmp_path / "conftest.py").write_text(conftest)
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
    run = _run_marked(tmp_path, f'"veth", "{NO_SUCH}"', lane=False, conftest=NO_SUCH_CONFTEST)
    assert run.returncode == 0, run.stdout + run.stderr
    # Only the missing feature is named (veth is there), and the test is skipped, not failed.
    assert f"host kernel lacks {NO_SUCH}; runs in the full-kernel lane" in run.stdout, run.stdout
    assert "1 skipped" in run.stdout and "failed" not in run.stdout, run.stdout


@pytest.mark.kernel
def test_missing_feature_fails_inside_the_lane(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    run = _run_marked(tmp_path, f'"veth", "{NO_SUCH}"', lane=True, conftest=NO_SUCH_CONFTEST)
    assert run.returncode == 1, run.stdout + run.stderr
    # The message names the feature and what the probe tried.
    assert (f"the full-kernel lane's kernel lacks {NO_SUCH} "
            f"({NO_SUCH}: `ip link add fkx type netsafe-no-such-kind`:") in run.stdout, run.stdout
    assert "1 error" in run.stdout and "skipped" not in run.stdout, run.stdout   # failed in setup


@pytest.mark.kernel
def test_present_features_run_the_test_in_and_out_of_the_lane(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for lane in (False, True):
        run = _run_marked(tmp_path, '"veth", "bridge"', lane=lane, conftest=NO_SUCH_CONFTEST)
        assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr


def test_unknown_feature_is_a_usage_error(tmp_path):
    run = _run_marked(tmp_path, '"bondng"', lane=False)
    assert run.returncode == 4, run.stdout + run.stderr
    assert "unknown kernel feature(s) bondng" in run.stdout + run.stderr
