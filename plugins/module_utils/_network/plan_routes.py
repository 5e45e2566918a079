# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Planning static routes (kinds/route.py): a device's desired routes, and the routes a plan makes the kernel drop.

plan_device_routes is the routes part of plan.plan_mtu_ip_state. keep_routes
is one pass over any finished plan (runner.py runs it for every module): the
kernel deletes a device's routes by itself when the device goes down, is
deleted or loses its last IPv4 address (kinds/route.py dropped_by), and
neither the forward plan nor its undo would bring them back.
"""
from __future__ import annotations

import copy
import ipaddress


from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import (
    dropped_by, has_ipv4, reachable,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_DEL, LINK_DEL, STATIC_ROUTE_ADD, STATIC_ROUTE_CHANGE, STATIC_ROUTE_DEL, STATIC_ROUTE_VERBS, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import apply_op


def route_add(name: str, route) -> Operation:
    return Operation.static_route(STATIC_ROUTE_ADD, name, route, [Operation.static_route(STATIC_ROUTE_DEL, name, route)])


def route_delete(name: str, route) -> Operation:
    return Operation.static_route(STATIC_ROUTE_DEL, name, route, [Operation.static_route(STATIC_ROUTE_ADD, name, route)])


def route_problems_of(name: str, routes, addresses, up: bool) -> list:
    """Why the kernel could not take desired `routes` ([(position, route)], normalized) on `name` with `addresses`
    and admin state `up`:
    each gateway reachable (inside an address, or onlink), the device up. (A route another device holds is
    keep_routes' to find: the plan may move it.)"""
    problems = []
    for position, route in routes:
        label = f"routes[{position}] ({route.text(name)})"
        if not up:
            problems.append(f"{label}: a route needs {name} up; admin_state is down")
        elif not reachable(route, addresses):
            have = ", ".join(a for a in addresses or [] if (":" in a) == (route.family == 6)) or "none"
            problems.append(f"{label}: via {route.via} is not inside any IPv{route.family} address of {name} ({have}); "
                            f"the kernel could not reach it. Give the address too, or set onlink: true")
    return problems


def _holder(state, other_routes: dict, name: str, route):
    """'ROUTE' (as `ip route` shows it, and why netsafe does not manage it) of the route with `route`'s key that
    the kernel already has when `route` is to be added on `name`; None when there is none."""
    for dev in state.devices.values():
        held = next((r for r in dev.ip.routes or [] if r.key() == route.key()), None)
        if held is not None and dev.name != name:
            return f"'{held.text(dev.name)}'"
    for device, found in other_routes.items():
        for held, why in found:
            if held.key() == route.key() and state.get(device) is not None:
                return f"'{held.text(device)}' ({why}, not managed by netsafe)"
    return None


def plan_device_routes(host, name: str, current, routes, addresses, up) -> tuple:
    """(adds and changes, deletes) that make `name`'s static routes exactly `routes` (normalized; None: left alone).

    Adds and changes go after the device is up and has its new addresses,
    deletes before its old addresses go (plan.plan_mtu_ip_state), so that
    each gateway is reachable both forward and in the undo. A route is
    changed in place (`ip route replace`) when only its gateway, onlink or
    protocol differ; a desired route that names no protocol keeps the one it
    has.
    """
    if routes is None:
        return [], []
    have = {route.key(): route for route in (current.ip.routes or [] if current is not None else [])}
    # Only routes to add or change are judged: one the kernel already holds as wanted stays whatever became of
    # its gateway (a rollback to a snapshot that has such a route must not be refused for it).
    needed = [(i, r) for i, r in enumerate(routes) if have.get(r.key()) is None or not have[r.key()].satisfies(r)]
    problems = route_problems_of(name, needed, addresses, up)
    if problems:
        raise ValidationError([f"{name}: {p}" for p in problems])
    changes, deletes = [], []
    for route in routes:
        old = have.get(route.key())
        if old is None:
            changes.append(route_add(name, route))
        elif not old.satisfies(route):
            new = route if route.proto is not None else type(route)(**dict(route.__dict__, proto=old.proto))
            changes.append(Operation.static_route(STATIC_ROUTE_CHANGE, name, new,
                                                  [Operation.static_route(STATIC_ROUTE_CHANGE, name, old)]))
    wanted = {route.key() for route in routes}
    deletes = [route_delete(name, old) for key, old in have.items() if key not in wanted]
    return changes, deletes


def _sources_lost(state, others_left: dict, op) -> list:
    """Problems for the routes with a source address (kinds/route.py SourcedRoute) that `op` just took from the
    host (`state` is after it): the kernel deletes them with that address. Taken out of `others_left`."""
    if op.action not in (ADDR_DEL, LINK_DEL):
        return []
    held = {ipaddress.ip_interface(a).ip for d in state.devices.values() for a in d.ip.addresses or []}
    problems = []
    for name, found in others_left.items():
        gone = [(r, why) for r, why in found if getattr(r, "src", None) and ipaddress.ip_address(r.src) not in held]
        problems += [(f"{name}: route '{r.text(name)} src {r.src}' ({why}) is not managed by netsafe, and the kernel "
                      f"would delete it with its source address at '{op.command()}'",
                      "Remove the route first, or keep that address") for r, why in gone]
        if gone:
            others_left[name] = [item for item in found if item not in gone]
    return problems


def keep_routes(plan, host, other_routes: dict):
    """`plan` with the routes the kernel would drop on its way kept, or a ValidationError naming them.

    A managed route the kernel drops (its device goes down, is deleted, loses
    its last IPv4 address, or a master's change closes it) that the task did
    not remove gets an explicit delete before the plan's first operation on
    that device (so the undo adds it back once the device is as it was) and
    an add at the end of the plan (so the
    forward plan converges); a change the task planned for it after the drop
    becomes that add. One the end state cannot carry (device gone or down,
    gateway out of reach) is refused, as is any drop of a route netsafe does
    not manage (`other_routes`, read.Snapshot), which nothing could put back;
    a plan whose `refuses_lost_routes` is false lets both go.
    """
    if not plan.operations or not (other_routes or any(d.ip.routes for d in host.devices.values())):
        return plan
    state = host.clone()
    out, problems, pending = [], [], {}
    others_left = {name: list(found) for name, found in other_routes.items()}
    watched = {d.name for d in state.devices.values() if d.ip.routes} | set(others_left)
    first_touch: dict = {}   # device -> where in `out` the first operation on it since its last route operation is
    for op in plan.operations:
        if op.action in STATIC_ROUTE_VERBS:
            key = (op.device, op.route().key())
            if key in pending:
                pending.pop(key)
                if op.action == STATIC_ROUTE_DEL:
                    continue   # dropped already: the delete inserted before the drop does this one's work
                op = route_add(op.device, op.route())
            held = _holder(state, other_routes, op.device, op.route()) if op.action == STATIC_ROUTE_ADD else None
            if held:
                problems.append((f"{op.device}: cannot add route '{op.route().text(op.device)}': the kernel holds "
                                 f"one destination, table and metric once, and has {held}",
                                 "Remove that one first (or take it out of that device's routes in the same change)"))
            apply_op(state, op)
            out.append(op)
            watched.add(op.device)
            first_touch.pop(op.device, None)
            continue
        first_touch.setdefault(op.device, len(out))
        before = {name: (list(dev.ip.routes or []), bool(dev.up), has_ipv4(dev.ip.addresses))
                  for name in watched for dev in (state.get(name),) if dev is not None}
        apply_op(state, op)
        for name, (routes, was_up, had_ipv4) in before.items():
            after = state.get(name)
            if after is None:   # deleted: its undo (plan.rebuild_device) re-adds its routes
                dropped, others = routes, others_left.pop(name, [])
            else:
                dropped = [r for r in routes if r not in (after.ip.routes or [])]
                lost = dropped_by(was_up, bool(after.up), had_ipv4 and not has_ipv4(after.ip.addresses),
                                  [r for r, _why in others_left.get(name, [])])
                others = [(r, why) for r, why in others_left.get(name, []) if r in lost]
                others_left[name] = [item for item in others_left.get(name, []) if item not in others]
            problems += [(f"{name}: route '{r.text(name)}' ({why}) is not managed by netsafe, and the kernel would "
                          f"delete it at '{op.command()}', with nothing to put it back",
                          f"Remove it first, or leave {name} as it is") for r, why in others]
            if dropped and after is not None:
                # Deleted before the first operation on the device, which its undo reaches last: by then the
                # device is as it was (up, its addresses back), so the route can be added again.
                at = first_touch.get(name, len(out))
                out[at:at] = [route_delete(name, r) for r in dropped]
                first_touch = {d: i + len(dropped) if i >= at and d != name else i for d, i in first_touch.items()}
            pending.update({(name, r.key()): (op, r) for r in dropped})
        problems += _sources_lost(state, others_left, op)
        out.append(op)
    for (name, _key), (dropping, route) in sorted(pending.items(), key=lambda item: item[0][0]):
        dev = state.get(name)
        if any(route.key() in {r.key() for r in other.ip.routes or []} for other in state.devices.values()):
            continue   # the task gives it to another device: moved with its addresses
        if dev is None or not dev.up or not reachable(route, dev.ip.addresses):
            why = "is deleted" if dev is None else "is down" if not dev.up else f"no longer reaches {route.via}"
            problems.append((f"{name}: route '{route.text(name)}' would be lost: the kernel deletes it at "
                             f"'{dropping.command()}' and {name} {why} afterwards",
                             "To keep it give it in the routes of the device that takes over, or remove it "
                             "explicitly (routes without it) first"))
            continue
        added = route_add(name, route)
        apply_op(state, added)
        out.append(added)
    for dev in state.devices.values():
        was = host.get(dev.name)
        for route in dev.ip.routes or []:
            if was is not None and route in (was.ip.routes or []) and reachable(route, was.ip.addresses) \
                    and not reachable(route, dev.ip.addresses):
                problems.append((f"{dev.name}: route '{route.text(dev.name)}' would be left with its gateway out of "
                                 f"reach: {dev.name} loses the address whose subnet holds {route.via}",
                                 "Remove the route too, or keep that address"))
    if problems and plan.refuses_lost_routes:
        raise ValidationError([f"{what}. {advice}" for what, advice in problems])
    kept = copy.copy(plan)   # a subclass (a rollback's plan) keeps what else it carries
    kept.operations = out
    kept.warnings = list(plan.warnings) + [what for what, _advice in problems]   # let go: said, not hidden
    return kept
