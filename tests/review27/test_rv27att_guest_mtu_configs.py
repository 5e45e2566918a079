"""Review 27 (attacker): hostile guest MTUs in Proxmox VE and libvirt configs, on the kernel.

vmbr0 at 9000 (set), its uplink at 9000, detached taps at 1500 (tests/tap_reenslave's jumbo lab). A config whose
MTU is not one the hypervisor would use must fail that guest, naming it, and change nothing for it; the other
guests are re-plugged with the bridge's MTU.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nstools import ip, kernel_state, state_diff

pytestmark = pytest.mark.kernel

_SPEC = importlib.util.spec_from_file_location("rv27_tap_lab", Path(__file__).parents[1] / "tap_reenslave" / "conftest.py")
TAP_LAB = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(TAP_LAB)
reenslave = TAP_LAB.reenslave

DOMAIN = """<domstatus state='running' reason='booted' pid='4242'><domain type='kvm'><name>{name}</name><devices>
<interface type='bridge'><source bridge='vmbr0'/><target dev='{dev}'/>{mtu}</interface>
</devices></domain></domstatus>"""


def write_node(root, vms: dict):
    """A Proxmox VE node directory with one net0 per VM on vmbr0: {vmid: extra properties}."""
    qemu = root / "node" / "qemu-server"
    qemu.mkdir(parents=True)
    for n, (vmid, extra) in enumerate(sorted(vms.items())):
        (qemu / f"{vmid}.conf").write_text(f"net0: virtio=BC:24:11:00:00:{n:02x},bridge=vmbr0{extra}\n")
    return root / "node"


def jumbo_lab(ns, taps):
    """vmbr0 with its MTU set to 9000, an uplink at 9000, guest taps at 1500, detached."""
    ip("link", "add", "eth1", "mtu", "9000", "type", "veth", "peer", "name", "sw1", ns=ns)
    TAP_LAB.add_bridge(ns, "vmbr0")
    TAP_LAB.set_bridge_mtu(ns, "vmbr0", 9000)
    ip("link", "set", "eth1", "master", "vmbr0", "up", ns=ns)
    for tap in taps:
        ip("tuntap", "add", tap, "mode", "tap", ns=ns)
        ip("link", "set", tap, "up", ns=ns)


def mtus(ns, names=None) -> dict:
    state = TAP_LAB.links(ns)
    return {name: (state[name]["master"], state[name]["mtu"]) for name in (names or sorted(state))}


@pytest.mark.parametrize("value, text", [
    ("-5", "mtu: '-5' is not a number"),
    ("0", "mtu: '0' is out of range"),
    ("67", "mtu: '67' is out of range"),
    ("99999", "mtu: '99999' is out of range"),
    ("0x2328", "mtu: '0x2328' is not a number"),
    ("\u0669\u0660\u0660\u0660", "is not a number"),   # Arabic-Indic digits: int() would take them
    ("9000.0", "mtu: '9000.0' is not a number"),
    ("1e4", "mtu: '1e4' is not a number"),
])
def test_a_hostile_proxmox_mtu_fails_that_guest_only(netns, tmp_path, value, text):
    jumbo_lab(netns, taps=("tap100i0", "tap101i0"))
    node = write_node(tmp_path, vms={"100": "", "101": f",mtu={value}"})
    result = reenslave(netns, proxmox_dir=str(node))
    failed = result["failed_guests"]
    assert [f["guest"] for f in failed] == ["101"], result
    assert text in failed[0]["reason"], failed[0]["reason"]
    after = mtus(netns)
    assert after["tap101i0"] == (None, 1500) and after["tap100i0"] == ("vmbr0", 9000), after


@pytest.mark.parametrize("mtu_xml, outcome", [
    # an internal entity expands to 9000 as any XML parser reads it (libvirt's too): the tap gets 9000
    ("<mtu size='&j;'/>", 9000),
    # a billion laughs: refused by the parser, that guest fails, nothing changes
    ("<mtu size='&l9;'/>", None),
    # an external entity is not fetched: that guest fails
    ("<mtu size='&ext;'/>", None),
])
def test_libvirt_entity_tricks_in_mtu_size(netns, tmp_path, mtu_xml, outcome):
    jumbo_lab(netns, taps=("vnet0",))
    run = tmp_path / "run"
    run.mkdir()
    laughs = "".join(f'<!ENTITY l{i + 1} "{("&l%d;" % i) * 10}">' for i in range(9))
    doctype = (f'<!DOCTYPE domstatus [<!ENTITY j "9000"><!ENTITY l0 "lol">{laughs}'
               f'<!ENTITY ext SYSTEM "file:///etc/hostname">]>')
    (run / "g.xml").write_text(doctype + DOMAIN.format(name="g", dev="vnet0", mtu=mtu_xml))
    state = kernel_state(netns)
    result = reenslave(netns, source="libvirt", libvirt_status_dir=str(run), libvirt_xml_dir=str(tmp_path / "etc"))
    if outcome is None:
        assert result["failed_guests"] and "not valid XML" in result["failed_guests"][0]["reason"], result
        assert state_diff(state, kernel_state(netns)) == []
    else:
        assert not result["failed_guests"], result["failed_guests"]
        assert mtus(netns, ["vnet0"]) == {"vnet0": ("vmbr0", outcome)}


def test_a_duplicate_mtu_key_fails_that_guest(netns, tmp_path):
    """Proxmox VE's parse_property_string dies on a key given twice ("duplicate key in comma-separated list
    property"): such a config is not one the VM runs with. Expected: that guest fails, named, nothing changed."""
    jumbo_lab(netns, taps=("tap100i0", "tap101i0"))
    node = write_node(tmp_path, vms={"100": "", "101": ",mtu=9000,mtu=1400"})
    result = reenslave(netns, proxmox_dir=str(node))
    after = mtus(netns)
    # fails: no failed guest, tap101i0 plugged at 1400 (the last of the two)
    assert [f["guest"] for f in result["failed_guests"]] == ["101"], (result["failed_guests"], after["tap101i0"])
    assert after["tap101i0"] == (None, 1500)
