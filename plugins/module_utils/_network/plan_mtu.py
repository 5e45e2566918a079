# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The MTU follows the path: a bridge's uplinks go up with it, and down with it.

A bridge sends no frame larger than the MTU of the port it leaves through,
so a bridge raised to 9000 over a NIC left at 1500 is a black hole for large
frames. The path below a bridge is its uplinks (never its guest ports), and
below each of those what it stands on: a VLAN's lower device, a bond's
slaves. The kernel's rules decide the order:

- a VLAN's MTU cannot exceed its lower device's, and a lower device that
  goes below a VLAN's MTU takes the VLAN down with it: raise from the
  bottom (lower device, then VLAN), lower from the top (the bridge itself
  is set before its path either way: plan_bridge);
- a bond gives its slaves its own MTU (bond_change_mtu): the plan sets the
  bond and the simulator predicts the slaves (kinds.BondKind);
- a driver takes at most its IFLA_MAX_MTU: a raise above it is refused
  before any change, naming the device.

`port_mtu` chooses: `follow` changes the path, `refuse` refuses a raise
above a port's MTU and leaves the ports alone when the bridge goes down.
A device the same task describes with its own `mtu` (net_state) keeps it:
the path stops there, and one lower than the bridge is refused, naming both.
Lowering stops at a device something else still needs (a VLAN, macvlan or
master off this path with a larger MTU, or addresses of its own). A bridge
whose MTU is unchanged raises a path left below it (a raise cut off half
way), and leaves alone a port above it: a port larger than its bridge loses
nothing, and may be set so on purpose (a NIC at 9216 under a bridge at 9000).
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import Operation

PORT_MTU_CHOICES = ("follow", "refuse")


def limit_problem(host: HostNetwork, name: str, mtu: int, why: str = "") -> str | None:
    """Why `name` cannot take `mtu` (above its driver's max_mtu, or a bond slave's), or None."""
    dev = host.get(name)
    if dev is None:
        return None
    for member in [dev] + (host.ports_of(name) if isinstance(dev, Bond) else []):
        if member.max_mtu and mtu > member.max_mtu:
            slave = f" (a slave of bond {name}, which gives it the bond's MTU)" if member is not dev else ""
            return (f"mtu: {member.name}{slave} takes at most {member.max_mtu} (its driver's max_mtu), not {mtu}"
                    f"{why}; nothing was changed")
    return None


def lower_devices_of(host: HostNetwork, dev, guests: GuestMatcher) -> list:
    """The devices right below `dev` on its way out: a VLAN's lower device, a bridge's uplinks (guest ports are the
    guests' own), a bond's slaves."""
    if isinstance(dev, Vlan):
        return [dev.parent] if dev.parent and host.get(dev.parent) is not None else []
    if isinstance(dev, (Bridge, Bond)):
        return [p.name for p in host.ports_of(dev.name) if not guests.is_guest_device(p)]
    return []


def _users(host: HostNetwork, dev, above: str) -> list:
    """What stands on `dev` other than `above` (the device the path came from): its master, the VLANs and
    macvlans on it."""
    users = [host.get(dev.master)] if dev.master and dev.master != above else []
    return users + [d for d in host.devices.values() if d.name != above
                    and ((isinstance(d, Vlan) and d.parent == dev.name) or d.lower == dev.name)]


def follow_mtu(host: HostNetwork, name: str, mtu: int, guests: GuestMatcher, policy: str,
               described: dict | None = None) -> tuple:
    """(operations before `name`'s own MTU change, operations after it, problems) for the path below `name`.

    `host` is the host as it will be when `name` changes MTU (its ports
    already joined). Raising, the first list raises the path bottom-up;
    lowering, the second lowers it top-down; each operation's undo sets the
    old MTU back, so the undo (newest first) runs the other way round.
    `described` maps a device the task describes with an explicit MTU to the
    entry that does (`bonds[0] (bond0)`): that MTU wins.
    """
    top = host.get(name)
    current = top.mtu if top is not None and top.mtu else 1500
    described = described or {}
    if mtu == current and policy == "refuse":
        return [], [], []   # refused only when the task changes the MTU; an unchanged one is no news
    raising = mtu >= current   # unchanged: a path left below it (by an older change) is raised to it
    before, after, problems, lower, seen = [], [], [], [], {name}

    def visit(dev_name, above, by_kernel):
        dev = host.get(dev_name)
        if dev is None or dev_name in seen:
            return
        seen.add(dev_name)
        have = dev.mtu or 1500
        if dev_name in described:
            entry, given = described[dev_name]
            if raising and given < mtu:
                problems.append(f"mtu: {name} gets {mtu}, but {entry} gives {dev_name} on its path mtu {given}; "
                                f"frames larger than {given} would not leave. Give {dev_name} {mtu} or more, or "
                                f"{name} at most {given}")
            return
        if raising:
            if have >= mtu:
                return
            if not by_kernel:   # a bond's slave is raised with the bond, never alone
                lower.append(f"{dev_name} ({have})")
                problem = limit_problem(host, dev_name, mtu, f", which {name} at {mtu} needs on its path")
                if problem:
                    problems.append(problem)
            for below in lower_devices_of(host, dev, guests):
                visit(below, dev_name, isinstance(dev, Bond))
            if not by_kernel:
                before.append(Operation.setting(dev_name, "mtu", mtu, have))
            return
        if have <= mtu or by_kernel or dev.ip.addresses:
            return
        if any(user is not None and (user.mtu or 0) > mtu for user in _users(host, dev, above)):
            return
        after.append(Operation.setting(dev_name, "mtu", mtu, have))
        for below in lower_devices_of(host, dev, guests):
            visit(below, dev_name, isinstance(dev, Bond))

    for below in lower_devices_of(host, top, guests) if top is not None else []:
        visit(below, name, isinstance(top, Bond))
    if problems:
        return [], [], problems
    if policy == "refuse":
        one = len(lower) == 1
        refused = [f"port_mtu: refuse: {name} gets mtu {mtu}, but on its path {', '.join(lower)} {'has' if one else 'have'} "
                   f"less; raise {'it' if one else 'them'} first, or set port_mtu: follow"] if raising and lower else []
        return [], [], refused
    return before, after, []
