"""The full-kernel lane's in-guest half, as one host-side test: every test
marked `fullkernel` runs in one pytest process inside the VM (lane.py,
docs/testing.md). The host-side half drives ansible-playbook against the
same VM (tests/netdev/test_bond_vlan_playbooks.py)."""
from __future__ import annotations

import pytest

from fullkernel import lane, plugin


@pytest.mark.slow
def test_full_kernel_lane(lane_vm):
    plugin.run_lane_tests(lane_vm, lane.default_pytest_args())
