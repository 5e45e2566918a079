"""The re-enslave planner on hand-made models: what it plans, what it reports, in which order."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests import reenslave as _reenslave
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import LIVE, GuestNic
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.reenslave import plan_guests, summarize
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestPort, HostNetwork, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_ADD, LINK_SET, Operation


def host(*devices) -> HostNetwork:
    net = HostNetwork()
    for dev in devices:
        net.add(dev)
    return net


def br(name, mtu=1500, vlan_filtering=False, up=True):
    return Bridge(name=name, mtu=mtu, up=up, vlan_filtering=vlan_filtering)


def tap(name, master=None, up=True, mtu=1500):
    return GuestPort(name=name, master=master, up=up, mtu=mtu, kind="tap")


def veth(name, master=None, up=True, mtu=1500):
    return GuestPort(name=name, master=master, up=up, mtu=mtu, kind="veth")


def qemu(vmid, bridge="vmbr0", **kw):
    return GuestNic(str(vmid), "qemu", "net0", f"tap{vmid}i0", bridge, **kw)


def test_detached_port_is_reattached_with_an_inverse():
    plan, outcomes = plan_guests(host(br("vmbr0"), tap("tap100i0")), [qemu(100)])
    assert plan.commands() == ["ip link set dev tap100i0 master vmbr0"]
    assert plan.operations[0].inverse == [Operation(LINK_SET, "tap100i0", {"master": None})]
    assert summarize(outcomes)["reattached"] == ["tap100i0"]


def test_port_already_in_place_is_left_alone():
    plan, outcomes = plan_guests(host(br("vmbr0"), tap("tap100i0", "vmbr0")), [qemu(100)])
    assert not plan and summarize(outcomes)["already_ok"] == ["tap100i0"]


def test_missing_device_is_not_running():
    plan, outcomes = plan_guests(host(br("vmbr0")), [qemu(100)])
    assert not plan and summarize(outcomes)["not_running"] == ["tap100i0"]


def test_missing_bridge_fails_that_guest_only():
    net = host(br("vmbr0"), tap("tap100i0"), tap("tap101i0"))
    plan, outcomes = plan_guests(net, [qemu(100, "vmbr9"), qemu(101)])
    assert plan.commands() == ["ip link set dev tap101i0 master vmbr0"]
    failed = summarize(outcomes)["failed_guests"]
    assert [(f["device"], f["reason"]) for f in failed] == [("tap100i0", "bridge vmbr9 does not exist")]


def test_config_names_something_that_is_not_a_bridge():
    plan, outcomes = plan_guests(host(Nic(name="eth1"), tap("tap100i0")), [qemu(100, "eth1")])
    assert not plan and "eth1 is a nic, not a bridge" in summarize(outcomes)["failed_guests"][0]["reason"]


def test_guest_moved_on_purpose_follows_the_config():
    net = host(br("vmbr0"), br("vmbr1"), tap("tap107i0", "vmbr0"))
    plan, _outcomes = plan_guests(net, [qemu(107, "vmbr1")])
    assert plan.commands() == ["ip link set dev tap107i0 master vmbr1"]
    assert plan.operations[0].inverse == [Operation(LINK_SET, "tap107i0", {"master": "vmbr0"})]


def test_firewall_chain_only_fwpr_needs_the_bridge():
    net = host(br("vmbr0"), br("fwbr102i0"), tap("tap102i0", "fwbr102i0"), veth("fwln102i0", "fwbr102i0"),
               veth("fwpr102p0"))
    plan, outcomes = plan_guests(net, [qemu(102, firewall=True)])
    assert plan.commands() == ["ip link set dev fwpr102p0 master vmbr0"]
    assert summarize(outcomes)["reattached"] == ["tap102i0"]


def test_firewall_bridge_gone_is_recreated_first_and_brought_up_last():
    net = host(br("vmbr0"), tap("tap102i0"), veth("fwln102i0"), veth("fwpr102p0"))
    plan, _outcomes = plan_guests(net, [qemu(102, firewall=True)])
    assert plan.commands() == [
        "ip link add name fwbr102i0 type bridge stp_state 0 forward_delay 0",
        "ip link set dev tap102i0 master fwbr102i0",
        "ip link set dev fwln102i0 master fwbr102i0",
        "ip link set dev fwpr102p0 master vmbr0",
        "ip link set dev fwbr102i0 up",
    ]
    assert plan.operations[0].action == LINK_ADD


def test_firewall_link_pair_missing_fails_with_a_reason():
    net = host(br("vmbr0"), br("fwbr102i0"), tap("tap102i0", "fwbr102i0"))
    plan, outcomes = plan_guests(net, [qemu(102, firewall=True)])
    assert not plan
    assert "fwln102i0 and fwpr102p0 missing" in summarize(outcomes)["failed_guests"][0]["reason"]


def test_link_down_keeps_the_port_down():
    plan, _outcomes = plan_guests(host(br("vmbr0"), tap("tap104i0", up=True)), [qemu(104, link_down=True)])
    assert plan.commands() == ["ip link set dev tap104i0 master vmbr0", "ip link set dev tap104i0 down"]


def test_mtu_1_means_the_bridge_mtu_and_is_set_before_the_master():
    plan, _outcomes = plan_guests(host(br("vmbr1", mtu=9000), tap("tap107i0")), [qemu(107, "vmbr1", mtu=1)])
    assert plan.commands() == ["ip link set dev tap107i0 mtu 9000", "ip link set dev tap107i0 master vmbr1"]


def test_proxmox_tag_on_a_bridge_without_vlan_filtering_uses_its_vlan_bridge():
    net = host(br("vmbr0"), br("vmbr0v10"), tap("tap200i0"))
    plan, _outcomes = plan_guests(net, [qemu(200, vlan=10)])
    assert plan.commands() == ["ip link set dev tap200i0 master vmbr0v10"]


def test_proxmox_tag_without_its_vlan_bridge_fails():
    plan, outcomes = plan_guests(host(br("vmbr0"), tap("tap200i0")), [qemu(200, vlan=10)])
    assert not plan and "vmbr0v10, which does not exist" in summarize(outcomes)["failed_guests"][0]["reason"]


def test_bridges_limits_the_work():
    net = host(br("vmbr0"), br("vmbr1"), tap("tap100i0"), tap("tap101i0"))
    plan, outcomes = plan_guests(net, [qemu(100), qemu(101, "vmbr1")], bridges=["vmbr1"])
    assert plan.commands() == ["ip link set dev tap101i0 master vmbr1"]
    assert [o.nic.device for o in outcomes] == ["tap101i0"]


def test_operations_are_grouped_by_phase_across_guests():
    net = host(br("vmbr0"), tap("tap1i0", up=False), tap("tap2i0", mtu=1400), veth("fwln3i0"), veth("fwpr3p0"),
               tap("tap3i0"))
    nics = [qemu(1), qemu(2, mtu=1500), qemu(3, firewall=True)]
    plan, _outcomes = plan_guests(net, nics)
    kinds = [_reenslave._phase(op) for op in plan.operations]
    assert kinds == sorted(kinds)
    assert plan.operations[0].device == "fwbr3i0" and plan.operations[-1].params == {"up": True}


def test_predicted_result_needs_no_second_plan():
    net = host(br("vmbr0"), br("vmbr1", mtu=9000), tap("tap1i0"), tap("tap2i0", up=True), tap("tap3i0"),
               veth("fwln3i0"), veth("fwpr3p0"), tap("tap4i0", "vmbr0"))
    nics = [qemu(1), qemu(2, link_down=True), qemu(3, firewall=True), qemu(4, "vmbr1", mtu=1)]
    plan, _outcomes = plan_guests(net, nics)
    assert plan
    again, outcomes = plan_guests(plan.predict(net), nics)
    assert not again and all(o.status == "already_ok" for o in outcomes)


def test_set_aside_guests_are_failed_and_untouched():
    net = host(br("vmbr0"), tap("tap1i0"), tap("tap2i0"))
    plan, outcomes = plan_guests(net, [qemu(1), qemu(2)], set_aside={"tap1i0": "refused"})
    assert plan.commands() == ["ip link set dev tap2i0 master vmbr0"]
    assert summarize(outcomes)["failed_guests"][0]["reason"] == "refused"


def test_vlan_filtering_bridge_asks_the_core_for_port_vlans(monkeypatch):
    """plan_port_vlans(port, current, desired): the default membership for a port that joins now."""
    calls = []
    real = _reenslave.plan_port_vlans

    def spy(port, current, desired, **kw):
        calls.append((port, current, desired))
        return real(port, current, desired, **kw)

    monkeypatch.setattr(_reenslave, "plan_port_vlans", spy)
    net = host(br("vmbr0", vlan_filtering=True), tap("tap200i0"), tap("tap201i0"), br("fwbr202i0"),
               tap("tap202i0", "fwbr202i0"), veth("fwln202i0", "fwbr202i0"), veth("fwpr202p0"))
    nics = [qemu(200, vlan=10), qemu(201, trunks=(20, 21)), qemu(202, vlan=40, firewall=True)]
    plan, _outcomes = plan_guests(net, nics)
    default = {"pvid": 1, "untagged": [[1, 1]], "tagged": []}
    assert calls == [
        ("tap200i0", default, {"pvid": 10, "untagged": [[10, 10]], "tagged": []}),
        ("tap201i0", default, {"pvid": 1, "untagged": [[1, 1]], "tagged": [[20, 21]]}),
        ("fwpr202p0", default, {"pvid": 40, "untagged": [[40, 40]], "tagged": []}),
    ]
    assert "bridge vlan add dev tap200i0 vid 10 pvid untagged" in plan.commands()
    assert "bridge vlan del dev tap200i0 vid 1" in plan.commands()
    masters = [i for i, op in enumerate(plan.operations) if "master" in op.params]
    vlan_ops = [i for i, op in enumerate(plan.operations) if op.action.startswith("bridge_vlan")]
    assert max(masters) < min(vlan_ops)


def test_vlan_membership_already_right_is_left_alone():
    port = tap("tap200i0", "vmbr0")
    port.vlans = {"pvid": 10, "untagged": [[10, 10]], "tagged": [[20, 20]]}
    plan, outcomes = plan_guests(host(br("vmbr0", vlan_filtering=True), port), [qemu(200, vlan=10, trunks=(20,))])
    assert not plan and outcomes[0].status == "already_ok"


def test_vlan_membership_is_predicted_to_converge():
    net = host(br("vmbr0", vlan_filtering=True), tap("tap200i0"), tap("tap201i0", "vmbr0"))
    net.get("tap201i0").vlans = {"pvid": 1, "untagged": [[1, 1]], "tagged": []}
    nics = [qemu(200, vlan=10, trunks=(30, 31, 32)), qemu(201, vlan=5)]
    plan, _outcomes = plan_guests(net, nics)
    assert plan
    again, _again_outcomes = plan_guests(plan.predict(net), nics)
    assert not again, again.commands()


def test_view_lists_every_device_of_the_chains():
    net = host(br("vmbr0"), br("fwbr3i0"), tap("tap3i0", "fwbr3i0"), veth("fwln3i0", "fwbr3i0"), veth("fwpr3p0"))
    view = _reenslave.guests_view(net, [qemu(3, firewall=True), qemu(4)])
    assert view["fwpr3p0"] == {"present": True, "master": None, "up": True, "mtu": 1500}
    assert view["tap4i0"] == {"present": False}
    assert sorted(view) == ["fwbr3i0", "fwln3i0", "fwpr3p0", "tap3i0", "tap4i0"]


@pytest.mark.parametrize("status", ["reattached", "already_ok", "not_running"])
def test_summary_has_every_list(status):
    assert summarize([])[status] == []


# -- plan_return: the requests built while a bridge is gone ---------------------------------------

def test_plan_return_puts_the_ports_of_an_existing_bridge_back_as_if_it_had_been_made_again():
    """Planned while vmbr0 still exists: its ports count as detached, the new bridge as empty."""
    net = host(br("vmbr0"), br("vmbr1"), tap("tap100i0", "vmbr0"), tap("tap101i0", "vmbr1"), tap("tap102i0", "vmbr0", up=False))
    ops, outcomes = _reenslave.plan_return(net, [qemu(100), qemu(101, "vmbr1"), qemu(102, link_down=True)], "vmbr0")
    assert [(op.device, op.params) for op in ops] == [("tap100i0", {"master": "vmbr0"}), ("tap102i0", {"master": "vmbr0"})]
    assert [o.nic.device for o in outcomes] == ["tap100i0", "tap102i0"]
    assert net.get("tap100i0").master == "vmbr0", "the real model is not changed"


def test_plan_return_while_the_bridge_is_gone_and_for_a_firewall_chain():
    nic = GuestNic("105", "lxc", "net0", "veth105i0", "vmbr0", firewall=True)
    net = host(br("fwbr105i0"), veth("veth105i0", "fwbr105i0"), veth("fwln105i0", "fwbr105i0"), veth("fwpr105p0"))
    ops, _outcomes = _reenslave.plan_return(net, [nic], "vmbr0")
    assert [(op.device, op.params) for op in ops] == [("fwpr105p0", {"master": "vmbr0"})]


def test_plan_return_leaves_a_guest_whose_firewall_bridge_must_be_made_to_the_full_pass():
    nic = GuestNic("105", "lxc", "net0", "veth105i0", "vmbr0", firewall=True)
    net = host(veth("veth105i0"), veth("fwln105i0"), veth("fwpr105p0"), tap("tap100i0"))
    ops, outcomes = _reenslave.plan_return(net, [nic, qemu(100)], "vmbr0")
    assert [op.device for op in ops] == ["tap100i0"] and [o.nic.device for o in outcomes] == ["tap100i0"]


def test_plan_return_on_a_vlan_aware_bridge_plans_the_vlans_from_the_kernels_default():
    net = host(br("vmbr0", vlan_filtering=True), tap("tap100i0", "vmbr0"))
    ops, _outcomes = _reenslave.plan_return(net, [qemu(100, vlan=10)], "vmbr0", filtering=True)
    assert ops[0].params == {"master": "vmbr0"}
    assert sorted(op.action for op in ops[1:]) == ["bridge_vlan_add", "bridge_vlan_del"]


def test_plan_return_for_proxmox_vlan_bridge_and_not_for_others():
    net = host(br("vmbr0"), tap("tap100i0"), tap("tap101i0"))
    ops, _outcomes = _reenslave.plan_return(net, [qemu(100, vlan=10), qemu(101)], "vmbr0v10")
    assert [(op.device, op.params) for op in ops] == [("tap100i0", {"master": "vmbr0v10"})]


def test_plan_return_skips_stopped_guests_and_leaves_mtu_1_to_the_full_pass():
    net = host(br("vmbr0"), tap("tap100i0", mtu=9000))
    ops, _outcomes = _reenslave.plan_return(net, [qemu(100, mtu=1), qemu(103)], "vmbr0")
    assert [(op.device, op.params) for op in ops] == [("tap100i0", {"master": "vmbr0"})]


def test_running_guest_without_its_device_fails_instead_of_not_running():
    nic = GuestNic("web1", "libvirt", "interface 0", "vnet0", "br0", claim=LIVE)
    _plan, outcomes = plan_guests(host(br("br0")), [nic])
    failed = summarize(outcomes)["failed_guests"]
    assert failed[0]["reason"] == "the guest runs (its live status XML is there) but its device vnet0 does not exist"


# -- the hypervisor's MTU rule (issue 27, part 3) ---------------------------------------

def test_a_replugged_tap_without_mtu_gets_the_bridges_before_its_master():
    plan, outcomes = plan_guests(host(br("vmbr0", mtu=9000), tap("tap100i0")), [qemu(100)])
    assert plan.commands() == ["ip link set dev tap100i0 mtu 9000", "ip link set dev tap100i0 master vmbr0"]
    assert outcomes[0].mtus == {"tap100i0": 9000}


def test_a_replugged_tap_with_a_lower_mtu_keeps_it():
    plan, _outcomes = plan_guests(host(br("vmbr0", mtu=9000), tap("tap100i0")), [qemu(100, mtu=1500)])
    assert plan.commands() == ["ip link set dev tap100i0 master vmbr0"]


def test_a_plugged_in_tap_keeps_its_mtu_unless_sync_mtu():
    net = host(br("vmbr0", mtu=9000), tap("tap100i0", "vmbr0"), tap("tap101i0", "vmbr0"))
    nics = [qemu(100), qemu(101, mtu=1400)]
    plan, outcomes = plan_guests(net, nics)
    assert plan.commands() == ["ip link set dev tap101i0 mtu 1400"]
    assert [o.mtus for o in outcomes] == [None, None]
    synced, _outcomes = plan_guests(net, nics, sync_mtu=True)
    assert synced.commands() == ["ip link set dev tap100i0 mtu 9000", "ip link set dev tap101i0 mtu 1400"]


def test_the_firewall_chain_follows_the_bridge_and_the_tap_its_config():
    net = host(br("vmbr0", mtu=9000), br("fwbr3i0"), tap("tap3i0", "fwbr3i0"), veth("fwln3i0", "fwbr3i0"),
               veth("fwpr3p0"))
    plan, _outcomes = plan_guests(net, [qemu(3, firewall=True, mtu=1500)])
    assert plan.commands() == ["ip link set dev fwbr3i0 mtu 9000", "ip link set dev fwln3i0 mtu 9000",
                               "ip link set dev fwpr3p0 mtu 9000", "ip link set dev fwpr3p0 master vmbr0"]


def test_pinned_mtus_hold_when_the_bridge_moved_meanwhile():
    """After the change the kernel may have lowered a bridge whose MTU was never set: the first plan's rule holds."""
    net = host(br("vmbr0", mtu=1450), tap("tap100i0", "vmbr0", mtu=1500))
    plan, _outcomes = plan_guests(net, [qemu(100)], pinned={"tap100i0": {"tap100i0": 1500}})
    assert not plan
    plan, _outcomes = plan_guests(net, [qemu(100)], pinned={"tap100i0": None})   # the watcher's: the rule now
    assert plan.commands() == ["ip link set dev tap100i0 mtu 1450"]


def test_the_first_pass_leaves_the_bridges_mtu_to_the_full_pass():
    net = host(br("vmbr0", mtu=9000), tap("tap100i0"), tap("tap101i0"))
    plan, _outcomes = plan_guests(net, [qemu(100), qemu(101, mtu=1400)], follow_bridge_mtu=False)
    assert plan.commands() == ["ip link set dev tap101i0 mtu 1400", "ip link set dev tap100i0 master vmbr0",
                               "ip link set dev tap101i0 master vmbr0"]
