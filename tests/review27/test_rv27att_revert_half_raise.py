"""Review 27 (attacker): the revert of a raise that was interrupted half way, without a checkpoint.

net_bridge `vmbr0 mtu: 9000` killed after its first step leaves eth1 at 9000 under vmbr0 at 1500. The same task
again finishes it (a bridge whose MTU is unchanged raises a path left below it: plan_mtu.follow_mtu). The
operator who instead reverts (`mtu: 1500`, net_bridge or net_state) gets "changed: false": the path is followed
only upward when the bridge's own MTU is unchanged, so eth1 stays at 9000 under a bridge at 1500 (and every file
net_persist writes from now on says so). Expected: the revert leaves the path at the bridge's MTU, as the
raise would have (eth1, which nothing else stands on, back at 1500).
"""
from __future__ import annotations

import json
import subprocess

import pytest

from modrun import run_module
from sweep import fresh_namespace

pytestmark = pytest.mark.kernel

HALF_RAISED = [
    "ip link add eth1 type veth peer name sw1",
    "ip tuntap add tap100i0 mode tap",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set tap100i0 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("sw1", "eth1", "tap100i0", "vmbr0")),
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip link set eth1 mtu 9000",   # the first step of the raise; the run was killed before vmbr0's
]


def mtus(ns: str) -> dict:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show"], check=True, capture_output=True, text=True).stdout
    return {link["ifname"]: link["mtu"] for link in json.loads(out)}


def test_the_same_task_again_finishes_the_raise(netns):
    fresh_namespace(netns, HALF_RAISED)
    done = run_module("net_bridge", {"name": "vmbr0", "mtu": 9000, "namespace": netns})
    assert done["commands"] == [f"ip -n {netns} link set dev vmbr0 mtu 9000"], done
    assert (mtus(netns)["vmbr0"], mtus(netns)["eth1"]) == (9000, 9000)


@pytest.mark.xfail(strict=True, reason="review 27 att: reverting a half-done raise leaves the uplink at 9000 under a 1500 bridge")
@pytest.mark.parametrize("module, args", [("net_bridge", {"name": "vmbr0", "mtu": 1500}),
                                          ("net_state", {"bridges": [{"name": "vmbr0", "mtu": 1500}]})])
def test_the_revert_lowers_the_uplink_left_raised(netns, module, args):
    fresh_namespace(netns, HALF_RAISED)
    result = run_module(module, dict(args, namespace=netns))
    assert not result.get("failed"), result.get("msg")
    # fails: changed false, no command; eth1 at 9000 under vmbr0 at 1500
    assert (mtus(netns)["vmbr0"], mtus(netns)["eth1"]) == (1500, 1500), result["commands"]
