"""Issue 22, items 4-7 in pure logic: a rollback leaves guest plumbing, re-attachment moves only guests' devices,
numbers in guest configs are ASCII digits, and `source: auto` that finds nothing is not an error.

The kernel side: tests/checkpoint/test_rollback_guests.py (watchdog), tests/changewindow/test_change_window_guests.py
(the role) and tests/tap_reenslave/test_guest_config_guard.py (tap_reenslave, tap_guard).
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.libvirt import parse_libvirt_domain
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    DERIVED, LISTED, ConfigProblem, GuestNic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.proxmox import (
    discover_proxmox, parse_proxmox_config,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.reenslave import FAILED, plan_guests
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_DEL
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.rollback import plan_rollback

GUESTS = GuestMatcher()


def snapshot_host() -> HostNetwork:
    """vmbr0 on eno1 with an address and gateway, eno2 spare, two VM taps on vmbr0."""
    host = HostNetwork()
    host.add(Nic(name="eno1", mtu=1500, up=True, master="vmbr0", kind=""))
    host.add(Nic(name="eno2", mtu=1500, up=True, kind=""))
    host.add(Bridge(name="vmbr0", mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=False,
                    ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    for tap in ("tap100i0", "tap100i1", "tap100i2"):
        host.add(GuestPort(name=tap, mtu=1500, up=True, master="vmbr0", kind="tap"))
    return host


def bridge(host: HostNetwork, name: str, *ports: str) -> None:
    host.add(Bridge(name=name, mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=False))
    for port in ports:
        host.get(port).master = name


def guest(host: HostNetwork, name: str, master: str | None, kind: str = "tap") -> None:
    host.add(GuestPort(name=name, mtu=1500, up=True, master=master, kind=kind))


def window(snapshot: HostNetwork) -> HostNetwork:
    """The snapshot after a change and after guests started during the window.

    The change: vmbr0's uplink eno1 -> bond9 (eno2), tap100i0 moved to a new vmbrX, tap100i2 to a new vmbrY.
    During the window: VM 101 under the Proxmox VE firewall; VM 100's second NIC re-plugged with the firewall;
    VM 104 with tag=20 on vmbr0 (no VLAN filtering: Proxmox VE's vmbr0v20 on bond9.20); VM 105 on vmbrY;
    two libvirt networks, one with a guest.
    """
    host = snapshot.clone()
    host.add(Bond(name="bond9", mtu=1500, up=True, mode="active-backup", master="vmbr0"))
    host.get("eno2").master = "bond9"
    host.get("eno1").master = None
    bridge(host, "vmbrX", "tap100i0")
    bridge(host, "vmbrY", "tap100i2")
    guest(host, "tap105i0", "vmbrY")
    bridge(host, "fwbr101i0")
    guest(host, "tap101i0", "fwbr101i0")
    guest(host, "fwln101i0", "fwbr101i0", "veth")
    guest(host, "fwpr101p0", "vmbr0", "veth")
    bridge(host, "fwbr100i1", "tap100i1")
    guest(host, "fwln100i1", "fwbr100i1", "veth")
    guest(host, "fwpr100p1", "vmbr0", "veth")
    host.add(Vlan(name="bond9.20", mtu=1500, up=True, parent="bond9", vlan_id=20, protocol="802.1Q"))
    bridge(host, "vmbr0v20", "bond9.20")
    guest(host, "tap104i0", "vmbr0v20")
    bridge(host, "virbr1")
    guest(host, "vnet5", "virbr1")
    bridge(host, "virbr2")
    return host


def masters(host: HostNetwork) -> dict:
    return {name: dev.master for name, dev in sorted(host.devices.items())}


def test_rollback_deletes_what_the_change_built_and_leaves_guest_plumbing_with_its_reason():
    snapshot = snapshot_host()
    changed = window(snapshot)
    plan = plan_rollback(changed, snapshot, GUESTS)
    # virbr2 carries nothing: whatever its name, the change may have built it (a name alone keeps nothing).
    assert [op.device for op in plan.operations if op.action == LINK_DEL] == ["virbr2", "vmbrX"]
    left = {item["device"]: item["reason"] for item in plan.left}
    assert sorted(left) == ["bond9", "bond9.20", "fwbr100i1", "fwbr101i0", "tap100i1", "virbr1", "vmbr0v20", "vmbrY"]
    assert left["fwbr101i0"] == "Proxmox VE's firewall bridge of a guest NIC; carries guest ports fwln101i0, tap101i0"
    assert left["vmbr0v20"] == "Proxmox VE's bridge for VLAN 20 on vmbr0; carries guest port tap104i0"
    assert left["bond9.20"] == "a port of vmbr0v20, which stays"
    # A kept device gives back what the snapshot has: eno2 was a free NIC, tap100i2 a guest of vmbr0.
    assert left["bond9"] == ("carries VLAN bond9.20, which stays (the kernel deletes a VLAN with its parent); "
                             "taken back from it: port eno2 (it had no master)")
    assert left["virbr1"] == "a libvirt network's bridge; carries guest port vnet5"
    assert left["vmbrY"] == ("carries guest port tap105i0, which joined it since the checkpoint; "
                             "taken back from it: guest port tap100i2 (back to vmbr0)")
    assert left["tap100i1"] == ("on fwbr100i1 since the checkpoint, which stays (guest plumbing); "
                                "not moved back to vmbr0")
    assert all(f"{name} left in place: {reason}" in plan.warnings for name, reason in left.items())
    after = plan.predict(changed)
    # bond9 stays (VM 104's VLAN 20 leaves through it) but leaves vmbr0, which is back on eno1 alone.
    # tap100i2 goes back to vmbr0 (the change moved it), though vmbrY stays for tap105i0.
    expected = dict(masters(changed), eno1="vmbr0", eno2=None, tap100i0="vmbr0", tap100i2="vmbr0", bond9=None)
    del expected["vmbrX"], expected["virbr2"]
    assert masters(after) == expected
    assert after.get("vmbr0").ip == snapshot.get("vmbr0").ip
    assert plan_rollback(after, snapshot, GUESTS).operations == []


def test_a_guest_the_change_moved_onto_a_new_bridge_goes_back_and_the_bridge_goes():
    snapshot = snapshot_host()
    changed = snapshot.clone()
    bridge(changed, "vmbrX", "tap100i0", "tap100i1")
    plan = plan_rollback(changed, snapshot, GUESTS)
    assert [op.device for op in plan.operations if op.action == LINK_DEL] == ["vmbrX"]
    assert plan.left == []
    assert masters(plan.predict(changed)) == masters(snapshot)


def test_a_proxmox_vlan_bridge_needs_its_base_bridge_to_count():
    snapshot = snapshot_host()
    changed = snapshot.clone()
    bridge(changed, "lab0v7")   # no bridge lab0: a bridge the change built, whatever its name
    plan = plan_rollback(changed, snapshot, GUESTS)
    assert [op.device for op in plan.operations if op.action == LINK_DEL] == ["lab0v7"]


# -- re-attachment moves only guests' devices ------------------------------------------------------------------

def reattach_host() -> HostNetwork:
    host = HostNetwork()
    host.add(Nic(name="eno1", mtu=1500, up=True, kind=""))           # a physical NIC: no kind
    host.add(Nic(name="vx1", mtu=1500, up=True, kind="vxlan"))
    host.add(Nic(name="ct7", mtu=1500, up=True, kind="veth"))        # a container's veth, no pattern needed
    host.add(Nic(name="tap300i0", mtu=1500, up=True, kind="vxlan"))  # read with guest_patterns that do not match it
    host.add(GuestPort(name="fwln301i0", mtu=1500, up=True, kind="veth"))
    host.add(Nic(name="fwpr301p0", mtu=1500, up=True, kind="vxlan"))
    host.add(GuestPort(name="tap301i0", mtu=1500, up=True, kind="tap"))
    bridge(host, "vmbr9")
    bridge(host, "fwbr301i0")
    return host


@pytest.mark.parametrize("nic, reason", [
    (GuestNic("evil", "libvirt", "interface 0", "eno1", "vmbr9", mtu=68, link_down=True),
     "eno1 is a NIC without a kind (a physical device), not a guest's tap or veth"),
    (GuestNic("evil", "libvirt", "interface 0", "vx1", "vmbr9"), "vx1 is a vxlan device, not a guest's tap or veth"),
    (GuestNic("300", "qemu", "net0", "tap300i0", "vmbr9"), "tap300i0 is a vxlan device"),
    (GuestNic("301", "qemu", "net0", "tap301i0", "vmbr9", firewall=True), "fwpr301p0 is a vxlan device"),
])
def test_a_config_naming_a_host_device_is_a_problem_of_its_guest_and_nothing_is_planned(nic, reason):
    host = reattach_host()
    plan, outcomes = plan_guests(host, [nic])
    assert plan.operations == []
    assert [(o.status, o.nic.device) for o in outcomes] == [(FAILED, nic.device)]
    assert reason in outcomes[0].reason and "no guest_patterns entry matches" in outcomes[0].reason


def test_a_veth_of_any_name_and_a_tap_are_guests_devices():
    host = reattach_host()
    plan, outcomes = plan_guests(host, [GuestNic("7", "explicit", "ct7", "ct7", "vmbr9", claim=LISTED),
                                        GuestNic("301", "qemu", "net0", "tap301i0", "vmbr9", claim=DERIVED)])
    assert [o.status for o in outcomes] == ["reattached", "reattached"]
    assert sorted(op.device for op in plan.operations) == ["ct7", "tap301i0"]


# -- numbers are ASCII digits -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, number", [("12", 12), (" 7 ", 7), (0, 0), (4094, 4094), ("²", None), ("١٢", None),
                                           ("１２", None), ("-1", None), (-1, None), (True, None), ("1_0", None),
                                           ("", None), ("0x10", None)])
def test_ascii_int(value, number):
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int

    assert ascii_int(value) == number


@pytest.mark.parametrize("prop, text", [("tag=²", "tag: '²'"), ("tag=١٠", "tag: '١٠'"), ("trunks=10;²", "trunks: '²'"),
                                        ("mtu=²", "mtu: '²'"), ("mtu=１５００", "mtu: '１５００'")])
def test_proxmox_numbers_that_are_not_ascii_digits_are_a_problem_of_that_guest(prop, text):
    with pytest.raises(ConfigProblem, match=text):
        parse_proxmox_config(f"net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,{prop}\n", "100", "qemu", "100.conf")


def test_proxmox_keys_and_file_names_count_only_with_ascii_digits(tmp_path):
    found = parse_proxmox_config("net٣: virtio=BC:24:11:00:00:01,bridge=vmbr0\nnet1: virtio=BC:24:11:00:00:02,"
                                 "bridge=vmbr0\n", "100", "qemu")
    assert [n.device for n in found.nics] == ["tap100i1"]
    assert "'net٣: virtio=BC:24:11:00:00:01,bridge=vmbr0' is not a 'key: value' line" in found.warnings[0]
    (tmp_path / "qemu-server").mkdir()
    (tmp_path / "qemu-server" / "١٠٠.conf").write_text("net0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n")
    assert discover_proxmox(str(tmp_path)).nics == []


def test_one_bad_number_among_many_proxmox_configs_stays_that_files_problem(tmp_path):
    (tmp_path / "qemu-server").mkdir()
    for vmid in range(100, 110):
        tag = "²" if vmid == 104 else "10"
        (tmp_path / "qemu-server" / f"{vmid}.conf").write_text(f"net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,tag={tag}\n")
    found = discover_proxmox(str(tmp_path))
    assert len(found.nics) == 9 and "tap104i0" not in [n.device for n in found.nics]
    assert found.problems == [{"guest": "104", "origin": str(tmp_path / "qemu-server" / "104.conf"),
                               "reason": f"{tmp_path / 'qemu-server' / '104.conf'}:1: net0: tag: '²' is not a VLAN id; "
                                         f"allowed 1-4094"}]


@pytest.mark.parametrize("element, text", [("<vlan><tag id='²'/></vlan>", "vlan tag id: '²'"),
                                           ("<mtu size='²'/>", "mtu: '²'")])
def test_libvirt_numbers_that_are_not_ascii_digits_are_a_problem_of_that_interface(element, text):
    xml = (f"<domain><name>web1</name><devices><interface type='bridge'><source bridge='br0'/>"
           f"<target dev='vnet1'/>{element}</interface><interface type='bridge'><source bridge='br0'/>"
           f"<target dev='vnet2'/></interface></devices></domain>")
    found = parse_libvirt_domain(xml, "web1.xml")
    assert [n.device for n in found.nics] == ["vnet2"]
    assert [p["guest"] for p in found.problems] == ["web1"] and text in found.problems[0]["reason"]


# -- source: auto that finds nothing ------------------------------------------------------------------------------

def test_auto_that_finds_no_guest_configuration_finds_nothing_and_says_where_it_looked(tmp_path):
    found = discover("auto", str(tmp_path / "pve"), str(tmp_path / "etc"), libvirt_status_dir=str(tmp_path / "run"))
    assert found.nics == [] and found.problems == [] and found.sources == []
    assert len(found.warnings) == 1
    for place in (tmp_path / "pve" / "qemu-server", tmp_path / "pve" / "lxc", tmp_path / "run", tmp_path / "etc"):
        assert str(place) in found.warnings[0]
    assert found.warnings[0].startswith("source: auto found no guest configuration")


@pytest.mark.parametrize("source, text", [("proxmox", "proxmox_dir: {0}/pve does not exist"),
                                          ("libvirt", "libvirt_xml_dir: {0}/etc does not exist")])
def test_an_explicit_source_that_finds_nothing_still_fails(tmp_path, source, text):
    with pytest.raises(ConfigProblem, match=text.format(tmp_path)):
        discover(source, str(tmp_path / "pve"), str(tmp_path / "etc"), libvirt_status_dir=str(tmp_path / "run"))


def test_proxmox_source_on_a_directory_that_is_no_node_directory_fails(tmp_path):
    with pytest.raises(ConfigProblem, match=f"proxmox_dir: {tmp_path} has neither qemu-server/ nor lxc/"):
        discover("proxmox", str(tmp_path), str(tmp_path / "etc"), libvirt_status_dir=str(tmp_path / "run"))
