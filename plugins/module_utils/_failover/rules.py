# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Failover reservations: the five eligibility rules, eligibility, re-validation.

A reservation is capacity kept free on one hypervisor so that a VM from
another hypervisor can be restarted there. Several VMs may share one
reservation as long as no single host failure needs it twice; the five rules
below are what keeps that true. Pure logic, no Ansible: the module and the
planner (_failover_batches.py) both build on it.

For a VM v with host H(v) and slot hosts S(v) (hosts of its reservations):
 1. H(v) is not in S(v).
 2. v's N slots sit on N distinct hosts.
 3. No two VMs using the same reservation run on the same host.
 4. No other VM sharing one of v's reservations runs on H(v) or in S(v).
 5. The other VMs using v's reservations run on pairwise distinct hosts,
    and no other VM uses two of v's reservations.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError


class FailoverInputError(ValidationError):
    """Invalid world description: one problem, whose parameter `param` names (the module returns it too)."""

    def __init__(self, param: str, message: str):
        super().__init__([f"{param}: {message}"])
        self.param = param


@dataclass(frozen=True)
class Vm:
    uuid: str
    host: str
    memory_mb: int
    vcpus: int


@dataclass
class Reservation:
    name: str
    host: str
    memory_mb: int
    vcpus: int
    # VM uuid -> the hypervisor the VM ran on when it got the slot.
    allocations: dict = field(default_factory=dict)

    def fits(self, vm: Vm) -> bool:
        return vm.memory_mb <= self.memory_mb and vm.vcpus <= self.vcpus


@dataclass(frozen=True)
class Violation:
    """One broken rule. Sorted tuples so the same fact found from two VMs' points of view compares equal."""

    rule: int
    vms: tuple
    hosts: tuple
    reservations: tuple
    message: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        return {"rule": self.rule, "vms": list(self.vms), "hosts": list(self.hosts),
                "reservations": list(self.reservations), "message": self.message}


def _violation(rule: int, vms: Iterable[str], hosts: Iterable[str],
               reservations: Iterable[str], message: str) -> Violation:
    return Violation(rule, tuple(sorted(set(vms))), tuple(sorted(set(hosts))),
                     tuple(sorted(set(reservations))), message)


class World:
    """VMs and reservations, with the index "which reservations does a VM hold" kept in step."""

    def __init__(self, vms: Iterable[Vm], reservations: Iterable[Reservation]):
        self.vms: dict = {vm.uuid: vm for vm in vms}
        self.reservations: dict = {res.name: res for res in reservations}
        self._held: dict = defaultdict(list)
        for res in self.reservations.values():
            for uuid in res.allocations:
                self._held[uuid].append(res.name)

    def copy(self) -> World:
        return World(self.vms.values(),
                     [Reservation(r.name, r.host, r.memory_mb, r.vcpus, dict(r.allocations))
                      for r in self.reservations.values()])

    def held(self, uuid: str) -> list:
        """Names of the reservations `uuid` is allocated to, in input order."""
        return self._held.get(uuid, [])

    def members(self, name: str) -> list:
        return list(self.reservations[name].allocations)

    def hosts(self) -> list:
        """Every hypervisor named by a VM or a reservation, sorted."""
        found = {vm.host for vm in self.vms.values()}
        found.update(res.host for res in self.reservations.values())
        return sorted(found)

    def allocate(self, uuid: str, name: str) -> None:
        self.reservations[name].allocations[uuid] = self.vms[uuid].host
        self._held[uuid].append(name)

    def release(self, uuid: str, name: str) -> None:
        del self.reservations[name].allocations[uuid]
        self._held[uuid].remove(name)
        if not self._held[uuid]:
            del self._held[uuid]


def build_world(vms: Iterable[Mapping], reservations: Iterable[Mapping]) -> World:
    """Turn plain dicts (the module's input) into a World; reject what would make answers meaningless."""
    vm_list: list = []
    for where, uuid, hypervisor, item in _checked_items(vms, "vms", "uuid", "hypervisor", "VM"):
        vm_list.append(Vm(uuid, hypervisor, int(item["memory_mb"]), int(item["vcpus"])))
    known = {vm.uuid for vm in vm_list}
    res_list: list = []
    for where, name, host, item in _checked_items(reservations, "reservations", "name", "host", "reservation"):
        allocations = dict(item.get("allocations") or {})
        unknown = sorted(uuid for uuid in allocations if uuid not in known)
        if unknown:
            raise FailoverInputError(f"{where}.allocations",
                                     f"reservation {name!r} names VMs not in vms: {', '.join(unknown)}")
        res_list.append(Reservation(name, host, int(item["memory_mb"]), int(item["vcpus"]),
                                    {str(k): str(v) for k, v in allocations.items()}))
    return World(vm_list, res_list)


def _checked_items(items: Iterable[Mapping], param: str, key: str, place: str, what: str):
    """Yield (where, key value, place value, item) once each item has a unique key, a place and sane sizes."""
    seen: dict = {}
    for index, item in enumerate(items):
        where = f"{param}[{index}]"
        value = str(item[key])
        if not value:
            raise FailoverInputError(f"{where}.{key}", "must not be empty")
        if value in seen:
            raise FailoverInputError(param, f"duplicate {key} {value!r} at {param}[{seen[value]}] and {where}")
        if not item.get(place):
            raise FailoverInputError(f"{where}.{place}", f"{what} {value!r} needs a {place}")
        _check_sizes(where, item)
        seen[value] = index
        yield where, value, str(item[place]), item


def _check_sizes(where: str, item: Mapping) -> None:
    for key in ("memory_mb", "vcpus"):
        if int(item[key]) < 0:
            raise FailoverInputError(f"{where}.{key}", f"must be 0 or more, got {item[key]}")


# --- the five rules ------------------------------------------------------

def vm_violations(world: World, uuid: str) -> list:
    """Every rule broken from VM `uuid`'s point of view (its own slots and the VMs it shares them with)."""
    vms = world.vms
    here = vms[uuid].host
    own = world.held(uuid)
    res = world.reservations
    found: list = []
    slots_by_host: dict = defaultdict(list)
    for name in own:
        slots_by_host[res[name].host].append(name)
    for name in own:
        if res[name].host == here:
            found.append(_violation(1, [uuid], [here], [name],
                                    f"VM {uuid} holds slot {name} on its own host {here}"))
    for host, names in slots_by_host.items():
        if len(names) > 1:
            found.append(_violation(2, [uuid], [host], names,
                                    f"VM {uuid} holds {len(names)} slots on host {host}: {', '.join(names)}"))
    users_by_host: dict = defaultdict(set)   # host -> other VMs using v's reservations there
    names_by_user: dict = defaultdict(list)  # other VM -> which of v's reservations it uses
    for name in own:
        for other in res[name].allocations:
            if other == uuid:
                continue
            there = vms[other].host
            if there == here:
                found.append(_violation(3, [uuid, other], [here], [name],
                                        f"VMs {uuid} and {other} share reservation {name} and both run on {here}"))
            if there == here or there in slots_by_host:
                found.append(_violation(4, [uuid, other], [there], [name] + slots_by_host.get(there, []),
                                        f"VM {other} shares reservation {name} with {uuid} and runs on {there}, "
                                        f"which is {uuid}'s host or one of its slot hosts"))
            users_by_host[there].add(other)
            names_by_user[other].append(name)
    for there, others in users_by_host.items():
        if len(others) > 1:
            names = [n for o in others for n in names_by_user[o]]
            found.append(_violation(5, [uuid, *others], [there], names,
                                    f"VMs {', '.join(sorted(others))} use reservations of {uuid} "
                                    f"and all run on {there}"))
    for other, names in names_by_user.items():
        if len(names) > 1:
            found.append(_violation(5, [uuid, other], [here, vms[other].host], names,
                                    f"VM {other} uses {len(names)} of {uuid}'s reservations: {', '.join(names)}"))
    return found


def violations_among(world: World, uuids: Iterable[str]) -> list:
    """Violations seen from each VM in `uuids`, each fact once, in a stable order."""
    unique: dict = {}
    for uuid in uuids:
        for item in vm_violations(world, uuid):
            unique.setdefault(item, item)
    return sorted(unique, key=lambda v: (v.rule, v.vms, v.hosts, v.reservations))


def check_rules(world: World) -> list:
    """Every violation in the whole world."""
    return violations_among(world, [u for u in world.vms if world.held(u)])


# --- eligibility -----------------------------------------------------------

@dataclass
class Eligibility:
    """Answer to "may this VM join this reservation?"; `violations` are those after joining."""

    eligible: bool
    already_allocated: bool = False
    violations: list = field(default_factory=list)  # list of (Violation, existed_before)

    @property
    def blocked_by_existing(self) -> bool:
        return any(existed for _item, existed in self.violations)

    def reason(self) -> str:
        if self.already_allocated:
            return "the VM already holds this reservation"
        if self.eligible:
            return "eligible"
        if self.blocked_by_existing:
            return "a rule is already broken among this reservation's VMs, so no VM may be added"
        return "adding the VM would break a rule"


def check_eligibility(world: World, uuid: str, name: str) -> Eligibility:
    """Would every VM of reservation `name` still satisfy all five rules with `uuid` added?"""
    reservation = world.reservations[name]
    if uuid in reservation.allocations:
        return Eligibility(False, already_allocated=True)
    viewpoints = world.members(name) + [uuid]
    before = set(violations_among(world, viewpoints))
    world.allocate(uuid, name)
    try:
        after = violations_among(world, viewpoints)
    finally:
        world.release(uuid, name)
    return Eligibility(not after, violations=[(v, v in before) for v in after])


def eligible_reservations(world: World, uuid: str) -> list:
    """Names of the reservations the VM could join: rules hold and its memory and vCPUs fit."""
    vm = world.vms[uuid]
    return [name for name, res in world.reservations.items()
            if res.fits(vm) and check_eligibility(world, uuid, name).eligible]


# --- re-validation -----------------------------------------------------------

class _Involvement:
    """Which (VM, reservation) pairs take part in a violation right now.

    Built once from every VM's point of view and then only patched around each
    removal, so re-validating a healthy world costs one pass of the rule checker.
    """

    def __init__(self, world: World):
        self.world = world
        self.seen: dict = {}   # viewpoint VM -> its violations
        self.count: dict = defaultdict(int)  # (vm, reservation) -> violations involving both
        for uuid in list(world.vms):
            if world.held(uuid):
                self._look(uuid)

    def _look(self, viewer: str) -> None:
        found = vm_violations(self.world, viewer)
        if found:
            self.seen[viewer] = found
            self._tally(found, 1)

    def _tally(self, found: list, step: int) -> None:
        for item in found:
            for uuid in item.vms:
                for name in item.reservations:
                    self.count[(uuid, name)] += step

    def involved(self, uuid: str, name: str) -> bool:
        return self.count.get((uuid, name), 0) > 0

    def release(self, uuid: str, name: str) -> None:
        # Only VMs sharing a reservation with `uuid` can see it in a violation.
        viewers = {uuid}
        for held in self.world.held(uuid):
            viewers.update(self.world.reservations[held].allocations)
        self.world.release(uuid, name)
        for viewer in viewers:
            old = self.seen.pop(viewer, None)
            if old:
                self._tally(old, -1)
            if self.world.held(viewer):
                self._look(viewer)


def revalidate(world: World) -> dict:
    """Remove allocations that no longer hold; return {reservation: [removed uuids]}.

    In place and one VM at a time, so a later check sees the reduced state: of two
    VMs that break rule 3 together only the first loses the reservation. A VM loses
    a reservation when it moved off the hypervisor recorded in the allocation, no
    longer fits the reservation's memory or vCPUs, or is part of a rule violation
    involving that reservation. Removing allocations never creates a violation, so
    the world is violation-free afterwards.
    """
    removed: dict = {}
    tracker = _Involvement(world)
    for name, res in world.reservations.items():
        for uuid in sorted(res.allocations):
            vm = world.vms[uuid]
            if (res.allocations[uuid] != vm.host or not res.fits(vm)
                    or tracker.involved(uuid, name)):
                tracker.release(uuid, name)
                removed.setdefault(name, []).append(uuid)
    return removed
