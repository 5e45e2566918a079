"""net_bond, net_vlan and vlan-aware net_bridge on a kernel that has them.

The host kernel of our machines has no bonding, 8021q, dummy or bridge VLAN
filtering: these tests are skipped there (naming the missing feature) and run
inside the full-kernel VM (tests/fullkernel, Debian's kernel under qemu).
Each module runs through its real entry point in-process (tests/modrun.py:
AnsibleModule, argument spec, check mode, JSON result), which costs a
fraction of a module run through Ansible under emulation, so these tests
afford more assertions. The same scenarios run through ansible-playbook,
with the controller on the host, in test_bond_vlan_playbooks.py.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from modrun import run_module
from nstools import ip, kernel_state

pytestmark = [pytest.mark.kernel,
              pytest.mark.fullkernel("bonding", "8021q", "dummy", "bridge_vlan_filtering")]

MODES = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"]


def scenarios(ns: str, mode: str, vid: int, primary: str | None = None) -> list:
    """(label, module, args): every scenario, each on its own devices, in one list."""
    items = [(f"bond {m}", "net_bond", {"name": f"b{i}", "mode": m, "miimon": 100, "slaves": [f"d{i}"]})
             for i, m in enumerate(MODES)]
    live = {"name": "bond0", "mode": mode, "miimon": 100, "ports": ["eth1", "eth2"]}
    if primary:
        live["primary"] = primary
    items += [
        ("live bond", "net_bond", live),
        ("bridge on bond", "net_bridge", {"name": "vmbr0", "ports": ["bond0"], "forward_delay": 0,
                                          "addresses": ["192.0.2.10/24"]}),
        ("vlan on nic", "net_vlan", {"parent": "eth3", "vlan_id": 20, "addresses": ["198.51.100.10/24"]}),
        ("vlan on bond", "net_vlan", {"parent": "bond0", "vlan_id": 30}),
        ("vlan on bridge", "net_vlan", {"name": "mgmt", "parent": "vmbr0", "vlan_id": 40, "protocol": "802.1ad",
                                        "mtu": 1400}),
        ("bridge on the bond vlan", "net_bridge", {"name": "vmbr30", "ports": ["bond0.30"]}),
        ("recreated vlan", "net_vlan", {"name": "uplink.v", "parent": "eth4", "vlan_id": vid,
                                        "addresses": ["203.0.113.10/24"]}),
        ("vlan-aware bridge", "net_bridge", {
            "name": "vmbrv", "ports": ["eth5"], "forward_delay": 0, "vlan_filtering": True,
            "port_vlans": [{"port": "eth5", "pvid": 1, "tagged": ["2-4094"]},
                           {"port": "tap100i0", "pvid": 10},
                           {"port": "tap101i0", "pvid": 20, "tagged": ["30", "40-42"]},
                           {"port": "vmbrv", "pvid": 1, "tagged": ["10"]}]}),
    ]
    return [(label, module, dict(args, namespace=ns)) for label, module, args in items]


def run_all(items, check=False) -> dict:
    """label -> result, in order; a failed task stops the run like a playbook would."""
    results = {}
    for label, module, args in items:
        result = run_module(module, args, check=check)
        assert not result.get("failed"), (label, result.get("msg"))
        results[label] = result
    return results


def ensure_tun():
    """The lane's kernel has tun as a module; /dev/net/tun appears once it is loaded."""
    if not os.path.exists("/dev/net/tun"):
        subprocess.run(["modprobe", "tun"], check=False, capture_output=True)


@pytest.fixture
def lab(netns):
    ensure_tun()
    for n in range(7):
        ip("link", "add", f"d{n}", "type", "dummy", ns=netns)
    for n in range(1, 6):
        ip("link", "add", f"eth{n}", "type", "dummy", ns=netns)
    ip("link", "add", "vmbrv", "type", "bridge", ns=netns)
    for tap in ("tap100i0", "tap101i0"):
        ip("tuntap", "add", tap, "mode", "tap", ns=netns)
        ip("link", "set", tap, "master", "vmbrv", ns=netns)
    return netns


def changed(results: dict) -> set:
    return {label for label, result in results.items() if result["changed"]}


def test_every_scenario_converges_and_changes_stay_minimal(lab):
    start = scenarios(lab, "802.3ad", 20)
    first = run_all(start)
    assert changed(first) == set(first), set(first) - changed(first)
    state = kernel_state(lab)
    second = run_all(start)
    assert changed(second) == set(), {label: second[label]["commands"] for label in changed(second)}
    assert changed(run_all(start, check=True)) == set()
    assert kernel_state(lab) == state

    # Bonds in every mode, each with its slave.
    assert [first[f"bond {m}"]["state"]["mode"] for m in MODES] == MODES
    links = {l["ifname"]: l for l in state["links"]}
    assert [links[f"d{n}"]["master"] for n in range(7)] == [f"b{n}" for n in range(7)]
    # The stack: bridge on a bond, VLANs on a NIC, a bond and a bridge, a bridge on a bond VLAN.
    assert links["bond0"]["master"] == "vmbr0" and links["bond0.30"]["master"] == "vmbr30"
    assert links["eth3.20"]["kind"] == "vlan" and links["mgmt"]["mtu"] == 1400
    # The vlan-aware bridge.
    port_vlans = second["vlan-aware bridge"]["state"]["port_vlans"]
    assert port_vlans["eth5"] == {"pvid": 1, "untagged": [[1, 1]], "tagged": [[2, 4094]]}
    assert port_vlans["tap100i0"] == {"pvid": 10, "untagged": [[10, 10]], "tagged": []}
    assert port_vlans["tap101i0"] == {"pvid": 20, "untagged": [[20, 20]], "tagged": [[30, 30], [40, 42]]}
    assert port_vlans["vmbrv"] == {"pvid": 1, "untagged": [[1, 1]], "tagged": [[10, 10]]}
    assert f"bridge -n {lab} vlan add dev eth5 vid 2-4094" in first["vlan-aware bridge"]["commands"]
    shown = json.loads(subprocess.run(["bridge", "-n", lab, "-j", "vlan", "show"], capture_output=True, text=True,
                                      check=True).stdout)
    assert [v["vlan"] for v in next(e for e in shown if e["ifname"] == "tap100i0")["vlans"]] == [10]

    # A mode change on the live bond (a bridge port with slaves) and a VLAN id change.
    ip("link", "add", "vmbrx", "type", "bridge", ns=lab)  # a bridge no task manages
    ip("link", "set", "uplink.v", "master", "vmbrx", ns=lab)
    moved = scenarios(lab, "active-backup", 21, primary="eth2")
    preview = run_all(moved, check=True)
    assert changed(preview) == {"live bond", "recreated vlan"}
    change = run_all(moved)
    assert changed(change) == {"live bond", "recreated vlan"}
    bond = change["live bond"]
    assert bond["state"]["mode"] == "active-backup" and bond["state"]["ports"] == ["eth1", "eth2"]
    assert bond["state"]["options"]["primary"] == "eth2" and bond["state"]["master"] == "vmbr0"
    assert f"ip -n {lab} link set dev bond0 type bond mode active-backup" in bond["commands"]
    assert "re-enslaved in this task" in json.dumps(bond["warnings"])
    vlan = change["recreated vlan"]
    assert vlan["commands"][0] == f"ip -n {lab} link del dev uplink.v"
    assert vlan["state"]["vlan_id"] == 21 and vlan["state"]["master"] == "vmbrx"
    assert vlan["state"]["addresses"] == ["203.0.113.10/24"]
    assert "deleted and re-created" in json.dumps(vlan["warnings"])
    after = {l["ifname"]: l for l in kernel_state(lab)["links"]}
    assert after["eth1"]["master"] == after["eth2"]["master"] == "bond0" and "UP" in after["bond0"]["flags"]
    assert changed(run_all(moved)) == set()


INVALID = [
    ("unknown mode", "net_bond", {"name": "bond9", "mode": "fastest", "slaves": ["eth5"]}, "value of mode must be one of"),
    ("vlan id 0", "net_vlan", {"parent": "eth5", "vlan_id": 0}, "vlan_id: 0 is out of range; allowed 1-4094"),
    ("vlan id 4095", "net_vlan", {"parent": "eth5", "vlan_id": 4095}, "vlan_id: 4095 is out of range; allowed 1-4094"),
    ("slave is a bridge", "net_bond", {"name": "bond9", "slaves": ["eth5", "vmbr9"]},
     "ports: 'vmbr9' is a bridge; bond ports (slaves) must be NICs"),
    ("vlan mtu above parent", "net_vlan", {"parent": "eth5", "vlan_id": 5, "mtu": 9000},
     "mtu: 9000 is above the MTU of parent eth5 (1500)"),
    ("lacp_rate outside 802.3ad", "net_bond", {"name": "bond9", "mode": "active-backup", "lacp_rate": "fast"},
     "lacp_rate: only applies to mode 802.3ad"),
]


def test_invalid_input_fails_clearly_and_changes_nothing(netns):
    ip("link", "add", "eth5", "type", "dummy", ns=netns)
    ip("link", "add", "vmbr9", "type", "bridge", ns=netns)
    before = kernel_state(netns)
    for label, module, args, message in INVALID:
        result = run_module(module, dict(args, namespace=netns))
        assert result.get("failed"), label
        assert message in result["msg"], (label, result["msg"])
    assert kernel_state(netns) == before
