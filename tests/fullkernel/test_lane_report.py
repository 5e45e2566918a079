"""The lane's verdict on an in-guest pytest run, from its JUnit report: pure logic, no VM.

A skip inside the lane is a lost test (the lane exists to run what the host
kernel cannot), and a run in which nothing passed tested nothing: both must
fail the lane, naming each skipped test and its reason.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from fullkernel.lane import Counts, LaneResult, failure_report, parse_junit


def junit(tmp_path, cases: str, tests: int, failures: int = 0, errors: int = 0, skipped: int = 0):
    """A JUnit file shaped like pytest's (--junitxml, the xunit2 family)."""
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        f'<testsuite name="pytest" errors="{errors}" failures="{failures}" skipped="{skipped}" '
        f'tests="{tests}" time="1.0">{cases}</testsuite></testsuites>')
    return path


PASS = '<testcase classname="tests.fullkernel.test_lane_smoke" name="test_bond" time="1.0" />'
SKIP_BONDING = (
    '<testcase classname="tests.netdev.test_vlan" name="test_vlan_on_a_bond" time="0.1">'
    '<skipped type="pytest.skip" message="host kernel lacks bonding; runs in the full-kernel lane">'
    '/work/tests/netdev/test_vlan.py:12: host kernel lacks bonding; runs in the full-kernel lane'
    '</skipped></testcase>')
SKIP_ROOT = (
    '<testcase classname="tests.netdev.test_bridge.TestPorts" name="test_pvid[10]" time="0.1">'
    '<skipped type="pytest.skip" message="needs root to create network namespaces">'
    '/work/tests/conftest.py:33: needs root to create network namespaces</skipped></testcase>')
FAIL = ('<testcase classname="tests.netdev.test_mtu" name="test_jumbo" time="0.1">'
        '<failure message="AssertionError: mtu 1500">E   AssertionError: mtu 1500</failure></testcase>')


def result_of(tmp_path, path, rc: int) -> LaneResult:
    result = LaneResult(tmp_path, rc=rc)
    result.counts, result.failed, result.skipped = parse_junit(path)
    return result


def test_parse_junit_lists_each_skipped_test_with_its_reason(tmp_path):
    counts, failed, skipped = parse_junit(junit(tmp_path, PASS + SKIP_BONDING + SKIP_ROOT, tests=3, skipped=2))
    assert counts == Counts(tests=3, failures=0, errors=0, skipped=2) and counts.passed == 1
    assert failed == []
    assert skipped == [
        ("tests.netdev.test_vlan::test_vlan_on_a_bond", "host kernel lacks bonding; runs in the full-kernel lane"),
        ("tests.netdev.test_bridge.TestPorts::test_pvid[10]", "needs root to create network namespaces"),
    ]


def test_a_run_where_every_test_was_skipped_fails_the_lane(tmp_path):
    result = result_of(tmp_path, junit(tmp_path, SKIP_BONDING + SKIP_ROOT, tests=2, skipped=2), rc=0)
    report = failure_report(result)
    assert report is not None, "the lane passed a guest run in which every test was skipped"
    assert "no test passed in the full-kernel lane" in report
    assert "2 test(s) skipped in the full-kernel lane" in report
    assert ("  tests.netdev.test_vlan::test_vlan_on_a_bond: host kernel lacks bonding; runs in the full-kernel lane"
            in report.splitlines())
    assert ("  tests.netdev.test_bridge.TestPorts::test_pvid[10]: needs root to create network namespaces"
            in report.splitlines())


def test_one_skip_among_passes_fails_the_lane(tmp_path):
    result = result_of(tmp_path, junit(tmp_path, PASS + SKIP_BONDING, tests=2, skipped=1), rc=0)
    report = failure_report(result)
    assert report is not None, "the lane passed a guest run with a skipped test"
    assert "1 test(s) skipped in the full-kernel lane" in report
    assert "no test passed" not in report
    assert "tests.netdev.test_vlan::test_vlan_on_a_bond: host kernel lacks bonding" in report


def test_an_xfail_counts_as_a_skip_and_is_named_as_one(tmp_path):
    xfail = ('<testcase classname="tests.netdev.test_team" name="test_team" time="0.1">'
             '<skipped type="pytest.xfail" message="team driver flaky" /></testcase>')
    result = result_of(tmp_path, junit(tmp_path, PASS + xfail, tests=2, skipped=1), rc=0)
    assert result.skipped == [("tests.netdev.test_team::test_team (xfail)", "team driver flaky")]
    report = failure_report(result)
    assert report is not None, "the lane passed a guest run with an xfailed test"
    assert "tests.netdev.test_team::test_team (xfail): team driver flaky" in report


def test_a_skip_counted_by_the_suite_but_not_found_in_a_case_still_fails(tmp_path):
    result = LaneResult(tmp_path, rc=0, counts=Counts(tests=3, skipped=1))
    report = failure_report(result)
    assert report is not None and "1 test(s) skipped in the full-kernel lane" in report


def test_zero_passed_fails_even_when_the_counts_say_nothing_failed(tmp_path):
    result = LaneResult(tmp_path, rc=0, counts=Counts(tests=2, failures=1, errors=1))
    report = failure_report(result)
    assert report is not None and "no test passed in the full-kernel lane" in report


def test_a_clean_run_passes(tmp_path):
    result = result_of(tmp_path, junit(tmp_path, PASS, tests=1), rc=0)
    assert result.skipped == [] and failure_report(result) is None


def test_failures_and_skips_are_both_reported(tmp_path):
    result = result_of(tmp_path, junit(tmp_path, PASS + FAIL + SKIP_BONDING, tests=3, failures=1, skipped=1), rc=1)
    report = failure_report(result)
    assert "1 test(s) failed in the full-kernel lane (guest pytest rc 1):" in report
    assert "  tests.netdev.test_mtu::test_jumbo (failure)" in report.splitlines()
    assert "E   AssertionError: mtu 1500" in report
    assert "tests.netdev.test_vlan::test_vlan_on_a_bond: host kernel lacks bonding" in report


def test_zero_tests_is_still_its_own_failure(tmp_path):
    result = result_of(tmp_path, junit(tmp_path, "", tests=0), rc=5)
    assert "ran zero tests" in failure_report(result)


def test_the_report_reads_what_this_pytest_really_writes(tmp_path):
    """Not a hand-written file: a real pytest run's JUnit report, skips and all."""
    (tmp_path / "test_guest.py").write_text(textwrap.dedent("""
        import pytest

        def test_runs():
            pass

        def test_needs_bonding():
            pytest.skip("host kernel lacks bonding; runs in the full-kernel lane")

        @pytest.mark.parametrize("vid", [7])
        def test_marked(vid):
            pytest.skip(f"vid {vid} <&> 'quoted'")
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETSAFE_", "PYTEST_"))}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml",
                          str(tmp_path / "junit.xml"), "test_guest.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    result = result_of(tmp_path, tmp_path / "junit.xml", rc=run.returncode)
    assert result.counts == Counts(tests=3, skipped=2)
    assert result.skipped == [
        ("test_guest::test_needs_bonding", "host kernel lacks bonding; runs in the full-kernel lane"),
        ("test_guest::test_marked[7]", "vid 7 <&> 'quoted'"),
    ]
    report = failure_report(result)
    assert report is not None and "2 test(s) skipped in the full-kernel lane" in report
