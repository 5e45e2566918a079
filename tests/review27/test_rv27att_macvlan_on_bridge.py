"""Review 27 (attacker): lowering a bridge from 9000 to 1500 with a macvlan on it (a container's, at 9000).

The kernel lowers a macvlan (or a VLAN) whose MTU exceeds its lower device's when that device goes down
(macvlan_device_event, vlan_device_event: NETDEV_CHANGEMTU); it never raises it back. net_bridge's plan for
`vmbr0 mtu: 1500` lowers vmbr0 and its uplink and says nothing of mv0; the kernel takes mv0 down to 1500 too.

- The plan's own undo (a refused step, or a failed verification) puts vmbr0 and eth1 back at 9000 and leaves mv0
  at 1500: the state differs after the undo.
- A checkpoint's rollback knows mv0 (its snapshot has it at 9000) but sets mv0's MTU before raising vmbr0 under it:
  the kernel refuses (a macvlan may not exceed its lower device) and the whole rollback fails: "the network still
  has the change", vmbr0, eth1 and mv0 left at 1500 (the same at the watchdog's deadline).
Expected: the undo and the rollback restore every MTU, a lower device raised before what stands on it (the
complete state dump equal).

Fixed: the model reads a macvlan's lower device (IFLA_LINK, Device.lower), the undo of an MTU change raises what
the kernel lowered with it (simulate.stacked_above), a checkpoint's snapshot keeps `lower`, and a rollback raises
the lower device first (plan_host._needs).
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from sweep import fresh_namespace, sweep
from watchdogs import armed_checkpoint

pytestmark = pytest.mark.kernel

JUMBO_MACVLAN = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("sw1", "eth1", "vmbr0")),
    "ip link set eth1 mtu 9000",
    "ip link set vmbr0 mtu 9000",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip link add mv0 link vmbr0 type macvlan mode bridge",
    "ip link set mv0 mtu 9000",
    "ip link set mv0 up",
]
LOWER = {"name": "vmbr0", "mtu": 1500}


def test_raising_with_a_macvlan_on_the_bridge_is_undone_exactly(netns):
    """The other way round holds: raising vmbr0 leaves mv0 alone, and every step's undo restores the dump."""
    setup = [line.replace("9000", "1500") for line in JUMBO_MACVLAN]
    result = sweep("macvlan raise", netns, setup, "net_bridge", {"name": "vmbr0", "mtu": 9000})
    assert result.findings == [] and result.n == 2, result.report()


def test_every_step_of_lowering_a_bridge_with_a_macvlan_is_undone(netns):
    result = sweep("macvlan lower", netns, JUMBO_MACVLAN, "net_bridge", LOWER)
    # fails: "k=1 (... link set dev eth1 mtu 1500): state differs after the undo: link mv0 mtu: 9000 -> 1500",
    # and the same for k=2
    assert result.findings == [], result.report()


def test_a_checkpoint_rolls_back_a_bridge_lowered_under_a_macvlan(netns, tmp_path):
    fresh_namespace(netns, JUMBO_MACVLAN)
    before = kernel_state(netns)
    root = tmp_path / "root"
    with armed_checkpoint(netns, root) as roll_back:
        lowered = run_module("net_bridge", dict(LOWER, namespace=netns))
        assert lowered["changed"] and not lowered.get("failed"), lowered
        back = roll_back()
        # fails: "the rollback of ... failed: the kernel refused 'ip -n NS link set dev mv0 mtu 9000': Invalid
        # argument; ... the network still has the change"
        assert not back.get("failed"), back.get("msg")
        assert state_diff(before, kernel_state(netns)) == []


def test_a_macvlan_whose_lower_device_is_in_another_namespace_stands_on_nothing_here(namespaces):
    """IFLA_LINK of a macvlan moved in from another namespace is that namespace's ifindex (IFLA_LINK_NETNSID): it
    names no device here, even one with the same ifindex."""
    hv, other = namespaces.new(), namespaces.new()
    iproute(other, ["ip link add up0 type veth peer name up1", "ip link add mvx link up0 type macvlan mode bridge",
                    f"ip link set mvx netns {hv}"])
    iproute(hv, ["ip link add a0 type veth peer name a1", "ip link add a2 type veth peer name a3"])
    with Netlink(hv) as netlink:
        host = read_host(netlink, GuestMatcher()).host
    assert host.get("mvx") is not None and host.get("mvx").lower is None
