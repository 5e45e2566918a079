"""Review 27b (attacker): deleting a bridge destroys the macvtap and macvlan devices stacked on it, unannounced.

A libvirt guest with `<interface type='direct'><source dev='vmbr0' mode='bridge'/>` runs on a macvtap whose lower
device is the bridge (macvtap0); a container may run on a macvlan of it. The model now knows both stand on vmbr0
(Device.lower). `net_bridge state=absent` (detach_guests left false) still plans a bare `link del vmbr0`: the
kernel unregisters every macvlan/macvtap on a device it deletes, so the guest's NIC is destroyed. Nothing refuses or
warns; --diff reports mv0 under `also_changed` as `present: None -> False`. No undo can bring a macvtap back
(netsafe never creates one): the sweep's undo of the whole plan re-creates vmbr0 but not macvtap0.

Expected: as for a guest port, a bridge carrying a macvlan/macvtap is refused (naming it) unless the task says so,
with nothing changed.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from sweep import fresh_namespace

pytestmark = pytest.mark.kernel

BRIDGE_WITH_MACVTAP = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("sw1", "eth1", "vmbr0")),
    "ip link add macvtap0 link vmbr0 type macvtap mode bridge",
    "ip link add mv0 link vmbr0 type macvlan mode bridge",
    "ip link set macvtap0 up", "ip link set mv0 up",
]


def test_deleting_a_bridge_under_a_guests_macvtap_is_refused_with_nothing_changed(netns):
    fresh_namespace(netns, BRIDGE_WITH_MACVTAP)
    before = kernel_state(netns)
    result = run_module("net_bridge", {"name": "vmbr0", "state": "absent", "namespace": netns})
    after = kernel_state(netns)
    # What happens: changed, no failure, no warning; "link macvtap0: gone", "link mv0: gone".
    assert result.get("failed"), (result.get("commands"), result.get("warnings"))
    assert "macvtap0" in result["msg"] and "mv0" in result["msg"], result["msg"]
    assert state_diff(before, after) == []


def test_the_lab_kernel_deletes_a_macvtap_with_its_lower_device(netns):
    """The lab is right: the kernel itself takes the macvtap and the macvlan with the bridge."""
    fresh_namespace(netns, BRIDGE_WITH_MACVTAP)
    iproute(netns, ["ip link del vmbr0"])
    names = {link["ifname"] for link in kernel_state(netns)["links"]}
    assert "macvtap0" not in names and "mv0" not in names and "eth1" in names
