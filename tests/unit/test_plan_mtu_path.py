"""The MTU follows the path (plan_mtu.py) without a kernel: order, undo, refusals, explicit entries, what stops it.

The kernel proves it in tests/kernel/test_mtu_path.py (host kernel) and tests/kernel/test_mtu_path_lane.py (bond
and VLAN); these pin the rules, and the max_mtu refusal, which no device of the host kernel can show (veth, tap and
bridge all take 65535)."""
from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import undo_sequence
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import plan_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_state import plan_state
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict
from ansible_collections.netsafe.hypervisor.plugins.modules import net_state

GUESTS = GuestMatcher()


def plan(host, **lists):
    result = ArgumentSpecValidator(net_state.ARGUMENT_SPEC).validate(lists)
    assert not result.error_messages, result.error_messages
    requests, places = net_state.requests_of(result.validated_parameters)
    return plan_state(host, requests, places, GUESTS)


def _ip(**kw) -> IpConfig:
    return IpConfig(**dict({"addresses": [], "routes": []}, **kw))


def classic(mtu: int = 1500, nic_max=None) -> HostNetwork:
    """vmbr0 on bond0.100 on bond0 of eno1 and eno2, a VM's tap on vmbr0, bond0.50 with the host's address."""
    host = HostNetwork()
    for name in ("eno1", "eno2"):
        host.add(Nic(name=name, mtu=mtu, up=True, master="bond0", max_mtu=nic_max, ip=_ip()))
    host.add(Bond(name="bond0", mtu=mtu, up=True, mode="active-backup", ip=_ip()))
    host.add(Vlan(name="bond0.100", parent="bond0", vlan_id=100, protocol="802.1Q", mtu=mtu, up=True, master="vmbr0", ip=_ip()))
    host.add(Vlan(name="bond0.50", parent="bond0", vlan_id=50, protocol="802.1Q", mtu=1500, up=True,
                  ip=_ip(addresses=["198.51.100.10/24"])))
    host.add(GuestPort(name="tap100i0", mtu=1500, up=True, kind="tap", master="vmbr0", ip=_ip()))
    host.add(Bridge(name="vmbr0", mtu=mtu, up=True, stp=False, forward_delay=0, ip=_ip(addresses=["192.0.2.10/24"])))
    return host


def mtus(host) -> dict:
    return {name: dev.mtu for name, dev in sorted(host.devices.items())}


def test_raising_sets_the_bridge_then_its_path_bottom_up_and_the_bond_gives_its_slaves_its_mtu():
    """The bridge first, so its MTU is its own (not br_mtu_auto_adjust's); below it, the kernel's order."""
    host = classic()
    done = plan(host, bridges=[{"name": "vmbr0", "mtu": 9000}])
    assert [(op.device, op.params) for op in done.operations] == [
        ("vmbr0", {"mtu": 9000}), ("bond0", {"mtu": 9000}), ("bond0.100", {"mtu": 9000})]
    after = done.predict(host)
    assert mtus(after) == {"bond0": 9000, "bond0.100": 9000, "bond0.50": 1500, "eno1": 9000, "eno2": 9000,
                           "tap100i0": 1500, "vmbr0": 9000}
    # The undo, newest first, lowers the path top-down, then the bridge, and gives back every MTU.
    undo = undo_sequence(done.operations)
    assert [op.device for op in undo] == ["bond0.100", "bond0", "vmbr0"]
    assert mtus(predict(after, undo)) == mtus(host)
    assert not plan(after, bridges=[{"name": "vmbr0", "mtu": 9000}])


def test_lowering_goes_top_down_and_its_undo_bottom_up():
    host = classic(9000)
    done = plan(host, bridges=[{"name": "vmbr0", "mtu": 1500}])
    assert [op.device for op in done.operations] == ["vmbr0", "bond0.100", "bond0"]
    after = done.predict(host)
    assert set(mtus(after).values()) == {1500}
    assert [op.device for op in undo_sequence(done.operations)] == ["bond0", "bond0.100", "vmbr0"]
    assert mtus(predict(after, undo_sequence(done.operations))) == mtus(host)


def test_lowering_stops_where_another_vlan_needs_more():
    host = classic(9000)
    host.get("bond0.50").mtu = 9000
    done = plan(host, bridges=[{"name": "vmbr0", "mtu": 1500}])
    assert [op.device for op in done.operations] == ["vmbr0", "bond0.100"]   # bond0 carries bond0.50 at 9000


def test_lowering_stops_at_a_device_with_addresses_of_its_own():
    host = classic(9000)
    host.get("bond0").ip.addresses = ["203.0.113.10/24"]
    done = plan(host, bridges=[{"name": "vmbr0", "mtu": 1500}])
    assert [op.device for op in done.operations] == ["vmbr0", "bond0.100"]


def test_refuse_names_every_device_below_and_plans_nothing():
    with pytest.raises(ValidationError) as caught:
        plan(classic(), bridges=[{"name": "vmbr0", "mtu": 9000, "port_mtu": "refuse"}])
    assert caught.value.problems == [
        "bridges[0] (vmbr0): port_mtu: refuse: vmbr0 gets mtu 9000, but on its path bond0.100 (1500), bond0 (1500) "
        "have less; raise them first, or set port_mtu: follow"]


def test_refuse_on_lowering_changes_the_bridge_alone():
    done = plan(classic(9000), bridges=[{"name": "vmbr0", "mtu": 1500, "port_mtu": "refuse"}])
    assert [op.device for op in done.operations] == ["vmbr0"]


@pytest.mark.parametrize("where", ["eno1", "bond0.100"])
def test_a_device_that_cannot_take_the_mtu_is_refused_before_any_change(where):
    host = classic()
    host.get(where).max_mtu = 4000
    with pytest.raises(ValidationError) as caught:
        plan(host, bridges=[{"name": "vmbr0", "mtu": 9000}])
    (problem,) = caught.value.problems
    assert f"mtu: {where}" in problem and "takes at most 4000 (its driver's max_mtu), not 9000" in problem, problem
    assert plan(host, bridges=[{"name": "vmbr0", "mtu": 4000}])   # within the limit: planned


def test_a_nic_raised_directly_above_its_max_mtu_is_refused():
    host = HostNetwork()
    host.add(Nic(name="eth1", mtu=1500, up=True, max_mtu=1500, ip=_ip()))
    with pytest.raises(ValidationError) as caught:
        plan(host, nics=[{"name": "eth1", "mtu": 9000}])
    assert "mtu: eth1 takes at most 1500 (its driver's max_mtu), not 9000" in caught.value.problems[0]


def test_an_explicit_mtu_of_a_port_wins_and_a_lower_one_is_refused_naming_both_entries():
    host = classic()
    done = plan(host, bonds=[{"name": "bond0", "mtu": 9216}], bridges=[{"name": "vmbr0", "mtu": 9000}])
    after = done.predict(host)
    assert (after.get("bond0").mtu, after.get("bond0.100").mtu, after.get("vmbr0").mtu) == (9216, 9000, 9000)
    assert [op.device for op in done.operations] == ["vmbr0", "bond0", "bond0.100"]   # the bridge before all (plan_state)
    with pytest.raises(ValidationError) as caught:
        plan(host, bonds=[{"name": "bond0", "mtu": 1500}], bridges=[{"name": "vmbr0", "mtu": 9000}])
    assert caught.value.problems == [
        "bridges[0] (vmbr0): mtu: vmbr0 gets 9000, but bonds[0] (bond0) gives bond0 on its path mtu 1500; frames "
        "larger than 1500 would not leave. Give bond0 9000 or more, or vmbr0 at most 1500"]


def test_an_explicit_higher_mtu_is_kept_when_the_bridge_goes_down():
    host = classic(9000)
    done = plan(host, vlans=[{"name": "bond0.100", "parent": "bond0", "vlan_id": 100, "mtu": 9000}],
                bridges=[{"name": "vmbr0", "mtu": 1500}])
    assert [op.device for op in done.operations] == ["vmbr0"]


def test_guest_ports_never_follow():
    host = classic()
    host.get("tap100i0").mtu = 1400
    after = plan(host, bridges=[{"name": "vmbr0", "mtu": 9000}]).predict(host)
    assert after.get("tap100i0").mtu == 1400


def test_a_new_bridge_on_a_nic_gets_its_own_mtu_before_the_nic_is_raised():
    host = HostNetwork()
    host.add(Nic(name="eth1", mtu=1500, up=True, ip=_ip()))
    done = plan(host, bridges=[{"name": "vmbr1", "ports": ["eth1"], "mtu": 9000}])
    mtu_ops = [op.device for op in done.operations if "mtu" in op.params]
    assert mtu_ops == ["vmbr1", "eth1"]
    assert done.predict(host).get("eth1").mtu == 9000


def test_a_bridge_already_at_the_mtu_brings_a_path_left_below_it_up():
    host = classic()
    host.get("vmbr0").mtu = 9000
    done = plan(host, bridges=[{"name": "vmbr0", "mtu": 9000}])
    assert [op.device for op in done.operations] == ["bond0", "bond0.100"]
    assert not plan(host, bridges=[{"name": "vmbr0", "mtu": 9000, "port_mtu": "refuse"}])   # no change, no refusal


def test_a_lower_device_lowered_by_its_own_entry_takes_the_vlan_above_down_and_the_undo_brings_it_back():
    """net_state plans bond0's own entry before vmbr0: the kernel lowers bond0.100 with bond0 (a VLAN may not exceed
    its lower device); the prediction says so, and the undo raises bond0.100 again once bond0 is back."""
    host = classic(9000)
    done = plan(host, bonds=[{"name": "bond0", "mtu": 1500}], bridges=[{"name": "vmbr0", "mtu": 1500}])
    assert [op.device for op in done.operations] == ["bond0", "vmbr0"]
    after = done.predict(host)
    assert set(mtus(after).values()) == {1500}
    undo = undo_sequence(done.operations)
    assert [(op.device, op.params) for op in undo] == [
        ("vmbr0", {"mtu": 9000}), ("bond0", {"mtu": 9000}), ("bond0.100", {"mtu": 9000})]
    assert mtus(predict(after, undo)) == mtus(host)


def test_a_bond_whose_port_cannot_take_its_mtu_is_refused_on_enslaving_too():
    host = classic(nic_max=3000)
    host.add(Nic(name="eno3", mtu=1500, up=True, max_mtu=1500, ip=_ip()))
    with pytest.raises(ValidationError) as caught:
        plan(host, bonds=[{"name": "bond0", "ports": ["eno1", "eno2", "eno3"], "mtu": 2000}])
    assert caught.value.problems == [
        "bonds[0] (bond0): mtu: eno3 takes at most 1500 (its driver's max_mtu), and a bond gives its ports its own MTU "
        "(2000); nothing was changed"]
    with pytest.raises(ValidationError) as caught:
        plan(host, bonds=[{"name": "bond0", "mtu": 9000}])
    assert "mtu: eno1 takes at most 3000 (its driver's max_mtu), and a bond gives its ports its own MTU (9000)" in \
        caught.value.problems[0]


def test_a_plan_back_to_a_described_host_sets_each_mtu_as_described_and_nothing_follows():
    """plan_host (a rollback, net_persist's restored) gives every device its own MTU: vmbr0 going back to 1400 over
    bond0.100 kept at 9000 in the description leaves the path where the description has it."""
    host = classic(9000)
    desired = HostNetwork()
    desired.add(Bridge(name="vmbr0", mtu=1400, up=True, ip=_ip(addresses=["192.0.2.10/24"])))
    desired.add(Vlan(name="bond0.100", parent="bond0", vlan_id=100, protocol="802.1Q", mtu=9000, up=True, master="vmbr0",
                     ip=_ip()))
    done = plan_host(host, desired, GUESTS)
    assert [(op.device, op.params) for op in done.operations] == [("vmbr0", {"mtu": 1400})]


def test_lowering_stops_where_a_macvlan_needs_more():
    """A macvlan on bond0 at 9000 (the kernel would lower it with bond0) keeps bond0 at 9000."""
    host = classic(9000)
    host.add(Nic(name="mv0", kind="macvlan", lower="bond0", mtu=9000, up=True, ip=_ip()))
    done = plan(host, bridges=[{"name": "vmbr0", "mtu": 1500}])
    assert [op.device for op in done.operations] == ["vmbr0", "bond0.100"]


def test_the_undo_raises_back_a_macvlan_the_kernel_lowered_with_its_lower_device():
    host = classic(9000)
    host.add(Nic(name="mv0", kind="macvlan", lower="vmbr0", mtu=9000, up=True, ip=_ip()))
    done = plan(host, bridges=[{"name": "vmbr0", "mtu": 1500}])
    after = done.predict(host)
    assert after.get("mv0").mtu == 1500
    assert mtus(predict(after, undo_sequence(done.operations))) == mtus(host)


def test_a_rollback_raises_a_lower_device_before_the_macvlan_on_it():
    """plan_host from a snapshot: vmbr0 (and its path) to 9000 before mv0, which the kernel keeps at most vmbr0's."""
    snapshot = classic(9000)
    snapshot.add(Nic(name="mv0", kind="macvlan", lower="vmbr0", mtu=9000, up=True, ip=_ip()))
    lowered = plan(snapshot, bridges=[{"name": "vmbr0", "mtu": 1500}]).predict(snapshot)
    back = plan_host(lowered, snapshot, GUESTS)
    devices = [op.device for op in back.operations]
    assert devices.index("vmbr0") < devices.index("mv0")
    assert mtus(back.predict(lowered)) == mtus(snapshot)


def test_a_snapshot_keeps_what_a_macvlan_stands_on_and_a_description_does_not():
    host = HostNetwork()
    host.add(Nic(name="mv0", kind="macvlan", lower="vmbr0", mtu=9000, max_mtu=65535, ip=_ip()))
    assert "lower" not in host.to_dict()["devices"][0]
    again = HostNetwork.from_dict(host.to_dict(facts=True))
    assert (again.get("mv0").lower, again.get("mv0").max_mtu) == ("vmbr0", 65535)


def test_a_new_bridge_gets_its_mtu_before_a_port_already_at_it_joins():
    """eth1 already at 9000: joining first, the kernel would size the bridge by it and the set would change nothing."""
    host = HostNetwork()
    host.add(Nic(name="eth1", mtu=9000, up=True, ip=_ip()))
    done = plan(host, bridges=[{"name": "vmbr1", "ports": ["eth1"], "mtu": 9000}])
    assert [(op.action, op.device, op.params.get("mtu")) for op in done.operations[:3]] == [
        ("link_add", "vmbr1", None), ("link_set", "vmbr1", 9000), ("link_set", "eth1", None)]
