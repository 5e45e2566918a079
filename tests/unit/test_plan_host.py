"""Planning a whole described host (net_persist restored): order, composition, refusals."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_ADD
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import dependency_order, plan_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

from persist_hosts import proxmox_host, small_hosts

GUESTS = GuestMatcher()


def bare(host: HostNetwork) -> HostNetwork:
    """`host` with only what a fresh machine has: NICs (no master, no address, down) and loopback."""
    out = HostNetwork()
    for dev in host.devices.values():
        if dev.TYPE == "nic":
            out.add(Nic(name=dev.name, mtu=1500 if dev.name != "lo" else dev.mtu, mac=dev.mac, up=dev.name == "lo",
                        kind=dev.kind, ip=IpConfig(addresses=list(dev.ip.addresses) if dev.name == "lo" else [])))
    return out


def test_everything_a_device_stands_on_comes_first():
    want, _m = persisted(proxmox_host(), None, GUESTS)
    order = dependency_order(want)
    assert order.index("eno1") < order.index("bond0") < order.index("bond0.10") < order.index("vmbr10")
    assert order.index("eno3") < order.index("vmbr1")


def test_a_cycle_is_refused_by_name():
    host = HostNetwork()
    host.add(Bridge(name="br0", master=None))
    host.add(Vlan(name="br0.5", parent="br0", vlan_id=5, master="br0"))
    with pytest.raises(ValidationError, match="br0 -> br0.5 -> br0|br0.5 -> br0 -> br0.5"):
        dependency_order(host)


@pytest.mark.parametrize("name", ["proxmox"] + sorted(small_hosts()))
def test_a_bare_host_planned_to_a_description_is_predicted_to_match_it(name):
    source = proxmox_host() if name == "proxmox" else small_hosts()[name]
    want, _m = persisted(source, None, GUESTS)
    start = bare(source)
    plan = plan_host(start, want, GUESTS)
    after, _m = persisted(plan.predict(start), None, GUESTS)
    assert {n: d.to_dict() for n, d in after.devices.items()} == {n: d.to_dict() for n, d in want.devices.items()}
    # And planning again from there finds nothing left to do.
    assert not plan_host(plan.predict(start), want, GUESTS)


def test_a_host_that_already_matches_needs_nothing():
    host = proxmox_host()
    want, _m = persisted(host, None, GUESTS)
    assert not plan_host(host, want, GUESTS)


def test_guest_ports_stay_on_a_restored_bridge():
    host = proxmox_host()
    want, _m = persisted(host, None, GUESTS)
    want.get("vmbr10").mtu = 1400
    plan = plan_host(host, want, GUESTS)
    assert plan.predict(host).get("tap100i0").master == "vmbr10"


def test_a_nic_the_kernel_lacks_is_a_clear_problem_and_its_dependants_are_not_reported_twice():
    host = proxmox_host()
    want, _m = persisted(host, None, GUESTS)
    start = bare(host)
    del start.devices["eno2"]
    with pytest.raises(ValidationError) as err:
        plan_host(start, want, GUESTS)
    assert err.value.problems == ["eno2: the configuration describes it, but the kernel has no such device and only "
                                  "bridges, bonds and VLANs can be created"]


def test_devices_the_description_leaves_out_are_left_alone():
    host = proxmox_host()
    want, _m = persisted(host, ["vmbr1"], GUESTS)
    changed = copy.deepcopy(host)
    changed.get("vmbr10").mtu = 1280
    changed.get("vmbr1").stp = False
    plan = plan_host(changed, want, GUESTS)
    assert {op.device for op in plan.operations} == {"vmbr1"}
    assert not [op for op in plan.operations if op.action == LINK_ADD]
