"""A whole-host description of a bond (a rollback's snapshot) holds every option the kernel reports, in every mode.

Found while proving the port rule of plan_host in the full-kernel lane: plan_bond refused the snapshot of an
active-backup bond ("lacp_rate: only applies to mode 802.3ad"), so no rollback worked on a host with one.
plan_host now leaves out what the bond's mode ignores; what the mode uses is still restored.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, GuestMatcher, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import plan_host

GUESTS = GuestMatcher()


def as_the_kernel_reports(mode: str, **options) -> HostNetwork:
    """bond0 on eno1 with every option set, as a dump (and so a snapshot) has it whatever the mode."""
    host = HostNetwork()
    host.add(Nic(name="eno1", mtu=1500, up=True, master="bond0", ip=IpConfig(addresses=[])))
    kernel = dict(miimon=100, updelay=0, downdelay=0, lacp_rate="slow", xmit_hash_policy="layer2",
                  ad_select="stable", arp_interval=0, arp_ip_target=[], min_links=0)
    kernel.update(options)
    host.add(Bond(name="bond0", mtu=1500, up=True, mode=mode, ip=IpConfig(addresses=[]), **kernel))
    return host


def test_an_active_backup_bond_is_planned_back_from_its_snapshot():
    snapshot = as_the_kernel_reports("active-backup")
    changed = snapshot.clone()
    changed.get("bond0").mtu = 1400
    changed.get("bond0").lacp_rate = "fast"        # meaningless in active-backup: left alone
    plan = plan_host(changed, snapshot, GUESTS)
    assert plan.commands() == ["ip link set dev bond0 mtu 1500"]
    assert not plan_host(plan.predict(changed), snapshot, GUESTS)


def test_a_mode_change_is_planned_back_with_the_options_of_the_old_mode():
    snapshot = as_the_kernel_reports("802.3ad", lacp_rate="fast")
    changed = as_the_kernel_reports("active-backup")
    plan = plan_host(changed, snapshot, GUESTS)
    assert "ip link set dev bond0 type bond mode 802.3ad lacp_rate fast" in plan.commands(), plan.commands()
    assert not plan_host(plan.predict(changed), snapshot, GUESTS)
