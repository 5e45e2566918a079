"""Review 27 (attacker): the revert of a raise that was interrupted half way, without a checkpoint.

Found: net_bridge `vmbr0 mtu: 9000` raised the uplink first, so killed after its first step it left eth1 at 9000
under vmbr0 at 1500, and the revert (`mtu: 1500`) reported "changed: false": a bridge whose MTU is unchanged only
raises a path left below it.

Fixed: the bridge's MTU is now set first (plan_bridge: so it is the bridge's own, not the kernel's auto-sizing), so a
raise killed after its first step leaves vmbr0 at 9000 over eth1 at 1500. The same task again finishes it (the path
left below is raised), and the revert lowers the bridge, which is all that was changed. A port above its bridge
(eth1 at 9000 under vmbr0 at 1500, set by hand) stays: it loses nothing, and may be so on purpose.
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
    "ip link set vmbr0 mtu 9000",   # the first step of the raise; the run was killed before eth1's
]


def mtus(ns: str) -> dict:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show"], check=True, capture_output=True, text=True).stdout
    return {link["ifname"]: link["mtu"] for link in json.loads(out)}


def test_the_raise_is_cut_off_after_the_bridge(netns):
    """What a kill after the first step leaves: the first command of the raise is the bridge's."""
    fresh_namespace(netns, [line for line in HALF_RAISED if "mtu" not in line])
    preview = run_module("net_bridge", {"name": "vmbr0", "mtu": 9000, "namespace": netns}, check=True)
    assert preview["commands"][0] == f"ip -n {netns} link set dev vmbr0 mtu 9000", preview["commands"]


def test_the_same_task_again_finishes_the_raise(netns):
    fresh_namespace(netns, HALF_RAISED)
    done = run_module("net_bridge", {"name": "vmbr0", "mtu": 9000, "namespace": netns})
    assert done["commands"] == [f"ip -n {netns} link set dev eth1 mtu 9000"], done
    assert (mtus(netns)["vmbr0"], mtus(netns)["eth1"]) == (9000, 9000)


@pytest.mark.parametrize("module, args", [("net_bridge", {"name": "vmbr0", "mtu": 1500}),
                                          ("net_state", {"bridges": [{"name": "vmbr0", "mtu": 1500}]})])
def test_the_revert_puts_the_bridge_back(netns, module, args):
    fresh_namespace(netns, HALF_RAISED)
    result = run_module(module, dict(args, namespace=netns))
    assert not result.get("failed") and result["changed"], result.get("msg")
    assert (mtus(netns)["vmbr0"], mtus(netns)["eth1"]) == (1500, 1500), result["commands"]
