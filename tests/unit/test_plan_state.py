"""net_state's planner (plan_state) on a model host: what only the whole request can get right."""
from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    GuestMatcher, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import undo_sequence
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_state import plan_state
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict
from ansible_collections.netsafe.hypervisor.plugins.modules.net_state import ARGUMENT_SPEC, requests_of


def planned(host: HostNetwork, task: dict):
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(task)
    assert not result.error_messages, result.error_messages
    requests, places = requests_of(result.validated_parameters)
    return plan_state(host, requests, places, GuestMatcher(result.validated_parameters["guest_patterns"]))


def nics_with_a_vlan() -> HostNetwork:
    """eno1 (up) carries vlan50 (up, the host's address); eno2 is free."""
    host = HostNetwork()
    for name in ("eno1", "eno2"):
        host.add(Nic(name=name, mtu=1500, up=True, kind="veth", ip=IpConfig(addresses=[], routes=[])))
    host.add(Vlan(name="vlan50", parent="eno1", vlan_id=50, protocol="802.1Q", loose_binding=False, mtu=1500, up=True,
                  ip=IpConfig(addresses=["198.51.100.10/24"], gateway4="198.51.100.1", routes=[])))
    return host


def test_a_vlan_on_a_nic_a_new_bond_takes_down_is_loosely_bound_meanwhile_and_after_the_undo_too():
    """Found by the lane's failpoint sweep of (c): the kernel took vlan50 down with eno1 (enslaved to the new bond
    before vlan50 is re-made on it), which deleted its default route; the undo brought eno1 up, not the route."""
    host = nics_with_a_vlan()
    plan = planned(host, {"bonds": [{"name": "bond0", "mode": "active-backup", "miimon": 100,
                                     "slaves": ["eno1", "eno2"]}],
                          "vlans": [{"name": "vlan50", "parent": "bond0", "vlan_id": 50}]})
    commands = plan.commands()
    loose, down = (commands.index("ip link set dev vlan50 type vlan loose_binding on"),
                   commands.index("ip link set dev eno1 down"))
    assert loose < down
    strict = commands.index("ip link set dev vlan50 type vlan loose_binding off")
    assert down < strict < commands.index("ip link del dev vlan50")
    undo = [op.command() for op in undo_sequence(plan.operations)]
    assert undo.index("ip link set dev eno1 up") < undo.index("ip link set dev vlan50 type vlan loose_binding off")
    assert predict(plan.predict(host), undo_sequence(plan.operations)).get("vlan50").loose_binding is False
    assert plan.predict(host).get("vlan50").loose_binding is False and plan.predict(host).get("vlan50").parent == "bond0"


def test_a_loosely_bound_or_down_vlan_and_a_nic_taken_by_a_bridge_need_no_binding_change():
    host = nics_with_a_vlan()
    host.get("vlan50").loose_binding = True
    bond = {"bonds": [{"name": "bond0", "mode": "active-backup", "miimon": 100, "slaves": ["eno1", "eno2"]}]}
    assert not [c for c in planned(host, bond).commands() if "loose_binding" in c]
    host = nics_with_a_vlan()
    host.get("vlan50").up = False
    assert not [c for c in planned(host, bond).commands() if "loose_binding" in c]
    bridge = {"bridges": [{"name": "vmbr0", "ports": ["eno1"]}]}   # a bridge port stays up
    assert not [c for c in planned(nics_with_a_vlan(), bridge).commands() if "loose_binding" in c]
