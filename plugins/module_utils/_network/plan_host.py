# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Planning many devices at once: a whole described host (net_persist's `restored`).

No new rules here: each device goes through its own planner (bond, VLAN,
bridge, or MTU/addresses/state for a NIC), in an order where everything a
device stands on comes first (a bond's slaves, a bridge's ports, a VLAN's
parent), each planned against the host as the earlier steps will leave it.
The result is one Plan, so one undo covers the whole change.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_SET, Operation
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import (
    Plan, checked, plan_mtu_ip_state, port_options_of,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bond import plan_bond
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_mtu import limit_problem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_vlan import plan_vlan


def _needs(desired: HostNetwork, name: str) -> list:
    """The described devices `name` stands on."""
    dev = desired.get(name)
    needs = [p.name for p in desired.ports_of(name)] if isinstance(dev, (Bridge, Bond)) else []
    if isinstance(dev, Vlan) and dev.parent in desired.devices:
        needs.append(dev.parent)
    if dev.lower in desired.devices:   # a macvlan goes no higher than its lower device: that one's MTU first
        needs.append(dev.lower)
    return needs


def dependency_order(desired: HostNetwork) -> list:
    """Device names, each after the devices it stands on; ties by name. A cycle is a ValidationError."""
    order, done, visiting = [], set(), []

    def visit(name):
        if name in done:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name):] + [name]
            raise ValidationError([f"devices: {' -> '.join(cycle)} stand on each other; no order can build them"])
        visiting.append(name)
        for need in sorted(_needs(desired, name)):
            visit(need)
        visiting.pop()
        done.add(name)
        order.append(name)

    for name in sorted(desired.devices):
        visit(name)
    return order


def _port_states(desired: HostNetwork, name: str) -> dict:
    """The admin state each described port of bridge or bond `name` has in its own description.

    A port's own description decides whether it is up (an uplink taken out of
    service with `ip link set eno2 down`, or `link-down yes` in a file), not
    the bridge or bond it belongs to: a master that brought it up would fight
    it, and the verifying re-plan would never be empty.
    """
    return {p.name: p.up for p in desired.ports_of(name) if p.up is not None}


def _keep_port_states(future: HostNetwork, desired: HostNetwork, name: str) -> list:
    """Ports a bond opened on enslaving (the kernel does) that their description keeps down: down again."""
    return [Operation.setting(port, "up", up, future.get(port).up)
            for port, up in sorted(_port_states(desired, name).items())
            if future.get(port) is not None and bool(future.get(port).up) != up]


def _taken_over(host: HostNetwork, desired: HostNetwork, name: str) -> list:
    """Ports of bridge `name` another described bridge or bond holds now: that one lets go of them anyway, so
    the bridge may take them whichever is planned first (a bond takes its slaves from anywhere)."""
    return [p.name for p in desired.ports_of(name) if getattr(host.get(p.name), "master", None) not in (None, name)
            and isinstance(desired.get(host.get(p.name).master), (Bridge, Bond))]


def _device_plan(host: HostNetwork, desired: HostNetwork, name: str, guests: GuestMatcher) -> Plan:
    dev = desired.get(name)
    if isinstance(dev, Bond):
        plan = plan_bond(host, dev, [p.name for p in desired.ports_of(name)], dev.up, take_over=True)
        return Plan(plan.operations + _keep_port_states(plan.predict(host), desired, name), plan.warnings)
    if isinstance(dev, Bridge):
        members = desired.ports_of(name)
        port_vlans = {d.name: d.vlans for d in [dev] + members if d.vlans is not None}
        uplinks = [p for p in members if not guests.is_guest_device(p)]
        port_options = {p.name: port_options_of(p) for p in uplinks
                        if any(v is not None for v in port_options_of(p).values())}
        return plan_bridge(host, dev, [p.name for p in uplinks], dev.up, guests,
                           port_vlans or None, _port_states(desired, name), _taken_over(host, desired, name),
                           port_options or None)
    if isinstance(dev, Vlan):
        missing = [key for key in ("parent", "vlan_id") if getattr(dev, key) is None]
        if missing:
            raise ValidationError([f"{name}: a VLAN needs {' and '.join(missing)}; the configuration does not say"])
        return plan_vlan(host, dev, dev.up)
    current = host.get(name)
    if current is None:
        raise ValidationError([f"{name}: the configuration describes it, but the kernel has no such device and only "
                               f"bridges, bonds and VLANs can be created"])
    return checked(Plan(plan_mtu_ip_state(host, name, current, dev.mtu, dev.ip.normalized(), dev.up)), host, [name])


def _released(plan: Plan, before: HostNetwork, after: HostNetwork) -> list:
    """Devices `plan` takes off their master (to none, or to another)."""
    moved = sorted({op.device for op in plan.operations if op.action == LINK_SET and "master" in op.params})
    return [name for name in moved if before.get(name) is not None and before.get(name).master
            and after.get(name) is not None and after.get(name).master != before.get(name).master]


def _bridge_mtus_first(host: HostNetwork, desired: HostNetwork) -> list:
    """The MTU of each described bridge the task raises, set before anything else: its ports, planned before it
    (what it stands on comes first), may go up to that MTU in their own entries, and a bridge nobody set follows
    its ports (br_mtu_auto_adjust): its own set would then change nothing, and a guest port at 1500 joining later
    would take it back down (review 27b). The kernel takes a bridge above its ports."""
    ops = []
    for name, dev in sorted(desired.devices.items()):
        current = host.get(name)
        if isinstance(dev, Bridge) and isinstance(current, Bridge) and dev.mtu and dev.mtu > (current.mtu or 1500):
            if limit_problem(host, name, dev.mtu) is None:
                ops.append(Operation.setting(name, "mtu", dev.mtu, current.mtu or 1500))
    return ops


def plan_host(host: HostNetwork, desired: HostNetwork, guests: GuestMatcher) -> Plan:
    """Operations that make every device of `desired` what it describes (fields None: left alone).

    Devices `desired` does not describe are left alone, except that a bridge
    or bond described with its ports releases the uplinks it no longer lists
    (guest ports never). A device that fails a planner's checks stops the
    whole plan, with every problem found.

    A released port is no dependency of its old master, so it may have been
    planned before it, by name; the release can undo that plan (the kernel
    closes a device a bond lets go). So a described device that a bridge's
    or bond's plan takes off its master, once planned, is planned again right
    after that plan, against the host it leaves: its description, not the
    order of names, decides its state. Nor does the order decide whether a
    bridge may take a port another described master still holds
    (_taken_over).
    """
    operations, warnings, problems, failed, planned = _bridge_mtus_first(host, desired), [], [], set(), set()
    future = Plan(operations).predict(host)
    order = dependency_order(desired)
    step = 0
    while step < len(order):
        name, step = order[step], step + 1
        if failed.intersection(_needs(desired, name)):
            failed.add(name)  # planned against a device that could not be: its problem is reported already
            continue
        try:
            plan = _device_plan(future, desired, name, guests)
        except ValidationError as exc:
            problems += [p if p.startswith(f"{name}") else f"{name}: {p}" for p in exc.problems]
            failed.add(name)
            continue
        operations += plan.operations
        warnings += plan.warnings
        after = plan.predict(future)
        if name not in planned and isinstance(desired.get(name), (Bridge, Bond)):
            order[step:step] = [port for port in _released(plan, future, after) if port in planned]
        planned.add(name)
        future = after
    if problems:
        raise ValidationError(problems)
    return Plan(operations, warnings)
