"""Guest discovery: Proxmox VE configs, libvirt domain XML and explicit lists, parsed as they really look."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests import libvirt as libvirt_source, proxmox
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.explicit import parse_explicit
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.libvirt import discover_libvirt
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    ConfigProblem, GuestNic, parse_trunks,
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
        "tap100i0", "tap100i1", "tap102i0", "tap103i0", "tap104i0", "tap107i0", "tap9000i0",
        "veth101i0", "veth105i0", "veth105i1"]
    assert by_device(pve.nics)["veth105i1"].bridge == "vmbr1"
    assert by_device(pve.nics)["veth101i0"].kind == "lxc"


def test_snapshot_sections_do_not_count(pve):
    nics = by_device(pve.nics)
    assert nics["tap100i0"].bridge == "vmbr0" and not nics["tap100i0"].firewall  # [before-upgrade] says vmbr1
    assert "tap100i2" not in nics                                               # only in the snapshot
    assert nics["veth105i0"].bridge == "vmbr0"                                  # [nightly] says vmbr2
    assert nics["tap9000i0"].bridge == "vmbr0"                                  # [special:cloudinit] says vmbr1


def test_pending_section_does_not_count(pve):
    assert by_device(pve.nics)["tap104i0"].link_down is True


def test_nic_without_bridge_is_skipped_not_failed(pve):
    assert [(s["guest"], s["nic"]) for s in pve.skipped] == [("106", "net0")]
    assert pve.problems == []


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
    nics, skipped = parse_proxmox_config(text, "42", "qemu")
    assert [(n.device, n.bridge) for n in nics] == [("tap42i2", "vmbr0")] and skipped == []


def test_tag_and_trunks_are_parsed():
    nics, skipped = parse_proxmox_config("net0: virtio=x,bridge=vmbr0,tag=10,trunks=20;30-32,firewall=1\n", "7", "qemu")
    assert skipped == []
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
    with pytest.raises(ConfigProblem):
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


# -- libvirt ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def libvirt():
    return discover_libvirt(str(FIXTURES / "libvirt"))


def test_libvirt_bridge_interfaces_with_target(libvirt):
    nics = by_device(libvirt.nics)
    assert sorted(nics) == ["vnet10", "vnet11", "vnet20", "vnet21", "vnet30"]  # autostart/ is not read twice
    assert (nics["vnet10"].guest, nics["vnet10"].bridge, nics["vnet10"].mtu) == ("web1", "br0", 1400)
    assert nics["vnet11"].link_down is True and nics["vnet11"].bridge == "br1"


def test_libvirt_live_status_xml_and_vlans(libvirt):
    nics = by_device(libvirt.nics)
    assert nics["vnet20"].guest == "db1"
    assert nics["vnet20"].vlans() == {"pvid": 42, "untagged": [[42, 42]], "tagged": []}
    assert nics["vnet21"].vlans() == {"pvid": 100, "untagged": [[100, 100]], "tagged": [[101, 102]]}


def test_libvirt_skips_network_and_ovs_interfaces(libvirt):
    assert sorted((s["guest"], s["nic"]) for s in libvirt.skipped) == [("ovs1", "interface 0"), ("web1", "interface 2")]


def test_libvirt_interface_without_target_is_a_problem(libvirt):
    assert [p["guest"] for p in libvirt.problems] == ["notarget"]
    assert "no <target dev=...>" in libvirt.problems[0]["reason"]


def test_libvirt_bad_xml_is_a_problem(tmp_path):
    (tmp_path / "bad.xml").write_text("<domain><name>bad</name><devices>")
    found = discover_libvirt(str(tmp_path))
    assert found.nics == [] and found.problems[0]["guest"] == "bad" and "not valid XML" in found.problems[0]["reason"]


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
    nics, problems, warnings, used = discover(
        "auto", str(FIXTURES / "pve"), str(tmp_path / "none"), [{"device": "tap100i0", "bridge": "vmbr5"}])
    assert used == ["explicit", "proxmox"]
    assert by_device(nics)["tap100i0"].bridge == "vmbr5"
    assert "tap100i0 is configured twice" in warnings[0]
    assert problems == []


def test_auto_with_nothing_fails_with_a_fix(tmp_path):
    with pytest.raises(ConfigProblem, match="source: auto found no guest configuration"):
        discover("auto", str(tmp_path), str(tmp_path))


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
    xml_dir = tmp_path / "qemu"
    shutil.copytree(FIXTURES / "libvirt", xml_dir)
    parsed = counting(monkeypatch, libvirt_source, "parse_libvirt_domain")
    cache: dict = {}
    first = discover_libvirt(str(xml_dir), cache)
    assert sorted(Path(args[1]).name for args in parsed) == sorted(p.name for p in xml_dir.glob("*.xml"))
    parsed.clear()
    second = discover_libvirt(str(xml_dir), cache)
    assert parsed == [], "unchanged files were parsed again despite the cache"
    assert [n.to_dict() for n in first.nics] == [n.to_dict() for n in second.nics]
    domain = xml_dir / "db1.xml"
    domain.write_text(domain.read_text() + "\n")
    discover_libvirt(str(xml_dir), cache)
    assert [Path(args[1]).name for args in parsed] == ["db1.xml"], "only the changed file is parsed again"
