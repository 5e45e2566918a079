# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The way back: one plan from the host as it is now to a checkpoint's snapshot.

No rollback-only rules: the plan is made of the core's own planners, so it is
checked, predicted, applied, verified and undone like any task's change.

1. Bridges, bonds and VLANs the snapshot does not have are deleted, VLANs
   first (and any VLAN riding on a device being deleted, which the kernel
   would take with it; the snapshot's own VLANs come back in step 2).
   Except guest plumbing made during the window, which stays (`_kept`).
2. Every bridge, bond, VLAN and NIC of the snapshot is planned back with
   plan_host (ports, options, MTU, admin state, addresses, default routes).
   A bond is held to the options its mode uses (the snapshot has the value
   the kernel reports for every option in every mode); a bond going back to
   another mode first gets back the options only its current mode uses
   (plan_bond.plan_mode_leftovers), while that mode still takes them.
3. Default routes the snapshot did not have are deleted.
4. Guest ports go back to the bridge the snapshot found them on (with their
   VLANs on a vlan-aware bridge). A guest port that had no bridge is left
   where it is, and so is one the hypervisor re-plugged onto its own
   plumbing: a rollback never detaches a guest.

Only what the change built goes. A guest that starts during the window is no
change of ours, yet its devices are not in the snapshot either: Proxmox VE's
firewall bridge fwbr<vmid>i<n>, its VLAN bridge <bridge>v<tag> with the VLAN
uplink it made for it, a libvirt network's virbr<n>, or any new bridge a
guest port joined since the checkpoint. Deleting one of them detaches the
guest. They stay, and the plan's `left` says which and why (the rollback's
report, last.json and the module result carry it). Guest ports themselves
(taps, veths, macvtaps) are never deleted: only bridges, bonds and VLANs are.

MACs are left to the kernel (a bridge or bond takes its first port's), so a
bridge re-created with the same ports gets the same MAC, as a boot would.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, Vlan, hypervisor_bridge,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import ROUTE_DEL, ROUTE_REPLACE, Operation
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan, plan_delete, vlan_users
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bond import plan_mode_leftovers
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import plan_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_port_vlans import plan_port_vlans
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


def _desired(snapshot: HostNetwork, names: set, guests: GuestMatcher) -> HostNetwork:
    desired = HostNetwork()
    for name in names:
        dev = snapshot.get(name)
        if dev is None or guests.is_guest_device(dev):
            continue
        dev = dev.clone()
        dev.mac = None
        desired.add(dev.in_its_mode() if isinstance(dev, Bond) else dev)
    return desired


class RollbackPlan(Plan):
    """A Plan plus what it leaves in place on purpose: [{device, reason}], also one warning each."""

    def __init__(self, operations, warnings, left):
        super().__init__(operations, list(warnings) + [f"{item['device']} left in place: {item['reason']}"
                                                       for item in left])
        self.left = left


def _plural(names: list, one: str) -> str:
    return f"{one}{'s' if len(names) > 1 else ''} {', '.join(names)}"


def _kept(current: HostNetwork, snapshot: HostNetwork, guests: GuestMatcher) -> dict:
    """New bridges, bonds and VLANs a rollback must leave, each with why: guest plumbing (module docstring).

    A bridge a hypervisor makes for guests, or one that carries a guest port
    that had no bridge in the snapshot (the guest joined it during the
    window); then, until nothing changes, a new port of a kept bridge (its
    uplink) and a new device a kept VLAN rides on (the kernel deletes a VLAN
    with its parent).
    """
    new = {n: d for n, d in current.devices.items() if isinstance(d, BUILT) and n not in snapshot.devices}
    kept = {}
    for name, dev in new.items():
        reasons = [hypervisor_bridge(current, dev)]
        joined = [p.name for p in current.ports_of(name) if guests.is_guest_device(p)
                  and (snapshot.get(p.name) is None or not snapshot.get(p.name).master)]
        if joined:
            reasons.append(_plural(joined, "carries guest port") + ("" if reasons[0] else
                                                                    ", which joined it since the checkpoint"))
        if any(reasons):
            kept[name] = "; ".join(r for r in reasons if r)
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
                params = {"family": family, "gateway": gateway}
                ops.append(Operation(ROUTE_DEL, dev.name, params, [Operation(ROUTE_REPLACE, dev.name, params)]))
    return ops


def _guest_ops(host: HostNetwork, snapshot: HostNetwork, guests: GuestMatcher, kept: dict, left: list) -> list:
    """Guest ports back on their snapshot bridges.

    One the hypervisor re-plugged onto its own plumbing (a VM restarted with
    the firewall on) is left there, and added to `left`; one the change moved
    goes back, even from a bridge that stays because a new guest joined it.
    """
    ops = []
    for was in sorted(snapshot.devices.values(), key=lambda d: d.name):
        now = host.get(was.name)
        if now is None or not guests.is_guest_device(was) or not was.master:
            continue
        bridge = host.get(was.master)
        if bridge is None:
            continue
        if now.master in kept and hypervisor_bridge(host, host.get(now.master)):
            left.append({"device": was.name, "reason": f"on {now.master} since the checkpoint, which stays (guest "
                                                       f"plumbing); not moved back to {was.master}"})
            continue
        if now.master != was.master:
            ops.append(Operation.setting(was.name, "master", was.master, now.master))
        if isinstance(bridge, Bridge) and bridge.vlan_filtering and was.vlans is not None:
            have = now.vlans if now.master == was.master else None
            ops += plan_port_vlans(was.name, have, was.vlans, self_entry=False)
        if was.up and not now.up:
            ops.append(Operation.setting(was.name, "up", True, False))
    return ops


def plan_rollback(current: HostNetwork, snapshot: HostNetwork, guests: GuestMatcher, devices=None) -> RollbackPlan:
    """One plan from `current` to `snapshot` (steps in the module docstring), with what it leaves and why."""
    names = in_scope(snapshot, current, devices)
    kept = _kept(current, snapshot, guests)
    left = [{"device": name, "reason": kept[name]} for name in sorted(kept) if name in names]
    operations = _deletions(current, snapshot, names, kept)
    for bond in sorted(d.name for d in snapshot.devices.values() if isinstance(d, Bond) and d.name in names):
        operations += plan_mode_leftovers(Plan(operations).predict(current), snapshot.get(bond)).operations
    future = Plan(operations).predict(current)
    rebuilt = plan_host(future, _desired(snapshot, names, guests), guests)
    operations += rebuilt.operations
    future = rebuilt.predict(future)
    routes = _extra_routes(future, snapshot, names)
    operations += routes
    future = Plan(routes).predict(future)
    operations += _guest_ops(future, snapshot, guests, kept, left)
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

    result = converge(namespace, guests, planner, view, check_mode, writer)
    result["left"] = plans[0].left   # as planned: the verifying re-plan finds the same
    return result
