"""The MTU follows the path through a bond and a VLAN (issue 27, part 3), in the full-kernel lane.

The classic job: vmbr0 on bond0.100, a VLAN on bond0 of eno1 and eno2, a VM's tap on vmbr0, the host's address on
bond0.50 (another VLAN on the bond). `net_bridge mtu: 9000` sets vmbr0 (first, so its MTU is its own), then raises
bond0 (the kernel gives eno1 and eno2 the bond's MTU), then bond0.100; the tap and bond0.50 stay at 1500. Back to 1500 goes vmbr0, bond0.100, bond0.
Check mode's prediction equals the host read back, device by device (test_mtu_path.changed_as_predicted). The undo
sweep of both changes is in test_undo_sweep.py. A VLAN on the bridge, which the kernel lowers with it, is raised
back by a checkpoint's rollback after its bridge (the same for a macvlan on the host kernel: tests/review27).
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import fresh_namespace
from test_mtu_path import changed_as_predicted, mtus
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.fullkernel("bonding", "8021q", "dummy")]

CLASSIC = [
    "ip link add eno1 type dummy",
    "ip link add eno2 type dummy",
    "ip link add bond0 type bond mode active-backup miimon 100",
    "ip link set eno1 master bond0",
    "ip link set eno2 master bond0",
    "ip link add link bond0 name bond0.100 type vlan id 100",
    "ip link add link bond0 name bond0.50 type vlan id 50",
    "ip tuntap add tap100i0 mode tap",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set bond0.100 master vmbr0",
    "ip link set tap100i0 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("bond0", "bond0.100", "bond0.50", "tap100i0", "vmbr0")),
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip route add default via 192.0.2.1",
    "ip address add 198.51.100.10/24 dev bond0.50",
    "ip address add 2001:db8:50::10/64 dev bond0.50",
]
CLASSIC_JUMBO = CLASSIC + [f"ip link set {dev} mtu 9000" for dev in ("bond0", "bond0.100", "vmbr0")]
PATH = ("eno1", "eno2", "bond0", "bond0.100", "vmbr0")


def set_mtu(ns: str, devices, mtu: int) -> list:
    return [f"ip -n {ns} link set dev {dev} mtu {mtu}" for dev in devices]


def test_the_classic_job_goes_to_9000_the_bridge_then_bottom_up(netns):
    fresh_namespace(netns, CLASSIC)
    done = changed_as_predicted(netns, {"name": "vmbr0", "mtu": 9000})
    assert done["commands"] == set_mtu(netns, ("vmbr0", "bond0", "bond0.100"), 9000)
    now = mtus(netns)
    assert [now[dev] for dev in PATH] == [9000] * 5, now   # the slaves from the bond, by the kernel
    assert (now["tap100i0"], now["bond0.50"]) == (1500, 1500)


def test_the_classic_job_goes_back_to_1500_top_down(netns):
    fresh_namespace(netns, CLASSIC_JUMBO)
    assert [mtus(netns)[dev] for dev in PATH] == [9000] * 5
    done = changed_as_predicted(netns, {"name": "vmbr0", "mtu": 1500})
    assert done["commands"] == set_mtu(netns, ("vmbr0", "bond0.100", "bond0"), 1500)
    now = mtus(netns)
    assert [now[dev] for dev in PATH] == [1500] * 5, now


def test_lowering_stops_at_a_bond_another_vlan_still_needs(netns):
    fresh_namespace(netns, CLASSIC_JUMBO + ["ip link set bond0.50 mtu 9000"])
    done = changed_as_predicted(netns, {"name": "vmbr0", "mtu": 1500})
    assert done["commands"] == set_mtu(netns, ("vmbr0", "bond0.100"), 1500)
    now = mtus(netns)
    assert (now["bond0"], now["bond0.50"], now["eno1"]) == (9000, 9000, 9000)


def test_refuse_names_the_vlan_and_the_bond_and_changes_nothing(netns):
    fresh_namespace(netns, CLASSIC)
    before = kernel_state(netns)
    result = run_module("net_bridge", {"name": "vmbr0", "mtu": 9000, "port_mtu": "refuse", "namespace": netns})
    assert result.get("failed") and result["changed"] is False, result
    assert "on its path bond0.100 (1500), bond0 (1500) have less" in result["msg"], result["msg"]
    assert state_diff(before, kernel_state(netns)) == []


def test_net_state_with_the_bond_described_lower_is_refused_naming_both_entries(netns):
    fresh_namespace(netns, CLASSIC)
    before = kernel_state(netns)
    result = run_module("net_state", {"namespace": netns, "bonds": [{"name": "bond0", "mtu": 1500}],
                                      "bridges": [{"name": "vmbr0", "mtu": 9000}]})
    assert result.get("failed") and result["changed"] is False, result
    assert "bonds[0] (bond0) gives bond0 on its path mtu 1500" in result["msg"], result["msg"]
    assert "bridges[0] (vmbr0)" in result["msg"]
    assert state_diff(before, kernel_state(netns)) == []


def test_a_checkpoint_rolls_back_a_bridge_lowered_under_a_vlan(netns, tmp_path):
    """vmbr0.20 at 9000 on vmbr0: lowering vmbr0 lowers it (the kernel); the rollback raises vmbr0, then the VLAN."""
    fresh_namespace(netns, CLASSIC_JUMBO + ["ip link add link vmbr0 name vmbr0.20 type vlan id 20",
                                            "ip link set vmbr0.20 mtu 9000", "ip link set vmbr0.20 up"])
    before = kernel_state(netns)
    root = tmp_path / "root"
    root.mkdir()
    try:
        armed = run_module("net_checkpoint", {"state": "armed", "namespace": netns, "root": str(root), "timeout": 120})
        assert not armed.get("failed"), armed.get("msg")
        lowered = run_module("net_bridge", {"name": "vmbr0", "mtu": 1500, "namespace": netns})
        assert lowered["changed"] and not lowered.get("failed"), lowered
        assert mtus(netns)["vmbr0.20"] == 1500
        back = run_module("net_checkpoint", {"state": "rolled_back", "namespace": netns, "root": str(root)})
        assert not back.get("failed"), back.get("msg")
        assert state_diff(before, kernel_state(netns)) == []
    finally:
        kill_watchdogs(root)
