"""Helpers for the failover tests: tiny worlds written compactly, random
worlds for the property tests, and independent brute-force checkers that
share no code with the planner."""
from __future__ import annotations

from hypothesis import strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.rules import Reservation, Vm, World


def world(vms: dict, reservations: dict, size: int = 4) -> World:
    """vms: {uuid: host}; reservations: {name: (host, [uuids])}; every size `size`."""
    return World(
        [Vm(u, h, size, size) for u, h in vms.items()],
        [Reservation(n, h, size, size, {u: vms[u] for u in users})
         for n, (h, users) in reservations.items()],
    )


@st.composite
def messy_worlds(draw, hosts=(2, 6), vms=(1, 8), reservations=(0, 6), max_users=5,
                 varied_sizes=False, stale=True) -> World:
    """Random worlds in which anything goes: shared and rule-breaking allocations.

    hosts, vms, reservations: (min, max) counts. Each reservation sits on a
    random host and is allocated to up to `max_users` distinct VMs.
    varied_sizes: VMs and reservations get memory 1-3 and vcpus 1-2, so some
    slots are too small; otherwise everything has size 4, as in `world()`.
    stale: each allocation has one chance in ten to record a host the VM no
    longer runs on ("moved-away", not a host of the world).
    """
    names = [f"h{i}" for i in range(draw(st.integers(*hosts)))]

    def size() -> tuple:
        return (draw(st.integers(1, 3)), draw(st.integers(1, 2))) if varied_sizes else (4, 4)

    vm_list = [Vm(f"v{i}", draw(st.sampled_from(names)), *size()) for i in range(draw(st.integers(*vms)))]
    res_list = []
    for i in range(draw(st.integers(*reservations))):
        users = draw(st.lists(st.sampled_from(vm_list), unique=True, max_size=max_users)) if vm_list else []
        allocations = {vm.uuid: ("moved-away" if stale and draw(st.integers(0, 9)) == 0 else vm.host)
                       for vm in users}
        res_list.append(Reservation(f"r{i}", draw(st.sampled_from(names)), *size(), allocations))
    return World(vm_list, res_list)


def broken_rules(w: World) -> set:
    """The rule numbers broken anywhere, straight from the issue's wording."""
    host = {u: vm.host for u, vm in w.vms.items()}
    res_of = {u: [n for n, r in w.reservations.items() if u in r.allocations] for u in w.vms}
    users = {n: list(r.allocations) for n, r in w.reservations.items()}
    rhost = {n: r.host for n, r in w.reservations.items()}
    broken = set()
    for v in w.vms:
        slots = [rhost[n] for n in res_of[v]]
        if host[v] in slots:
            broken.add(1)
        if len(set(slots)) != len(slots):
            broken.add(2)
        others = [o for n in res_of[v] for o in users[n] if o != v]
        if any(host[o] == host[v] or host[o] in slots for o in others):
            broken.add(4)
        other_vms = others
        if len(set(other_vms)) != len(other_vms):
            broken.add(5)
        distinct = {o: host[o] for o in other_vms}
        if len(set(distinct.values())) != len(distinct):
            broken.add(5)
    for names in users.values():
        hosts = [host[u] for u in names]
        if len(set(hosts)) != len(hosts):
            broken.add(3)
    return broken


def usable_slots(w: World, ineligible: dict) -> dict:
    """uuid -> reservations it may fail over to once re-validation removed `ineligible`."""
    out = {}
    for u, vm in w.vms.items():
        out[u] = [n for n, r in w.reservations.items()
                  if u in r.allocations and u not in ineligible.get(n, [])
                  and r.host != vm.host and r.memory_mb >= vm.memory_mb and r.vcpus >= vm.vcpus]
    return out


def batch_is_safe(w: World, slots: dict, batch, skip=()) -> bool:
    """Brute force: can every VM on `batch` get its own reservation outside it?"""
    down = set(batch)
    rhost = {n: r.host for n, r in w.reservations.items()}
    need = [[n for n in slots[u] if rhost[n] not in down]
            for u, vm in sorted(w.vms.items()) if vm.host in down and u not in skip]
    need.sort(key=len)

    def place(i: int, used: frozenset) -> bool:  # exhaustive search with backtracking
        return i == len(need) or any(place(i + 1, used | {n}) for n in need[i] if n not in used)

    return place(0, frozenset())
