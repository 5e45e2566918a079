"""Guest devices follow their hypervisor's MTU rule: the config's MTU, else the bridge's (issue 27, part 3).

A scratch Proxmox VE node and libvirt run directory, a vmbr0 at MTU 9000 in a
namespace, taps at the kernel's 1500; the module and the tap_guard watcher.
"""
from __future__ import annotations

import contextlib

import pytest

from conftest import add_bridge, batch, bridge_mtu_lines, links, reenslave, restart_bridge, set_bridge_mtu
from nstools import ip, kernel_state, state_diff
from tapguard_proc import ENV, Watcher, watcher_argv

pytestmark = pytest.mark.kernel

# vmid -> what its net0 says beyond the bridge; every VM is on vmbr0.
VMS = {"100": "", "101": ",mtu=1500", "102": ",mtu=1"}
DOMAIN = """<domstatus state='running' reason='booted' pid='4242'><domain type='kvm'><name>{name}</name><devices>
<interface type='bridge'><source bridge='vmbr0'/><target dev='{dev}'/>{mtu}</interface>
</devices></domain></domstatus>"""


def write_node(root, vms=None, containers=None):
    """A Proxmox VE node directory with one net0 per guest: {vmid: extra properties}."""
    node = root / "node"
    for sub, guests, line in (("qemu-server", vms if vms is not None else VMS, "virtio=BC:24:11:00:00:{n:02x}"),
                              ("lxc", containers or {}, "name=eth0,hwaddr=BC:24:11:AA:00:{n:02x},type=veth")):
        (node / sub).mkdir(parents=True, exist_ok=True)
        for n, (vmid, extra) in enumerate(sorted(guests.items())):
            (node / sub / f"{vmid}.conf").write_text(f"net0: {line.format(n=n)},bridge=vmbr0{extra}\n")
    return node


def jumbo_lab(ns, taps=("tap100i0", "tap101i0", "tap102i0"), veths=()):
    """vmbr0 with its MTU set to 9000 (ifupdown's `mtu 9000`), an uplink at 9000, guest devices at 1500, detached."""
    ip("link", "add", "eth1", "mtu", "9000", "type", "veth", "peer", "name", "sw1", ns=ns)
    add_bridge(ns, "vmbr0")
    set_bridge_mtu(ns, "vmbr0", 9000)
    ip("link", "set", "eth1", "master", "vmbr0", "up", ns=ns)
    for tap in taps:
        ip("tuntap", "add", tap, "mode", "tap", ns=ns)
        ip("link", "set", tap, "up", ns=ns)
    for veth in veths:
        ip("link", "add", veth, "type", "veth", "peer", "name", "ct" + veth[4:], ns=ns)
        ip("link", "set", veth, "up", ns=ns)


# The VMS plugged into a vmbr0 at 9000: no mtu and mtu=1 follow it, mtu=1500 stays.
AT_9000 = {"tap100i0": ("vmbr0", 9000), "tap101i0": ("vmbr0", 1500), "tap102i0": ("vmbr0", 9000), "vmbr0": (None, 9000)}


def mtus(ns, names=None) -> dict:
    state = links(ns)
    return {name: (state[name]["master"], state[name]["mtu"]) for name in (names or sorted(state))}


def test_reattached_taps_get_the_config_mtu_else_the_bridges(netns, tmp_path):
    """No mtu: the bridge's 9000; mtu=1500: 1500 (the bridge keeps its 9000); mtu=1: the bridge's. MTU before master."""
    jumbo_lab(netns)
    node = write_node(tmp_path)
    result = reenslave(netns, proxmox_dir=str(node))
    assert mtus(netns, list(AT_9000)) == AT_9000
    commands = result["commands"]
    assert commands.index(f"ip -n {netns} link set dev tap100i0 mtu 9000") < commands.index(
        f"ip -n {netns} link set dev tap100i0 master vmbr0")
    assert result["state"]["tap100i0"]["mtu"] == 9000 and result["state"]["tap101i0"]["mtu"] == 1500
    state = kernel_state(netns)
    again = reenslave(netns, proxmox_dir=str(node))
    assert again["changed"] is False and again["commands"] == [] and kernel_state(netns) == state


def test_check_mode_predicts_the_mtu_and_changes_nothing(netns, tmp_path):
    jumbo_lab(netns)
    node = write_node(tmp_path)
    before = kernel_state(netns)
    result = reenslave(netns, check_mode=True, proxmox_dir=str(node))
    assert state_diff(before, kernel_state(netns)) == []
    assert result["changed"] is True
    assert f"ip -n {netns} link set dev tap100i0 mtu 9000" in result["commands"]
    assert result["diff"]["before"]["tap100i0"]["mtu"] == 1500
    assert result["diff"]["after"]["tap100i0"] == {"present": True, "master": "vmbr0", "up": True, "mtu": 9000}
    assert result["diff"]["after"]["tap101i0"]["mtu"] == 1500
    # What check mode showed is what the run does.
    done = reenslave(netns, proxmox_dir=str(node))
    assert done["commands"] == result["commands"] and done["state"] == result["state"]


def test_libvirt_mtu_size_else_the_bridges(netns, tmp_path):
    jumbo_lab(netns, taps=("vnet0", "vnet1"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "small.xml").write_text(DOMAIN.format(name="small", dev="vnet0", mtu="<mtu size='1400'/>"))
    (run / "plain.xml").write_text(DOMAIN.format(name="plain", dev="vnet1", mtu=""))
    result = reenslave(netns, source="libvirt", libvirt_status_dir=str(run), libvirt_xml_dir=str(tmp_path / "etc"))
    assert sorted(result["reattached"]) == ["vnet0", "vnet1"]
    assert mtus(netns, ["vnet0", "vnet1", "vmbr0"]) == {
        "vnet0": ("vmbr0", 1400), "vnet1": ("vmbr0", 9000), "vmbr0": (None, 9000)}


def test_container_veth_and_the_firewall_chain_get_the_bridges_mtu(netns, tmp_path):
    """LXC gives a veth the bridge's MTU; Proxmox VE gives fwbr, fwln and fwpr the bridge's (pve-common)."""
    jumbo_lab(netns, taps=("tap110i0",), veths=("veth200i0",))
    add_bridge(netns, "fwbr110i0")
    ip("link", "add", "fwpr110p0", "type", "veth", "peer", "name", "fwln110i0", ns=netns)
    for dev, master in (("tap110i0", "fwbr110i0"), ("fwln110i0", "fwbr110i0")):
        ip("link", "set", dev, "master", master, "up", ns=netns)
    ip("link", "set", "fwpr110p0", "up", ns=netns)   # vmbr0 was re-created: fwpr lost its master
    node = write_node(tmp_path, vms={"110": ",firewall=1"}, containers={"200": ""})
    result = reenslave(netns, proxmox_dir=str(node))
    assert sorted(result["reattached"]) == ["tap110i0", "veth200i0"]
    assert mtus(netns, ["tap110i0", "fwbr110i0", "fwln110i0", "fwpr110p0", "veth200i0"]) == {
        "tap110i0": ("fwbr110i0", 9000), "fwbr110i0": (None, 9000), "fwln110i0": ("fwbr110i0", 9000),
        "fwpr110p0": ("vmbr0", 9000), "veth200i0": ("vmbr0", 9000)}


def test_a_firewall_bridge_rebuilt_is_made_at_the_bridges_mtu(netns, tmp_path):
    jumbo_lab(netns, taps=("tap110i0",))
    ip("link", "add", "fwpr110p0", "type", "veth", "peer", "name", "fwln110i0", ns=netns)
    node = write_node(tmp_path, vms={"110": ",firewall=1"})
    result = reenslave(netns, proxmox_dir=str(node))
    assert result["commands"][:2] == [f"ip -n {netns} link add name fwbr110i0 type bridge stp_state 0 forward_delay 0",
                                      f"ip -n {netns} link set dev fwbr110i0 mtu 9000"]
    assert mtus(netns, ["tap110i0", "fwbr110i0", "fwpr110p0"]) == {
        "tap110i0": ("fwbr110i0", 9000), "fwbr110i0": (None, 9000), "fwpr110p0": ("vmbr0", 9000)}


def test_running_taps_keep_their_mtu_unless_sync_mtu(netns, tmp_path):
    """vmbr0 went to 9000 under running guests: left alone by default; sync_mtu brings them to the rule now."""
    jumbo_lab(netns, taps=("tap100i0", "tap101i0", "tap102i0", "tap103i0"))
    for tap in ("tap100i0", "tap101i0", "tap102i0", "tap103i0"):
        ip("link", "set", tap, "master", "vmbr0", ns=netns)
    ip("link", "set", "tap103i0", "mtu", "1200", ns=netns)
    node = write_node(tmp_path, vms=dict(VMS, **{"103": ",mtu=1200"}))
    # mtu=1 names the bridge's MTU in the config itself: it is kept to even without sync_mtu, as before.
    plain = reenslave(netns, proxmox_dir=str(node))
    assert plain["commands"] == [f"ip -n {netns} link set dev tap102i0 mtu 9000"]
    assert mtus(netns, ["tap100i0", "tap101i0"]) == {"tap100i0": ("vmbr0", 1500), "tap101i0": ("vmbr0", 1500)}
    state = kernel_state(netns)
    checked = reenslave(netns, check_mode=True, proxmox_dir=str(node), sync_mtu=True)
    assert state_diff(state, kernel_state(netns)) == []
    assert checked["commands"] == [f"ip -n {netns} link set dev tap100i0 mtu 9000"]
    synced = reenslave(netns, proxmox_dir=str(node), sync_mtu=True)
    assert synced["reattached"] == ["tap100i0"] and synced["already_ok"] == ["tap101i0", "tap102i0", "tap103i0"]
    # The explicitly lower ones stay at their own MTU.
    assert mtus(netns, ["tap100i0", "tap101i0", "tap102i0", "tap103i0", "vmbr0"]) == {
        "tap100i0": ("vmbr0", 9000), "tap101i0": ("vmbr0", 1500), "tap102i0": ("vmbr0", 9000),
        "tap103i0": ("vmbr0", 1200), "vmbr0": (None, 9000)}
    again = reenslave(netns, proxmox_dir=str(node), sync_mtu=True)
    assert again["changed"] is False and again["commands"] == []


def test_sync_mtu_lowers_taps_when_the_bridge_went_down(netns, tmp_path):
    jumbo_lab(netns, taps=("tap100i0",))
    ip("link", "set", "tap100i0", "mtu", "9000", ns=netns)
    ip("link", "set", "tap100i0", "master", "vmbr0", ns=netns)
    set_bridge_mtu(netns, "vmbr0", 1500)
    node = write_node(tmp_path, vms={"100": ""})
    assert reenslave(netns, proxmox_dir=str(node))["changed"] is False
    reenslave(netns, proxmox_dir=str(node), sync_mtu=True)
    assert mtus(netns, ["tap100i0", "vmbr0"]) == {"tap100i0": ("vmbr0", 1500), "vmbr0": (None, 1500)}


@pytest.mark.parametrize("value, text", [
    ("abc", "mtu: 'abc' is not a number; allowed 68-65535, or 1 for the bridge's MTU"),
    ("70000", "mtu: '70000' is out of range; allowed 68-65535, or 1 for the bridge's MTU"),
])
def test_a_bad_mtu_fails_that_guest_names_it_and_changes_nothing_for_it(netns, tmp_path, value, text):
    jumbo_lab(netns, taps=("tap100i0", "tap101i0"))
    node = write_node(tmp_path, vms={"100": "", "101": f",mtu={value}"})
    before = mtus(netns)
    result = reenslave(netns, proxmox_dir=str(node))
    failed = result["failed_guests"]
    assert [(f["guest"], f["device"]) for f in failed] == [("101", None)]
    assert text in failed[0]["reason"] and "101.conf" in failed[0]["reason"]
    assert [w for w in result["warnings"] if w.startswith("101: not restored:") and text in w]
    after = mtus(netns)
    assert after["tap101i0"] == before["tap101i0"] == (None, 1500)
    assert after["tap100i0"] == ("vmbr0", 9000)


def test_a_bad_libvirt_mtu_size_fails_that_interface(netns, tmp_path):
    jumbo_lab(netns, taps=("vnet0",))
    run = tmp_path / "run"
    run.mkdir()
    (run / "bad.xml").write_text(DOMAIN.format(name="bad", dev="vnet0", mtu="<mtu size='70000'/>"))
    state = kernel_state(netns)
    result = reenslave(netns, source="libvirt", libvirt_status_dir=str(run), libvirt_xml_dir=str(tmp_path / "etc"))
    assert [(f["guest"], f["reason"]) for f in result["failed_guests"]] == [
        ("bad", "interface 0: mtu: '70000' is out of range; allowed 68-65535; nothing is changed for this guest")]
    assert state_diff(state, kernel_state(netns)) == []


def test_kernel_facts_the_docs_rely_on(netns):
    """A port may be above its bridge; a bridge whose MTU was never set (or set at creation) follows its smallest
    port, up and down; one set by hand keeps it."""
    ip("link", "add", "vmbr0", "mtu", "9000", "type", "bridge", ns=netns)
    ip("link", "add", "vmbr1", "type", "bridge", ns=netns)
    set_bridge_mtu(netns, "vmbr1", 9000)
    for tap, bridge in (("tap1", "vmbr0"), ("tap2", "vmbr1")):
        ip("tuntap", "add", tap, "mode", "tap", ns=netns)
        ip("link", "set", tap, "master", bridge, ns=netns)
    assert mtus(netns, ["vmbr0", "vmbr1"]) == {"vmbr0": (None, 1500), "vmbr1": (None, 9000)}
    ip("link", "set", "tap1", "mtu", "9000", ns=netns)
    ip("link", "set", "tap2", "mtu", "12000", ns=netns)
    assert mtus(netns, ["vmbr0", "vmbr1", "tap2"]) == {"vmbr0": (None, 9000), "vmbr1": (None, 9000),
                                                       "tap2": ("vmbr1", 12000)}


@contextlib.contextmanager
def watching(ns, node, tmp_path):
    """tap_guard on the scratch node, ready; stopped afterwards, and it must exit 0."""
    w = Watcher(watcher_argv("--source", "proxmox", "--proxmox-dir", str(node), "--namespace", ns), tmp_path, ENV)
    try:
        w.wait_ready()
        yield w
    finally:
        code = w.stop()
    assert code == 0, w.log


def test_the_watcher_gives_replugged_taps_the_mtu_of_the_bridge_set_after_it_was_made(netns, tmp_path):
    """ifupdown makes vmbr0, then sets its MTU: the guests plugged in meanwhile follow; mtu=1500 stays."""
    jumbo_lab(netns)
    set_bridge_mtu(netns, "vmbr0", 1500)   # before the change: the taps get 1500 when the watcher starts
    with watching(netns, write_node(tmp_path), tmp_path) as w:
        assert mtus(netns, ["tap100i0", "tap101i0", "tap102i0"]) == {
            "tap100i0": ("vmbr0", 1500), "tap101i0": ("vmbr0", 1500), "tap102i0": ("vmbr0", 1500)}
        restart_bridge(netns, mtu=1500)   # made again, as it was; its new MTU is set a moment later
        w.wait_log("bridge vmbr0 appeared, full pass")
        ip("link", "set", "vmbr0", "mtu", "9000", ns=netns)
        w.wait_log("MTU is now 9000, full pass")
        assert mtus(netns, list(AT_9000)) == AT_9000


def test_the_watcher_gives_a_bridge_made_at_9000_its_mtu_on_the_first_full_pass(netns, tmp_path):
    jumbo_lab(netns)
    for tap in ("tap100i0", "tap101i0", "tap102i0"):
        ip("link", "set", tap, "master", "vmbr0", ns=netns)
    with watching(netns, write_node(tmp_path), tmp_path) as w:
        ip("link", "del", "vmbr0", ns=netns)
        batch(netns, ["link add vmbr0 type bridge stp_state 0 forward_delay 0", *bridge_mtu_lines("vmbr0", 9000),
                      "link set eth1 master vmbr0", "link set vmbr0 up"])
        w.wait_log("bridge vmbr0 appeared, full pass")
        assert mtus(netns, list(AT_9000)) == AT_9000
