"""VLAN tags and trunks of guest ports on a VLAN-aware bridge (Proxmox VE `bridge-vlan-aware yes`).

The host kernel has no bridge VLAN filtering: these tests are skipped there
and run in the full-kernel lane (tests/fullkernel, Debian's kernel under qemu).
Guests from tests/unit/fixtures/pve_vlan: 200 tag=10, 201 trunks=20;30-32,
202 firewall=1 tag=40 trunks=41 (VLANs on fwpr202p0), container 203 tag=50.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, add_firewall_chain, guest_ports, reenslave, restart_bridge
from tapguard_proc import Watcher
from nstools import ip

pytestmark = [pytest.mark.kernel, pytest.mark.fullkernel("bridge_vlan_filtering")]
PVE_VLAN = FIXTURES / "pve_vlan"
PORTS = ("tap200i0", "tap201i0", "fwpr202p0", "veth203i0")


def port_vlans(ns: str) -> dict:
    """Port -> sorted (vid, pvid, untagged) as `bridge vlan show` reports them."""
    out = subprocess.run(["bridge", "-n", ns, "-j", "vlan", "show"], capture_output=True, text=True, check=True).stdout
    found = {}
    for entry in json.loads(out or "[]"):
        vids = []
        for v in entry.get("vlans", []):
            flags = v.get("flags", [])
            for vid in range(v["vlan"], v.get("vlanEnd", v["vlan"]) + 1):
                vids.append((vid, "PVID" in flags, "Egress Untagged" in flags))
        found[entry["ifname"]] = sorted(vids)
    return found


def bridge(ns: str, *args: str) -> None:
    subprocess.run(["bridge", "-n", ns, *args], check=True, capture_output=True)


@pytest.fixture
def vlan_node(netns):
    """The pve_vlan guests plugged as Proxmox VE plugs them into a VLAN-aware vmbr0."""
    ns = netns
    if not os.path.exists("/dev/net/tun"):
        # The lane's VM has no udev: loading tun makes /dev/net/tun appear (devtmpfs).
        # Until tests/fullkernel/guest.sh does it for every test.
        subprocess.run(["modprobe", "tun"], check=False, capture_output=True)
    ip("link", "add", "eth1", "type", "veth", "peer", "name", "sw1", ns=ns)
    ip("link", "add", "vmbr0", "type", "bridge", "stp_state", "0", "forward_delay", "0", "vlan_filtering", "1", ns=ns)
    ip("link", "set", "vmbr0", "up", ns=ns)
    ip("link", "set", "eth1", "master", "vmbr0", "up", ns=ns)
    for tap in ("tap200i0", "tap201i0", "tap202i0"):
        ip("tuntap", "add", tap, "mode", "tap", ns=ns)
    ip("link", "add", "veth203i0", "type", "veth", "peer", "name", "ct203i0", ns=ns)
    for dev in ("tap200i0", "tap201i0", "veth203i0"):
        ip("link", "set", dev, "master", "vmbr0", "up", ns=ns)
    add_firewall_chain(ns, "202", "0", "tap202i0", "vmbr0")
    for dev, tag in (("tap200i0", "10"), ("fwpr202p0", "40"), ("veth203i0", "50")):
        bridge(ns, "vlan", "del", "dev", dev, "vid", "1")
        bridge(ns, "vlan", "add", "dev", dev, "vid", tag, "pvid", "untagged")
    for dev, vid in (("tap201i0", "20"), ("tap201i0", "30-32"), ("fwpr202p0", "41")):
        bridge(ns, "vlan", "add", "dev", dev, "vid", vid)
    return ns


def test_lab_matches_the_vlan_fixture(vlan_node):
    result = reenslave(vlan_node, proxmox_dir=str(PVE_VLAN))
    assert result["changed"] is False, result["commands"]


def test_tags_and_trunks_come_back_after_a_restart(vlan_node):
    before = {p: v for p, v in port_vlans(vlan_node).items() if p in PORTS}
    assert before["tap200i0"] == [(10, True, True)]
    restart_bridge(vlan_node, "vmbr0", "eth1", "vlan_filtering", "1")
    result = reenslave(vlan_node, proxmox_dir=str(PVE_VLAN))
    assert result["reattached"] == ["tap200i0", "tap201i0", "tap202i0", "veth203i0"]
    assert {p: v for p, v in port_vlans(vlan_node).items() if p in PORTS} == before
    assert f"bridge -n {vlan_node} vlan add dev tap200i0 vid 10 pvid untagged" in result["commands"]


def test_vlans_second_run_changes_nothing(vlan_node):
    restart_bridge(vlan_node, "vmbr0", "eth1", "vlan_filtering", "1")
    reenslave(vlan_node, proxmox_dir=str(PVE_VLAN))
    again = reenslave(vlan_node, proxmox_dir=str(PVE_VLAN))
    assert again["changed"] is False and again["commands"] == []


def test_vlans_check_mode_changes_nothing(vlan_node):
    restart_bridge(vlan_node, "vmbr0", "eth1", "vlan_filtering", "1")
    state = port_vlans(vlan_node), guest_ports(vlan_node)
    result = reenslave(vlan_node, check_mode=True, proxmox_dir=str(PVE_VLAN))
    assert result["changed"] is True
    assert f"bridge -n {vlan_node} vlan add dev fwpr202p0 vid 40 pvid untagged" in result["commands"]
    assert (port_vlans(vlan_node), guest_ports(vlan_node)) == state


def test_wrong_vlan_on_an_attached_port_is_corrected(vlan_node):
    bridge(vlan_node, "vlan", "add", "dev", "tap200i0", "vid", "99")
    result = reenslave(vlan_node, proxmox_dir=str(PVE_VLAN))
    assert result["reattached"] == ["tap200i0"]
    assert port_vlans(vlan_node)["tap200i0"] == [(10, True, True)]


def test_watcher_restores_vlans_when_vlan_filtering_comes_on_late(vlan_node, tmp_path):
    """ifupdown makes the bridge, then switches VLAN filtering on: the watcher acts on both events."""
    before = {p: v for p, v in port_vlans(vlan_node).items() if p in PORTS}
    entry = "ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.watcher"
    env = {"PYTHONPATH": str(FIXTURES.parents[2] / ".tmp" / "collections")}
    w = Watcher([sys.executable, "-m", entry, "--source", "proxmox", "--proxmox-dir", str(PVE_VLAN),
                 "--namespace", vlan_node], tmp_path, env)
    try:
        w.wait_ready()
        restart_bridge(vlan_node, "vmbr0", "eth1")
        w.wait_log("bridge vmbr0 appeared, full pass")
        ip("link", "set", "vmbr0", "type", "bridge", "vlan_filtering", "1", ns=vlan_node)
        w.wait_log("bridge vmbr0 changed VLAN filtering, full pass")
        assert {p: v for p, v in port_vlans(vlan_node).items() if p in PORTS} == before
    finally:
        assert w.stop() == 0, w.log
