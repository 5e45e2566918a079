# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Plans, and the planning pieces every device planner shares.

A Plan is the ordered operations (ops.py) that take a host from its current
state to the desired one, plus the warnings found on the way; check mode
stops at the plan and predicts its result (simulate.py). The device planners
(plan_bridge.py, plan_bond.py, plan_vlan.py) build on what is here: MTU,
addresses, admin state and default routes; deleting a device with an undo
that rebuilds it; and the topology rules a plan must leave intact.
"""
from __future__ import annotations

import ipaddress

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds import kind_of
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE_PORT
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import gateway_on_link, has_ipv4
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, HostNetwork, IpConfig, Vlan, is_loopback, name_problem,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_ADD, ADDR_DEL, LINK_ADD, LINK_DEL, LINK_SET, ROUTE_DEL, ROUTE_REPLACE, STATIC_ROUTE_ADD, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_mtu import limit_problem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_port_vlans import plan_port_vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_routes import plan_device_routes
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict, stacked_above


class Plan:
    """Ordered operations plus the warnings found while planning.

    `refuses_lost_routes`: whether a route the plan would make the kernel drop
    for good (its device deleted, its gateway out of reach) or one netsafe
    does not manage stops it (plan_routes.keep_routes). A task's plan does;
    a plan back to a snapshot, which lets such routes go, may say not.
    """

    refuses_lost_routes = True

    def __init__(self, operations=None, warnings=None):
        self.operations = list(operations or [])
        self.warnings = list(warnings or [])

    def __bool__(self):
        return bool(self.operations)

    def commands(self, namespace: str | None = None) -> list:
        return [op.command(namespace) for op in self.operations]

    def predict(self, host: HostNetwork) -> HostNetwork:
        """The host as it would be after this plan (for check mode and --diff)."""
        return predict(host, self.operations)


def _route_ops(host: HostNetwork, name: str, family: int, gateway: str):
    """Make the default route of `family` go via `gateway` on `name`."""
    key = f"gateway{family}"
    current = [(d.name, getattr(d.ip, key)) for d in host.devices.values() if getattr(d.ip, key)]
    if current == [(name, gateway)]:
        return []
    undo = [Operation(ROUTE_REPLACE, dev, {"family": family, "gateway": gw}) for dev, gw in current[:1]]
    if not undo:
        undo = [Operation(ROUTE_DEL, name, {"family": family, "gateway": gateway})]
    return [Operation(ROUTE_REPLACE, name, {"family": family, "gateway": gateway}, undo)]


def gateway_problems(name: str, desired_ip: IpConfig, current, admin_up) -> list:
    """A gateway must be reachable: inside one of the device's addresses (or an IPv6 link-local router), device up."""
    problems = []
    addresses = desired_ip.addresses if desired_ip.addresses is not None else (
        current.ip.addresses if current is not None else [])
    valid = []
    for addr in addresses or []:
        try:
            ipaddress.ip_interface(addr)
        except ValueError:
            continue
        valid.append(addr)
    for key in ("gateway4", "gateway6"):
        gw = getattr(desired_ip, key)
        if gw is None:
            continue
        if admin_up is False:
            problems.append(f"{key}: a default route needs {name} up; admin_state is down")
            continue
        try:
            gw_ip = ipaddress.ip_address(gw)
        except ValueError:
            continue
        if not gateway_on_link(gw_ip, valid):
            have = ", ".join(a for a in valid if ipaddress.ip_interface(a).version == gw_ip.version) or "none"
            problems.append(f"{key}: {gw} is not inside any IPv{gw_ip.version} address of {name} ({have}); "
                            f"the kernel could not reach it")
    return problems


def flushed_on_down(current) -> list:
    """Deletes of what the kernel drops when `current` goes down and does not give back when it comes up: its
    default routes and IPv6 addresses. Planned before the device goes down, so that the undo, newest first,
    brings the device up and only then puts them back (and the prediction shows them gone)."""
    ops = [Operation.gateway_removal(current.name, family, gateway)
           for family, gateway in ((4, current.ip.gateway4), (6, current.ip.gateway6)) if gateway]
    return ops + [Operation.address(ADDR_DEL, current.name, a)
                  for a in current.ip.addresses or [] if ":" in a]


IPV6_MIN_MTU = 1280


def ipv6_in_use(dev, ip: IpConfig | None = None) -> list:
    """What of IPv6 `dev` carries, or `ip` (a desired state) would give it: addresses, gateway6, routes, as text."""
    found = []
    for config in [c for c in (dev.ip if dev is not None else None, ip) if c is not None]:
        found += [a for a in config.addresses or [] if ":" in a]
        found += [f"default via {config.gateway6}"] if config.gateway6 else []
        found += [r.dst for r in config.routes or [] if r.family == 6]
    return sorted(set(found))


def ipv6_below_min_mtu(name: str, current, ip: IpConfig | None, mtu: int, param: str = "mtu") -> str | None:
    """Why an MTU below IPv6's minimum (1280) cannot go on `name`: the kernel turns IPv6 off on the device and
    deletes its IPv6 addresses and routes, which raising the MTU again does not bring back. None when it uses none."""
    if mtu >= IPV6_MIN_MTU:
        return None
    used = ipv6_in_use(current, ip)
    if not used:
        return None
    return (f"{param}: {mtu} is below IPv6's minimum of {IPV6_MIN_MTU}; the kernel would turn IPv6 off on {name} and "
            f"delete {', '.join(used)} for good. Give {IPV6_MIN_MTU} or more, or remove the IPv6 configuration first")


def _cycle_subnets(host: HostNetwork, name: str, current: list, wanted: list) -> tuple:
    """(deletes, gateway4 to put back or None) for the IPv4 subnets where the task removes one address and has
    another: every current address of such a subnet is deleted before the wanted ones are added.

    The kernel makes a new address in a subnet a secondary of the one there,
    and deleting a primary deletes its secondaries too (promote_secondaries
    is off by default, and in every namespace): adding 192.0.2.11/24 and then
    deleting 192.0.2.10/24 would leave neither. Deleting first makes the new
    one primary. When that leaves the device with no IPv4 address the kernel
    drops its IPv4 routes: its default route is deleted here first and put
    back after the adds (static ones: plan_routes.keep_routes).
    """
    def v4_network(addr):
        iface = ipaddress.ip_interface(addr)
        return iface.network if iface.version == 4 else None

    removed = {v4_network(a) for a in current if a not in wanted} - {None}
    swapped = removed & {v4_network(a) for a in wanted}
    cycle = [a for a in current if v4_network(a) in swapped]
    if not cycle:
        return [], None
    ops = []
    dev = host.get(name)
    others_v4 = [a for a in current if v4_network(a) is not None and a not in cycle]
    gateway = dev.ip.gateway4 if dev is not None and not others_v4 else None
    if gateway:
        ops.append(Operation.gateway_removal(name, 4, gateway))
    ops += [Operation.address(ADDR_DEL, name, a) for a in cycle]
    return ops, gateway


def plan_mtu_ip_state(host: HostNetwork, name: str, current, mtu, ip: IpConfig, admin_up) -> list:
    """MTU, admin state, new addresses, default routes, static routes (plan_routes.py), then old addresses go
    (but an IPv4 subnet whose address changes is emptied before its new address comes: _cycle_subnets).

    A device going down loses its IPv6 addresses and default routes (and its
    static routes: plan_routes.keep_routes), and coming up does not bring them
    back: they are deleted first (flushed_on_down), so the undo puts them back
    once the device is up again; addresses the task lists are added again after.
    The order is chosen for the undo, which runs the inverses newest first:
    old addresses go last, so they are back before a default route whose
    gateway only they make reachable is restored (the kernel refuses it
    otherwise); the admin state changes before addresses are added, so new
    addresses are deleted while the device is still up (taking it down first
    would flush its IPv6 addresses and the deletes would fail). Both were
    found by the failpoint sweeps (docs/testing.md).
    """
    ops = []
    if admin_up is False and current is not None and current.up:
        ops = flushed_on_down(current)
        host = predict(host, ops)
        current = host.get(name)
    current_mtu = current.mtu if current is not None else 1500
    current_addresses = list(current.ip.addresses or []) if current is not None else []
    current_up = bool(current.up) if current is not None else False
    if mtu is not None and mtu != current_mtu:
        lost = ipv6_below_min_mtu(name, current, ip, mtu) or limit_problem(host, name, mtu)
        if lost:
            raise ValidationError([lost])
        change = Operation.setting(name, "mtu", mtu, current_mtu)
        # The kernel lowers the VLANs and macvlans on it with it; raising it back does not raise them: the undo does.
        change.inverse += [Operation(LINK_SET, above, {"mtu": host.get(above).mtu})
                           for above in stacked_above(host, name, mtu)]
        ops.append(change)
    if admin_up is not None and admin_up != current_up:
        ops.append(Operation.setting(name, "up", admin_up, current_up))
    removals, regain = [], None
    if ip.addresses is not None and current is not None:
        cycled, regain = _cycle_subnets(host, name, current_addresses, ip.addresses)
        if cycled:
            ops += cycled
            host = predict(host, cycled)
            current_addresses = list(host.get(name).ip.addresses or [])
    if ip.addresses is not None:
        for addr in ip.addresses:
            if addr not in current_addresses:
                ops.append(Operation.address(ADDR_ADD, name, addr))
        for addr in current_addresses:
            if addr not in ip.addresses:
                removals.append(Operation.address(ADDR_DEL, name, addr))
    for family in (4, 6):
        gw = getattr(ip, f"gateway{family}")
        if family == 4 and gw is None and regain:
            gw = regain   # the gateway the cycle took down with the device's last IPv4 address comes back
        if gw is not None:
            ops += _route_ops(host, name, family, gw)
    up = admin_up if admin_up is not None else current_up
    changes, deletes = plan_device_routes(host, name, current, ip.routes,
                                          ip.addresses if ip.addresses is not None else current_addresses, up)
    return ops + changes + deletes + _gateway_lost_with(host, name, ip, removals) + removals


def _gateway_lost_with(host: HostNetwork, name: str, ip: IpConfig, removals: list) -> list:
    """The kernel drops a device's IPv4 default route with its last IPv4 address (fib_disable_ip), and an undo that
    puts the address back does not bring the route back: so it is deleted first, and its undo re-adds it once the
    address is back (review 27b: the address moved to a bridge with `addresses: []` on the NIC)."""
    dev = host.get(name)
    gone = {op.params["address"] for op in removals}
    if dev is None or not dev.ip.gateway4 or ip.gateway4 is not None or not gone:
        return []
    if has_ipv4(gone) and not has_ipv4([a for a in dev.ip.addresses or [] if a not in gone] + list(ip.addresses or [])):
        return [Operation.gateway_removal(name, 4, dev.ip.gateway4)]
    return []


def rebuild_device(host: HostNetwork, name: str) -> list:
    """Operations that re-create `name` as it is in `host`: ports, VLANs, addresses and all."""
    dev = host.get(name)
    ops = [create_device(dev)]
    members = host.ports_of(name)
    if isinstance(dev, Bond):
        ops += [Operation(LINK_SET, m.name, {"up": False}) for m in members if m.up]
    ops += [Operation(LINK_SET, m.name, {"master": name}) for m in members]
    ops += [op for m in members for op in port_settings(m.name, None, port_options_of(m))]
    if isinstance(dev, Bond) and dev.primary:
        ops.append(Operation(LINK_SET, name, {"primary": dev.primary}))
    if dev.master:
        ops.append(Operation(LINK_SET, name, {"master": dev.master}))
    if isinstance(dev, Bridge) and dev.vlan_filtering:
        for member in [dev] + members:
            ops += plan_port_vlans(member.name, vlans.default_membership(), member.vlans or {}, self_entry=member is dev)
    if dev.mtu:
        ops.append(Operation(LINK_SET, name, {"mtu": dev.mtu}))
    ops += [Operation(ADDR_ADD, name, {"address": a}) for a in dev.ip.addresses or []]
    if dev.up:
        ops.append(Operation(LINK_SET, name, {"up": True}))
    for family in (4, 6):
        gw = getattr(dev.ip, f"gateway{family}")
        if gw:
            ops.append(Operation(ROUTE_REPLACE, name, {"family": family, "gateway": gw}))
    ops += [Operation.static_route(STATIC_ROUTE_ADD, name, route) for route in dev.ip.routes or []]
    return ops


def create_device(dev, inverse=None) -> Operation:
    """The `link add` that makes `dev` as the model has it (its kind's create parameters, kinds/): the one place
    both a new device and the rebuild of a deleted one are made."""
    create = dict(kind_of(dev.TYPE).create_params(dev), type=dev.TYPE, mac=dev.mac, parent=getattr(dev, "parent", None))
    return Operation(LINK_ADD, dev.name, {k: v for k, v in create.items() if v is not None}, inverse)


def port_options_of(dev) -> dict:
    """A port's bridge-port attributes as the model has them ({port_cost, port_priority}, None: not managed)."""
    return {key: getattr(dev, key) for key in BRIDGE_PORT.names}


def port_settings(name: str, current, wanted: dict) -> list:
    """Set the bridge-port attributes `wanted` gives (port_cost, port_priority; None: not managed) on port `name`.

    `current` is the port as it will be when they are set (a port that joins
    in the same plan has None: the kernel's defaults, which its release
    undoes); each undo sets back the old value.
    """
    ops = []
    for key in BRIDGE_PORT.names:
        new = wanted.get(key)
        old = getattr(current, key) if current is not None else None
        if new is not None and new != old:
            ops.append(Operation(LINK_SET, name, {key: new}, [] if old is None else [Operation(LINK_SET, name, {key: old})]))
    return ops


def plan_delete(host: HostNetwork, name: str) -> Operation:
    """Delete `name`; its undo rebuilds it as it was."""
    return Operation(LINK_DEL, name, {}, rebuild_device(host, name))


def vlan_users(host: HostNetwork, name: str) -> list:
    """VLAN devices on top of `name`: the kernel deletes them with it."""
    return sorted(d.name for d in host.devices.values() if isinstance(d, Vlan) and d.parent == name)


def stacked_users(host: HostNetwork, name: str) -> list:
    """macvlans and macvtaps on top of `name` (a guest's NIC, a container's): the kernel deletes them with it, and
    nothing can make them again (netsafe never creates one)."""
    return sorted(d.name for d in host.devices.values() if d.lower == name)


def known_name_problem(host: HostNetwork, name, param: str = "name"):
    """name_problem for a name that is not a device yet; None for one the kernel already has.

    The allowlist keeps what could glob or split a command out of what we
    create and write. A device that exists was accepted by the kernel, and a
    rollback or a restore must plan it back whatever another tool named it;
    the modules hold their own options to the allowlist before any planning
    (requests.check_names).
    """
    return None if isinstance(name, str) and host.get(name) is not None else name_problem(name, param)


def device_problems(host: HostNetwork, desired) -> list:
    """desired.problems(), without the name checks of devices the kernel already has (see known_name_problem)."""
    named = (("name", desired.name), ("primary", getattr(desired, "primary", None)))
    known = {name_problem(value, param) for param, value in named if value and not known_name_problem(host, value, param)}
    return [p for p in desired.problems() if p not in known]


def deletable(host: HostNetwork, name: str, kind):
    """The device `name` if a task may delete it (None if it is gone already).

    Refused when it is another kind of device, when VLANs, macvlans or
    macvtaps sit on it (the kernel would delete them too) or while it is a
    port of a bridge or bond.
    """
    problem = known_name_problem(host, name)
    if problem:
        raise ValidationError([problem])
    current = host.get(name)
    if current is None:
        return None
    if not isinstance(current, kind):
        raise ValidationError([f"name: {name!r} is a {current.TYPE}, not a {kind.TYPE}; refusing to delete it"])
    users = ([f"VLAN {v}" for v in vlan_users(host, name)] + [f"{getattr(host.get(d), 'kind', '') or 'macvlan'} {d}" for d in stacked_users(host, name)]
             + ([f"master {current.master}"] if current.master else []))
    if users:
        raise ValidationError([f"state: {kind.TYPE} {name!r} is still used by {', '.join(users)}; deleting it would take "
                               f"them down too. Remove those first"])
    return current


def checked(plan: Plan, host: HostNetwork, names) -> Plan:
    """`plan`, once the host it would leave behind keeps the topology rules for `names`."""
    problems = topology_problems(plan.predict(host), names) if plan else []
    if problems:
        raise ValidationError(problems)
    return plan


def topology_problems(host: HostNetwork, names) -> list:
    """oVirt's combination rules, checked on the host a plan would leave behind.

    Bond slaves are NICs; a VLAN sits on a NIC, bond or bridge; a bridge's
    ports are NICs, bonds, VLANs or guest ports; a master is a bridge or bond.
    Only devices in `names` (and what they touch) are judged, so an odd but
    unrelated corner of the host does not block a task.
    """
    problems = []
    for name in sorted(set(names)):
        dev = host.get(name)
        if dev is None:
            continue
        for member in [dev] + host.ports_of(name):
            master = host.get(member.master) if member.master else None
            if member.master and master is None:
                continue
            if master is not None and not isinstance(master, (Bridge, Bond)):
                problems.append(f"{member.name} cannot be a port of {master.name}: a {master.TYPE} has no ports")
            elif isinstance(master, Bond) and member.TYPE != "nic":
                problems.append(f"{member.name} is a {member.TYPE}; only NICs can be slaves of bond {master.name}")
            elif isinstance(master, Bridge) and member.TYPE not in ("nic", "bond", "vlan", "guest"):
                problems.append(f"{member.name} is a {member.TYPE}; ports of bridge {master.name} are NICs, bonds, VLANs or guest ports")
        if isinstance(dev, Vlan):
            parent = host.get(dev.parent) if dev.parent else None
            if parent is not None and parent.TYPE not in ("nic", "bond", "bridge"):
                problems.append(f"{dev.name}: a VLAN sits on a NIC, bond or bridge; {parent.name} is a {parent.TYPE}")
    return problems


def member_problem(host: HostNetwork, owner: str, param: str, port: str, seen: set, what: str):
    """Why `port` cannot become a member of `owner` (shared by bridge ports and bond slaves)."""
    problem = known_name_problem(host, port, param)
    if problem:
        return problem
    if port in seen:
        return f"{param}: {port!r} is listed twice"
    if port == owner:
        return f"{param}: {port!r} is the {what} itself"
    dev = host.get(port)
    if dev is None:
        return f"{param}: {port!r} does not exist; create it first or remove it from {param}"
    if is_loopback(dev):
        return f"{param}: {port!r} is a loopback device and cannot be a {what} member"
    return None
