"""The sweep lane: the full-kernel lane's kill sweeps (marker `sweep`), in a VM of their own, run on purpose.

Each kill costs the watchdog's deadline in emulated time (about 45 s), so the sweeps of net_state's coupled
changes would add many minutes to the default run; they run with

    NETSAFE_SWEEP_LANE=1 ./tests/run-all.sh tests/fullkernel/test_sweep_lane.py

(NETSAFE_KILL_SWEEP=every kills at every operation instead of the first, a middle and the last). The default
lane (test_lane.py) runs every other `fullkernel` test.
"""
from __future__ import annotations

import os

import pytest

from fullkernel import lane, plugin

SWEEP_LANE_ENV = "NETSAFE_SWEEP_LANE"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get(SWEEP_LANE_ENV) != "1",
                    reason=f"the sweep lane runs on purpose: {SWEEP_LANE_ENV}=1 ./tests/run-all.sh "
                           f"tests/fullkernel/test_sweep_lane.py")
def test_sweep_lane(lane_vm):
    plugin.run_lane_tests(lane_vm, lane.sweep_pytest_args(), "sweep lane: ")
