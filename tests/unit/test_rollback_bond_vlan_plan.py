"""The rollback plan of bonds, VLANs and a vlan-aware bridge (pure logic; issue 24).

Each changed host is made by the core's own planners from the snapshot (what
net_bond, net_vlan and net_bridge would leave behind), the rollback is planned
back, and the host it predicts must equal the snapshot device by device
(`comparable`: the whole to_dict()). The snapshot's bonds hold what the
kernel reports: a value for every option in every mode. A small model of the
kernel's bond rules (`refused`) checks that every option the plan sends is
one the bond's mode at that moment uses, and the down-only ones are sent
while it is down. The same on a real kernel: tests/checkpoint/test_rollback_lane.py
and tests/changewindow/test_rollback_role_lane.py.
"""
from __future__ import annotations

import itertools

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_MODES, BOND_NEEDS_DOWN, BOND_OPTION_MODES, BOND_OPTIONS, Bond, Bridge, GuestMatcher, GuestPort, HostNetwork,
    IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_ADD, LINK_SET
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bond import plan_bond
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_vlan import plan_vlan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import apply_op
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.rollback import plan_rollback

from test_rollback_plan import comparable

GUESTS = GuestMatcher()
DEFAULT_VLANS = {"pvid": 1, "untagged": [[1, 1]], "tagged": []}


def kernel_bond(mode: str, **options) -> Bond:
    """bond0 as read from the kernel: every option has a value, whatever the mode."""
    values = {"mode": mode, "miimon": 100, "updelay": 0, "downdelay": 0, "lacp_rate": "slow",
              "xmit_hash_policy": "layer2", "ad_select": "stable", "arp_interval": 0, "arp_ip_target": [],
              "min_links": 0, "primary": None}
    values.update(options)
    return Bond(name="bond0", mtu=1500, mac="52:54:00:aa:00:01", up=True, ip=IpConfig(addresses=[]), **values)


def vlan_aware_host(bond: Bond) -> HostNetwork:
    """persist_lab.vlan_aware as the model reads it: bond0.10 on `bond`, port of the vlan-aware vmbr0, guests,
    eno3 down outside everything."""
    host = HostNetwork()
    for n in (1, 2, 3):
        host.add(Nic(name=f"eno{n}", mtu=1500, mac=f"52:54:00:aa:00:0{n}", up=n < 3, kind="veth",
                     master="bond0" if n < 3 else None, ip=IpConfig(addresses=[])))
    host.add(bond)
    host.add(Vlan(name="bond0.10", mtu=1500, mac="52:54:00:aa:00:01", up=True, master="vmbr0", parent="bond0",
                  vlan_id=10, protocol="802.1Q", loose_binding=False, ip=IpConfig(addresses=[]),
                  vlans={"pvid": 1, "untagged": [[1, 1]], "tagged": [[30, 31]]}))
    host.add(Bridge(name="vmbr0", mtu=1500, mac="52:54:00:aa:00:01", up=True, stp=False, forward_delay=0.0,
                    vlan_filtering=True, vlans=dict(DEFAULT_VLANS),
                    ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1")))
    host.add(GuestPort(name="tap100i0", mtu=1500, up=True, master="vmbr0", kind="tap", ip=IpConfig(addresses=[]),
                       vlans={"pvid": 30, "untagged": [[30, 30]], "tagged": []}))
    host.add(GuestPort(name="veth101i0", mtu=1500, up=True, master="vmbr0", kind="veth", ip=IpConfig(addresses=[]),
                       vlans={"pvid": 31, "untagged": [[31, 31]], "tagged": []}))
    return host


def changed_by(host: HostNetwork, *plans) -> HostNetwork:
    """`host` after each planner call in turn, each planned on the result of the one before (as tasks run)."""
    for make in plans:
        host = make(host).predict(host)
    return host


def refused(host: HostNetwork, plan: Plan) -> list:
    """Bond options the plan sends where the bond's mode (at that step) does not use them, or while it is up."""
    problems, future = [], host.clone()
    for op in plan.operations:
        bond = future.get(op.device)
        if op.action == LINK_SET and isinstance(bond, Bond):
            mode = op.params.get("mode", bond.mode)
            for key in set(op.params) & set(BOND_OPTIONS) - {"mode"}:
                if mode not in BOND_OPTION_MODES.get(key, (mode,)):
                    problems.append(f"{op.command()}: {key} in mode {mode}")
                if key in BOND_NEEDS_DOWN and bond.up:
                    problems.append(f"{op.command()}: {key} while {op.device} is up")
        if op.action == LINK_ADD and op.params.get("type") == "bond":
            mode = op.params.get("mode", "balance-rr")
            problems += [f"{op.command()}: {key} in mode {mode}" for key in set(op.params) & set(BOND_OPTIONS)
                         if mode not in BOND_OPTION_MODES.get(key, (mode,))]
        apply_op(future, op)
    return problems


def assert_rolled_back(changed: HostNetwork, snapshot: HostNetwork) -> Plan:
    plan = plan_rollback(changed, snapshot, GUESTS)
    assert refused(changed, plan) == []
    assert comparable(plan.predict(changed)) == comparable(snapshot)
    assert plan_rollback(plan.predict(changed), snapshot, GUESTS).operations == []
    return plan


def test_the_issue_host_bond_mode_vlan_id_and_parent_and_port_vlans_come_back():
    """Issue 24's reproduction: the rollback's planner refused the snapshot's own bond options."""
    snapshot = vlan_aware_host(kernel_bond("active-backup", primary="eno1"))
    changed = changed_by(
        snapshot,
        lambda h: plan_bond(h, Bond(name="bond0", mode="balance-xor", miimon=250, xmit_hash_policy="layer3+4"),
                            None, None),
        lambda h: plan_vlan(h, Vlan(name="bond0.10", parent="eno3", vlan_id=20), True),
        lambda h: plan_bridge(h, Bridge(name="vmbr0", mtu=1400), None, False, GUESTS, {
            "bond0.10": {"pvid": 1, "untagged": [[1, 1]], "tagged": [[40, 41]]},
            "tap100i0": {"pvid": 40, "untagged": [[40, 40]], "tagged": []}}),
    )
    bond = changed.get("bond0")
    assert (bond.mode, bond.miimon, bond.xmit_hash_policy, bond.primary) == ("balance-xor", 250, "layer3+4", None)
    vlan = changed.get("bond0.10")
    assert (vlan.vlan_id, vlan.parent, changed.get("eno3").up) == (20, "eno3", True)
    assert changed.get("vmbr0").mtu == 1400 and changed.get("vmbr0").up is False
    plan = assert_rolled_back(changed, snapshot)
    commands = plan.commands()
    # xmit_hash_policy goes back while the bond is still balance-xor, the mode after it.
    assert commands.index("ip link set dev bond0 type bond xmit_hash_policy layer2") < \
        commands.index("ip link set dev bond0 type bond mode active-backup")


MODE_PAIRS = list(itertools.permutations(BOND_MODES, 2))


def _uses(mode: str, key: str) -> bool:
    return mode in BOND_OPTION_MODES.get(key, (mode,))


@pytest.mark.parametrize("was,now", MODE_PAIRS, ids=[f"{a}->{b}" for a, b in MODE_PAIRS])
def test_every_mode_change_comes_back_with_the_options_either_mode_uses(was, now):
    snapshot = vlan_aware_host(kernel_bond(was, primary="eno1" if _uses(was, "primary") else None))
    change = {"mode": now, "miimon": 250, "min_links": 1, "updelay": 500}
    change.update({key: value for key, value in (("xmit_hash_policy", "layer3+4"), ("lacp_rate", "fast"),
                                                 ("ad_select", "bandwidth"), ("primary", "eno2"))
                   if _uses(now, key)})
    changed = changed_by(snapshot, lambda h: plan_bond(h, Bond(name="bond0", **change), None, None))
    assert {key: getattr(changed.get("bond0"), key) for key in change} == change
    assert_rolled_back(changed, snapshot)
