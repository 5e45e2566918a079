"""The full-kernel lane's in-guest half, as one host-side test: every test
marked `fullkernel` runs in one pytest process inside the VM (lane.py,
docs/testing.md). The host-side half drives ansible-playbook against the
same VM (tests/netdev/test_bond_vlan_playbooks.py)."""
from __future__ import annotations

import pytest

from fullkernel import lane, plugin


@pytest.mark.slow
def test_full_kernel_lane(lane_vm):
    args = lane.default_pytest_args()
    if not args:
        pytest.fail("no test is marked @pytest.mark.fullkernel: the lane has nothing to run", pytrace=False)
    result = lane_vm.pytest(args)
    summary = f"{result.summary()} [{lane_vm.setup.kernel_package}]"
    plugin.lane_summaries.append(summary)
    print(summary)
    report = lane.failure_report(result)
    if report:
        pytest.fail(report, pytrace=False)
