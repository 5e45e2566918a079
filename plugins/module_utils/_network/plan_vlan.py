# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Planning a VLAN device on a NIC, bond or bridge.

The kernel cannot change a VLAN's parent, id or protocol: such a change is a
delete and re-create, reported as such, and the re-created device goes back
into the bridge it was a port of, with its addresses.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import DEFAULT_VLAN_PROTOCOL, HostNetwork, Vlan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    LINK_ADD, LINK_DEL, LINK_SET, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import (
    Plan, checked, deletable, device_problems, gateway_problems, known_name_problem, plan_delete, plan_mtu_ip_state,
)


def check_vlan(host: HostNetwork, desired: Vlan, admin_up) -> list:
    problems = device_problems(host, desired)
    problem = known_name_problem(host, desired.parent, "parent")
    if problem:
        return problems + [problem]
    parent = host.get(desired.parent)
    current = host.get(desired.name)
    if parent is None:
        problems.append(f"parent: {desired.parent!r} does not exist")
    elif parent.TYPE not in ("nic", "bond", "bridge"):
        problems.append(f"parent: {desired.parent!r} is a {parent.TYPE}; a VLAN sits on a NIC, bond or bridge")
    if current is not None and not isinstance(current, Vlan):
        problems.append(f"name: {desired.name!r} already exists and is a {current.TYPE}, not a VLAN")
    if parent is not None and desired.mtu is not None and parent.mtu is not None and desired.mtu > parent.mtu:
        problems.append(f"mtu: {desired.mtu} is above the MTU of parent {desired.parent} ({parent.mtu}); "
                        f"raise the parent's MTU first or use at most {parent.mtu}")
    problems += gateway_problems(desired.name, desired.ip, current if isinstance(current, Vlan) else None, admin_up)
    return problems


def plan_vlan(host: HostNetwork, desired: Vlan, admin_up) -> Plan:
    """Operations that take VLAN `desired.name` to the desired state."""
    problems = check_vlan(host, desired, admin_up)
    if problems:
        raise ValidationError(problems)
    name = desired.name
    current = host.get(name)
    protocol = desired.protocol or DEFAULT_VLAN_PROTOCOL
    ops: list = []
    warnings: list = []
    create = {"type": "vlan", "parent": desired.parent, "vlan_id": desired.vlan_id, "protocol": protocol}
    if desired.mac:
        create["mac"] = desired.mac
    if current is not None:
        differs = [f"{key} {getattr(current, key)} -> {value}" for key, value in
                   (("parent", desired.parent), ("vlan_id", desired.vlan_id), ("protocol", protocol))
                   if getattr(current, key) != value]
        if differs:
            warnings.append(f"{name} is deleted and re-created ({', '.join(differs)}): the kernel cannot change these in place")
            ops.append(plan_delete(host, name))
            ops.append(Operation(LINK_ADD, name, create, [Operation(LINK_DEL, name)]))
            if current.master:
                ops.append(Operation(LINK_SET, name, {"master": current.master}, [Operation(LINK_SET, name, {"master": None})]))
            # Plan the rest against a fresh device: addresses and state start empty.
            current = None
        elif desired.mac is not None and desired.mac != current.mac:
            ops.append(Operation.setting(name, "mac", desired.mac, current.mac))
        if current is not None and desired.loose_binding is not None and bool(desired.loose_binding) != bool(
                current.loose_binding):
            # A task's VLAN leaves it alone (None); a snapshot's has it: a plan that loosened the binding meanwhile
            # (a bond's live mode change, net_state taking the parent down) and was cut short is put back.
            ops.append(Operation.setting(name, "loose_binding", bool(desired.loose_binding),
                                         bool(current.loose_binding)))
    else:
        ops.append(Operation(LINK_ADD, name, create, [Operation(LINK_DEL, name)]))
    parent = host.get(desired.parent)
    if admin_up and not parent.up:
        ops.append(Operation.setting(desired.parent, "up", True, False))  # an up VLAN needs its parent up
    ip = desired.ip.normalized()
    mtu = desired.mtu
    old = host.get(name)
    if current is None:
        # A new VLAN starts with its parent's MTU and nothing else: plan the
        # rest against the host as it will be once the device exists.
        future = Plan(ops).predict(host)
    if current is None and old is not None:
        # Re-created: what the task does not set comes back as the old device had it.
        if ip.addresses is None:
            ip.addresses = list(old.ip.addresses or [])
        ip.gateway4 = ip.gateway4 or old.ip.gateway4
        ip.gateway6 = ip.gateway6 or old.ip.gateway6
        mtu = mtu if mtu is not None else old.mtu
    if current is None:
        ops += plan_mtu_ip_state(future, name, future.get(name), mtu, ip, admin_up)
    else:
        ops += plan_mtu_ip_state(host, name, current, mtu, ip, admin_up)
    return checked(Plan(ops, warnings), host, [name])


def plan_vlan_absent(host: HostNetwork, name: str, expected: Vlan | None = None) -> Plan:
    """Delete VLAN `name`; refused while it is a bridge port.

    `expected` (parent, vlan_id, protocol where not None) must describe the
    device, so that a task naming both never deletes another VLAN by its name.
    """
    current = deletable(host, name, Vlan)
    if current is None:
        return Plan()
    if expected is not None:
        differs = [f"{key} {getattr(current, key)}, not {getattr(expected, key)}"
                   for key in ("parent", "vlan_id", "protocol")
                   if getattr(expected, key) is not None and getattr(expected, key) != getattr(current, key)]
        if differs:
            raise ValidationError([f"name: {name!r} has {'; '.join(differs)}; refusing to delete a VLAN "
                                   f"other than the one the task describes"])
    return Plan([plan_delete(host, name)])
