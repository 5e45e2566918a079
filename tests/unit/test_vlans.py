"""VLAN ranges and port membership planning on vlan-aware bridges."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import vlan_ranges
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import undo_sequence
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_port_vlans import plan_port_vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import bridge_view


def test_ranges_parse_merge_and_format():
    assert vlan_ranges.parse_ranges(["10", 11, "20-30", "25-40", "2;4"], "x") == [[2, 2], [4, 4], [10, 11], [20, 40]]
    assert vlan_ranges.format_ranges([[2, 2], [10, 20]]) == "2,10-20"


@pytest.mark.parametrize("spec, fragment", [("0", "out of range"), ("4095", "out of range"), ("20-10", "first <= last"),
                                            ("ten", "not a VLAN id")])
def test_bad_ranges_name_the_option(spec, fragment):
    with pytest.raises(ValidationError, match=f"port_vlans.tagged: .*{fragment}"):
        vlan_ranges.parse_ranges(spec, "port_vlans.tagged")


def test_proxmox_tag_and_trunks():
    member = vlans.membership(pvid=10, tagged=["20", "30-40"])
    assert member == {"pvid": 10, "untagged": [[10, 10]], "tagged": [[20, 20], [30, 40]]}


def test_untagged_and_tagged_overlap_is_refused():
    with pytest.raises(ValidationError, match="VLAN 12 is listed both untagged and tagged"):
        vlans.membership(untagged=["10-12"], tagged=["12"])


def test_tag_moves_a_fresh_port_off_vlan_1():
    ops = plan_port_vlans("tap100i0", {"pvid": 1, "untagged": [[1, 1]], "tagged": []}, vlans.membership(pvid=10))
    assert [op.command("hv1") for op in ops] == [
        "bridge -n hv1 vlan del dev tap100i0 vid 1",
        "bridge -n hv1 vlan add dev tap100i0 vid 10 pvid untagged",
    ]
    assert [op.command() for op in ops[0].inverse] == ["bridge vlan add dev tap100i0 vid 1 pvid untagged"]
    assert [op.command() for op in ops[1].inverse] == ["bridge vlan del dev tap100i0 vid 10"]


def test_trunk_is_sent_as_ranges_not_vid_by_vid():
    ops = plan_port_vlans("eth1", {"pvid": 1, "untagged": [[1, 1]], "tagged": []},
                          vlans.membership(pvid=1, tagged=["2-4094"]))
    assert [op.command() for op in ops] == ["bridge vlan add dev eth1 vid 2-4094"]
    assert [op.command() for op in ops[0].inverse] == ["bridge vlan del dev eth1 vid 2-4094"]


def test_bridge_self_entry():
    ops = plan_port_vlans("vmbr0", {"pvid": 1, "untagged": [[1, 1]], "tagged": []},
                          vlans.membership(pvid=1, tagged=["20"]), self_entry=True)
    assert [op.command() for op in ops] == ["bridge vlan add dev vmbr0 vid 20 self"]


def test_equal_membership_plans_nothing():
    member = vlans.membership(pvid=10, tagged=["20-30"])
    assert plan_port_vlans("p", member, member) == []


memberships = st.builds(
    lambda pvid, tagged: vlans.membership(pvid=pvid, tagged=[t for t in tagged if t != str(pvid)]),
    st.none() | st.integers(1, 12),
    st.lists(st.sampled_from([str(i) for i in range(1, 13)] + ["5-9", "11-12"]), max_size=4),
).filter(lambda m: not any(a <= (m["pvid"] or 0) <= b for a, b in m["tagged"]))


@settings(max_examples=200, deadline=None)
@given(current=memberships, desired=memberships)
def test_vlan_plan_reaches_desired_and_undo_restores_current(current, desired):
    host = HostNetwork()
    host.add(GuestPort(name="tap1i0", master="vmbr0", vlans=current, ip=IpConfig(addresses=[])))
    ops = plan_port_vlans("tap1i0", current, desired)
    after = Plan(ops).predict(host)
    assert after.get("tap1i0").vlans == desired
    assert predict(after, undo_sequence(ops)).get("tap1i0").vlans == current


def _filtering_host() -> HostNetwork:
    host = HostNetwork()
    default = {"pvid": 1, "untagged": [[1, 1]], "tagged": []}
    host.add(Bridge(name="vmbr0", mtu=1500, up=True, stp=False, forward_delay=0, vlan_filtering=True,
                    vlans=default, ip=IpConfig(addresses=[])))
    host.add(Nic(name="eth1", mtu=1500, up=True, master="vmbr0", kind="veth", vlans=dict(default), ip=IpConfig(addresses=[])))
    host.add(Nic(name="eth2", mtu=1500, up=True, kind="veth", ip=IpConfig(addresses=[])))
    host.add(GuestPort(name="tap100i0", mtu=1500, up=True, master="vmbr0", vlans=dict(default), ip=IpConfig(addresses=[])))
    return host


def test_bridge_plan_sets_port_vlans_after_a_new_port_joins():
    host = _filtering_host()
    plan = plan_bridge(host, Bridge(name="vmbr0"), ["eth1", "eth2"], True, GuestMatcher(),
                       {"eth2": vlans.membership(pvid=1, tagged=["2-4094"]), "tap100i0": vlans.membership(pvid=10)})
    assert plan.commands() == [
        "ip link set dev eth2 master vmbr0",
        "bridge vlan add dev eth2 vid 2-4094",
        "bridge vlan del dev tap100i0 vid 1",
        "bridge vlan add dev tap100i0 vid 10 pvid untagged",
    ]
    view = bridge_view(plan.predict(host), "vmbr0", GuestMatcher())
    assert view["port_vlans"]["tap100i0"] == {"pvid": 10, "untagged": [[10, 10]], "tagged": []}


def test_port_vlans_need_filtering_and_a_real_port():
    host = _filtering_host()
    host.get("vmbr0").vlan_filtering = False
    with pytest.raises(ValidationError) as info:
        plan_bridge(host, Bridge(name="vmbr0"), None, True, GuestMatcher(),
                    {"eth2": vlans.membership(pvid=5)})
    assert any("needs vlan_filtering: true" in p for p in info.value.problems)
    assert any("'eth2' is not a port of vmbr0" in p for p in info.value.problems)


def test_turning_filtering_on_is_one_attribute_change():
    host = _filtering_host()
    host.get("vmbr0").vlan_filtering = False
    plan = plan_bridge(host, Bridge(name="vmbr0", vlan_filtering=True), None, True, GuestMatcher())
    assert plan.commands() == ["ip link set dev vmbr0 type bridge vlan_filtering 1"]
