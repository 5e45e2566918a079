"""A rollback takes a new slave back from a bond whatever the bond is named (review 2, item 2).

plan_host plans devices in dependency order, ties by name, and a released port is no dependency of its bond. A NIC
that was up and standalone in the snapshot (eno2) and that the change enslaved to bond `lag0` was planned first
(nothing to do: it is up), then lag0's plan released it, and the kernel closes what a bond releases (simulate.py
models this). Nothing brought eno2 up again: the verifying re-plan wanted `ip link set dev eno2 up`, converge()
undid the whole rollback and the outcome was rollback_failed, the change kept. With `bond0` (sorting before
`eno2`) it worked. Now a device a bond's or bridge's plan releases is planned again after it (plan_host), so its
own description decides its state.

Seen failing before the fix: the plan test for `lag0` and `uplink` ("eno2 .up is False"), the lane test for `lag0`
(NotConverged, state dump differs by eno2's flags).
"""
from __future__ import annotations

import pytest

from nstools import iproute, kernel_state, state_diff

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, GuestMatcher, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bond import plan_bond
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import rollback, window


def _host(bond: str) -> HostNetwork:
    host = HostNetwork()
    for n in (1, 2):
        host.add(Nic(name=f"eno{n}", mtu=1500, mac=f"52:54:00:aa:00:0{n}", up=True, kind="",
                     master=bond if n == 1 else None, ip=IpConfig(addresses=[])))
    host.add(Bond(name=bond, mtu=1500, mac="52:54:00:aa:00:01", up=True,
                  ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1"), mode="active-backup",
                  miimon=100, updelay=0, downdelay=0, lacp_rate="slow", xmit_hash_policy="layer2",
                  ad_select="stable", arp_interval=0, arp_ip_target=[], min_links=0, primary=None))
    return host


@pytest.mark.parametrize("bond", ["bond0", "lag0", "uplink"])
def test_the_rollback_plan_of_a_bond_that_got_a_new_slave_predicts_the_snapshot(bond):
    snapshot = _host(bond)
    changed = plan_bond(snapshot, snapshot.get(bond).in_its_mode(), ["eno1", "eno2"], True).predict(snapshot)
    plan = rollback.plan_rollback(changed, snapshot, GuestMatcher())
    after = plan.predict(changed)
    assert after.get("eno2").up is True, [str(op) for op in plan.operations]
    assert not rollback.plan_rollback(after, snapshot, GuestMatcher()).operations


@pytest.mark.kernel
@pytest.mark.fullkernel("bonding", "dummy")
@pytest.mark.parametrize("bond", ["bond0", "lag0"])
def test_a_rollback_takes_a_new_slave_back_from_a_bond_whatever_its_name(netns, bond):
    iproute(netns, ["ip link add eno1 address 52:54:00:aa:00:01 type dummy",
                    "ip link add eno2 address 52:54:00:aa:00:02 type dummy",
                    f"ip link add {bond} type bond mode active-backup miimon 100",
                    f"ip link set eno1 master {bond}", f"ip link set {bond} up", "ip link set eno2 up",
                    f"ip address add 192.0.2.10/24 dev {bond}"])
    before = kernel_state(netns)
    snapshot = window.snapshot(netns, GuestMatcher())
    iproute(netns, ["ip link set eno2 down", f"ip link set eno2 master {bond}"])   # the change: a new slave
    result = rollback.roll_back(netns, snapshot, GuestMatcher())
    assert state_diff(before, kernel_state(netns)) == [], result["commands"]
