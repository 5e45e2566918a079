"""tap_reenslave on the real kernel: a Proxmox VE node in a namespace, its bridge restarted."""
from __future__ import annotations

import shutil

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError

from conftest import FIXTURES, PVE, RUNNING_PORTS, add_bridge, guest_ports, links, reenslave, restart_bridge
from nstools import ip, kernel_state

pytestmark = pytest.mark.kernel


def test_lab_matches_the_fixture(pve_node):
    """The lab is what the fixture configs describe: the module has nothing to do."""
    ports = guest_ports(pve_node)
    assert {name: v["master"] for name, v in ports.items() if v["master"]} == RUNNING_PORTS
    result = reenslave(pve_node, proxmox_dir=str(PVE))
    assert result["changed"] is False and result["commands"] == []


def test_bridge_restart_then_every_running_guest_is_back(pve_node):
    before = guest_ports(pve_node)
    restart_bridge(pve_node)
    detached = [n for n, v in guest_ports(pve_node).items() if v["master"] is None and n.startswith(("tap", "veth", "fwpr"))]
    assert sorted(detached) == ["fwpr102p0", "fwpr105p0", "tap100i0", "tap104i0", "veth101i0"]
    result = reenslave(pve_node, proxmox_dir=str(PVE))
    assert result["changed"] is True
    assert guest_ports(pve_node) == before
    assert result["reattached"] == ["tap100i0", "tap102i0", "tap104i0", "veth101i0", "veth105i0"]
    assert result["already_ok"] == ["tap100i1", "tap107i0", "veth105i1"]
    assert result["failed_guests"] == []
    assert result["sources"] == ["proxmox"]


def test_stopped_guests_are_reported_and_nothing_is_made_for_them(pve_node):
    restart_bridge(pve_node)
    result = reenslave(pve_node, proxmox_dir=str(PVE))
    assert result["not_running"] == ["tap103i0"]
    # A template never runs: skipped with the reason, not listed as a stopped guest.
    assert [(s["guest"], s["device"], s["reason"]) for s in result["skipped_guests"] if s["guest"] == "9000"] == [
        ("9000", "tap9000i0", "template (template: 1): a template never runs")]
    names = links(pve_node)
    assert not [n for n in names if "103" in n or "9000" in n]


def test_link_down_guest_comes_back_down(pve_node):
    restart_bridge(pve_node)
    reenslave(pve_node, proxmox_dir=str(PVE))
    assert links(pve_node)["tap104i0"] == {"master": "vmbr0", "up": False, "mtu": 1500}


def test_second_run_changes_nothing(pve_node):
    restart_bridge(pve_node)
    reenslave(pve_node, proxmox_dir=str(PVE))
    state = kernel_state(pve_node)
    again = reenslave(pve_node, proxmox_dir=str(PVE))
    assert again["changed"] is False and again["commands"] == [] and again["reattached"] == []
    assert kernel_state(pve_node) == state


def test_check_mode_reports_and_changes_nothing(pve_node):
    restart_bridge(pve_node)
    state = kernel_state(pve_node)
    result = reenslave(pve_node, check_mode=True, proxmox_dir=str(PVE))
    assert kernel_state(pve_node) == state
    assert result["changed"] is True
    assert result["reattached"] == ["tap100i0", "tap102i0", "tap104i0", "veth101i0", "veth105i0"]
    assert f"ip -n {pve_node} link set dev tap100i0 master vmbr0" in result["commands"]
    assert result["diff"]["before"]["tap100i0"]["master"] is None
    assert result["diff"]["after"]["tap100i0"]["master"] == "vmbr0"


def test_firewall_bridge_deleted_too_is_rebuilt(pve_node):
    before = guest_ports(pve_node)
    restart_bridge(pve_node)
    ip("link", "del", "fwbr102i0", ns=pve_node)
    result = reenslave(pve_node, proxmox_dir=str(PVE))
    assert f"ip -n {pve_node} link add name fwbr102i0 type bridge stp_state 0 forward_delay 0" in result["commands"]
    after = guest_ports(pve_node)
    assert after == before
    assert after["fwbr102i0"]["up"] is True


def test_firewall_link_pair_missing_fails_that_guest_and_restores_the_rest(pve_node):
    restart_bridge(pve_node)
    ip("link", "del", "fwpr105p0", ns=pve_node)  # takes its peer fwln105i0 with it
    result = reenslave(pve_node, proxmox_dir=str(PVE))
    assert [(f["device"], f["guest"]) for f in result["failed_guests"]] == [("veth105i0", "105")]
    assert "fwln105i0 and fwpr105p0 missing" in result["failed_guests"][0]["reason"]
    assert links(pve_node)["tap100i0"]["master"] == "vmbr0"
    assert any("veth105i0: not restored" in w for w in result["warnings"])


def test_guest_moved_to_another_bridge_follows_its_config(pve_node):
    """107's snapshot says vmbr0, its config says vmbr1: a stale attachment to vmbr0 is corrected."""
    restart_bridge(pve_node, "vmbr1", None)
    ip("link", "set", "tap107i0", "master", "vmbr0", ns=pve_node)
    result = reenslave(pve_node, proxmox_dir=str(PVE))
    assert links(pve_node)["tap107i0"]["master"] == "vmbr1"
    assert "tap107i0" in result["reattached"] and "veth105i1" in result["reattached"]


def test_mtu_from_the_config_is_restored(pve_node):
    restart_bridge(pve_node)
    ip("link", "set", "veth101i0", "mtu", "1500", ns=pve_node)
    reenslave(pve_node, proxmox_dir=str(PVE))
    assert links(pve_node)["veth101i0"] == {"master": "vmbr0", "up": True, "mtu": 1450}


def test_bridges_option_limits_the_work(pve_node):
    restart_bridge(pve_node)
    restart_bridge(pve_node, "vmbr1", None)
    result = reenslave(pve_node, proxmox_dir=str(PVE), bridges=["vmbr1"])
    assert result["reattached"] == ["tap100i1", "tap107i0", "veth105i1"]
    assert links(pve_node)["tap100i0"]["master"] is None


def test_missing_bridge_and_broken_configs_fail_their_guests_only(netns):
    add_bridge(netns, "vmbr0")
    for t in ("tap301i0", "tap302i0"):
        ip("tuntap", "add", t, "mode", "tap", ns=netns)
    result = reenslave(netns, proxmox_dir=str(FIXTURES / "pve_broken"))
    assert result["reattached"] == ["tap301i0"]
    failed = {f["guest"]: f["reason"] for f in result["failed_guests"]}
    assert failed["302"] == "bridge vmbr7 does not exist"
    assert "tag: '5000'" in failed["300"] and "mtu: '20'" in failed["303"]
    assert links(netns)["tap301i0"]["master"] == "vmbr0"


def test_kernel_refusal_sets_that_guest_aside_and_restores_the_rest(netns):
    """The kernel will not put a layer-3 tun device (no Ethernet) on a bridge: that entry fails, the tap is still
    restored. (A tun device is a guest's device, so re-attachment tries it; a host device it would not.)"""
    add_bridge(netns, "vmbr0")
    ip("tuntap", "add", "tap1i0", "mode", "tap", ns=netns)
    ip("tuntap", "add", "tun2i0", "mode", "tun", ns=netns)
    ports = [{"device": "tun2i0", "bridge": "vmbr0"}, {"device": "tap1i0", "bridge": "vmbr0"}]
    result = reenslave(netns, source="explicit", ports=ports)
    assert result["reattached"] == ["tap1i0"]
    assert [f["device"] for f in result["failed_guests"]] == ["tun2i0"]
    assert "the kernel refused 'ip -n" in result["failed_guests"][0]["reason"]
    assert links(netns)["tap1i0"]["master"] == "vmbr0" and links(netns)["tun2i0"]["master"] is None


def test_proxmox_vlan_bridge_on_a_bridge_without_vlan_filtering(netns, tmp_path):
    node = tmp_path / "node"
    (node / "qemu-server").mkdir(parents=True)
    (node / "qemu-server" / "210.conf").write_text("name: legacy-vlan\nnet0: virtio=BC:24:11:21:00:01,bridge=vmbr0,tag=10\n")
    add_bridge(netns, "vmbr0")
    add_bridge(netns, "vmbr0v10")
    ip("tuntap", "add", "tap210i0", "mode", "tap", ns=netns)
    result = reenslave(netns, proxmox_dir=str(node))
    assert result["reattached"] == ["tap210i0"]
    assert links(netns)["tap210i0"]["master"] == "vmbr0v10"


LIBVIRT = FIXTURES / "libvirt_host"


def libvirt_lab(ns: str) -> None:
    """The running guests of tests/unit/fixtures/libvirt_host/run, plugged as libvirt plugs them."""
    for bridge in ("br0", "br1", "virbr0"):
        add_bridge(ns, bridge)
    for tap, master in (("vnet10", "br0"), ("vnet11", "br1"), ("vnet12", "virbr0"), ("vnet20", "br0"),
                        ("vnet21", "br0"), ("vnet22", "br0"), ("vnet51", "br0")):
        ip("tuntap", "add", tap, "mode", "tap", ns=ns)
        ip("link", "set", tap, "master", master, "up", ns=ns)
    ip("link", "set", "vnet11", "down", ns=ns)   # <link state='down'/>


def libvirt(ns: str, **options) -> dict:
    return reenslave(ns, source="libvirt", libvirt_status_dir=str(LIBVIRT / "run"),
                     libvirt_xml_dir=str(LIBVIRT / "etc"), **options)


def test_libvirt_network_and_bridge_guests_from_live_xml_come_back_after_their_bridges(netns):
    """virbr0 (a type='network' guest, through <actual>) and br0 (type='bridge') re-created: one run puts all back."""
    libvirt_lab(netns)
    restart_bridge(netns, "virbr0", None)
    restart_bridge(netns, "br0", None)
    assert all(links(netns)[t]["master"] is None for t in ("vnet10", "vnet12", "vnet20", "vnet21", "vnet22", "vnet51"))
    result = libvirt(netns)
    state = links(netns)
    assert state["vnet12"]["master"] == "virbr0"
    assert {t: state[t]["master"] for t in ("vnet10", "vnet20", "vnet21", "vnet22", "vnet51")} == dict.fromkeys(
        ("vnet10", "vnet20", "vnet21", "vnet22", "vnet51"), "br0")
    assert state["vnet10"] == {"master": "br0", "up": True, "mtu": 1400}
    assert state["vnet11"] == {"master": "br1", "up": False, "mtu": 1500}
    assert result["libvirt_xml"] == {"read": "live", "dir": str(LIBVIRT / "run")}
    assert sorted(result["reattached"]) == ["vnet10", "vnet12", "vnet20", "vnet21", "vnet22", "vnet51"]
    assert result["already_ok"] == ["vnet11"]
    # Every interface of every guest is accounted for: nothing silently ignored.
    assert sorted(result["not_running"]) == ["notarget/interface 0", "stop1-eth0", "stopped1/interface 1"]
    assert sorted((s["guest"], s["nic"]) for s in result["skipped_guests"]) == [
        ("badnames", "interface 1"), ("ovs1", "interface 0"), ("ovs1", "interface 1"), ("ovs1", "interface 2"),
        ("ovs1", "interface 3"), ("web1", "interface 3")]
    assert all(s["reason"] for s in result["skipped_guests"])
    assert sorted((f["guest"], f["reason"].split(":")[0]) for f in result["failed_guests"]) == [
        ("badnames", "interface 0"), ("badnames", "interface 2")]
    counted = (len(result["reattached"]) + len(result["already_ok"]) + len(result["not_running"])
               + len(result["skipped_guests"]) + len(result["failed_guests"]))
    assert counted == 3 + 4 + 4 + 4 + 3, "every <interface> of the fixture is in exactly one list"
    again = libvirt(netns)
    assert again["changed"] is False and again["commands"] == []


def test_libvirt_running_guest_whose_device_is_gone_is_failed_not_stopped(netns):
    libvirt_lab(netns)
    ip("link", "del", "vnet20", ns=netns)
    result = libvirt(netns)
    failed = {f["device"]: f["reason"] for f in result["failed_guests"]}
    assert failed["vnet20"] == "the guest runs (its live status XML is there) but its device vnet20 does not exist"
    assert "vnet20" not in result["not_running"]


STOPPED1_RUNNING = """<domstatus state='running' reason='booted' pid='4343'><domain type='kvm'><name>stopped1</name>
<devices><interface type='bridge'><source bridge='br0'/><target dev='stop1-eth0'/></interface></devices>
</domain></domstatus>"""


def test_libvirt_persistent_definitions_when_asked(netns, tmp_path):
    """The definitions give the bridges; the live status XML still says which guest runs and owns which device."""
    libvirt_lab(netns)
    ip("tuntap", "add", "stop1-eth0", "mode", "tap", ns=netns)
    result = libvirt(netns, libvirt_read="persistent")
    assert result["libvirt_xml"] == {"read": "persistent", "dir": str(LIBVIRT / "etc")}
    assert any("no <target dev=...>" in f["reason"] for f in result["failed_guests"] if f["guest"] == "web1")
    # stopped1 has no live status XML: it does not run, so the stop1-eth0 that exists is not its own.
    failed = {f["device"]: f["reason"] for f in result["failed_guests"]}
    assert failed["stop1-eth0"].startswith("stopped1 is defined but not running")
    assert result["reattached"] == [] and links(netns)["stop1-eth0"]["master"] is None
    run = tmp_path / "run"   # stopped1 started: libvirt wrote its live status XML, naming stop1-eth0
    shutil.copytree(LIBVIRT / "run", run)
    (run / "stopped1.xml").write_text(STOPPED1_RUNNING)
    result = reenslave(netns, source="libvirt", libvirt_status_dir=str(run), libvirt_xml_dir=str(LIBVIRT / "etc"),
                       libvirt_read="persistent")
    assert result["reattached"] == ["stop1-eth0"] and links(netns)["stop1-eth0"]["master"] == "br0"


def test_explicit_list(netns):
    add_bridge(netns, "vmbr0")
    ip("tuntap", "add", "tap1i0", "mode", "tap", ns=netns)
    ip("link", "add", "veth2i0", "type", "veth", "peer", "name", "ct2", ns=netns)
    result = reenslave(netns, source="explicit", ports=[
        {"device": "tap1i0", "bridge": "vmbr0", "mtu": 9000},
        {"device": "veth2i0", "bridge": "vmbr0", "link_down": True},
        {"device": "tap9i0", "bridge": "vmbr0"}])
    assert result["reattached"] == ["tap1i0", "veth2i0"] and result["not_running"] == ["tap9i0"]
    state = links(netns)
    assert state["tap1i0"] == {"master": "vmbr0", "up": True, "mtu": 9000}
    assert state["veth2i0"]["master"] == "vmbr0" and state["veth2i0"]["up"] is False


@pytest.mark.parametrize("options, text", [
    ({"source": "explicit", "ports": [{"device": "tap1i0", "bridge": "vmbr0", "vlan": 5000}]}, "ports[0]: vlan: 5000"),
    ({"source": "explicit", "ports": [{"device": "tap1i0 x", "bridge": "vmbr0"}]}, "ports[0]: device: 'tap1i0 x'"),
    ({"source": "explicit"}, "ports: source=explicit needs a list"),
    ({"source": "proxmox", "proxmox_dir": "/nonexistent/pve"}, "proxmox_dir: /nonexistent/pve does not exist"),
    ({"source": "libvirt", "ports": [{"device": "tap1i0", "bridge": "vmbr0"}]}, "ports: only read with source=explicit"),
    ({"source": "libvirt", "libvirt_read": "live", "libvirt_status_dir": "/nonexistent/run"},
     "libvirt_status_dir: /nonexistent/run does not exist"),
    ({"source": "explicit", "bridges": ["bad name"], "ports": [{"device": "tap1i0", "bridge": "vmbr0"}]}, "bridges:"),
])
def test_bad_input_fails_before_any_change(netns, options, text):
    add_bridge(netns, "vmbr0")
    ip("tuntap", "add", "tap1i0", "mode", "tap", ns=netns)
    state = kernel_state(netns)
    with pytest.raises(ValidationError, match=text.replace("[", r"\[").replace("]", r"\]")):
        reenslave(netns, **options)
    assert kernel_state(netns) == state
