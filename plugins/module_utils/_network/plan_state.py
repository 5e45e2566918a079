# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Planning a host's desired network as one change (net_state): many device requests, one plan, one undo.

Each device still goes through its own planner (requests.py); what is new
here is what only the whole request can say:

- the order: a device after those it stands on, a deletion after what stood
  on it and before what takes its parts (_steps);
- take-overs: a bridge or bond may take a port from another master when the
  request describes that master without it, or deletes it (_takeable);
- moves: a device that becomes a port gives its addresses, default routes
  and static routes to its new master, never keeping them (_moves), unless
  the master's own entry says otherwise.

Devices the request does not name are left alone.
"""
from __future__ import annotations

import copy
import ipaddress

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import gateway_on_link
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import ADDR_DEL, LINK_SET, Operation
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan, plan_mtu_ip_state, vlan_users
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_nic import way_out
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_routes import plan_device_routes
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.requests import Request


class RoutesRequest(Request):
    """The static routes of a device no other entry describes (net_state's top-level `routes`): exactly those."""

    KIND = "routes"

    def __init__(self, name: str, routes: list):
        super().__init__({"name": name})
        self.routes = routes

    def plan(self, host, guests, take_over=()) -> Plan:
        current = host.get(self.name)
        if current is None:
            raise ValidationError([f"routes: {self.name!r} does not exist and no entry of this task creates it"])
        return Plan(plan_mtu_ip_state(host, self.name, current, None, IpConfig(routes=self.routes).normalized(), None))

    def view(self, host, guests) -> dict:
        dev = host.get(self.name)
        return {"name": self.name, "present": dev is not None,
                "routes": [route.to_dict() for route in (dev.ip.routes or [] if dev is not None else [])]}


def _where(entries: dict, name: str) -> str:
    return " and ".join(entries[name])


def request_problems(host: HostNetwork, requests: list, places: dict) -> list:
    """What the request contradicts in itself: a device twice, a port of two masters, a deleted device still used."""
    problems = []
    seen: dict = {}
    for place, request in zip(places, requests):
        seen.setdefault(request.name, []).append(place)
    problems += [f"{_where(seen, name)} all describe {name!r}; describe each device once"
                 for name, where in sorted(seen.items()) if len(where) > 1]
    masters: dict = {}
    for place, request in zip(places, requests):
        ports = request.ports or []
        problems += [f"{place + '.' if place else ''}ports: {port!r} is listed twice"
                     for port in sorted({port for port in ports if ports.count(port) > 1})]
        for port in dict.fromkeys(ports):
            masters.setdefault(port, []).append(f"{place} ({request.name})")
    problems += [f"{port!r} is a port in {' and '.join(where)}; a device has one master"
                 for port, where in sorted(masters.items()) if len(where) > 1]
    absent = {r.name: place for place, r in zip(places, requests) if not r.present}
    for place, request in zip(places, requests):
        for used in request.uses() if request.present else []:
            if used in absent:
                problems.append(f"{place} ({request.name}) stands on {used!r}, which {absent[used]} deletes")
    return problems


def _described_without(by_name: dict, master: str, port: str) -> bool:
    """The request deletes `master`, or describes it with a port list that leaves `port` out."""
    request = by_name.get(master)
    if request is None:
        return False
    return not request.present or (request.ports is not None and port not in request.ports)


def _takeable(host: HostNetwork, request: Request, by_name: dict) -> list:
    """Ports of `request` it may take: free ones, and those whose master the request describes without them. A
    guest port is never in a bridge's `ports` (guests stay): describing its bridge does not release it."""
    out = []
    for port in request.ports or []:
        dev = host.get(port)
        master = getattr(dev, "master", None)
        if dev is not None and (master in (None, request.name) or (
                not isinstance(dev, GuestPort) and _described_without(by_name, master, port))):
            out.append(port)
    return out


def _steps(host: HostNetwork, requests: list) -> list:
    """The requests in the order they are planned: deletions as early as they may be, each device after those it
    stands on. A cycle is a ValidationError naming it."""
    by_name = {r.name: r for r in requests}
    after: dict = {r.name: set() for r in requests}   # name -> names that must come before it

    def before(first, then):
        if first in by_name and then in by_name and first != then:
            after[then].add(first)

    for request in requests:
        if request.present:
            for used in request.uses():
                before(used, request.name)
            for port in request.ports or []:
                dev = host.get(port)
                if dev is None:
                    continue
                if dev.master in by_name and not by_name[dev.master].present:
                    before(dev.master, request.name)   # a deleted master frees its ports first
                for vlan in [d for d in host.devices.values() if isinstance(d, Vlan) and d.parent == port]:
                    if vlan.name in by_name and not by_name[vlan.name].present:
                        before(vlan.name, request.name)
            continue
        current = host.get(request.name)
        if current is None:
            continue
        for user in [d for d in host.devices.values() if isinstance(d, Vlan) and d.parent == request.name]:
            before(user.name, request.name)   # re-made elsewhere, or deleted, before its parent goes
        if current.master in by_name and not by_name[current.master].present:
            before(current.master, request.name)
    order, done = [], set()
    while len(order) < len(requests):
        ready = [r for r in requests if r.name not in done and after[r.name] <= done]
        if not ready:
            left = sorted(r.name for r in requests if r.name not in done)
            raise ValidationError([f"devices {', '.join(left)} wait for each other; no order can make them. "
                                   f"Split the change into two tasks"])
        step = min(ready, key=lambda r: (r.present, r.name))
        order.append(step)
        done.add(step.name)
    return order


def _strip(host: HostNetwork, name: str, moving: list) -> list:
    """Take `name`'s default routes, the static routes in `moving` and its addresses off it (a device becoming a
    port). A static route that does not move is left for keep_routes to refuse by name: the kernel drops it with
    the last address, and nothing in the request carries it."""
    dev = host.get(name)
    ops = [Operation.gateway_removal(name, family, gateway)
           for family, gateway in ((4, dev.ip.gateway4), (6, dev.ip.gateway6)) if gateway]
    staying = [r for r in dev.ip.routes or [] if r.key() not in {m.key() for m in moving}]
    changes, deletes = plan_device_routes(host, name, dev, staying, dev.ip.addresses or [], dev.up)
    return ops + changes + deletes + [Operation.address(ADDR_DEL, name, a) for a in dev.ip.addresses or []]


def _given_ip(request: Request) -> list:
    """The IP options an entry gives a device (what a port cannot carry): addresses, gateways, static routes."""
    ip = IpConfig(routes=request.routes) if isinstance(request, RoutesRequest) else request.ip
    return [key for key, value in (("addresses", ip.addresses), ("gateway4", ip.gateway4), ("gateway6", ip.gateway6),
                                   ("routes", ip.routes)) if value]


def _label(request: Request) -> str:
    return "routes" if isinstance(request, RoutesRequest) else f"{request.KIND}s"


def _unique(items) -> list:
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _gateway_conflicts(request: Request, have: IpConfig, movers: list) -> list:
    """Default routes of one family that new ports (and the master itself) would bring to `request` from different
    gateways: only one can stay, and which one is the task's to say."""
    problems = []
    for family in (4, 6):
        key = f"gateway{family}"
        if getattr(request.device.ip, key) is not None:
            continue
        found: dict = {}
        for name, gateway in [(request.name, getattr(have, key))] + [(dev.name, getattr(dev.ip, key)) for dev in movers]:
            if gateway:
                found.setdefault(gateway, []).append(name)
        if len(found) > 1:
            routes = " and ".join(f"{gateway} ({', '.join(names)})" for gateway, names in found.items())
            problems.append(f"{_label(request)} ({request.name}): {key}: the default routes via {routes} would all "
                            f"end on {request.name}, which keeps one; give {key} on {request.name}")
    return problems


def _moves(host: HostNetwork, request: Request, by_name: dict) -> tuple:
    """(ops taking the IP configuration off `request`'s new ports, the request with it moved on, warnings).

    What the master's entry gives wins; what it leaves out (None) comes from
    the ports: their addresses join the master's, their default route and
    static routes move with them. A default route that cannot follow (the
    master's addresses do not reach its gateway) is refused by name.
    """
    if not request.present or request.ports is None:
        return [], request, []
    joining = [host.get(p) for p in dict.fromkeys(request.ports)
               if p != request.name and host.get(p) is not None and host.get(p).master != request.name]
    # A port's own entry giving it IP configuration would be planned onto the port, then moved off it (or, for a
    # port without addresses, refused only by the verification once the change is made): refused here.
    problems = [f"{_label(by_name[dev.name])} ({dev.name}): {', '.join(_given_ip(by_name[dev.name]))}: a port of "
                f"{request.name} carries none (its addresses, default routes and static routes move to {request.name}); "
                f"remove them from {dev.name}'s entry, or give them to {request.name}"
                for dev in joining if dev.name in by_name and _given_ip(by_name[dev.name])]
    movers = [dev for dev in joining if dev.ip.addresses or dev.ip.gateway4 or dev.ip.gateway6 or dev.ip.routes]
    current = host.get(request.name)
    have = current.ip if current is not None else IpConfig(addresses=[], routes=[])
    problems += _gateway_conflicts(request, have, movers) if movers else []
    if problems:
        raise ValidationError(problems)
    if not movers:
        return [], request, []
    given = request.device.ip
    ip = IpConfig(addresses=given.addresses, gateway4=given.gateway4, gateway6=given.gateway6, routes=given.routes)
    ops, warnings = [], []
    for dev in movers:
        given_keys = {r.normalized().key() for r in given.routes or []}
        moving = list(dev.ip.routes or []) if given.routes is None else [
            r for r in dev.ip.routes or [] if r.key() in given_keys]
        ops += _strip(host, dev.name, moving)
        theirs = list(dev.ip.addresses or [])
        if given.addresses is None:
            ip.addresses = _unique(list(ip.addresses if ip.addresses is not None else have.addresses or []) + theirs)
        else:
            dropped = [a for a in theirs if a not in given.addresses]
            warnings += [f"{dev.name}: addresses {', '.join(dropped)} are removed (it becomes a port of "
                         f"{request.name}, whose addresses the task gives)"] if dropped else []
        for family in (4, 6):
            key = f"gateway{family}"
            if getattr(dev.ip, key) and getattr(given, key) is None:
                setattr(ip, key, getattr(dev.ip, key))
        if dev.ip.routes and given.routes is None:
            ip.routes = _unique(list(ip.routes if ip.routes is not None else have.routes or []) + list(dev.ip.routes))
        warnings.append(f"{dev.name} becomes a port of {request.name}: its addresses, default routes and static "
                        f"routes move to {request.name}")
    addresses = ip.addresses if ip.addresses is not None else have.addresses or []
    for family in (4, 6):
        gateway = getattr(ip, f"gateway{family}")
        if gateway and getattr(given, f"gateway{family}") is None and not gateway_on_link(ipaddress.ip_address(gateway), addresses):
            raise ValidationError([f"{request.KIND}s ({request.name}): the default route via {gateway} moves to "
                                   f"{request.name} from its new port, but {request.name}'s addresses "
                                   f"({', '.join(addresses) or 'none'}) do not reach it; give gateway{family} on "
                                   f"{request.name}, or an address in the gateway's subnet"])
    moved = copy.copy(request)
    moved.device = copy.deepcopy(request.device)
    moved.device.ip = ip
    return ops, moved, warnings


def _vlans_kept_up(host: HostNetwork, plan: Plan) -> Plan:
    """`plan` with the up VLANs on each device it takes down (a NIC a new bond takes) loosely bound meanwhile.

    The kernel takes a VLAN down with its parent, which deletes the routes
    through it; bringing the parent back up (the undo) does not give them
    back. Found by the failpoint sweep of VLANs re-parented onto a bond made
    in the same task: a VLAN still on the NIC the bond enslaves lost its
    default route at every undo after the NIC went down.
    """
    downs = [op.device for op in plan.operations if op.action == LINK_SET and op.params.get("up") is False]
    bound = {op.device for op in plan.operations if op.action == LINK_SET and "loose_binding" in op.params}
    riders = [vlan for down in dict.fromkeys(downs) for vlan in vlan_users(host, down)
              if vlan not in bound and host.get(vlan).up and not host.get(vlan).loose_binding]
    if not riders:
        return plan
    return Plan([Operation.setting(vlan, "loose_binding", True, False) for vlan in riders] + plan.operations
                + [Operation.setting(vlan, "loose_binding", False, True) for vlan in riders], plan.warnings)


def _release_for_deletion(host: HostNetwork, request: Request, by_name: dict) -> list:
    """A device to delete that a described master lets go of: released first (deletable refuses a port)."""
    current = host.get(request.name)
    if current is None or not current.master or not _described_without(by_name, current.master, request.name):
        return []
    return [Operation.setting(request.name, "master", None, current.master)]


def _make_before_break(host: HostNetwork, request: Request, by_name: dict, pending: list) -> tuple:
    """(the bond to plan now, or None) for a new or changed bond that takes live ports from a master planned later.

    vmbr0 on eno1 -> bond0 [eno1, eno2] under vmbr0: made as bond0 of eno1
    alone, then vmbr0 moved onto it, is a cut between eno1 leaving vmbr0 and
    bond0 carrying traffic (enslaving, the bond coming up, its carrier). Made
    before it breaks anything: bond0 of its free ports first (eno2), vmbr0
    moved from eno1 onto the bond that already forwards, eno1 added to bond0
    last. The request comes back whole after the last of those masters
    (plan_state re-queues it); None when there is nothing to gain (no free
    port, or no live port held by a master still to come).
    """
    if request.KIND != "bond" or not request.present or not request.ports:
        return None
    later = {r.name for r in pending}
    held = [p for p in request.ports if getattr(host.get(p), "master", None) in later
            and by_name[host.get(p).master].present]
    free = [p for p in request.ports if p not in held]
    if not held or not free:
        return None
    first = copy.copy(request)
    first.ports = free
    first.device = copy.deepcopy(request.device)
    if first.device.primary is not None and first.device.primary not in free:
        first.device.primary = None
    return first, max(pending.index(by_name[host.get(p).master]) for p in held)


def _bridge_mtus_first(host: HostNetwork, requests: list) -> list:
    """The MTU of each existing bridge the task raises, set before the entries that give devices on its path an
    MTU of their own (they are planned first): a bridge nobody set follows its ports (br_mtu_auto_adjust), so its
    own set would then change nothing and a guest port at 1500 joining later would take it back down (review 27b).
    The kernel takes a bridge above its ports. Not with port_mtu: refuse, which judges the bridge against its ports."""
    if not any(r.present and r.KIND != "bridge" and r.device is not None and r.device.mtu for r in requests):
        return []
    ops = []
    for request in requests:
        current = host.get(request.name)
        mtu = request.device.mtu if request.present and request.device is not None else None
        if (request.KIND == "bridge" and isinstance(current, Bridge) and mtu and mtu > (current.mtu or 1500)
                and request.params.get("port_mtu") != "refuse"):
            ops.append(Operation.setting(request.name, "mtu", mtu, current.mtu or 1500))
    return ops


def plan_state(host: HostNetwork, requests: list, places: list, guests: GuestMatcher) -> Plan:
    """One plan that makes every device of `requests` what it asks for; `places` name each request in errors
    (`bridges[0]`; None for a per-device module's one request, whose options are named alone). Every problem found
    is reported, and a request with any problem changes nothing."""
    problems = request_problems(host, requests, places)
    if problems:
        raise ValidationError(problems)
    by_name = {r.name: r for r in requests}
    place_of = {r.name: place for place, r in zip(places, requests)}
    described = {r.name: (f"{place} ({r.name})" if place else r.name, r.device.mtu) for place, r in zip(places, requests)
                 if r.present and r.device is not None and r.device.mtu is not None}
    for request in requests:   # an MTU another entry gives a device wins over the path following its bridge
        request.described_mtus = {name: entry for name, entry in described.items() if name != request.name}
    operations, warnings = _bridge_mtus_first(host, requests), []
    future = Plan(operations).predict(host)
    pending = _steps(host, requests)
    while pending:
        request = pending.pop(0)
        early = _make_before_break(future, request, by_name, pending)
        if early is not None:
            request, after = early
            pending.insert(after + 1, by_name[request.name])
        try:
            if request.present:
                moves, request, moved_warnings = _moves(future, request, by_name)
                stripped = Plan(moves).predict(future)
                plan = request.plan(stripped, guests, _takeable(stripped, request, by_name))
                plan = _vlans_kept_up(future, Plan(moves + plan.operations, moved_warnings + plan.warnings))
            else:
                release = _release_for_deletion(future, request, by_name)
                plan = request.plan(Plan(release).predict(future), guests)
                plan = Plan(release + plan.operations, plan.warnings) if plan else plan
        except ValidationError as exc:
            where = place_of[request.name]
            problems += [p if where is None or p.startswith(where.split("[")[0]) else f"{where} ({request.name}): {p}"
                         for p in exc.problems if p not in problems]
            continue
        operations += plan.operations
        warnings += [w for w in plan.warnings if w not in warnings]
        future = plan.predict(future)
    if not problems:
        lost = _default_routes_lost(host, future, guests, requests)
        allowed = any(r.params.get("allow_default_route_loss") for r in requests)
        problems += [] if allowed else lost
        warnings += [f"allow_default_route_loss: {problem.split(': ', 1)[1]}" for problem in lost] if allowed else []
    if problems:
        raise ValidationError(problems)
    return Plan(operations, warnings)


def _default_routes(host: HostNetwork, family: int, guests: GuestMatcher) -> list:
    """(gateway, device) of the host's main-table default routes of `family` that have a way out."""
    return [(getattr(dev.ip, f"gateway{family}"), dev.name) for dev in sorted(host.devices.values(), key=lambda d: d.name)
            if getattr(dev.ip, f"gateway{family}") and way_out(host, dev.name, guests)]


def _default_routes_lost(before: HostNetwork, after: HostNetwork, guests: GuestMatcher, requests: list) -> list:
    """A task that takes down the device holding the host's default route (a bridge, bond or VLAN; a NIC is judged
    by its own entry, with allow_default_route_loss) and leaves no other default route of that family cuts the host
    off: refused, naming the route, as for a NIC. Deleting the device is the task's explicit word and is not
    judged here."""
    problems, named = [], {r.name for r in requests}
    for family in (4, 6):
        if _default_routes(after, family, guests):
            continue
        for gateway, name in _default_routes(before, family, guests):
            gone = after.get(name)
            if gone is not None and not gone.up and name in named:
                problems.append(f"admin_state: taking {name} down removes the host's default route (default via "
                                f"{gateway} dev {name}) and leaves none, which cuts the host off; give gateway{family} "
                                f"to the device that takes over in the same task, keep {name} up, or set "
                                f"allow_default_route_loss: true if the host is reached another way")
    return problems
