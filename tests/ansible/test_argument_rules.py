"""Argument rules of the network modules, through each module's real entry point (tests/modrun.py).

Refusals happen before the kernel is asked anything, so bond and VLAN tasks
can be refused on this host's kernel too (it has no bonding or 802.1Q); the
namespace exists and its complete state is compared before and after.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import ip, kernel_state

pytestmark = pytest.mark.kernel


@pytest.mark.parametrize("module, args, message", [
    ("net_bridge", {"name": "vmbr0", "state": "absent", "ports": ["eth1"], "mtu": 1400},
     "state: absent deletes the bridge; ports, mtu only apply with state=present"),
    ("net_bridge", {"name": "vmbr0", "state": "absent", "forward_delay": 0},
     "state: absent deletes the bridge; forward_delay only applies"),
    ("net_bridge", {"name": "vmbr0", "state": "absent", "admin_state": "down"},
     "admin_state only applies with state=present"),
    ("net_bridge", {"name": "vmbr0", "ports": ["eth1"], "detach_guests": True},
     "detach_guests: only applies to state=absent"),
    ("net_bond", {"name": "bond0", "state": "absent", "slaves": ["eth1"], "mode": "active-backup"},
     "state: absent deletes the bond; ports, mode only apply with state=present"),
    ("net_bond", {"name": "bond0", "state": "absent", "take_over_slaves": True},
     "take_over_ports only applies with state=present"),
    ("net_vlan", {"name": "eth1.20", "state": "absent", "addresses": []},
     "state: absent deletes the VLAN device; addresses only applies with state=present"),
    ("net_vlan", {"parent": "eth1"}, "parameters are required together: parent, vlan_id"),
    ("net_vlan", {"name": "eth1.20"}, "state is present but all of the following are missing: parent, vlan_id"),
    ("net_vlan", {"state": "absent"}, "state is absent but any of the following are missing: name, parent"),
])
def test_refused_before_anything_changes(hv, module, args, message):
    before = kernel_state(hv)
    result = run_module(module, dict(args, namespace=hv))
    assert result.get("failed") and message in result["msg"], result
    assert result.get("changed") is False or "changed" not in result
    assert kernel_state(hv) == before


def test_vlan_absent_by_name_deletes_only_the_vlan_the_task_describes(hv):
    """The host kernel has no 802.1Q: a VLAN 'eth1.20' is faked by a veth of that name, which is enough to
    show that a mismatching description refuses before any change and that name alone is enough to look."""
    result = run_module("net_vlan", {"name": "eth9.20", "state": "absent", "namespace": hv})
    assert result["changed"] is False and not result.get("failed")
    ip("link", "add", "eth9.20", "type", "veth", "peer", "name", "p9", ns=hv)
    before = kernel_state(hv)
    refused = run_module("net_vlan", {"name": "eth9.20", "parent": "eth9", "vlan_id": 20, "state": "absent",
                                      "namespace": hv})
    assert refused["failed"] and "name: 'eth9.20' is a nic, not a vlan; refusing to delete it" in refused["msg"]
    assert kernel_state(hv) == before


def test_forward_delay_takes_fractions_of_a_second(hv):
    result = run_module("net_bridge", {"name": "vmbr0", "ports": ["eth1"], "forward_delay": 2.5, "namespace": hv})
    assert result["changed"] and result["state"]["forward_delay"] == 2.5, result
    again = run_module("net_bridge", {"name": "vmbr0", "forward_delay": 2.5, "namespace": hv})
    assert again["changed"] is False
