# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The way back: one plan from the host as it is now to a checkpoint's snapshot.

No rollback-only rules: the plan is made of the core's own planners, so it is
checked, predicted, applied, verified and undone like any task's change.

0. Static routes the snapshot does not have where they are now go first
   (`_stray_routes`): then no route the rollback adds meets one with its
   destination, table and metric on another device, and none is lost
   unseen with a device that goes.
1. Bridges, bonds and VLANs the snapshot does not have are deleted, VLANs
   first (and any VLAN riding on a device being deleted, which the kernel
   would take with it; the snapshot's own VLANs come back in step 2).
   Except guest plumbing made during the window, which stays (`_kept`).
2. Every bridge, bond, VLAN and NIC of the snapshot is planned back with
   plan_host (ports, options, MTU, admin state, addresses, default and static
   routes).
   A bond is held to the options its mode uses (the snapshot has the value
   the kernel reports for every option in every mode); a bond going back to
   another mode first gets back the options only its current mode uses
   (plan_bond.plan_mode_leftovers), while that mode still takes them.
3. Default routes the snapshot did not have are deleted.
4. Guest ports go back to the bridge the snapshot found them on (with their
   VLANs on a vlan-aware bridge). A guest port that had no bridge is left
   where it is, and so is one the hypervisor re-plugged, onto its firewall
   bridge or off one it removed: a rollback never detaches a guest.

Only what the change built goes. A guest that starts during the window is no
change of ours, yet its devices are not in the snapshot either: Proxmox VE's
firewall bridge fwbr<vmid>i<n>, its VLAN bridge <bridge>v<tag> with the VLAN
uplink it made for it, a libvirt network's virbr<n>, or any new bridge a
guest port joined since the checkpoint. Deleting one of them detaches the
guest. They stay, and the plan's `left` says which and why (the rollback's
report, last.json and the module result carry it). Guest ports themselves
(taps, veths, macvtaps) are never deleted: only bridges, bonds and VLANs are.
Nor is guest plumbing re-created: a firewall bridge its hypervisor removed
during the window (with its veth pair) stays gone (`_removed_plumbing`).

MACs are left to the kernel (a bridge or bond takes its first port's), so a
bridge re-created with the same ports gets the same MAC, as a boot would.
"""
from __future__ import annotations

import ipaddress

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, Vlan, firewall_link, firewall_peer, firewalled_guest, hypervisor_bridge,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_DEL, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import (
    Plan, plan_delete, port_options_of, port_settings, vlan_users,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bond import plan_mode_leftovers
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import plan_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_port_vlans import plan_port_vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import reachable
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_routes import route_delete
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import converge

BUILT = (Bridge, Bond, Vlan)


def in_scope(snapshot: HostNetwork, current: HostNetwork, devices=None) -> set:
    """Names a rollback may touch: everything, or `devices` and what they stand on in the snapshot.

    A named bridge or bond brings its ports, a named VLAN its parent (as in
    net_persist), so that restoring a bridge never releases a port that was
    simply not named. Guest memberships are always restored (_guest_ops).
    """
    names = set(snapshot.devices) | set(current.devices)
    if devices is None:
        return names
    wanted, todo = set(), list(devices)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        dev = snapshot.get(name)
        if isinstance(dev, (Bridge, Bond)):
            todo += [p.name for p in snapshot.ports_of(name)]
        if isinstance(dev, Vlan) and dev.parent:
            todo.append(dev.parent)
    return names & wanted


def _removed_plumbing(current: HostNetwork, snapshot: HostNetwork) -> dict:
    """Firewall bridges of the snapshot that their hypervisor removed during the window: {bridge: guest port}.

    Proxmox VE deletes a guest NIC's fwbr with its fwln/fwpr veth pair when
    the VM stops or its firewall is turned off (and then plugs the tap
    straight into its bridge). netsafe never deletes a veth, so the link gone
    with the bridge proves who did it; re-creating guest plumbing is never a
    rollback's job (an empty fwbr, or worse, the guest moved onto it, cut
    off). A firewall bridge whose link is still there was deleted by someone
    else (the change) and comes back like any bridge.
    """
    removed = {}
    for name, dev in snapshot.devices.items():
        if isinstance(dev, Bridge) and name not in current.devices and current.get(firewall_link(name) or "") is None:
            guest = firewalled_guest(snapshot, name)
            if guest:
                removed[name] = guest
    return removed


def _desired(snapshot: HostNetwork, names: set, guests: GuestMatcher, current: HostNetwork) -> HostNetwork:
    desired = HostNetwork()
    for name in names:
        dev = snapshot.get(name)
        if dev is None or guests.is_guest_device(dev):
            continue
        dev = dev.clone()
        dev.mac = None
        if dev.lower is None and current.get(name) is not None:
            dev.lower = current.get(name).lower   # a record from before `lower` was kept: the kernel knows it
        desired.add(dev.in_its_mode() if isinstance(dev, Bond) else dev)
    return desired


class RollbackPlan(Plan):
    """A Plan plus what it leaves in place on purpose: [{device, reason}], also one warning each.

    A way back is never refused for a route it loses (plan_routes.keep_routes):
    a route the snapshot does not have goes with what the change built, and
    one netsafe does not manage (a daemon's) that a rollback's step drops is
    named in the warnings.
    """

    refuses_lost_routes = False

    def __init__(self, operations, warnings, left):
        super().__init__(operations, list(warnings) + [left_warning(item) for item in left])
        self.left = left


def left_warning(item: dict) -> str:
    """The warning of one `left` entry (RollbackPlan)."""
    return f"{item['device']} left in place: {item['reason']}"


def warnings_beyond_left(warnings, left) -> list:
    """A rollback's warnings but those that only repeat its `left` entries (which its record carries apart)."""
    repeated = {left_warning(item) for item in left}
    return [w for w in warnings if w not in repeated]


def _plural(names: list, one: str) -> str:
    return f"{one}{'s' if len(names) > 1 else ''} {', '.join(names)}"


def _made_elsewhere(port, snapshot: HostNetwork, guests: GuestMatcher):
    """'guest' for a guest port that joined since the checkpoint, 'other' for a new device of a kind netsafe
    never creates (tun/tap, veth, macvlan, vxlan...: only bridges, bonds and VLANs are ours); else None."""
    was = snapshot.get(port.name)
    if guests.is_guest_device(port) and (was is None or not was.master):
        return "guest"
    if was is None and not isinstance(port, BUILT):
        return "other"
    return None


def _keep_reason(current: HostNetwork, snapshot: HostNetwork, guests: GuestMatcher, dev):
    """Why a new bridge, bond or VLAN stays, or None: it carries what the change cannot have made.

    Its name alone never keeps it (a change may build a bridge called
    virbr7); hypervisor_bridge only says what a kept one is.
    """
    made = [(p, _made_elsewhere(p, snapshot, guests)) for p in current.ports_of(dev.name)]
    joined = [p.name for p, by in made if by == "guest"]
    others = [p for p, by in made if by == "other"]
    if not joined and not others:
        return None
    what = hypervisor_bridge(current, dev)
    reasons = [what] if what else []
    if joined:
        reasons.append(_plural(joined, "carries guest port") + ("" if what else ", which joined it since the checkpoint"))
    if others:
        made = ", ".join(f"{p.name} ({getattr(p, 'kind', '') or p.TYPE})" for p in others)
        reasons.append(f"carries {made}, made since the checkpoint: netsafe never creates such devices")
    return "; ".join(reasons)


def _kept(current: HostNetwork, snapshot: HostNetwork, guests: GuestMatcher) -> dict:
    """New bridges, bonds and VLANs a rollback must leave, each with why: plumbing of others (module docstring).

    One that carries what the change cannot have made (_keep_reason); then,
    until nothing changes, a new port of a kept bridge (its uplink) and a new
    device a kept VLAN rides on (the kernel deletes a VLAN with its parent).
    """
    new = {n: d for n, d in current.devices.items() if isinstance(d, BUILT) and n not in snapshot.devices}
    kept = {}
    for name, dev in new.items():
        reason = _keep_reason(current, snapshot, guests, dev)
        if reason:
            kept[name] = reason
    grew = True
    while grew:
        grew = False
        for name, dev in sorted(new.items()):
            riders = [v for v in vlan_users(current, name) if v in kept]
            reason = f"a port of {dev.master}, which stays" if dev.master in kept else (
                f"carries {_plural(riders, 'VLAN')}, which stays (the kernel deletes a VLAN with its parent)"
                if riders else None)
            if name not in kept and reason:
                kept[name], grew = reason, True
    return kept


def _host_addresses(snapshot: HostNetwork, names: set) -> tuple:
    """What the host had on devices in `names`: ({ip: device} of its addresses, {ip: device} of its gateways,
    [(network, device)]).

    Link-local networks are left out of the last: every link has fe80::/64
    and one on another link takes no route from the host.
    """
    addresses, gateways, networks = {}, {}, []
    for dev in snapshot.devices.values():
        if dev.name not in names:
            continue
        for address in dev.ip.addresses or []:
            iface = ipaddress.ip_interface(address)
            addresses[iface.ip] = dev.name
            if not iface.ip.is_link_local:
                networks.append((iface.network, dev.name))
        for family in (4, 6):
            gateway = getattr(dev.ip, f"gateway{family}")
            if gateway:
                gateways.setdefault(ipaddress.ip_address(gateway), dev.name)
    return addresses, gateways, networks


def _claim(address: str, host: tuple):
    """Why `address` on a kept device belongs to the snapshot's host (taken back), or None (it stays).

    `host` is _host_addresses(). Its IP is the snapshot's; or its subnet is
    one of the snapshot's or wider; or its subnet holds an address or
    gateway of the host: then its connected route competes with the host's
    own for them (the first made wins, so the host could no longer reach its
    gateway). A subnet of its own stays, even one inside a wider host subnet
    (a libvirt network's 10.20.122.0/24 in a host's 10.20.0.0/16): it holds
    nothing of the host's, and its guests need their gateway.
    """
    addresses, gateways, networks = host
    iface = ipaddress.ip_interface(address)
    if iface.ip in addresses:
        return f"the snapshot's, on {addresses[iface.ip]}"
    for network, owner in networks:
        if network.version == iface.version and network.subnet_of(iface.network):
            relation = "in" if network == iface.network else "wider than"
            return f"{relation} the snapshot's subnet {network} of {owner}"
    held = [(ip, f"the snapshot address on {dev}") for ip, dev in addresses.items()]
    held += [(ip, f"the gateway of {dev}") for ip, dev in gateways.items()]
    for ip, what in held:
        if ip.version == iface.version and not ip.is_link_local and ip in iface.network:
            return f"its subnet {iface.network} holds {ip}, {what}"
    return None


def _give_back(host: HostNetwork, snapshot: HostNetwork, names: set, kept: dict, guests: GuestMatcher) -> tuple:
    """What kept devices hold of the snapshot's, taken back: (operations, {device: [what, ...]}).

    A kept device keeps only its own guest plumbing. Default routes through
    it go (the snapshot has none: the device is new), and its static routes
    that are the host's (_route_claim), then every address in
    the host's own subnets (_claim; the snapshot's are re-added where the
    snapshot had them), then every snapshot device that is a port of it
    (guests aside: _guest_ops), released for plan_host to put back on its
    snapshot master. Routes first and ports last, so the undo, newest first,
    finds each gateway reachable. The model's other routes are the connected
    ones, which go with their addresses.
    """
    own = _host_addresses(snapshot, names)
    snapshot_routes = {r.key(): d.name for d in snapshot.devices.values() if d.name in names for r in d.ip.routes or []}
    gateway_owner = {f: d.name for d in snapshot.devices.values() for f in (4, 6) if getattr(d.ip, f"gateway{f}")}
    ops, taken = [], {}
    for name in sorted(kept):
        dev, what = host.get(name), []
        for family in (4, 6):
            gateway = getattr(dev.ip, f"gateway{family}")
            if gateway and (name in names or gateway_owner.get(family) in names):
                ops.append(Operation.gateway_removal(name, family, gateway))
                what.append(f"default route via {gateway}")
        for route in dev.ip.routes or []:
            why = _route_claim(route, own, snapshot_routes)
            if why:
                ops.append(route_delete(name, route))
                what.append(f"route {route.text(name)} ({why})")
        for address in dev.ip.addresses or []:
            claim = _claim(address, own)
            if claim:
                ops.append(Operation.address(ADDR_DEL, name, address))
                what.append(f"address {address} ({claim})")
        for port in host.ports_of(name):
            was = snapshot.get(port.name)
            if was is not None and port.name in names and not guests.is_guest_device(was):
                ops.append(Operation.setting(port.name, "master", None, name))
                what.append(f"port {port.name} (back to {was.master})" if was.master else
                            f"port {port.name} (it had no master)")
        if what:
            taken[name] = what
    return ops, taken


def _route_claim(route, host: tuple, snapshot_routes: dict):
    """Why a static route on a kept device belongs to the snapshot's host (taken back), or None (it stays): the
    snapshot has its destination, table and metric on one of its devices, or its gateway lies in one of the host's
    subnets (the host's own way there). `snapshot_routes`: {route key: device}."""
    if route.key() in snapshot_routes:
        return f"the snapshot has it on {snapshot_routes[route.key()]}"
    if route.via is not None:
        gateway = ipaddress.ip_address(route.via)
        for network, owner in host[2]:
            if network.version == gateway.version and gateway in network:
                return f"its gateway is in the snapshot's subnet {network} of {owner}"
    return None


def _unrestorable_routes(desired: HostNetwork, current: HostNetwork) -> list:
    """Take out of `desired` the snapshot's routes the kernel would refuse to add again, and say which.

    The kernel keeps a route whose gateway an address change left out of
    reach, but refuses to add one. A snapshot may hold such a route; when
    the change deleted it (with its device, say), the rest of the way back
    must not be refused for it (plan_routes checks every route it adds): it
    is left out, and named. One the kernel still holds stays as it is.
    """
    lost = []
    for dev in desired.devices.values():
        now = current.get(dev.name)
        held = {r.key(): r for r in (now.ip.routes or [])} if now is not None else {}
        keep = []
        for route in dev.ip.routes or []:
            if reachable(route, dev.ip.addresses) or (route.key() in held and held[route.key()].satisfies(route)):
                keep.append(route)
            else:
                lost.append(f"{dev.name}: route '{route.text(dev.name)}' of the snapshot is not restored: its gateway "
                            f"is outside every address {dev.name} had, and the kernel refuses to add such a route")
        if dev.ip.routes is not None:
            dev.ip.routes = keep
    return lost


def _stray_routes(current: HostNetwork, snapshot: HostNetwork, names: set, kept: dict) -> list:
    """Deletes of the static routes on devices in scope that the snapshot does not have on that device.

    First in a rollback: a route the change moved to another device is off
    it before the snapshot's device gets it back (the kernel holds one route
    per destination, table and metric), and a route on a device the change
    built goes by name, before its device. A route the snapshot has on the
    same device but with another gateway is plan_host's to change in place.
    A snapshot that does not know routes (taken before netsafe read them)
    leaves them alone. Kept devices are _give_back's.
    """
    ops = []
    for dev in sorted(current.devices.values(), key=lambda d: d.name):
        if dev.name not in names or dev.name in kept or not dev.ip.routes:
            continue
        was = snapshot.get(dev.name)
        if was is not None and was.ip.routes is None:
            continue
        have = {r.key() for r in was.ip.routes} if was is not None else set()
        ops += [route_delete(dev.name, r) for r in dev.ip.routes if r.key() not in have]
    return ops


def _deletions(current: HostNetwork, snapshot: HostNetwork, names: set, kept: dict) -> list:
    """Delete what the change built: riders first, then bridges (they may hold bonds), then bonds."""
    new = [d for d in current.devices.values() if isinstance(d, BUILT) and d.name in names
           and d.name not in snapshot.devices and d.name not in kept]
    doomed = {d.name for d in new}
    riders = sorted(d.name for d in current.devices.values()
                    if isinstance(d, Vlan) and d.parent in doomed and d.name not in doomed)
    order = riders + sorted(d.name for d in new if isinstance(d, Vlan)) + \
        sorted(d.name for d in new if isinstance(d, Bridge)) + sorted(d.name for d in new if isinstance(d, Bond))
    ops, future = [], current
    for name in order:
        if future.get(name) is None:
            continue
        op = plan_delete(future, name)
        ops.append(op)
        future = Plan([op]).predict(future)
    return ops


def _extra_routes(host: HostNetwork, snapshot: HostNetwork, names: set) -> list:
    ops = []
    for family in (4, 6):
        key = f"gateway{family}"
        wanted = any(getattr(d.ip, key) for d in snapshot.devices.values())
        for dev in sorted(host.devices.values(), key=lambda d: d.name):
            gateway = getattr(dev.ip, key)
            if gateway and not wanted and dev.name in names:
                ops.append(Operation.gateway_removal(dev.name, family, gateway))
    return ops


def _guest_ops(host: HostNetwork, snapshot: HostNetwork, guests: GuestMatcher, kept: dict, removed: dict,
               left: list, taken: dict) -> list:
    """Guest ports back on their snapshot bridges.

    One the hypervisor re-plugged is left where it is, and added to `left`:
    onto its own firewall bridge (a VM restarted with the firewall on:
    firewalled_guest tells it by structure, never by the bridge's name), or
    off a firewall bridge it removed (`removed`: the firewall turned off).
    The latter, if the rollback leaves it on no bridge (it was re-plugged
    onto a bridge the change built, which goes), joins the bridge its
    firewall bridge was linked to (where the snapshot has fwpr): a rollback
    never detaches a guest. One the change moved goes back, even from a
    bridge that stays because a new guest joined it (added to what was taken
    back from that bridge, `taken`), whatever that bridge is named.
    """
    ops = []
    for was in sorted(snapshot.devices.values(), key=lambda d: d.name):
        now = host.get(was.name)
        if now is None or not guests.is_guest_device(was) or not was.master:
            continue
        if was.master in removed:
            upstream = getattr(snapshot.get(firewall_peer(was.master) or ""), "master", None)
            if now.master is None and host.get(upstream or "") is not None:
                ops.append(Operation.setting(was.name, "master", upstream, None))
                if was.up and not now.up:
                    ops.append(Operation.setting(was.name, "up", True, False))
                where = f"on {upstream}, where its firewall bridge was linked"
            else:
                where = f"on {now.master or 'no bridge'}, where its hypervisor put it"
            left.append({"device": was.name, "reason": f"{where}: its firewall bridge {was.master} was removed "
                                                       f"since the checkpoint (not re-created)"})
            continue
        bridge = host.get(was.master)
        if bridge is None:
            continue
        if now.master in kept and firewalled_guest(host, now.master) == was.name:
            left.append({"device": was.name, "reason": f"on {now.master} since the checkpoint, which stays (guest "
                                                       f"plumbing); not moved back to {was.master}"})
            continue
        if now.master != was.master:
            ops.append(Operation.setting(was.name, "master", was.master, now.master))
            if now.master in kept:
                taken.setdefault(now.master, []).append(f"guest port {was.name} (back to {was.master})")
        ops += port_settings(was.name, now if now.master == was.master else None, port_options_of(was))
        if isinstance(bridge, Bridge) and bridge.vlan_filtering and was.vlans is not None:
            have = now.vlans if now.master == was.master else None
            ops += plan_port_vlans(was.name, have, was.vlans, self_entry=False)
        if was.up and not now.up:
            ops.append(Operation.setting(was.name, "up", True, False))
    return ops


def _stacked_guests_mtu(host: HostNetwork, snapshot: HostNetwork, guests: GuestMatcher) -> list:
    """A guest's macvtap or macvlan (libvirt `type='direct'`) lowered by the kernel with its lower device, which
    the rollback raised again (plan_host): its MTU back, after its lower device's. Guests are no device plan_host
    restores; their taps keep the MTU their hypervisor gives them, but nothing else gives a macvtap its MTU back."""
    ops = []
    for was in sorted(snapshot.devices.values(), key=lambda d: d.name):
        now = host.get(was.name)
        lower = host.get(now.lower or "") if now is not None else None
        if (now is None or lower is None or not guests.is_guest_device(was) or not was.mtu or now.mtu is None
                or now.mtu >= was.mtu or (lower.mtu or 0) < was.mtu):
            continue
        ops.append(Operation.setting(was.name, "mtu", was.mtu, now.mtu))
    return ops


def _left(kept: dict, taken: dict, names: set, removed: dict) -> list:
    """The report's entry of each kept device (why it stays, what was taken back from it) and of each
    firewall bridge not re-created (_removed_plumbing)."""
    left = [{"device": name, "reason": f"Proxmox VE's firewall bridge of {guest}, removed since the checkpoint with "
                                       f"its firewall link {firewall_link(name)} (by its hypervisor): not re-created"}
            for name, guest in sorted(removed.items()) if name in names]
    for name in sorted(kept):
        if name not in names and name not in taken:
            continue
        item = {"device": name, "reason": kept[name]}
        if taken.get(name):
            item["reason"] += "; taken back from it: " + ", ".join(taken[name])
            item["taken_back"] = taken[name]
        left.append(item)
    return left


def _vlan_tables_back(current: HostNetwork, snapshot: HostNetwork, names: set) -> list:
    """A bridge that goes back to no VLAN filtering: its own and its ports' VLAN tables back to the kernel's default
    first (VLAN 1, pvid, untagged), while the bridge still filters.

    The kernel keeps a port's VLAN table whether or not its bridge filters,
    and the model reads none of a bridge that does not filter: a snapshot has
    nothing to restore them from, and turning filtering off leaves the
    change's VLANs behind. Found by the kill sweep of net_state making a
    bridge vlan-aware (tests/state/test_state_lane.py).
    """
    ops = []
    for name in sorted(names):
        was, now = snapshot.get(name), current.get(name)
        if not (isinstance(was, Bridge) and not was.vlan_filtering and isinstance(now, Bridge) and now.vlan_filtering):
            continue
        for member in [now] + current.ports_of(name):
            if member.vlans is not None and member.vlans != vlans.default_membership():
                ops += plan_port_vlans(member.name, member.vlans, vlans.default_membership(), self_entry=member is now)
    return ops


def plan_rollback(current: HostNetwork, snapshot: HostNetwork, guests: GuestMatcher, devices=None) -> RollbackPlan:
    """One plan from `current` to `snapshot` (steps in the module docstring), with what it leaves and why."""
    names = in_scope(snapshot, current, devices)
    kept = _kept(current, snapshot, guests)
    removed = _removed_plumbing(current, snapshot)
    operations = _stray_routes(current, snapshot, names, kept)
    operations += _deletions(Plan(operations).predict(current), snapshot, names, kept)
    for bond in sorted(d.name for d in snapshot.devices.values() if isinstance(d, Bond) and d.name in names):
        operations += plan_mode_leftovers(Plan(operations).predict(current), snapshot.get(bond)).operations
    future = Plan(operations).predict(current)
    tables = _vlan_tables_back(future, snapshot, names)
    operations += tables
    future = Plan(tables).predict(future)
    given, taken = _give_back(future, snapshot, names, kept, guests)
    operations += given
    future = Plan(given).predict(future)
    desired = _desired(snapshot, names - set(removed), guests, future)
    lost = _unrestorable_routes(desired, future)
    rebuilt = plan_host(future, desired, guests)
    rebuilt.warnings += lost
    operations += rebuilt.operations
    future = rebuilt.predict(future)
    routes = _extra_routes(future, snapshot, names)
    operations += routes
    future = Plan(routes).predict(future)
    left: list = []
    operations += _stacked_guests_mtu(future, snapshot, guests)
    operations += _guest_ops(future, snapshot, guests, kept, removed, left, taken)
    left += _left(kept, taken, names, removed)
    return RollbackPlan(operations, rebuilt.warnings, sorted(left, key=lambda item: item["device"]))


def roll_back(namespace, snapshot: HostNetwork, guests: GuestMatcher, devices=None, check_mode: bool = False,
              writer: Writer = Writer()) -> dict:
    """Read, plan back to `snapshot`, apply, verify (undone if the kernel does not converge): converge().

    The result's `left`: what the rollback left in place on purpose, each with its reason.
    """

    def view(host: HostNetwork) -> dict:
        """Every device in scope, guests only by their bridge (1,000 full guest entries would drown the rest)."""
        names = sorted(in_scope(snapshot, host, devices) & set(host.devices))
        out = {name: host.devices[name].to_dict() for name in names if not guests.is_guest_device(host.devices[name])}
        out["guest_ports"] = {name: host.devices[name].master for name in names
                              if guests.is_guest_device(host.devices[name])}
        return out

    plans: list = []

    def planner(snap):
        plans.append(plan_rollback(snap.host, snapshot, guests, devices))
        return plans[-1]

    result = converge(namespace, guests, planner, view, check_mode, writer, hold_networkmanager=False)
    result["left"] = plans[0].left   # as planned: the verifying re-plan finds the same
    return result
