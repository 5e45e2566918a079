"""Planning a NIC (net_nic): what it refuses, where it warns, and when taking it down cuts the host off."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import undo_sequence
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_nic import plan_nic
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict

GUESTS = GuestMatcher()


def ip(*addresses, gateway4=None):
    return IpConfig(addresses=list(addresses), gateway4=gateway4)


def host() -> HostNetwork:
    """eth1 and eth2 in bond0 under vmbr0 (which has the default route); eth3 a bridge port of vmbr1; eth4 alone
    with an address; a VLAN on eth4, a guest tap, lo."""
    h = HostNetwork()
    h.add(Nic(name="lo", mtu=65536, up=True, mac="00:00:00:00:00:00", ip=ip("127.0.0.1/8")))
    for n in (1, 2, 3, 4, 5):
        h.add(Nic(name=f"eth{n}", mtu=1500, up=True, kind="veth", mac=f"52:54:00:00:00:0{n}", ip=ip()))
    h.add(Bond(name="bond0", mtu=1500, up=True, mode="active-backup", master="vmbr0", ip=ip()))
    h.get("eth1").master = h.get("eth2").master = "bond0"
    h.add(Bridge(name="vmbr0", mtu=1500, up=True, ip=ip("192.0.2.10/24", gateway4="192.0.2.1")))
    h.add(Bridge(name="vmbr1", mtu=1500, up=True, ip=ip()))
    h.get("eth3").master = "vmbr1"
    h.get("eth4").ip = ip("198.51.100.10/24")
    h.add(Vlan(name="eth4.20", parent="eth4", vlan_id=20, mtu=1500, up=True, ip=ip()))
    h.add(GuestPort(name="tap100i0", mtu=1500, up=True, master="vmbr0", ip=ip()))
    return h


def nic(name, **values) -> Nic:
    return Nic(name=name, ip=values.pop("ip", IpConfig()), **values)


def problems(h, desired, up=True) -> list:
    with pytest.raises(ValidationError) as info:
        plan_nic(h, desired, up, GUESTS)
    return info.value.problems


@pytest.mark.parametrize("name, module", [
    ("vmbr0", "net_bridge"), ("bond0", "net_bond"), ("eth4.20", "net_vlan"), ("tap100i0", "tap_reenslave"),
])
def test_another_kind_of_device_is_refused_naming_its_module(name, module):
    (problem,) = problems(host(), nic(name, mtu=1400))
    assert problem.startswith(f"name: {name!r} is a ") and f"netsafe.hypervisor.{module}" in problem, problem


def test_a_missing_nic_and_the_loopback_are_refused_naming_name():
    assert problems(host(), nic("eth9", mtu=1400))[0].startswith("name: 'eth9' does not exist")
    assert problems(host(), nic("lo", mtu=1400))[0].startswith("name: 'lo' is the loopback device")


def test_a_device_named_like_a_guest_is_refused_whatever_its_kind():
    h = host()
    h.add(Nic(name="veth101i0", mtu=1500, up=True, kind="veth", ip=ip()))
    assert "tap_reenslave" in problems(h, nic("veth101i0", mtu=1400))[0]


def test_mtu_admin_state_mac_and_addresses_planned_with_undo():
    h = host()
    plan = plan_nic(h, nic("eth5", mtu=9000, mac="52:54:00:aa:bb:cc", ip=ip("203.0.113.5/24")), False, GUESTS)
    assert plan.commands() == ["ip link set dev eth5 address 52:54:00:aa:bb:cc", "ip link set dev eth5 mtu 9000",
                               "ip link set dev eth5 down", "ip address add 203.0.113.5/24 dev eth5"]
    after = plan.predict(h)
    assert (after.get("eth5").mtu, after.get("eth5").up, after.get("eth5").ip.addresses) == (9000, False, ["203.0.113.5/24"])
    assert predict(after, undo_sequence(plan.operations)) == h
    assert not plan_nic(after, nic("eth5", mtu=9000, mac="52:54:00:aa:bb:cc", ip=ip("203.0.113.5/24")), False, GUESTS)


def test_a_bond_port_keeps_the_bond_mtu_mac_and_no_addresses():
    found = problems(host(), nic("eth1", mtu=9000, mac="52:54:00:aa:bb:cc", ip=ip("203.0.113.5/24")))
    assert found[0].startswith("mtu: eth1 is a port of bond bond0") and "bond's MTU (1500)" in found[0]
    assert found[1].startswith("mac: eth1 is a port of bond bond0")
    assert found[2].startswith("addresses: eth1 is a port of bond bond0")
    # The bond's own MTU is no change at all; a bond port may go down (out of service): its partner carries the bond.
    assert not plan_nic(host(), nic("eth1", mtu=1500), True, GUESTS)
    assert plan_nic(host(), nic("eth1"), False, GUESTS).commands() == ["ip link set dev eth1 down"]


def test_a_bridge_port_below_its_bridge_warns_and_names_the_bridge():
    plan = plan_nic(host(), nic("eth3", mtu=1400), True, GUESTS)
    (warning,) = plan.warnings
    assert warning.startswith("mtu: eth3 gets mtu 1400 but its bridge vmbr1 has mtu 1500"), warning
    assert plan_nic(host(), nic("eth3", mtu=9000), True, GUESTS).warnings == []


def test_taking_down_the_last_way_out_of_the_default_route_is_refused_naming_it():
    h = host()
    h.get("eth2").up = False   # eth1 is the bond's only up port left
    (problem,) = problems(h, nic("eth1"), up=False)
    assert problem.startswith("admin_state: taking eth1 down leaves the host's default via 192.0.2.1 dev vmbr0 "
                              "with no way out"), problem
    assert "allow_default_route_loss: true" in problem
    allowed = plan_nic(h, nic("eth1"), False, GUESTS, allow_default_route_loss=True)
    assert allowed.commands() == ["ip link set dev eth1 down"]
    assert allowed.warnings == ["allow_default_route_loss: eth1 goes down and the host's default via 192.0.2.1 dev "
                                "vmbr0 loses its way out"]


def test_a_nic_holding_the_default_route_itself_and_one_under_a_vlan_that_does():
    h = host()
    del h.devices["eth4.20"]
    h.get("eth4").ip.gateway4 = "198.51.100.1"
    assert "default via 198.51.100.1 dev eth4" in problems(h, nic("eth4"), up=False)[0]
    h = host()
    h.get("eth4.20").loose_binding = True   # stays up without its parent, but has no way out
    h.get("eth4.20").ip = ip("203.0.113.10/24", gateway4="203.0.113.1")
    h.get("vmbr0").ip.gateway4 = None
    assert "default via 203.0.113.1 dev eth4.20" in problems(h, nic("eth4"), up=False)[0]


def test_a_nic_off_the_default_route_goes_down_freely():
    assert plan_nic(host(), nic("eth3"), False, GUESTS).commands() == ["ip link set dev eth3 down"]


def test_going_down_deletes_first_what_the_kernel_drops_and_the_undo_brings_it_back_after_up():
    """A device going down loses its IPv6 addresses and its routes, and coming up does not bring them back."""
    h = host()
    h.get("vmbr0").ip.gateway4 = None
    h.get("eth4").ip = IpConfig(addresses=["198.51.100.10/24", "2001:db8::10/64"], gateway4="198.51.100.1")
    del h.devices["eth4.20"]
    plan = plan_nic(h, nic("eth4", ip=ip("198.51.100.10/24", "2001:db8::10/64")), False, GUESTS,
                    allow_default_route_loss=True)
    assert plan.commands() == ["ip route del default via 198.51.100.1 dev eth4",
                               "ip address del 2001:db8::10/64 dev eth4", "ip link set dev eth4 down",
                               "ip address add 2001:db8::10/64 dev eth4"]
    undo = [op.command() for op in undo_sequence(plan.operations)]
    assert undo.index("ip link set dev eth4 up") < undo.index("ip route replace default via 198.51.100.1 dev eth4")
    assert predict(plan.predict(h), undo_sequence(plan.operations)) == h


def test_a_nic_carrying_up_vlans_is_not_taken_down_under_them():
    (problem,) = problems(host(), nic("eth4"), up=False)
    assert problem.startswith("admin_state: VLANs eth4.20 sit on eth4"), problem


def test_net_bridge_points_at_net_nic_for_a_nic_port_below_the_bridge_mtu():
    h = host()
    plan = plan_bridge(h, Bridge(name="vmbr1", mtu=9000), None, True, GUESTS)
    assert plan.warnings == ["mtu: vmbr1 gets mtu 9000 but its port eth3 has mtu 1500; frames larger than 1500 will "
                             "not leave through eth3; raise it with netsafe.hypervisor.net_nic"]
