"""The model: validation on the objects and the plain-dict round trip."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, Device, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, Vlan, normalize_mac,
)


@pytest.mark.parametrize("name", ["vmbr0", "a", "x" * 15, "br-lan.10", "eth0_1"])
def test_valid_names_pass(name):
    assert Bridge(name=name).problems() == []


@pytest.mark.parametrize("name, fragment", [
    ("x" * 16, "at most 15"),
    ("", "required"),
    ("br 0", "not a valid interface name"),
    ("br/0", "not a valid interface name"),
    ("br:0", "not a valid interface name"),
    ("..", "not a valid interface name"),
])
def test_invalid_names_name_the_parameter(name, fragment):
    problems = Bridge(name=name).problems()
    assert len(problems) == 1
    assert problems[0].startswith("name:")
    assert fragment in problems[0]


@pytest.mark.parametrize("mtu, ok", [(68, True), (65535, True), (1500, True), (67, False), (65536, False), (True, False)])
def test_mtu_range(mtu, ok):
    problems = Bridge(name="br0", mtu=mtu).problems()
    assert (problems == []) is ok
    if not ok:
        assert problems[0].startswith("mtu:") and "68-65535" in problems[0]


def test_mac_is_normalized_and_checked():
    assert normalize_mac("52-54-00-AB-CD-EF") == "52:54:00:ab:cd:ef"
    with pytest.raises(ValueError, match="multicast"):
        normalize_mac("01:00:5e:00:00:01")
    with pytest.raises(ValueError, match="not a MAC"):
        normalize_mac("52:54:00:ab:cd")
    assert Bridge(name="br0", mac="zz").problems()[0].startswith("mac:")


def test_forward_delay_rules_depend_on_stp():
    assert Bridge(name="br0", forward_delay=0).problems() == []
    assert "allowed 2-30" in Bridge(name="br0", stp=True, forward_delay=0).problems()[0]
    assert "allowed 0-30" in Bridge(name="br0", forward_delay=31).problems()[0]


def test_ip_config_checks_each_field():
    problems = IpConfig(addresses=["10.0.0.1/24", "nonsense", "224.0.0.1/4"], gateway4="2001:db8::1",
                        gateway6="10.0.0.1").problems()
    assert any(p.startswith("addresses: 'nonsense'") for p in problems)
    assert any("224.0.0.1/4" in p for p in problems)
    assert any(p.startswith("gateway4:") for p in problems)
    assert any(p.startswith("gateway6:") for p in problems)


def test_ip_config_normalizes_addresses():
    ip = IpConfig(addresses=["2001:DB8::1/64", "10.0.0.1/24", "10.0.0.1/24 "], gateway6="2001:DB8::FFFF").normalized()
    assert ip.addresses == ["10.0.0.1/24", "2001:db8::1/64"]
    assert ip.gateway6 == "2001:db8::ffff"


def test_duplicate_addresses_refused():
    assert "twice" in IpConfig(addresses=["10.0.0.1/24", "10.0.0.1/24"]).problems()[0]


def test_bond_and_vlan_validate_their_own_fields():
    assert Bond(name="bond0", mode="active-backup").problems() == []
    assert Bond(name="bond0", mode="fastest").problems()[0].startswith("mode:")
    assert Vlan(name="eth0.10", parent="eth0", vlan_id=10).problems() == []
    for bad in (0, 4095):
        assert Vlan(name="v", vlan_id=bad).problems()[0].startswith("vlan_id:")
    assert Vlan(name="v", vlan_id=5, protocol="qinq").problems()[0].startswith("protocol:")


def test_validate_raises_with_every_problem():
    with pytest.raises(ValidationError) as info:
        Bridge(name="x" * 20, mtu=10).validate()
    assert len(info.value.problems) == 2


def _world() -> HostNetwork:
    host = HostNetwork()
    host.add(Bridge(name="vmbr0", mtu=1500, mac="52:54:00:00:00:01", up=True, stp=False, forward_delay=0,
                    vlan_filtering=False, ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    host.add(Nic(name="eth1", mtu=1500, up=True, master="vmbr0", kind="veth"))
    host.add(GuestPort(name="tap100i0", mtu=1500, up=True, master="vmbr0", kind="tap"))
    host.add(Bond(name="bond0", mode="802.3ad", miimon=100, up=True))
    host.add(Vlan(name="bond0.20", parent="bond0", vlan_id=20, protocol="802.1Q", up=True))
    return host


def test_host_network_round_trips_through_a_plain_dict():
    host = _world()
    data = host.to_dict()
    again = HostNetwork.from_dict(data)
    assert again == host
    assert again.to_dict() == data
    assert [d["type"] for d in data["devices"]] == ["bond", "vlan", "nic", "guest", "bridge"]


def test_dict_keeps_everything_needed_to_rebuild_a_bridge():
    data = _world().get("vmbr0").to_dict()
    for key in ("name", "mtu", "mac", "up", "stp", "forward_delay", "vlan_filtering", "ip"):
        assert key in data
    assert data["ip"] == {"addresses": ["192.0.2.10/24"], "gateway4": "192.0.2.1", "gateway6": None, "routes": None}


def test_unknown_device_type_is_refused():
    with pytest.raises(ValidationError, match="unknown device type"):
        Device.from_dict({"type": "wormhole", "name": "x"})


def test_ports_of_lists_members_by_name():
    assert [d.name for d in _world().ports_of("vmbr0")] == ["eth1", "tap100i0"]


@pytest.mark.parametrize("name, kind, guest", [
    ("tap100i0", "", True), ("veth101i1", "veth", True), ("fwpr100p0", "veth", True), ("vnet3", "", True),
    ("mytap", "tun", True), ("eth1", "veth", False), ("tap100", "", False), ("veth0", "veth", False),
])
def test_default_guest_patterns(name, kind, guest):
    assert GuestMatcher().is_guest(name, kind) is guest


def test_custom_guest_patterns_and_bad_regex():
    assert GuestMatcher([r"^vm-"]).is_guest("vm-web", "veth")
    with pytest.raises(ValidationError, match="guest_patterns"):
        GuestMatcher(["("])


def test_clone_copies_every_nested_field_so_predictions_never_share_state():
    """Device.NESTED must name every list/dict field: clone() copies only those deeply."""
    from dataclasses import fields as dc_fields

    from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import model as m

    for cls in m.DEVICE_TYPES.values():
        nested = sorted(f.name for f in dc_fields(cls) if "list" in str(f.type) or "dict" in str(f.type))
        assert sorted(cls.NESTED) == nested, cls
    bond = m.Bond(name="bond0", arp_ip_target=["192.0.2.1"], vlans={"pvid": 1, "untagged": [1], "tagged": []},
                  ip=m.IpConfig(addresses=["192.0.2.2/24"], gateway4="192.0.2.1"))
    host = m.HostNetwork({"bond0": bond})
    copy = host.clone()
    assert copy.to_dict() == host.to_dict()
    twin = copy.get("bond0")
    twin.arp_ip_target.append("192.0.2.9")
    twin.vlans["untagged"].append(5)
    twin.ip.addresses.append("192.0.2.3/24")
    assert bond.arp_ip_target == ["192.0.2.1"] and bond.vlans["untagged"] == [1]
    assert bond.ip.addresses == ["192.0.2.2/24"]
