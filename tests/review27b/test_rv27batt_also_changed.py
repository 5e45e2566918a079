"""Review 27b (attacker): `also_changed` misses or misreports a device the change deletes with it.

Deleting vmbr0 also deletes the macvlan mv0 on it (the kernel unregisters a macvlan with its lower device).

1. Check mode (--check --diff): the prediction (simulate) does not delete what stands on a deleted device, so the
   preview's diff has no `also_changed` at all: the operator is not told mv0 will vanish.
2. The real run lists mv0 under `also_changed`, but views._settings builds the "before" side from Device.to_dict(),
   which has no `present`: it reads `present: None -> False` ("mv0 was not there and still is not").

Fixed: deleting a device a macvlan or macvtap stands on is refused, naming it (plan.deletable), in check mode too;
and `also_changed` says `present: true -> false` of a device a change deletes (views._settings).
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import HostNetwork, IpConfig, Nic
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import result_diff
from modrun import run_module
from sweep import fresh_namespace

pytestmark = pytest.mark.kernel

SETUP = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("sw1", "eth1", "vmbr0")),
    "ip link add mv0 link vmbr0 type macvlan mode bridge",
]
TASK = {"name": "vmbr0", "state": "absent"}


def test_check_mode_refuses_to_delete_the_bridge_under_the_macvlan(netns):
    fresh_namespace(netns, SETUP)
    preview = run_module("net_bridge", dict(TASK, namespace=netns), check=True)
    assert preview.get("failed") and "macvlan mv0" in preview["msg"], preview


def test_a_device_a_change_deletes_is_said_to_go():
    """On models: a device no entry describes that the change deletes reads present true -> false."""
    before = HostNetwork()
    before.add(Nic(name="eth1", mtu=1500, up=True, ip=IpConfig(addresses=[])))
    before.add(Nic(name="mv0", kind="macvlan", lower="eth1", mtu=1500, up=True, ip=IpConfig(addresses=[])))
    after = before.shallow()
    after.devices.pop("mv0")
    diff = result_diff(lambda host: {"name": "eth1", "present": host.get("eth1") is not None}, before, after)
    assert (diff["before"]["also_changed"], diff["after"]["also_changed"]) == (
        [{"name": "mv0", "present": True}], [{"name": "mv0", "present": False}])
