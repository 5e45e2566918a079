"""NetworkManager keyfiles: text shapes, parse errors, in-place edits (plugins/module_utils/_persist/keyfile.py).

Pure: {path: text} in and out. NetworkManager's own reader checks the same
files in tests/persist/test_networkmanager_real.py.
"""
from __future__ import annotations

import os

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile import (
    KeyfileFormat, format_bridge_vlans, membership_after, parse_bridge_vlans,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import description, persisted

from persist_hosts import small_hosts

DIR = KeyfileFormat.DEFAULT_PATH


def fmt(root="/nonexistent-root") -> KeyfileFormat:
    return KeyfileFormat(DIR, root=root)


def profile(ifname="eth0", extra="", type_="ethernet") -> str:
    return f"[connection]\nid={ifname}\nuuid=0e6ad8a0-1b70-4a4c-8a43-2ad4b3b1b0c1\ntype={type_}\ninterface-name={ifname}\n{extra}"


def test_new_profiles_are_named_after_the_interface_with_a_stable_uuid_and_mode_0600():
    want, _m = persisted(small_hosts()["empty bridge, no ports"], None, GuestMatcher())
    first, second = fmt().render({}, want), fmt().render({}, want)
    assert list(first) == [f"{DIR}/br-empty.nmconnection"] and first == second
    assert "uuid=" in first[f"{DIR}/br-empty.nmconnection"]
    assert fmt().new_file_mode(f"{DIR}/br-empty.nmconnection") == 0o600


def test_parse_errors_name_the_file_and_the_line_or_key():
    with pytest.raises(ValidationError, match=r"x\.nmconnection: line 2: .*neither key=value"):
        fmt().parse({f"{DIR}/x.nmconnection": "[connection]\nthis is not a key\n"})
    with pytest.raises(ValidationError, match=r"x\.nmconnection: line 1: .*before the first \[section\]"):
        fmt().parse({f"{DIR}/x.nmconnection": "id=a\n"})
    with pytest.raises(ValidationError, match=r"x\.nmconnection: \[ethernet\] mtu='big'"):
        fmt().parse({f"{DIR}/x.nmconnection": profile(extra="[ethernet]\nmtu=big\n")})
    with pytest.raises(ValidationError, match=r"x\.nmconnection: \[bridge\] stp='maybe' is not a boolean"):
        fmt().parse({f"{DIR}/x.nmconnection": profile("br0", "[bridge]\nstp=maybe\n", "bridge")})
    with pytest.raises(ValidationError, match=r"x\.nmconnection: \[bond\] mode is missing"):
        fmt().parse({f"{DIR}/x.nmconnection": profile("bond0", "[bond]\nmiimon=100\n", "bond")})
    with pytest.raises(ValidationError, match=r"x\.nmconnection: \[bond\] lacp_rate='quick'"):
        fmt().parse({f"{DIR}/x.nmconnection": profile("bond0", "[bond]\nmode=802.3ad\nlacp_rate=quick\n", "bond")})
    with pytest.raises(ValidationError, match=r"x\.nmconnection: \[ipv4\] address1='300.1.1.1/24'"):
        fmt().parse({f"{DIR}/x.nmconnection": profile(extra="[ipv4]\nmethod=manual\naddress1=300.1.1.1/24\n")})
    with pytest.raises(ValidationError, match=r"x\.nmconnection: \[vlan\] parent is missing"):
        fmt().parse({f"{DIR}/x.nmconnection": profile("v10", "[vlan]\nid=10\n", "vlan")})
    with pytest.raises(ValidationError, match=r"\[bridge\] vlans: VLAN 5 is listed twice"):
        fmt().parse({f"{DIR}/x.nmconnection": profile("br0", "[bridge]\nvlan-filtering=true\nvlans=1-10,5\n", "bridge")})


def test_two_profiles_for_one_interface_are_refused_naming_both():
    files = {f"{DIR}/a.nmconnection": profile(), f"{DIR}/b.nmconnection": profile()}
    with pytest.raises(ValidationError, match=r"2 profiles are for interface eth0: .*a\.nmconnection, .*b\.nmconnection"):
        fmt().parse(files)


def test_other_profiles_are_neither_read_nor_touched():
    files = {f"{DIR}/wifi.nmconnection": profile("wlan0", type_="wifi"),
             f"{DIR}/bymac.nmconnection": "[connection]\nid=m\ntype=ethernet\n[ethernet]\nmac-address=52:54:00:00:00:01\n"}
    assert fmt().parse(files).devices == {}
    want, _m = persisted(small_hosts()["empty bridge, no ports"], None, GuestMatcher())
    assert set(fmt().render(files, want)) == {f"{DIR}/br-empty.nmconnection"}


def test_an_existing_profile_keeps_foreign_sections_keys_and_comments_byte_for_byte():
    path = f"{DIR}/Wired connection 1.nmconnection"
    text = ("# installer\n[connection]\nid=Wired connection 1\nuuid=0e6ad8a0-1b70-4a4c-8a43-2ad4b3b1b0c1\n"
            "type=ethernet\ninterface-name=eth0\ntimestamp=1700000000\n\n[ethernet]\nmtu = 1500\nwake-on-lan=64\n\n"
            "[ipv4]\nmethod=auto\nroute1=10.0.0.0/8,192.0.2.254\n\n[ipv6]\naddr-gen-mode=stable-privacy\nmethod=auto\n\n"
            "[proxy]\n\n[vendor-x]\nanything=kept\n")
    want = HostNetwork()
    want.add(Nic(name="eth0", mtu=1500, up=True, ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    new = fmt().render({path: text}, want)[path]
    for line in ("# installer", "id=Wired connection 1", "uuid=0e6ad8a0-1b70-4a4c-8a43-2ad4b3b1b0c1", "timestamp=1700000000",
                 "mtu = 1500", "wake-on-lan=64", "route1=10.0.0.0/8,192.0.2.254", "addr-gen-mode=stable-privacy",
                 "[vendor-x]", "anything=kept"):
        assert line in new.splitlines(), line
    assert "address1=192.0.2.10/24,192.0.2.1" in new.splitlines() and "method=manual" in new.splitlines()
    assert description(fmt().parse({path: new}).get("eth0"), want.get("eth0")) == want.get("eth0").to_dict()
    assert fmt().render({path: new}, want) == {}


def test_ports_lose_their_ip_settings_and_use_master_and_slave_type():
    path = f"{DIR}/eth0.nmconnection"
    text = profile(extra="controller=br-old\nport-type=bridge\n[ipv4]\nmethod=auto\n[ipv6]\nmethod=auto\n")
    want = HostNetwork()
    want.add(Bridge(name="br0", mtu=1500, up=True, stp=False, forward_delay=2.0, vlan_filtering=False, ip=IpConfig([])))
    want.add(Nic(name="eth0", mtu=1500, up=True, master="br0", ip=IpConfig([])))
    new = fmt().render({path: text}, want)[path]
    assert "master=br0" in new and "slave-type=bridge" in new
    assert "controller" not in new and "port-type" not in new and "[ipv4]" not in new
    assert fmt().parse({path: text}).get("eth0").master == "br-old"   # newer NetworkManager's spelling is read too


def test_a_down_device_is_a_profile_that_does_not_autoconnect():
    want = HostNetwork()
    want.add(Nic(name="eth1", mtu=1500, up=False, ip=IpConfig([])))
    text = fmt().render({}, want)[f"{DIR}/eth1.nmconnection"]
    assert "autoconnect=false" in text.splitlines()
    assert fmt().parse({f"{DIR}/eth1.nmconnection": text}).get("eth1").up is False


def test_forward_delay_whole_seconds_with_stp_and_user_data_without():
    def bridge(stp, fd):
        want = HostNetwork()
        want.add(Bridge(name="br0", mtu=1500, up=True, stp=stp, forward_delay=fd, vlan_filtering=False, ip=IpConfig([])))
        return want
    assert "forward-delay=4" in fmt().render({}, bridge(True, 4.0))[f"{DIR}/br0.nmconnection"].splitlines()
    with pytest.raises(ValidationError, match=r"forward_delay: 4.5 seconds cannot be written.*use 4 or 5"):
        fmt().render({}, bridge(True, 4.5))
    text = fmt().render({}, bridge(False, 0.0))[f"{DIR}/br0.nmconnection"]
    assert "\nforward-delay=" not in text and "netsafe.forward-delay=0" in text.splitlines()
    # A profile NetworkManager wrote: a missing delay is its default of 15 seconds.
    assert fmt().parse({"/p": profile("br0", "[bridge]\nstp=false\n", "bridge")}).get("br0").forward_delay == 15.0


def test_bond_options_missing_from_a_profile_are_networkmanagers_defaults():
    bond = fmt().parse({"/p": profile("bond0", "[bond]\nmode=active-backup\n", "bond")}).get("bond0")
    assert (bond.miimon, bond.updelay, bond.downdelay, bond.arp_interval) == (100, 0, 0, 0)
    bond = fmt().parse({"/p": profile("bond0", "[bond]\nmode=1\narp_interval=200\narp_ip_target=192.0.2.1\n", "bond")}).get("bond0")
    assert (bond.mode, bond.miimon, bond.arp_interval, bond.arp_ip_target) == ("active-backup", 0, 200, ["192.0.2.1"])
    bond = fmt().parse({"/p": profile("bond0", "[bond]\nmode=1\nmiimon=50\narp_interval=200\narp_ip_target=192.0.2.1\n",
                                      "bond")}).get("bond0")
    assert (bond.miimon, bond.arp_interval, bond.arp_ip_target) == (50, 0, None)   # NetworkManager drops ARP monitoring when miimon is set


def test_bond_refusals_name_the_option():
    want = HostNetwork()
    want.add(Bond(name="bond0", mtu=1500, up=True, mode="active-backup", miimon=0, arp_interval=100, arp_ip_target=[],
                  ip=IpConfig([])))
    with pytest.raises(ValidationError, match=r"arp_ip_target: NetworkManager refuses arp_interval without targets"):
        fmt().render({}, want)


def test_bridge_vlans_text_and_the_default_pvid():
    member = {"pvid": 5, "untagged": [[1, 10]], "tagged": [[20, 30]]}
    text = format_bridge_vlans(member, "x")
    assert text == "1-4 untagged,5 pvid untagged,6-10 untagged,20-30"
    assert membership_after(parse_bridge_vlans(text, "x"), 0) == member
    # The kernel's default PVID stays on a port unless a listed VLAN replaces it.
    assert membership_after(parse_bridge_vlans("7", "x"), 1) == {"pvid": 1, "untagged": [[1, 1]], "tagged": [[7, 7]]}
    assert membership_after(parse_bridge_vlans("1,7 pvid", "x"), 1) == {"pvid": 7, "untagged": [], "tagged": [[1, 1], [7, 7]]}
    with pytest.raises(ValidationError, match="pvid 9 is neither untagged nor tagged"):
        format_bridge_vlans({"pvid": 9, "untagged": [], "tagged": []}, "x")


def test_default_pvid_follows_the_ports():
    hosts = small_hosts()
    want, _m = persisted(hosts["vlan-aware bridge: port pvid and tagged ranges, VLAN device on the bridge"], None, GuestMatcher())
    files = fmt().render({}, want)
    assert "vlan-default-pvid=0" in files[f"{DIR}/vmbr2.nmconnection"].splitlines()   # no member has VLAN 1
    changed = HostNetwork()
    for name in ("vmbr2", "ens4"):
        changed.add(want.get(name))
    changed.get("vmbr2").vlans = {"pvid": 1, "untagged": [[1, 1]], "tagged": [[100, 100]]}
    changed.get("ens4").vlans = {"pvid": 1, "untagged": [[1, 1]], "tagged": [[100, 200]]}
    after = dict(files, **fmt().render(files, changed))
    assert "vlan-default-pvid=1" in after[f"{DIR}/vmbr2.nmconnection"].splitlines()
    parsed = fmt().parse(after)
    assert parsed.get("ens4").vlans == changed.get("ens4").vlans and parsed.get("vmbr2").vlans == changed.get("vmbr2").vlans


def test_read_takes_what_networkmanager_loads_and_skips_what_it_ignores(tmp_path):
    real = tmp_path / DIR.lstrip("/")
    real.mkdir(parents=True)
    for name, mode in (("eth0.nmconnection", 0o600), ("legacy-profile", 0o600), (".hidden", 0o600), ("x~", 0o600),
                       ("tmp.AbC123", 0o600), ("cert.pem", 0o600), ("open.nmconnection", 0o644)):
        (real / name).write_text(profile(name.partition(".")[0] or "h"))
        os.chmod(real / name, mode)
    assert sorted(fmt(str(tmp_path)).read()) == [f"{DIR}/eth0.nmconnection", f"{DIR}/legacy-profile"]


def test_a_file_networkmanager_ignores_is_never_written_over(tmp_path):
    real = tmp_path / DIR.lstrip("/")
    real.mkdir(parents=True)
    (real / "eth0.nmconnection").write_text(profile())
    os.chmod(real / "eth0.nmconnection", 0o644)
    want = HostNetwork()
    want.add(Nic(name="eth0", mtu=1500, up=True, ip=IpConfig([])))
    f = fmt(str(tmp_path))
    with pytest.raises(ValidationError, match=r"eth0\.nmconnection: exists but .*permissions"):
        f.render(f.read(), want)
