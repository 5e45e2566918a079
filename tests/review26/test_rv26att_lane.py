"""Review 26 (attacker), full-kernel lane: what held. A VLAN re-parented onto a bond made in the same task (with
an address and a default route on the NIC that becomes a bond port, swept), and net_bond's new behaviour (a new
port's addresses and routes move to the bond; a port of a bridge the task does not describe still needs
take_over_ports).

Seen and left: a task that puts a NIC into a bond but leaves the VLAN on that NIC alone (names neither a new
parent nor its deletion) leaves the VLAN on a bond slave without a word; the per-device net_bond did the same
before net_state."""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from sweep import sweep

pytestmark = [pytest.mark.kernel, pytest.mark.fullkernel("bonding", "8021q", "dummy")]

# eno1 carries VLAN 100 (addressed, in vmbr100); eno2 is free.
VLAN_ON_ENO1 = [
    "ip link add eno1 type dummy", "ip link add eno2 type dummy",
    "ip link add vlan100 link eno1 type vlan id 100",
    "ip link add vmbr100 type bridge stp_state 0 forward_delay 0",
    "ip link set vlan100 master vmbr100",
    "ip link set eno1 up", "ip link set eno2 up", "ip link set vlan100 up", "ip link set vmbr100 up",
    "ip address add 198.51.100.10/24 dev vmbr100",
]


def links(ns: str) -> dict:
    return {link["ifname"]: link for link in kernel_state(ns)["links"]}


def test_a_vlan_re_parented_onto_a_bond_made_in_the_same_task(netns):
    iproute(netns, VLAN_ON_ENO1)
    task = {"namespace": netns, "bonds": [{"name": "bond0", "ports": ["eno1", "eno2"], "mode": "active-backup"}],
            "vlans": [{"name": "vlan100", "parent": "bond0", "vlan_id": 100}]}
    preview = run_module("net_state", task, check=True)
    assert not preview.get("failed"), preview.get("msg")
    done = run_module("net_state", task)
    assert not done.get("failed"), done.get("msg")
    now = links(netns)
    assert now["vlan100"]["link"] == "bond0" and now["vlan100"]["master"] == "vmbr100"
    assert now["eno1"]["master"] == now["eno2"]["master"] == "bond0"
    again = run_module("net_state", task)
    assert not again.get("failed") and not again["changed"], again.get("commands")


def test_net_bond_moves_a_new_ports_address_and_default_route_to_the_bond(netns):
    iproute(netns, ["ip link add eth1 type dummy", "ip link set eth1 up", "ip address add 192.0.2.10/24 dev eth1",
                    "ip route add default via 192.0.2.1 dev eth1",
                    "ip route add 10.20.0.0/16 via 192.0.2.254 dev eth1 proto static"])
    done = run_module("net_bond", {"namespace": netns, "name": "bond0", "ports": ["eth1"]})
    assert not done.get("failed"), done.get("msg")
    assert done["state"]["addresses"] == ["192.0.2.10/24"] and done["state"]["gateway4"] == "192.0.2.1"
    dump = kernel_state(netns)
    assert not [a for a in dump["addrs"].get("eth1", {}) if not a.startswith("fe80")]
    assert {(r["dst"], r.get("dev")) for r in dump["routes"] if r.get("gateway")} == {
        ("default", "bond0"), ("10.20.0.0/16", "bond0")}
    again = run_module("net_bond", {"namespace": netns, "name": "bond0", "ports": ["eth1"]})
    assert not again.get("failed") and not again["changed"], again.get("commands")


def test_net_bond_taking_a_port_from_an_undescribed_bridge_still_needs_take_over(netns):
    iproute(netns, ["ip link add eth1 type dummy", "ip link add vmbr0 type bridge", "ip link set eth1 master vmbr0",
                    "ip link set eth1 up", "ip link set vmbr0 up", "ip address add 192.0.2.10/24 dev vmbr0"])
    before = kernel_state(netns)
    refused = run_module("net_bond", {"namespace": netns, "name": "bond0", "ports": ["eth1"]})
    assert refused.get("failed") and "take_over_ports" in refused["msg"], refused
    assert state_diff(before, kernel_state(netns)) == []
    taken = run_module("net_bond", {"namespace": netns, "name": "bond0", "slaves": ["eth1"], "take_over_slaves": True})
    assert not taken.get("failed"), taken.get("msg")
    assert links(netns)["eth1"]["master"] == "bond0"
    assert kernel_state(netns)["addrs"]["vmbr0"], "the bridge keeps its own address"


def test_bond_ports_moving_two_addresses_and_a_vlan_undo_sweep(netns):
    """Every step of the coupled change (c) with addresses undone gives back the complete dump."""
    setup = VLAN_ON_ENO1 + ["ip address add 192.0.2.10/24 dev eno1", "ip route add default via 192.0.2.1 dev eno1"]
    task = {"bonds": [{"name": "bond0", "ports": ["eno1", "eno2"], "mode": "active-backup"}],
            "vlans": [{"name": "vlan100", "parent": "bond0", "vlan_id": 100}]}
    result = sweep("(c) with the address", netns, setup, "net_state", task)
    assert not result.findings, result.report()
