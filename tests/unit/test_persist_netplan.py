"""The netplan format's own rules (plugins/module_utils/_persist/netplan.py, netplan_files.py, detect.py).

Pure: renders and parses {path: text}; the files other formats check for netplan are written under tmp_path.
The real `netplan generate` reads the same files in tests/persist/test_netplan_real.py.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.detect import detect
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile import KeyfileFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan import NetplanFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

from persist_hosts import applied, as_read

GUESTS = GuestMatcher()
OURS = "/etc/netplan/90-netsafe.yaml"
INSTALLER = "/etc/netplan/00-installer-config.yaml"
INSTALLER_TEXT = """# This is the network config written by 'subiquity'
network:
  ethernets:
    eno1:
      addresses:
      - 192.0.2.10/24
      nameservers:
        addresses: [192.0.2.53]
      routes:
      - to: default
        via: 192.0.2.1
  version: 2
"""


def fmt(root="/nonexistent-root") -> NetplanFormat:
    return NetplanFormat(NetplanFormat.DEFAULT_PATH, root=str(root))


def bridge_host(port="eno2", gateway4="198.51.100.1", **bridge) -> HostNetwork:
    host = HostNetwork()
    host.add(Nic(name=port, mtu=9000, up=True, master="vmbr0", kind="", ip=IpConfig([])))
    options = dict(stp=False, forward_delay=0.0, vlan_filtering=False)
    options.update(bridge)
    host.add(Bridge(name="vmbr0", mtu=9000, up=True, ip=IpConfig(["198.51.100.2/24"], gateway4=gateway4, routes=[
        Route(dst="10.9.0.0/16", via="198.51.100.254", proto="static")]), **options))
    return as_read(host)


def want(host, names=None) -> HostNetwork:
    return persisted(host, names, GUESTS)[0]


def test_one_file_is_written_it_says_what_we_meant_and_stp_is_always_said():
    changes = fmt().render({}, want(bridge_host()))
    assert list(changes) == [OURS]
    text = changes[OURS]
    assert text.startswith("# Written by netsafe.hypervisor (net_persist, format netplan)")
    # netplan's own default is STP on: a bridge without STP must say so.
    for line in ("stp: false", "forward-delay: 0", "interfaces:", "- eno2", "mtu: 9000", "- 198.51.100.2/24",
                 "to: default", "via: 198.51.100.1", "to: 10.9.0.0/16", "accept-ra: false"):
        assert line in text, (line, text)
    assert fmt().parse(changes).get("vmbr0").stp is False
    assert NetplanFormat.NEW_FILE_MODE == 0o600


def test_other_files_are_read_merged_and_never_in_a_render():
    files = {INSTALLER: INSTALLER_TEXT}
    changes = fmt().render(files, want(bridge_host(gateway4=None)))
    assert list(changes) == [OURS]
    model, problems = fmt().parse_lenient(applied(files, changes))
    assert set(model.devices) == {"vmbr0", "eno2"}
    # eno1 has nameservers, which the model cannot hold: a problem of eno1 alone, not of what we write.
    assert [p.message for p in problems if p.concerns("eno1")] and not [p for p in problems if p.concerns("vmbr0")]
    assert "nameservers" in problems[0].message and INSTALLER in problems[0].message


def test_a_device_another_netplan_file_defines_is_refused_naming_the_file():
    """netplan merges the files (lists appended): the installer's address of eno1 would stay next to ours."""
    with pytest.raises(ValidationError) as refused:
        fmt().render({INSTALLER: INSTALLER_TEXT}, want(bridge_host(port="eno1")))
    message = str(refused.value)
    assert "eno1: /etc/netplan/00-installer-config.yaml (not netsafe's) defines it too" in message
    assert "Remove eno1 from that file" in message


def test_a_default_route_another_file_declares_too_is_refused_unless_the_metric_differs():
    with pytest.raises(ValidationError, match=r"vmbr0: its default route \(IPv4, table 254, metric default\) is also "
                                              r"declared by eno1 in /etc/netplan/00-installer-config.yaml"):
        fmt().render({INSTALLER: INSTALLER_TEXT}, want(bridge_host()))
    with_metric = INSTALLER_TEXT.replace("via: 192.0.2.1", "via: 192.0.2.1\n        metric: 100")
    assert fmt().render({INSTALLER: with_metric}, want(bridge_host()))


@pytest.mark.parametrize("change, device, option", [
    (dict(vlan_filtering=True), "vmbr0", "vlan_filtering"),
    (dict(mcast_snooping=False), "vmbr0", "mcast_snooping"),
    (dict(priority=0), "vmbr0", "priority: 0 cannot be written"),
])
def test_what_netplan_cannot_say_is_refused_naming_device_and_option(change, device, option):
    with pytest.raises(ValidationError) as refused:
        fmt().render({}, want(bridge_host(**change)))
    assert f"{device}: " in str(refused.value) and option in str(refused.value)


def test_a_route_protocol_is_written_as_netplan_makes_it_static():
    host = bridge_host()
    host.get("vmbr0").ip.routes[0].proto = "boot"
    files = fmt().render({}, want(host))
    route = fmt().parse(files).get("vmbr0").ip.routes[0]
    assert (route.dst, route.proto) == ("10.9.0.0/16", "static")
    assert fmt().render(files, want(host)) == {}   # as_written: no drift on every run for what netplan cannot say


def test_a_device_down_is_activation_mode_manual_and_reads_back_down():
    host = HostNetwork()
    host.add(Nic(name="ens7", mtu=4000, up=False, kind="", ip=IpConfig([])))
    files = fmt().render({}, want(host, ["ens7"]))
    assert "activation-mode: manual" in files[OURS]
    assert fmt().parse(files).get("ens7").up is False
    # netplan's other value, `off` (networkd's always-down), is down too.
    off = files[OURS].replace("activation-mode: manual", "activation-mode: 'off'")
    assert fmt().parse({OURS: off}).get("ens7").up is False


def test_values_are_read_as_netplan_reads_them():
    text = """network:
  version: 2
  ethernets:
    eno2: {}
  bonds:
    bond0:
      interfaces: [eno2]
      parameters: {mode: active-backup, mii-monitor-interval: 100, up-delay: 1s, primary: eno2}
  bridges:
    vmbr0:
      interfaces: [bond0]
      parameters: {forward-delay: 2500ms, hello-time: "1", ageing-time: 10min, path-cost: {bond0: 7}}
"""
    model = fmt().parse({OURS: text})
    bond, bridge = model.get("bond0"), model.get("vmbr0")
    assert (bond.miimon, bond.updelay, bond.primary) == (100, 1000, "eno2")   # a bond's bare number is milliseconds
    assert (bridge.stp, bridge.forward_delay, bridge.hello_time, bridge.ageing_time) == (True, 2.5, 1.0, 600.0)
    assert model.get("bond0").master == "vmbr0" and model.get("bond0").port_cost == 7


@pytest.mark.parametrize("text, message", [
    ("network: [1]\n", "a netplan file is a mapping with one key, network"),
    ("network:\n  version: 2\n  ethernets:\n    eno2: {dhcp4: true}\n", "dhcp4: true"),
    ("network:\n  version: 2\n  ethernets:\n    eno2: {mtu: 9x}\n", "mtu"),
    ("network:\n  version: 2\n  ethernets:\n    eno2:\n      routes: [{to: 10.0.0.0/8, via: 192.0.2.1, type: blackhole}]\n",
     "it would write this route again without type"),
    ("network:\n  version: 2\n  ethernets:\n    eno2: {addresses: [192.0.2.1/24\n", "not YAML netplan can read"),
])
def test_our_own_file_that_cannot_be_read_refuses_a_save_and_writes_nothing(text, message):
    with pytest.raises(ValidationError, match=message.replace("[", r"\[")):
        fmt().render({OURS: text}, want(bridge_host()))


def test_a_device_in_our_file_that_cannot_be_read_refuses_any_save_of_it():
    """Our file is written whole: a hand-added `dhcp4: true` on a device the save does not write would be lost."""
    text = fmt().render({}, want(bridge_host()))[OURS]
    edited = text.replace("  ethernets:\n", "  ethernets:\n    eno9:\n      dhcp4: true\n", 1)
    assert edited != text
    with pytest.raises(ValidationError, match=r"eno9: dhcp4: true.*rewritten whole"):
        fmt().render({OURS: edited}, want(bridge_host(stp=True)))


def test_removing_every_device_removes_our_file_and_leaves_the_others():
    files = applied({INSTALLER: INSTALLER_TEXT}, fmt().render({INSTALLER: INSTALLER_TEXT}, want(bridge_host(gateway4=None))))
    assert fmt().render(files, HostNetwork(), remove=["vmbr0", "eno2"]) == {OURS: None}


def test_secrets_in_netplan_files_are_redacted():
    text = "network:\n  wifis:\n    wlp2s0:\n      access-points:\n        home:\n          password: \"hunter22\"\n"
    assert "hunter22" not in fmt().redact(text) and "password: ********" in fmt().redact(text)
    assert fmt().secret_values(text) == {"hunter22"}


def test_a_vlan_on_a_bridge_comes_after_it_and_a_loop_of_the_two_is_refused():
    """netplan 0.106 reads a file again for a forward reference, and then refuses the bridge's port costs."""
    host = bridge_host()
    host.add(Vlan(name="vmbr0.20", mtu=1500, up=True, parent="vmbr0", vlan_id=20, protocol="802.1Q", ip=IpConfig([])))
    text = fmt().render({}, want(host))[OURS]
    assert text.index("  bridges:") < text.index("  vlans:")
    host.add(Nic(name="eno3", mtu=1500, up=True, kind="", ip=IpConfig([])))
    host.add(Vlan(name="eno3.30", mtu=1500, up=True, parent="eno3", vlan_id=30, protocol="802.1Q", master="vmbr9",
                  ip=IpConfig([])))
    host.add(Bridge(name="vmbr9", mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=False, ip=IpConfig([])))
    with pytest.raises(ValidationError, match="VLAN vmbr0.20 stands on a bridge and bridge vmbr9 has a VLAN port"):
        fmt().render({}, want(as_read(host)))


def test_path_must_be_a_yaml_file():
    with pytest.raises(ValidationError, match=r"path: /etc/netplan/netsafe.conf does not end in \.yaml"):
        NetplanFormat("/etc/netplan/netsafe.conf", "/").check_path()


# -- other formats on a netplan host (netplan_files.py) ------------------------------------------------------------

@pytest.mark.parametrize("cls", [NetworkdFormat, KeyfileFormat])
def test_networkd_and_keyfile_refuse_a_device_netplan_owns(tmp_path, cls):
    (tmp_path / "etc" / "netplan").mkdir(parents=True)
    (tmp_path / "etc" / "netplan" / "00-installer-config.yaml").write_text(INSTALLER_TEXT)
    other = cls(cls.DEFAULT_PATH, root=str(tmp_path))
    with pytest.raises(ValidationError) as refused:
        other.render({}, want(bridge_host(port="eno1")))
    assert str(refused.value).count("netplan owns it") == 1
    assert "eno1: netplan owns it (/etc/netplan/00-installer-config.yaml defines it)" in str(refused.value)
    assert "Use format: netplan" in str(refused.value)
    assert other.render({}, want(bridge_host(port="eno2")))   # a device netplan does not define: written


def test_auto_picks_netplan_over_the_renderer_it_runs_on(tmp_path):
    wants = tmp_path / "etc" / "systemd" / "system" / "multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "systemd-networkd.service").symlink_to("/lib/systemd/system/systemd-networkd.service")
    assert detect(str(tmp_path))[0] == "networkd"
    (tmp_path / "etc" / "netplan").mkdir()
    (tmp_path / "etc" / "netplan" / "README").write_text("not yaml")
    assert detect(str(tmp_path))[0] == "networkd"   # only *.yaml is netplan's configuration
    (tmp_path / "etc" / "netplan" / "50-cloud-init.yaml").write_text("network: {version: 2}\n")
    name, why = detect(str(tmp_path))
    assert name == "netplan" and "50-cloud-init.yaml" in why[0] and "systemd-networkd.service is enabled" in why[1]
    (tmp_path / "usr" / "share" / "ifupdown2").mkdir(parents=True)
    (tmp_path / "usr" / "share" / "ifupdown2" / "__main__.py").write_text("")
    with pytest.raises(ValidationError, match="more than one network stack"):
        detect(str(tmp_path))


def test_auto_sees_a_networkmanager_that_systemd_started(tmp_path):
    """Started by systemd, NetworkManager writes no pid file (Debian 12, seen on the systemd test host); the
    runtime state it keeps under /run/NetworkManager/devices is the sign."""
    with pytest.raises(ValidationError, match="found no network stack"):
        detect(str(tmp_path))
    (tmp_path / "run" / "NetworkManager" / "devices").mkdir(parents=True)
    name, why = detect(str(tmp_path))
    assert name == "networkmanager" and why == ["NetworkManager is running (/run/NetworkManager/devices)"]


def test_files_are_read_from_lib_etc_and_run_netplan_one_of_each_name(tmp_path):
    """netplan reads /lib, /etc and /run/netplan: a file of a name in a later directory shadows the earlier one."""
    for directory, name, text in (("lib", "10-a.yaml", "# lib\n"), ("etc", "10-a.yaml", "# etc\n"),
                                  ("lib", "20-b.yaml", "# lib b\n"), ("run", "20-b.yaml", "# run b\n"),
                                  ("lib", "30-c.yaml", "# lib c\n"), ("etc", ".hidden.yaml", "# not read\n")):
        (tmp_path / directory / "netplan").mkdir(parents=True, exist_ok=True)
        (tmp_path / directory / "netplan" / name).write_text(text)
    assert fmt(tmp_path).read() == {"/etc/netplan/10-a.yaml": "# etc\n", "/run/netplan/20-b.yaml": "# run b\n",
                                    "/lib/netplan/30-c.yaml": "# lib c\n"}


def test_a_lib_file_of_our_name_is_refused_and_so_is_a_device_a_run_file_defines():
    theirs = "network:\n  version: 2\n  ethernets:\n    eno2: {mtu: '1500'}\n"
    with pytest.raises(ValidationError, match=r"/lib/netplan/90-netsafe.yaml has the name of /etc/netplan/90-netsafe"
                                              r".yaml, which would shadow it whole"):
        fmt().render({"/lib/netplan/90-netsafe.yaml": theirs}, want(bridge_host(), ["vmbr0"]))
    with pytest.raises(ValidationError, match=r"eno2: /run/netplan/50-cloud-init.yaml \(not netsafe's\) defines it too"):
        fmt().render({"/run/netplan/50-cloud-init.yaml": theirs}, want(bridge_host()))


def test_yaml_aliases_within_bounds_are_read():
    text = "network:\n  version: 2\n  ethernets:\n    eno2: &same {mtu: '9000'}\n    eno3: *same\n"
    model = fmt().parse({"/etc/netplan/10-a.yaml": text})
    assert model.get("eno2").mtu == model.get("eno3").mtu == 9000
