"""Which MTU a change window proves (_safety/path_mtu.py): the rule, on models of hosts before and after a change."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.path_mtu import carriers, mtu_probes, window_probes

GUESTS = GuestMatcher()


def host(*devices) -> HostNetwork:
    network = HostNetwork()
    for dev in devices:
        network.add(dev)
    return network


def classic(mtu: int, eno_mtu: int | None = None, gateway: str = "192.0.2.1") -> HostNetwork:
    """vmbr0 on bond0.100 on bond0 of eno1 and eno2, the host's address and default route on vmbr0, a VM's tap."""
    lower = eno_mtu or mtu
    return host(
        Nic("eno1", mtu=lower, master="bond0"), Nic("eno2", mtu=lower, master="bond0"),
        Bond("bond0", mtu=mtu, mode="active-backup"),
        Vlan("bond0.100", mtu=mtu, parent="bond0", vlan_id=100, master="vmbr0"),
        Bridge("vmbr0", mtu=mtu, ip=IpConfig(addresses=["192.0.2.10/24"], gateway4=gateway)),
        GuestPort("tap100i0", mtu=1500, master="vmbr0"),
    )


def test_the_path_is_the_route_device_and_what_carries_it_top_first_without_guests():
    assert [d.name for d in carriers(classic(1500), "vmbr0", GUESTS)] == ["vmbr0", "bond0.100", "bond0", "eno1", "eno2"]


def test_a_change_to_9000_is_proven_at_9000_to_the_gateway_naming_what_it_raised():
    assert mtu_probes(classic(1500), classic(9000), GUESTS) == [
        {"type": "icmp", "target": "192.0.2.1", "mtu": 9000, "name": "path mtu 192.0.2.1",
         "raised": ["vmbr0", "bond0.100", "bond0", "eno1", "eno2"]}]


@pytest.mark.parametrize("after", [classic(1500), classic(1400)], ids=["unchanged", "lowered"])
def test_no_probe_when_nothing_on_the_path_rises(after):
    assert mtu_probes(classic(1500), after, GUESTS) == []


def test_only_the_nics_raised_is_proven_at_the_route_devices_mtu():
    probes = mtu_probes(classic(1500), classic(1500, eno_mtu=9000), GUESTS)
    assert [(p["mtu"], p["raised"]) for p in probes] == [(1500, ["eno1", "eno2"])]


def test_a_guest_tap_raised_is_not_on_the_path():
    after = classic(1500)
    after.get("tap100i0").mtu = 9000
    assert mtu_probes(classic(1500), after, GUESTS) == []


def test_a_raised_device_not_under_the_route_needs_no_probe():
    before = host(*classic(1500).devices.values(), Nic("eno3", mtu=1500))
    after = host(*classic(1500).devices.values(), Nic("eno3", mtu=9000))
    assert mtu_probes(before, after, GUESTS) == []


def test_the_route_moved_onto_a_new_bridge_at_9000_is_compared_with_its_old_holder():
    before = host(Nic("eno1", mtu=1500, ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    after = host(Nic("eno1", mtu=9000, master="vmbr1"),
                 Bridge("vmbr1", mtu=9000, ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    assert [(p["mtu"], p["raised"]) for p in mtu_probes(before, after, GUESTS)] == [(9000, ["vmbr1", "eno1"])]


def test_a_new_device_at_the_moved_routes_old_mtu_is_not_raised():
    before = host(Nic("eno1", mtu=1500, ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    after = host(Nic("eno1", mtu=1500, master="vmbr1"),
                 Bridge("vmbr1", mtu=1500, ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    assert mtu_probes(before, after, GUESTS) == []


def test_each_default_gateway_gets_its_probe_and_a_link_local_one_its_device():
    def both(mtu):
        hostnet = classic(mtu)
        hostnet.get("vmbr0").ip.gateway6 = "fe80::1"
        return hostnet
    assert [p["target"] for p in mtu_probes(both(1500), both(9000), GUESTS)] == ["192.0.2.1", "fe80::1%vmbr0"]


def test_a_probe_the_window_was_given_is_not_added_twice_and_the_report_says_what_is_proven():
    given = [{"type": "icmp", "target": "192.0.2.1", "mtu": 9000}]
    assert window_probes(classic(1500), classic(9000), GUESTS, given) == ([], [], [])
    added, proves, _warnings = window_probes(classic(1500), classic(9000), GUESTS, [{"type": "icmp", "target": "192.0.2.1"}])
    assert added == [{"type": "icmp", "target": "192.0.2.1", "mtu": 9000, "name": "path mtu 192.0.2.1"}]
    assert proves == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr0", "bond0.100", "bond0", "eno1", "eno2"]}]


@pytest.mark.parametrize("cap, expected", [(1500, []), (4000, [4000]), (9216, [9000])],
                         ids=["capped at the old MTU", "capped between", "cap above the device"])
def test_a_default_routes_own_mtu_caps_what_is_proven(cap, expected):
    """`default via 192.0.2.1 mtu N`: nothing larger than N leaves toward the router, whatever vmbr0's MTU."""
    caps = {"vmbr0": {"192.0.2.1": cap}}
    assert [p["mtu"] for p in mtu_probes(classic(1500), classic(9000), GUESTS, caps=caps)] == expected


def test_a_cap_on_another_gateway_or_device_changes_nothing():
    for caps in ({"vmbr0": {"192.0.2.254": 1500}}, {"eno1": {"192.0.2.1": 1500}}):
        assert [p["mtu"] for p in mtu_probes(classic(1500), classic(9000), GUESTS, caps=caps)] == [9000]


def test_only_the_devices_a_save_writes_count():
    """A window that changes nothing but the files: the raise counts only for the devices it writes."""
    assert mtu_probes(classic(1500), classic(9000), GUESTS, only={"eno1"})[0]["raised"] == ["eno1"]
    assert mtu_probes(classic(1500), classic(9000), GUESTS, only={"eno3"}) == []


def test_a_cap_that_leaves_the_lan_unproven_is_named_unless_a_given_probe_proves_that_size():
    caps = {"vmbr0": {"192.0.2.1": 1500}}
    added, _proves, warnings = window_probes(classic(1500), classic(9000), GUESTS, [], caps=caps)
    assert added == [] and len(warnings) == 1 and "path MTU 9000 of vmbr0 not proven" in warnings[0], warnings
    storage = [{"type": "icmp", "target": "192.0.2.5", "mtu": 9000}]
    assert window_probes(classic(1500), classic(9000), GUESTS, storage, caps=caps) == ([], [], [])
