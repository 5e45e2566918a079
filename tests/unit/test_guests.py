"""Guest discovery: Proxmox VE configs, libvirt domain XML and explicit lists, parsed as they really look."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests import libvirt as libvirt_source, proxmox
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.explicit import parse_explicit
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.libvirt import discover_libvirt
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    LIVE, STOPPED, ConfigProblem, GuestNic, parse_trunks,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.proxmox import (
    discover_proxmox, parse_proxmox_config,
)

FIXTURES = Path(__file__).parent / "fixtures"


def by_device(nics):
    return {n.device: n for n in nics}


@pytest.fixture(scope="module")
def pve():
    return discover_proxmox(str(FIXTURES / "pve"))


def test_proxmox_devices_follow_vmid_and_nic_number(pve):
    assert sorted(by_device(pve.nics)) == [
        "tap100i0", "tap100i1", "tap102i0", "tap103i0", "tap104i0", "tap107i0",
        "veth101i0", "veth105i0", "veth105i1"]
    assert by_device(pve.nics)["veth105i1"].bridge == "vmbr1"
    assert by_device(pve.nics)["veth101i0"].kind == "lxc"


def test_snapshot_sections_do_not_count(pve):
    nics = by_device(pve.nics)
    assert nics["tap100i0"].bridge == "vmbr0" and not nics["tap100i0"].firewall  # [before-upgrade] says vmbr1
    assert "tap100i2" not in nics                                               # only in the snapshot
    assert nics["veth105i0"].bridge == "vmbr0"                                  # [nightly] says vmbr2


def test_pending_section_does_not_count(pve):
    assert by_device(pve.nics)["tap104i0"].link_down is True


def test_nic_without_bridge_is_skipped_not_failed(pve):
    skipped = {(s["guest"], s["nic"]): s["reason"] for s in pve.skipped}
    assert skipped[("106", "net0")].startswith("no bridge=")
    assert pve.problems == []


def test_template_never_runs_so_its_nics_are_skipped_not_listed(pve):
    assert "tap9000i0" not in by_device(pve.nics)
    entry = next(s for s in pve.skipped if s["guest"] == "9000")
    assert entry["device"] == "tap9000i0" and entry["bridge"] == "vmbr0"
    assert entry["reason"] == "template (template: 1): a template never runs"


def test_firewall_chain_names_and_order(pve):
    nic = by_device(pve.nics)["tap102i0"]
    chain = [(link.device, link.master) for link in nic.chain()]
    assert chain == [("tap102i0", "fwbr102i0"), ("fwln102i0", "fwbr102i0"), ("fwpr102p0", "vmbr0")]
    ct = by_device(pve.nics)["veth105i0"]
    assert (ct.fwbr, ct.fwln, ct.fwpr) == ("fwbr105i0", "fwln105i0", "fwpr105p0")


def test_mtu_values(pve):
    nics = by_device(pve.nics)
    assert nics["veth101i0"].mtu == 1450
    assert nics["tap107i0"].mtu == 1          # Proxmox VE: the bridge's MTU
    assert nics["tap100i0"].mtu is None


def test_comments_are_ignored():
    text = "#net0: virtio=AA:AA:AA:AA:AA:AA,bridge=vmbr9\n# net1: bridge=vmbr9\nnet2: virtio=x,bridge=vmbr0\n"
    found = parse_proxmox_config(text, "42", "qemu")
    assert [(n.device, n.bridge) for n in found.nics] == [("tap42i2", "vmbr0")] and found.skipped == []


def test_tag_and_trunks_are_parsed():
    found = parse_proxmox_config("net0: virtio=x,bridge=vmbr0,tag=10,trunks=20;30-32,firewall=1\n", "7", "qemu")
    nics = found.nics
    assert found.skipped == []
    assert (nics[0].vlan, nics[0].trunks, nics[0].firewall) == (10, (20, 30, 31, 32), True)


def test_broken_config_is_a_problem_of_its_guest_only():
    found = discover_proxmox(str(FIXTURES / "pve_broken"))
    assert sorted(by_device(found.nics)) == ["tap301i0", "tap302i0"]
    problems = {p["guest"]: p["reason"] for p in found.problems}
    assert sorted(problems) == ["300", "303"]
    assert "300.conf:2: net0: tag: '5000' is not a VLAN id; allowed 1-4094" in problems["300"]
    assert "mtu: '20' is out of range" in problems["303"]


def test_vlans_tag_is_pvid_untagged_without_vid_1():
    nic = GuestNic("1", "qemu", "net0", "tap1i0", "vmbr0", vlan=10, trunks=(20, 21, 23))
    assert nic.vlans() == {"pvid": 10, "untagged": [[10, 10]], "tagged": [[20, 21], [23, 23]]}


def test_vlans_trunks_only_keep_vid_1_native():
    nic = GuestNic("1", "qemu", "net0", "tap1i0", "vmbr0", trunks=(20,))
    assert nic.vlans() == {"pvid": 1, "untagged": [[1, 1]], "tagged": [[20, 20]]}


def test_vlans_not_managed_without_tag_or_trunks():
    assert GuestNic("1", "qemu", "net0", "tap1i0", "vmbr0").vlans() is None


def test_vlans_native_tagged_is_pvid_but_tagged():
    nic = GuestNic("d", "libvirt", "interface 0", "vnet1", "br0", vlan=100, trunks=(101,), native_tagged=True)
    assert nic.vlans() == {"pvid": 100, "untagged": [], "tagged": [[100, 101]]}


def test_vlans_of_firewalled_nic_sit_on_fwpr():
    nic = GuestNic("5", "qemu", "net0", "tap5i0", "vmbr0", vlan=40, firewall=True)
    chain = nic.chain()
    assert [link.vlans for link in chain[:2]] == [None, None]
    assert chain[2].device == "fwpr5p0" and chain[2].vlans == {"pvid": 40, "untagged": [[40, 40]], "tagged": []}


@pytest.mark.parametrize("bad", ["0", "4095", "abc", "30-20", "10-x"])
def test_bad_trunks_are_refused(bad):
    with pytest.raises(ValidationError, match="trunks: "):
        parse_trunks(bad)


@given(st.sets(st.integers(1, 4094), max_size=40))
def test_trunks_written_as_ranges_parse_back(vids):
    ordered, runs = sorted(vids), []
    for vid in ordered:
        if runs and runs[-1][1] == vid - 1:
            runs[-1][1] = vid
        else:
            runs.append([vid, vid])
    text = ";".join(f"{a}-{b}" if a != b else str(a) for a, b in runs)
    assert parse_trunks(text) == tuple(ordered)


# -- Proxmox VE's own parsing rules -------------------------------------------------------------

@pytest.fixture(scope="module")
def rules():
    return discover_proxmox(str(FIXTURES / "pve_rules"))


def test_a_key_given_twice_counts_once_the_last_one(rules):
    nic = by_device(rules.nics)["tap110i0"]
    assert (nic.bridge, nic.vlan, nic.firewall) == ("vmbr0", 20, False)
    assert nic.origin.endswith("110.conf:9")
    assert any("110.conf:9: net0 is set twice (lines 6 and 9); the last one counts" in w for w in rules.warnings)


def test_a_bracket_line_that_is_no_section_is_ignored_and_reading_goes_on(rules):
    nics = by_device(rules.nics)
    assert nics["tap111i0"].bridge == "vmbr0"
    assert nics["tap111i1"].bridge == "vmbr1"        # after the stray "[ old settings, do not use ]"
    assert "tap111i2" not in nics                    # indented: Proxmox VE cannot parse it either
    warned = [w for w in rules.warnings if "111.conf" in w]
    assert any("111.conf:7: '[ old settings, do not use ]' is not a section header" in w for w in warned)
    assert any("111.conf:9:" in w and "not a 'key: value' line" in w for w in warned)
    assert not any("[pre-upgrade]" in w for w in warned)   # a real snapshot section: reading stops there


def test_templates_of_vms_and_containers_are_skipped_with_the_reason(rules):
    assert not [d for d in by_device(rules.nics) if "900" in d]
    assert sorted((s["guest"], s["nic"], s["device"]) for s in rules.skipped) == [
        ("9001", "net0", "tap9001i0"), ("9001", "net1", "tap9001i1"), ("9002", "net0", "veth9002i0")]
    assert {s["reason"] for s in rules.skipped} == {"template (template: 1): a template never runs"}


def test_container_pending_section_and_raw_lxc_keys(rules):
    assert by_device(rules.nics)["veth112i0"].bridge == "vmbr0"     # [pve:pending] says vmbr5
    assert not [w for w in rules.warnings if "112.conf" in w]         # lxc.* keys are valid in a container config
    assert rules.problems == []


@pytest.mark.parametrize("header, stops", [
    ("[PENDING]", True), ("[pending]", True), ("[special:cloudinit]", True), ("[snap-1_a]", True),
    ("[pve:pending]", False), ("[1st]", False), ("[a]", False), ("[two words]", False), (" [indented]", False),
])
def test_which_bracket_lines_start_a_section_of_a_vm(header, stops):
    found = parse_proxmox_config(f"net0: virtio=x,bridge=vmbr0\n{header}\nnet1: virtio=y,bridge=vmbr1\n", "5", "qemu")
    assert ("tap5i1" in by_device(found.nics)) is not stops
    assert bool(found.warnings) is not stops


def test_pve_pending_starts_a_section_of_a_container_but_special_cloudinit_does_not():
    text = "net0: name=eth0,bridge=vmbr0\n[special:cloudinit]\nnet1: name=eth1,bridge=vmbr1\n[pve:pending]\nnet2: bridge=vmbr2\n"
    found = parse_proxmox_config(text, "6", "lxc")
    assert sorted(by_device(found.nics)) == ["veth6i0", "veth6i1"]


@pytest.mark.parametrize("value", ["1", "on", "yes", "true", "TRUE"])
def test_template_values_proxmox_reads_as_true(value):
    found = parse_proxmox_config(f"net0: virtio=x,bridge=vmbr0\ntemplate: {value}\n", "9", "qemu")
    assert found.nics == [] and found.skipped[0]["reason"].startswith("template")


def test_template_0_is_a_guest_like_any_other():
    assert [n.device for n in parse_proxmox_config("net0: virtio=x,bridge=vmbr0\ntemplate: 0\n", "9", "qemu").nics] == ["tap9i0"]


@pytest.mark.parametrize("bridge, text", [
    ("vmbr 0", "not a valid interface name"), ("averyveryverylongbr", "is 19 characters long"),
    ("vmbr/0", "not a valid interface name"), ("vmbrüüüüüüüü", "is 20 bytes long; Linux allows at most 15"),
])
def test_a_bridge_name_linux_cannot_have_is_a_problem_of_that_guest(bridge, text):
    with pytest.raises(ConfigProblem, match="net0: bridge: ") as caught:
        parse_proxmox_config(f"net0: virtio=x,bridge={bridge}\n", "9", "qemu")
    assert text in str(caught.value)


# -- libvirt ---------------------------------------------------------------------------------

LIBVIRT = FIXTURES / "libvirt_host"


@pytest.fixture(scope="module")
def live():
    return discover_libvirt(str(LIBVIRT / "etc"), None, str(LIBVIRT / "run"), "live")


@pytest.fixture(scope="module")
def persistent():
    return discover_libvirt(str(LIBVIRT / "etc"), None, str(LIBVIRT / "run"), "persistent")


def test_live_xml_names_the_devices_of_bridge_and_network_interfaces(live):
    nics = by_device(n for n in live.nics if n.claim == LIVE)
    assert sorted(nics) == ["vnet10", "vnet11", "vnet12", "vnet20", "vnet21", "vnet22", "vnet51"]
    assert (nics["vnet10"].guest, nics["vnet10"].bridge, nics["vnet10"].mtu) == ("web1", "br0", 1400)
    assert nics["vnet11"].link_down is True and nics["vnet11"].bridge == "br1"
    assert nics["vnet12"].bridge == "virbr0"          # type='network' (NAT) through <actual type='network'>
    assert nics["vnet22"].bridge == "br0"             # a network wrapping a host bridge: <actual type='bridge'>
    assert all(n.running for n in nics.values())
    assert nics["vnet10"].origin == str(LIBVIRT / "run" / "web1.xml")


def test_vlans_from_vlan_in_the_interface_or_in_actual(live):
    nics = by_device(live.nics)
    assert nics["vnet20"].vlans() == {"pvid": 42, "untagged": [[42, 42]], "tagged": []}
    assert nics["vnet21"].vlans() == {"pvid": 100, "untagged": [[100, 100]], "tagged": [[101, 102]]}
    assert nics["vnet22"].vlans() == {"pvid": 7, "untagged": [[7, 7]], "tagged": []}   # the portgroup's, in <actual>


def test_not_linux_bridge_ports_are_skipped_with_their_reason(live):
    skipped = {(s["guest"], s["nic"]): (s["device"], s["reason"]) for s in live.skipped}
    assert sorted(skipped) == [("badnames", "interface 1"), ("ovs1", "interface 0"), ("ovs1", "interface 1"),
                               ("ovs1", "interface 2"), ("ovs1", "interface 3"), ("web1", "interface 3")]
    assert skipped[("web1", "interface 3")] == (
        "macvtap0", "type='direct': a macvtap device on eth0, not a Linux bridge port")
    assert skipped[("ovs1", "interface 0")][1].startswith("Open vSwitch port")
    assert skipped[("ovs1", "interface 1")][1].startswith("network 'ovsnet': Open vSwitch port")
    assert skipped[("ovs1", "interface 2")][1].startswith("MidoNet port")
    assert "gave this interface a macvtap device (<actual type='direct'>)" in skipped[("ovs1", "interface 3")][1]
    assert skipped[("badnames", "interface 1")] == ("tap-scratch", "type='ethernet': not a Linux bridge port")
    # Never "restored" onto a bridge named after the port type.
    assert not [n for n in live.nics if n.bridge in ("openvswitch", "midonet", "ovsbr0", "eth0", "eth1")]


@pytest.mark.parametrize("port, text", [
    ("802.1Qbg", "802.1Qbg (VEPA) port profile"), ("802.1Qbh", "802.1Qbh (VN-Tag) port profile"),
    ("openvswitch", "Open vSwitch port"), ("midonet", "MidoNet port"), ("future", "<virtualport type='future'>"),
])
def test_every_virtualport_type_is_not_a_linux_bridge_port(port, text):
    xml = (f"<domain><name>g</name><devices><interface type='bridge'><source bridge='br0'/>"
           f"<virtualport type='{port}'/><target dev='vnet1'/></interface></devices></domain>")
    found = libvirt_source.parse_libvirt_domain(xml, "g.xml")
    assert found.nics == [] and text in found.skipped[0]["reason"]


def test_names_linux_cannot_have_are_problems_of_their_guest(live):
    problems = [p["reason"] for p in live.problems if p["guest"] == "badnames"]
    assert problems == ["interface 0: bridge: 'br 0' is not a valid interface name; allowed ASCII letters, digits, '-', '_' "
                        "and '.', starting with a letter or digit, at most 15 bytes",
                        "interface 2: target dev: 'badnames-uplink-eth0' is 20 characters long; Linux allows at most 15"]
    assert "vnet51" in by_device(live.nics)            # its other interface is fine


def test_defined_guests_without_live_xml_are_not_running(live):
    # An interface that names its device is a NIC whose claim is STOPPED: the planner lists it as not running
    # while no such device exists, and refuses it when one does (someone else's). The others are simply stopped.
    stopped = sorted((s["guest"], s["nic"], s["device"], s["bridge"]) for s in live.stopped)
    assert stopped == [("notarget", "interface 0", None, "br0"), ("stopped1", "interface 1", None, "virbr0")]
    assert [(n.guest, n.nic, n.device, n.bridge) for n in live.nics if n.claim == STOPPED] == [
        ("stopped1", "interface 0", "stop1-eth0", "br0")]
    assert not [p for p in live.problems if p["guest"] in ("notarget", "stopped1")]


def test_running_guests_are_read_from_the_live_xml_only(live):
    assert not [n for n in live.nics if n.claim != STOPPED and (
        "/etc/" in n.origin or n.origin.startswith(str(LIBVIRT / "etc")))]
    assert not [s for s in live.skipped if s["origin"].startswith(str(LIBVIRT / "etc"))]


def test_persistent_definitions_lack_device_names(persistent):
    # Only a device name the user chose survives in a persistent definition; libvirt's own vnetN do not.
    # The live directory is there, so it still tells that stopped1 and notarget do not run.
    assert [(n.device, n.claim) for n in persistent.nics] == [("stop1-eth0", STOPPED)]
    expected = [("notarget", "interface 0"), ("stopped1", "interface 1")]
    assert sorted((s["guest"], s["nic"]) for s in persistent.stopped) == expected
    reasons = {(p["guest"], p["nic"]): p["reason"] for p in persistent.problems}
    assert "no <target dev=...>" in reasons[("web1", "interface 0")]
    assert reasons[("web1", "interface 2")].startswith("interface 2 on virbr0: no <target dev=...>")   # via networks/
    assert reasons[("db1", "interface 2")].startswith("interface 2 on br0: ")
    skipped = {(s["guest"], s["nic"]): s["reason"] for s in persistent.skipped}
    assert skipped[("web1", "interface 3")].startswith("type='direct'")
    assert skipped[("ovs1", "interface 1")] == "network 'ovsnet': Open vSwitch port (<virtualport type='openvswitch'>); OVS restores its own ports"
    assert "forward mode 'vepa'" in skipped[("ovs1", "interface 3")]


def test_persistent_device_named_by_the_user_is_used(persistent, tmp_path):
    xml = (LIBVIRT / "etc" / "stopped1.xml").read_text()
    found = libvirt_source.parse_libvirt_domain(xml, "stopped1.xml")
    assert [(n.device, n.bridge, n.running) for n in found.nics] == [("stop1-eth0", "br0", False)]


def test_network_interface_without_actual_in_live_xml_is_a_problem_not_a_guess():
    xml = ("<domstatus state='running'><domain><name>g</name><devices><interface type='network'>"
           "<source network='default'/><target dev='vnet1'/></interface></devices></domain></domstatus>")
    found = libvirt_source.parse_libvirt_domain(xml, "g.xml", None, True)
    assert found.nics == [] and "has no <actual> element" in found.problems[0]["reason"]


def test_network_source_with_bridge_attribute_counts_like_actual():
    xml = ("<domstatus state='running'><domain><name>g</name><devices><interface type='network'>"
           "<source network='default' portid='x' bridge='virbr0'/><target dev='vnet1'/></interface></devices></domain>"
           "</domstatus>")
    assert [(n.device, n.bridge) for n in libvirt_source.parse_libvirt_domain(xml, "g.xml").nics] == [("vnet1", "virbr0")]


def test_libvirt_bad_xml_is_a_problem(tmp_path):
    (tmp_path / "bad.xml").write_text("<domain><name>bad</name><devices>")
    found = discover_libvirt(str(tmp_path))
    assert found.nics == [] and found.problems[0]["guest"] == "bad" and "not valid XML" in found.problems[0]["reason"]


def test_a_document_that_is_no_domain_is_a_problem(tmp_path):
    (tmp_path / "net.xml").write_text("<network><name>x</name></network>")
    assert "no <domain> element (a <network> document)" in discover_libvirt(str(tmp_path)).problems[0]["reason"]


def test_auto_reads_the_live_xml_when_its_directory_exists_and_says_so(tmp_path):
    found = discover("libvirt", libvirt_xml_dir=str(LIBVIRT / "etc"), libvirt_status_dir=str(LIBVIRT / "run"))
    assert found.libvirt == {"read": "live", "dir": str(LIBVIRT / "run")} and found.sources == ["libvirt"]
    assert "vnet12" in by_device(found.nics)
    fallback = discover("libvirt", libvirt_xml_dir=str(LIBVIRT / "etc"), libvirt_status_dir=str(tmp_path / "none"))
    assert fallback.libvirt == {"read": "persistent", "dir": str(LIBVIRT / "etc")}
    assert [n.device for n in fallback.nics] == ["stop1-eth0"]
    asked = discover("libvirt", libvirt_xml_dir=str(LIBVIRT / "etc"), libvirt_status_dir=str(LIBVIRT / "run"),
                     libvirt_read="persistent")
    assert asked.libvirt["read"] == "persistent"


def test_libvirt_read_live_without_the_directory_is_refused(tmp_path):
    with pytest.raises(ConfigProblem, match="libvirt_status_dir: .* does not exist"):
        discover("libvirt", libvirt_xml_dir=str(LIBVIRT / "etc"), libvirt_status_dir=str(tmp_path / "x"), libvirt_read="live")
    with pytest.raises(ConfigProblem, match="libvirt_read: 'sometimes' is not allowed; allowed auto, live, persistent"):
        discover("libvirt", libvirt_read="sometimes")


# -- explicit and auto ------------------------------------------------------------------------

def test_explicit_entries():
    found = parse_explicit([{"device": "tap1i0", "bridge": "vmbr0", "vlan": 10, "trunks": ["20-21", 30], "mtu": 9000},
                            {"device": "veth2i0", "bridge": "vmbr1", "link_down": True}])
    assert found.problems == []
    a, b = found.nics
    assert (a.vlan, a.trunks, a.mtu) == (10, (20, 21, 30), 9000)
    assert b.link_down and b.vlans() is None


@pytest.mark.parametrize("item, text", [
    ({"device": "tap1i0"}, "ports[0]: bridge: required"),
    ({"bridge": "vmbr0"}, "ports[0]: device: required"),
    ({"device": "tap1i0", "bridge": "vmbr0", "vlan": 5000}, "ports[0]: vlan: 5000 is not a VLAN id; allowed 1-4094"),
    ({"device": "tap1i0", "bridge": "vmbr0", "colour": "red"}, "ports[0]: unknown keys colour"),
])
def test_explicit_bad_entries_name_the_position(item, text):
    found = parse_explicit([item])
    assert found.nics == [] and text in found.problems[0]["reason"]


def test_auto_reads_what_is_there_and_explicit_wins(tmp_path):
    found = discover("auto", str(FIXTURES / "pve"), str(tmp_path / "none"), [{"device": "tap100i0", "bridge": "vmbr5"}],
                     libvirt_status_dir=str(tmp_path / "none2"))
    assert found.sources == ["explicit", "proxmox"] and found.libvirt is None
    assert by_device(found.nics)["tap100i0"].bridge == "vmbr5"
    assert "tap100i0 is configured twice" in found.warnings[0]
    assert found.problems == []


def counting(monkeypatch, module, name):
    """Wraps module.<name> (the parser read_cached's callbacks call) and returns the list of calls it records."""
    calls = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_cache_parses_an_unchanged_proxmox_config_once_and_a_changed_one_again(tmp_path, monkeypatch):
    node = tmp_path / "node"
    shutil.copytree(FIXTURES / "pve", node)
    parsed = counting(monkeypatch, proxmox, "parse_proxmox_config")
    every = sorted(p.stem for p in node.glob("*/*.conf"))
    cache: dict = {}
    first = discover_proxmox(str(node), cache)
    assert sorted(args[1] for args in parsed) == every
    parsed.clear()
    second = discover_proxmox(str(node), cache)
    assert parsed == [], "unchanged files were parsed again despite the cache"
    assert [n.to_dict() for n in first.nics] == [n.to_dict() for n in second.nics]
    assert first.skipped == second.skipped and first.problems == second.problems
    conf = node / "qemu-server" / "100.conf"
    conf.write_text(conf.read_text().replace("bridge=vmbr0,firewall=0", "bridge=vmbr3,firewall=0", 1))
    os.utime(conf, ns=(1, 1))   # same size as before: only the mtime tells
    third = by_device(discover_proxmox(str(node), cache).nics)
    assert [args[1] for args in parsed] == ["100"], "only the changed file is parsed again"
    assert third["tap100i0"].bridge == "vmbr3"
    assert {d: n.to_dict() for d, n in third.items() if not d.startswith("tap100")} == {
        n.device: n.to_dict() for n in first.nics if not n.device.startswith("tap100")}


def test_cache_parses_an_unchanged_libvirt_domain_once_and_a_changed_one_again(tmp_path, monkeypatch):
    host = tmp_path / "host"
    shutil.copytree(LIBVIRT, host)
    parsed = counting(monkeypatch, libvirt_source, "parse_libvirt_domain")
    cache: dict = {}
    first = discover_libvirt(str(host / "etc"), cache, str(host / "run"), "live")
    every = sorted(p.relative_to(host).as_posix() for p in host.glob("*/*.xml") if p.parent.name in ("etc", "run"))
    assert sorted(Path(args[1]).relative_to(host).as_posix() for args in parsed) == every
    parsed.clear()
    second = discover_libvirt(str(host / "etc"), cache, str(host / "run"), "live")
    assert parsed == [], "unchanged files were parsed again despite the cache"
    assert [n.to_dict() for n in first.nics] == [n.to_dict() for n in second.nics]
    assert first.stopped == second.stopped and first.skipped == second.skipped
    domain = host / "run" / "db1.xml"
    domain.write_text(domain.read_text() + "\n")
    discover_libvirt(str(host / "etc"), cache, str(host / "run"), "live")
    assert [Path(args[1]).name for args in parsed] == ["db1.xml"], "only the changed file is parsed again"
