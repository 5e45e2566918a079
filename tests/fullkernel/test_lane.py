"""The full-kernel lane, as one host-side test: one VM boot runs every test
marked `fullkernel` on Debian's kernel (lane.py, docs/testing.md)."""
from __future__ import annotations

import pytest

from fullkernel import lane, plugin


@pytest.mark.slow
def test_full_kernel_lane(tmp_path):
    if plugin.in_lane():
        pytest.skip("already inside the full-kernel lane")
    try:
        setup = lane.load_setup()
    except lane.LaneSetupMissing as exc:
        pytest.fail(str(exc), pytrace=False)   # never skip: CI must not lose the lane quietly
    args = lane.default_pytest_args()
    if not args:
        pytest.fail("no test is marked @pytest.mark.fullkernel: the lane has nothing to run", pytrace=False)
    result = lane.boot(setup, tmp_path / "lane", pytest_args=args)
    summary = f"{result.summary()} [{setup.kernel_package}]"
    plugin.lane_summaries.append(summary)
    print(summary)
    report = lane.failure_report(result)
    if report:
        pytest.fail(report, pytrace=False)
