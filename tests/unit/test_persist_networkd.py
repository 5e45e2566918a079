"""The networkd format's own rules: file names and shapes, networkd's precedence, foreign files, parse errors.

The contract every format keeps is in test_persist_formats.py; what networkd
itself makes of these files is in tests/persist/test_networkd_real.py.
"""
from __future__ import annotations

import copy

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat, time_span_usec
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import description, persisted

from persist_hosts import applied, proxmox_host, small_hosts

D = "/etc/systemd/network"
GUESTS = GuestMatcher()


def fmt(tmp_path=None) -> NetworkdFormat:
    return NetworkdFormat(D, root=str(tmp_path) if tmp_path else "/nonexistent-root")


def proxmox_files():
    want, _m = persisted(proxmox_host(), None, GUESTS)
    return want, fmt().render({}, want)


def keys(text: str) -> list:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_one_netdev_and_one_network_per_device_named_after_it():
    want, files = proxmox_files()
    expected = set()
    for name, dev in want.devices.items():
        expected.add(f"{D}/10-netsafe-{name}.network")
        if dev.TYPE in ("bridge", "bond", "vlan"):
            expected.add(f"{D}/10-netsafe-{name}.netdev")
    assert set(files) == expected


def test_cross_file_settings_sit_where_networkd_reads_them():
    _want, files = proxmox_files()
    assert "VLAN=bond0.10" in keys(files[f"{D}/10-netsafe-bond0.network"])      # on the parent
    assert "Bridge=vmbr10" in keys(files[f"{D}/10-netsafe-bond0.10.network"])
    assert "Bond=bond0" in keys(files[f"{D}/10-netsafe-eno1.network"])
    eno3 = keys(files[f"{D}/10-netsafe-eno3.network"])
    assert eno3[eno3.index("[BridgeVLAN]"):] == ["[BridgeVLAN]", "PVID=1", "EgressUntagged=1", "VLAN=2-4094"]
    vmbr1 = keys(files[f"{D}/10-netsafe-vmbr1.netdev"])
    assert "VLANFiltering=yes" in vmbr1 and "STP=yes" in vmbr1 and "ForwardDelaySec=4s" in vmbr1
    assert not any(k.startswith("DefaultPVID") for k in vmbr1)    # every member keeps VLAN 1: the kernel's default
    assert "ActivationPolicy=down" not in keys(files[f"{D}/10-netsafe-vmbr10.network"])


def test_primary_is_written_on_the_port_and_vlan_filtering_only_when_on():
    host = small_hosts()["active-backup bond with ARP monitoring and primary, address on the bond"]
    want, _m = persisted(host, None, GUESTS)
    files = fmt().render({}, want)
    assert "PrimarySlave=yes" in keys(files[f"{D}/10-netsafe-ens2.network"])
    assert "PrimarySlave=yes" not in keys(files[f"{D}/10-netsafe-ens1.network"])
    bond = keys(files[f"{D}/10-netsafe-bond1.netdev"])
    assert "ARPIntervalSec=1000ms" in bond and "ARPIPTargets=192.0.2.1 192.0.2.2" in bond
    assert not any(k.startswith(("LACPTransmitRate", "UpDelaySec", "TransmitHashPolicy")) for k in bond)
    bridge = small_hosts()["bridge down, fractional forward delay, address without gateway"]
    want, _m = persisted(bridge, None, GUESTS)
    files = fmt().render({}, want)
    netdev = keys(files[f"{D}/10-netsafe-vmbr0.netdev"])
    assert "ForwardDelaySec=2500ms" in netdev and not any(k.startswith("VLANFiltering") for k in netdev)
    assert "ActivationPolicy=down" in keys(files[f"{D}/10-netsafe-vmbr0.network"])


def test_a_bridge_member_without_vlan_1_gets_default_pvid_none():
    host = small_hosts()["vlan-aware bridge: port pvid and tagged ranges, VLAN device on the bridge"]
    want, _m = persisted(host, None, GUESTS)
    files = fmt().render({}, want)
    assert "DefaultPVID=none" in keys(files[f"{D}/10-netsafe-vmbr2.netdev"])
    # Giving every member VLAN 1 again takes DefaultPVID= away, in the bridge's file only (a related change).
    changed = copy.deepcopy(want)
    changed.get("ens4").vlans = {"pvid": 1, "untagged": [[1, 1]], "tagged": [[100, 200], [300, 300]]}
    changed.get("vmbr2").vlans = {"pvid": 1, "untagged": [[1, 1]], "tagged": [[100, 100]]}
    only = HostNetwork()
    only.add(changed.get("ens4"))
    step = fmt().render(files, only)
    assert set(step) == {f"{D}/10-netsafe-ens4.network"}     # vmbr2 itself still lacks VLAN 1
    only.add(changed.get("vmbr2"))
    step = fmt().render(files, only)
    assert f"{D}/10-netsafe-vmbr2.netdev" in step and "DefaultPVID=none" not in step[f"{D}/10-netsafe-vmbr2.netdev"]
    after = fmt().parse(applied(files, step))
    assert after.get("ens4").vlans == changed.get("ens4").vlans and after.get("vmbr2").vlans == changed.get("vmbr2").vlans


def test_kernel_default_vlan_1_is_read_where_the_files_leave_it():
    files = {f"{D}/50-br.netdev": "[NetDev]\nName=br0\nKind=bridge\n[Bridge]\nVLANFiltering=yes\n",
             f"{D}/50-br.network": "[Match]\nName=br0\n",
             f"{D}/50-p.network": "[Match]\nName=p1\n[Network]\nBridge=br0\n[BridgeVLAN]\nPVID=10\nEgressUntagged=10\n"}
    host = fmt().parse(files)
    assert host.get("br0").vlans == {"pvid": 1, "untagged": [[1, 1]], "tagged": []}
    assert host.get("p1").vlans == {"pvid": 10, "untagged": [[1, 1], [10, 10]], "tagged": []}
    assert host.get("br0").forward_delay == 15.0 and host.get("br0").stp is False


def test_removing_a_vlan_takes_it_off_its_parent_and_a_new_vlan_goes_on_it():
    want, files = proxmox_files()
    changes = fmt().render(files, HostNetwork(), remove=["bond0.10"])
    assert changes[f"{D}/10-netsafe-bond0.10.netdev"] is None and changes[f"{D}/10-netsafe-bond0.10.network"] is None
    assert "VLAN=bond0.10" not in changes[f"{D}/10-netsafe-bond0.network"]
    after = fmt().parse(applied(files, changes))
    assert "bond0.10" not in after.devices and description(after.get("bond0"), want.get("bond0")) == want.get("bond0").to_dict()
    # vmbr10 keeps its (now missing) port's absence; bond0.10 back: its parent lists it again.
    only = HostNetwork()
    only.add(want.get("bond0.10"))
    back = fmt().render(applied(files, changes), only)
    assert "VLAN=bond0.10" in back[f"{D}/10-netsafe-bond0.network"]


def test_a_foreign_file_that_sorts_first_is_refused_by_name():
    want, files = proxmox_files()
    files = dict(files)
    files[f"{D}/05-uplink.network"] = "[Match]\nName=eno*\n[Network]\nDHCP=yes\n"
    changed = copy.deepcopy(want.get("eno1"))
    changed.mtu = 1500
    only = HostNetwork()
    only.add(changed)
    with pytest.raises(ValidationError, match=r"05-uplink.network is not ours and networkd applies it before"):
        fmt().render(files, only)
    # What the parser reports is what networkd would do: the earlier file wins.
    assert fmt().parse(files).get("eno1").master is None


def test_a_foreign_file_that_sorts_after_ours_is_shadowed_and_left_alone():
    foreign = {f"{D}/50-vmbr9.netdev": "[NetDev]\nName=vmbr9\nKind=bridge\n",
               f"{D}/50-vmbr9.network": "[Match]\nName=vmbr9\n[Network]\nAddress=10.9.0.1/24\nDNS=10.9.0.53\n"}
    host = fmt().parse(foreign)
    assert host.get("vmbr9").ip.addresses == ["10.9.0.1/24"] and host.get("vmbr9").up is True
    changed = copy.deepcopy(host.get("vmbr9"))
    changed.ip.addresses = ["10.9.0.2/24"]
    only = HostNetwork()
    only.add(changed)
    changes = fmt().render(foreign, only)
    assert set(changes) == {f"{D}/10-netsafe-vmbr9.netdev", f"{D}/10-netsafe-vmbr9.network"}
    assert description(fmt().parse(applied(foreign, changes)).get("vmbr9"), changed) == changed.to_dict()
    # Already what the foreign files say: nothing is written (no take-over for formatting alone).
    assert fmt().render(foreign, HostNetwork(devices={"vmbr9": host.get("vmbr9")})) == {}
    # Removing it cannot be done without touching them.
    with pytest.raises(ValidationError, match=r"50-vmbr9.* is not ours and still describes it"):
        fmt().render(applied(foreign, changes), HostNetwork(), remove=["vmbr9"])


def test_files_matching_on_other_keys_are_left_out_and_drop_ins_of_ours_refused():
    files = {f"{D}/01-mac.network": "[Match]\nMACAddress=52:54:00:00:00:01\n[Network]\nDHCP=yes\n",
             f"{D}/99-all.network": "[Match]\n[Network]\nDHCP=yes\n"}
    assert fmt().parse(files).devices == {}
    _want, ours = proxmox_files()
    ours = dict(ours)
    ours[f"{D}/10-netsafe-vmbr10.network.d/mtu.conf"] = "[Link]\nMTUBytes=1400\n"
    with pytest.raises(ValidationError, match=r"drop-in for our 10-netsafe-vmbr10.network"):
        fmt().parse(ours)


@pytest.mark.parametrize("text, message", [
    ("[Match]\nName=x\n[Link]\nMTUBytes=big\n", r"x.network:4: \[Link\] MTUBytes=big: not a byte count"),
    ("[Match]\nName=x\n[Link]\nActivationPolicy=sometimes\n", r":4: \[Link\] ActivationPolicy=sometimes: allowed up"),
    ("Name=x\n", r"x.network:1: Name= comes before any \[Section\]"),
    ("[Match]\nName x\n", r"x.network:2: 'Name x' is not Key=value"),
    ("[Match]\nName=x\n[BridgeVLAN]\nVLAN=10-5000\n", r":4: \[BridgeVLAN\] VLAN: '10-5000' is out of range; VLAN ids are 1-4094"),
    ("[Match]\nName=x\n[Network]\nAddress=300.1.1.1/24\n", r":4: \[Network\] Address=300.1.1.1/24"),
    ("[Match]\nName=x\n[Network]\nGateway=192.0.2.1\nGateway=192.0.2.2\n", r"more than one default gateway"),
])
def test_parse_errors_name_the_file_line_and_key(text, message):
    with pytest.raises(ValidationError, match=message):
        fmt().parse({f"{D}/x.network": text})


@pytest.mark.parametrize("text, message", [
    ("[NetDev]\nName=b\nKind=bond\n[Bond]\nMode=fast\n", r"b.netdev:5: \[Bond\] Mode=fast: allowed balance-rr"),
    ("[NetDev]\nName=b\nKind=bridge\n[Bridge]\nForwardDelaySec=soon\n", r":5: \[Bridge\] ForwardDelaySec=soon: not a time span"),
    ("[NetDev]\nName=b\n", r"b.netdev: a .netdev needs Name= and Kind="),
])
def test_netdev_parse_errors(text, message):
    with pytest.raises(ValidationError, match=message):
        fmt().parse({f"{D}/b.netdev": text})


@pytest.mark.parametrize("text, usec", [("15", 15000000), ("2.5s", 2500000), ("2500ms", 2500000), ("1min 30s", 90000000),
                                        ("100 ms", 100000), ("250us", 250)])
def test_time_spans_as_systemd_reads_them(text, usec):
    assert time_span_usec(text) == usec


def test_vlan_srcmac_cannot_be_written_for_networkd_252():
    host = small_hosts()["active-backup bond with ARP monitoring and primary, address on the bond"]
    want, _m = persisted(host, None, GUESTS)
    bond = want.get("bond1")
    bond.mode, bond.xmit_hash_policy, bond.primary = "balance-xor", "vlan+srcmac", None
    with pytest.raises(ValidationError, match="vlan\\+srcmac cannot be written"):
        fmt().render({}, want)


def test_read_takes_netdev_network_and_drop_ins_and_skips_masked(tmp_path):
    d = tmp_path / "etc/systemd/network"
    (d / "10-netsafe-br0.network.d").mkdir(parents=True)
    (d / "10-netsafe-br0.netdev").write_text("[NetDev]\nName=br0\nKind=bridge\n")
    (d / "10-netsafe-br0.network.d/x.conf").write_text("[Link]\nMTUBytes=1400\n")
    (d / "README").write_text("not ours")
    (d / "80-masked.network").symlink_to("/dev/null")
    found = fmt(tmp_path).read()
    assert set(found) == {f"{D}/10-netsafe-br0.netdev", f"{D}/10-netsafe-br0.network.d/x.conf"}
