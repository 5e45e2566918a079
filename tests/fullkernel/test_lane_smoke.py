"""Smoke test of the full-kernel lane: bond, VLAN and vlan-aware bridge, by hand
with iproute2 in a throwaway namespace. Skipped on the host kernel (which lacks
these), run in the lane; also the pattern for the lane's module tests."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nstools import ip


def links(ns: str) -> dict[str, dict]:
    return {link["ifname"]: link for link in json.loads(ip("-j", "-d", "link", "show", ns=ns).stdout)}


def bridge_vlans(ns: str, dev: str) -> dict[int, list[str]]:
    """{vid: flags} of one bridge port, with ranges expanded."""
    out = subprocess.run(["bridge", "-n", ns, "-j", "vlan", "show", "dev", dev],
                         check=True, capture_output=True, text=True).stdout
    vids: dict[int, list[str]] = {}
    for port in json.loads(out or "[]"):
        for entry in port.get("vlans", []):
            for vid in range(entry["vlan"], entry.get("vlanEnd", entry["vlan"]) + 1):
                vids[vid] = sorted(entry.get("flags", []))
    return vids


@pytest.fixture
def bonded(netns):
    """A namespace with bond0 (active-backup) holding dummy nic0 as its slave."""
    ip("link", "add", "nic0", "type", "dummy", ns=netns)
    ip("link", "add", "bond0", "type", "bond", "mode", "active-backup", "miimon", "100", ns=netns)
    ip("link", "set", "nic0", "master", "bond0", ns=netns)
    ip("link", "set", "bond0", "up", ns=netns)
    return netns


@pytest.mark.fullkernel("dummy", "bonding")
def test_dummy_nic_is_enslaved_to_an_active_backup_bond(bonded):
    state = links(bonded)
    assert state["bond0"]["linkinfo"]["info_kind"] == "bond"
    assert state["bond0"]["linkinfo"]["info_data"]["mode"] == "active-backup"
    assert state["nic0"]["master"] == "bond0"
    assert state["nic0"]["linkinfo"]["info_slave_kind"] == "bond"


@pytest.mark.fullkernel("dummy", "bonding", "8021q")
def test_vlan_sits_on_the_bond(bonded):
    ip("link", "add", "link", "bond0", "name", "bond0.100", "type", "vlan", "id", "100", ns=bonded)
    vlan = links(bonded)["bond0.100"]
    assert vlan["link"] == "bond0"
    assert vlan["linkinfo"]["info_kind"] == "vlan"
    assert vlan["linkinfo"]["info_data"]["id"] == 100
    assert vlan["linkinfo"]["info_data"]["protocol"] == "802.1Q"


@pytest.mark.fullkernel("dummy", "bonding", "bridge_vlan_filtering")
def test_vlan_aware_bridge_carries_port_vlans_on_the_bond(bonded):
    ns = bonded
    ip("link", "add", "vmbr0", "type", "bridge", "vlan_filtering", "1", ns=ns)
    ip("link", "set", "bond0", "master", "vmbr0", ns=ns)
    subprocess.run(["bridge", "-n", ns, "vlan", "add", "dev", "bond0", "vid", "20", "pvid", "untagged"], check=True)
    subprocess.run(["bridge", "-n", ns, "vlan", "add", "dev", "bond0", "vid", "30-32"], check=True)
    subprocess.run(["bridge", "-n", ns, "vlan", "del", "dev", "bond0", "vid", "1"], check=True)
    state = links(ns)
    assert state["vmbr0"]["linkinfo"]["info_data"]["vlan_filtering"] == 1
    assert state["bond0"]["master"] == "vmbr0"
    assert bridge_vlans(ns, "bond0") == {20: ["Egress Untagged", "PVID"], 30: [], 31: [], 32: []}


@pytest.mark.fullkernel("dummy")
def test_code_is_read_through_the_cached_export_of_the_host_root():
    """guest.sh serves /usr, the venv's Python and the checkout from the host's `/` exported
    a second time and mounted with cache=loose: through virtme-ng's uncached 9p root, every
    stat is a round trip to the host and the lane ran about 40 % longer (docs/testing.md)."""
    checkout = str(Path(__file__).resolve().parents[2])
    wanted = {"/usr", sys.base_prefix, checkout}
    served = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _sep, tail = line.partition(" - ")
        mount_point = fields.split()[4]
        fstype, source, options = tail.split()[:3]
        if mount_point in wanted:
            served[mount_point] = (fstype, source, "loose" in options.split(","))
    assert served == {path: ("9p", "netsafe_root", True) for path in wanted}, served
