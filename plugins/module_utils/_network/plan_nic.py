# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Planning a device netsafe does not create: a NIC's MTU, admin state, MAC and addresses.

A NIC (a physical one; veth or dummy in a lab) is there or it is not: a
missing one is an error, never created. Another kind of device is refused,
naming the module that owns it. Where the NIC sits decides the rest: a bond
gives its ports its own MTU and MAC and takes no address on them; a bridge
sends no frame larger than its port's MTU through it; and a NIC on the way out
of the host's default route is not taken down unless the task says so.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, Nic, Vlan, is_loopback,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import (
    Plan, checked, gateway_problems, ipv6_below_min_mtu, plan_mtu_ip_state, vlan_users,
)

# The module that manages each kind of device a NIC task may name by mistake.
OWNER_MODULE = {
    "bridge": "netsafe.hypervisor.net_bridge",
    "bond": "netsafe.hypervisor.net_bond",
    "vlan": "netsafe.hypervisor.net_vlan",
    "guest": "netsafe.hypervisor.tap_reenslave (a guest's own port follows its guest's configuration)",
}


def nic_problems(host: HostNetwork, desired: Nic, admin_up, guests: GuestMatcher) -> list:
    """Why the task cannot change NIC `desired.name` as asked; [] when it can."""
    name = desired.name
    current = host.get(name)
    if current is None:
        return [f"name: {name!r} does not exist; this module changes a NIC the host has (a physical NIC, or a veth "
                f"or dummy device in a lab) and creates none"]
    kind = "guest" if guests.is_guest_device(current) else current.TYPE
    if kind in OWNER_MODULE:
        return [f"name: {name!r} is a {'guest port' if kind == 'guest' else kind}, not a NIC; manage it with "
                f"{OWNER_MODULE[kind]}"]
    if is_loopback(current):
        return [f"name: {name!r} is the loopback device; it has no MTU or state of a NIC worth changing here"]
    problems = []
    master = host.get(current.master) if current.master else None
    if isinstance(master, Bond):
        what = f"{name} is a port of bond {master.name}"
        if desired.mtu is not None and desired.mtu != master.mtu:
            problems.append(f"mtu: {what}, and the kernel gives the bond's ports the bond's MTU ({master.mtu}); "
                            f"set the MTU on the bond (netsafe.hypervisor.net_bond) instead")
        if desired.mac is not None and desired.mac != current.mac:
            problems.append(f"mac: {what}, which sets the MAC addresses of its ports; set mac on the bond instead")
        if desired.ip.addresses:
            problems.append(f"addresses: {what}; a bond port cannot keep addresses. Put them on the bond")
    if master is not None and desired.ip.routes:
        problems.append(f"routes: {name} is a port of {master.name}; traffic leaves through {master.name}, not "
                        f"through its port. Give the routes to {master.name}")
    if isinstance(master, Bridge) and desired.mtu is not None and master.mtu is not None and desired.mtu < master.mtu:
        lost = ipv6_below_min_mtu(master.name, master, None, desired.mtu)
        if lost:   # a bridge whose MTU was never set follows its smallest port (port_mtu_warnings)
            problems.append(f"{lost} (as bridge {master.name} follows the MTU of its port {name})")
    if admin_up is False and current.up:
        riding = [v for v in vlan_users(host, name) if host.get(v).up and not host.get(v).loose_binding]
        if riding:
            problems.append(f"admin_state: VLANs {', '.join(riding)} sit on {name} and the kernel takes them down with "
                            f"it, dropping their IPv6 addresses and routes; take them down first "
                            f"(netsafe.hypervisor.net_vlan) if that is what you want")
    problems += gateway_problems(name, desired.ip, current, admin_up)
    return problems


def lower_devices(host: HostNetwork, name: str) -> set:
    """The devices `name`'s traffic leaves through: itself, a VLAN's parent, a bridge's or bond's ports, and so
    on down."""
    found, todo = set(), [name]
    while todo:
        dev = host.get(todo.pop())
        if dev is None or dev.name in found:
            continue
        found.add(dev.name)
        if isinstance(dev, Vlan) and dev.parent:
            todo.append(dev.parent)
        elif isinstance(dev, (Bridge, Bond)):
            todo += [p.name for p in host.ports_of(dev.name)]
    return found


def way_out(host: HostNetwork, name: str, guests: GuestMatcher, seen=frozenset()) -> bool:
    """Whether `name` is up with an up way down to a NIC: a VLAN through its parent, a bridge or bond through
    any of its uplinks (one that has none is not judged: its gateway may be a guest)."""
    dev = host.get(name)
    if dev is None or not dev.up or name in seen:
        return False
    if isinstance(dev, Vlan):
        return way_out(host, dev.parent, guests, seen | {name})
    if isinstance(dev, (Bridge, Bond)):
        uplinks = [p.name for p in host.ports_of(name) if not guests.is_guest_device(p)]
        return not uplinks or any(way_out(host, p, guests, seen | {name}) for p in uplinks)
    return True


def default_routes_cut(before: HostNetwork, after: HostNetwork, name: str, guests: GuestMatcher) -> list:
    """The host's default routes (as `default via GW dev DEV`) that leave through `name` and have a way out in
    `before` but none in `after`."""
    cut = []
    for dev in sorted(before.devices.values(), key=lambda d: d.name):
        for family in (4, 6):
            gateway = getattr(dev.ip, f"gateway{family}")
            if gateway and name in lower_devices(before, dev.name) and way_out(before, dev.name, guests) \
                    and not way_out(after, dev.name, guests):
                cut.append(f"default via {gateway} dev {dev.name}")
    return cut


def port_mtu_warnings(host: HostNetwork, name: str, mtu) -> list:
    """A bridge port whose MTU goes below its bridge's: larger frames cannot leave through it (as plan_bridge warns
    for a bridge above its ports), and a bridge whose own MTU was never set follows its smallest port."""
    current = host.get(name)
    master = host.get(current.master) if current is not None and current.master else None
    if not isinstance(master, Bridge) or mtu is None or master.mtu is None or mtu >= master.mtu or mtu == current.mtu:
        return []
    return [f"mtu: {name} gets mtu {mtu} but its bridge {master.name} has mtu {master.mtu}; frames larger than {mtu} "
            f"will not leave through {name}, and the kernel lowers {master.name} to {mtu} too unless its MTU was set "
            f"explicitly"]


def plan_nic(host: HostNetwork, desired: Nic, admin_up, guests: GuestMatcher, allow_default_route_loss: bool = False) -> Plan:
    """Operations that give NIC `desired.name` its MAC, MTU, admin state, addresses and gateways (None: left alone).

    Taking it down is refused when that leaves one of the host's default
    routes, whichever device carries it, with no way out (way_out), unless
    `allow_default_route_loss`: then it is a warning. Its own default routes
    and IPv6 addresses are deleted first (plan.flushed_on_down); addresses the
    task lists come back once it is down, where the kernel keeps them.
    """
    problems = nic_problems(host, desired, admin_up, guests)
    if problems:
        raise ValidationError(problems)
    name = desired.name
    current = host.get(name)
    ops = []
    if desired.mac is not None and desired.mac != current.mac:
        ops.append(Operation.setting(name, "mac", desired.mac, current.mac))
    future = Plan(ops).predict(host)
    ops += plan_mtu_ip_state(future, name, future.get(name), desired.mtu, desired.ip.normalized(), admin_up)
    plan = Plan(ops, port_mtu_warnings(host, name, desired.mtu))
    cut = default_routes_cut(host, plan.predict(host), name, guests) if admin_up is False and plan else []
    if cut and not allow_default_route_loss:
        raise ValidationError([f"admin_state: taking {name} down leaves the host's {' and '.join(cut)} with no way "
                               f"out, which cuts the host off. Set allow_default_route_loss: true if another path "
                               f"(a console) reaches it"])
    plan.warnings += [f"allow_default_route_loss: {name} goes down and the host's {' and '.join(cut)} loses its way out"] if cut else []
    return checked(plan, host, [name])
