# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Maintenance batches: which hypervisors may be down together.

A set of hosts B may be down together when every VM running on B can be given
its own failover slot: a reservation it holds, on a host outside B, and no
reservation given to two VMs. That is a bipartite matching (VMs to
reservations), decided exactly with augmenting paths, never guessed.

Batches are built greedily, one at a time: walk the hosts not yet planned,
hardest first, and keep each host whose addition still leaves a complete
matching. Safety only gets harder as a batch grows (more VMs to place, fewer
reservations to place them in), so a host refused once is never retried for
that batch, and the matching is extended in place rather than recomputed:
adding a host only has to re-place the VMs that lost their reservation on it
and place the host's own VMs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.rules import (
    FailoverInputError, World, revalidate,
)


@dataclass
class Plan:
    batches: list = field(default_factory=list)       # lists of host names, in order
    unprotected: list = field(default_factory=list)   # VM uuids without a usable slot
    blocked_hosts: list = field(default_factory=list)  # hosts left out because of them
    ineligible: dict = field(default_factory=dict)    # reservation -> uuids removed by re-validation


class _Graph:
    """Integer-indexed view of the world: which reservations each VM may fail over to."""

    def __init__(self, world: World, hosts: list, vm_ids: list):
        self.hosts = hosts
        host_index = {h: i for i, h in enumerate(hosts)}
        res_names = list(world.reservations)
        res_index = {n: i for i, n in enumerate(res_names)}
        self.res_host = [host_index[world.reservations[n].host] for n in res_names]
        self.vm_ids = vm_ids
        self.vm_host = [host_index[world.vms[u].host] for u in vm_ids]
        self.slots: list = []
        for uuid, own in zip(vm_ids, self.vm_host):
            vm = world.vms[uuid]
            usable = [res_index[n] for n in world.held(uuid)
                      if world.reservations[n].fits(vm)]
            self.slots.append([r for r in usable if self.res_host[r] != own])
        self.host_vms: list = [[] for _host in hosts]
        for v, h in enumerate(self.vm_host):
            self.host_vms[h].append(v)
        self.host_res: list = [[] for _host in hosts]
        for r, h in enumerate(self.res_host):
            self.host_res[h].append(r)


class _Batch:
    """One batch under construction: the hosts in it and a matching of their VMs to reservations."""

    def __init__(self, graph: _Graph, skip: set):
        self.g = graph
        self.skip = skip  # VM indexes that need no slot (allowed to be unprotected)
        self.down = [False] * len(graph.hosts)
        self.vm_res = [-1] * len(graph.vm_host)
        self.res_vm = [-1] * len(graph.res_host)
        self.seen = [0] * len(graph.res_host)
        self.stamp = 0
        self.journal: list = []
        self.hosts: list = []

    def _assign(self, v: int, r: int) -> None:
        self.journal.append((v, self.vm_res[v], r, self.res_vm[r]))
        self.vm_res[v] = r
        self.res_vm[r] = v

    def _unassign(self, r: int) -> int:
        v = self.res_vm[r]
        self.journal.append((v, r, r, v))
        self.vm_res[v] = -1
        self.res_vm[r] = -1
        return v

    def _rollback(self) -> None:
        # Undo newest first. A reservation left by a VM on an augmenting path is taken by
        # the next VM on that path, whose own entry (undone earlier) hands it back.
        while self.journal:
            v, old_r, r, old_v = self.journal.pop()
            self.vm_res[v] = old_r
            self.res_vm[r] = old_v

    def _augment(self, start: int) -> bool:
        """Kuhn's augmenting path search from VM `start`, iterative (paths can be long)."""
        slots, res_host, down = self.g.slots, self.g.res_host, self.down
        res_vm, seen = self.res_vm, self.seen
        self.stamp += 1
        stamp = self.stamp
        # A free usable slot is by far the common case: take it without a search.
        for r in slots[start]:
            if res_vm[r] == -1 and not down[res_host[r]]:
                self._assign(start, r)
                return True
        stack = [[start, 0]]
        via: list = []  # via[k]: reservation stack[k] wants, held by stack[k + 1]
        while stack:
            frame = stack[-1]
            v, i = frame
            options = slots[v]
            pushed = False
            while i < len(options):
                r = options[i]
                i += 1
                if seen[r] == stamp or down[res_host[r]]:
                    continue
                seen[r] = stamp
                owner = res_vm[r]
                if owner == -1:
                    self._assign(v, r)
                    for k in range(len(via) - 1, -1, -1):
                        self._assign(stack[k][0], via[k])
                    return True
                frame[1] = i
                via.append(r)
                stack.append([owner, 0])
                pushed = True
                break
            if not pushed:
                stack.pop()
                if via:
                    via.pop()
        return False

    def try_add(self, h: int) -> bool:
        """Add host `h` if the batch stays safe; otherwise leave the batch exactly as it was."""
        g = self.g
        for v in g.host_vms[h]:
            if v not in self.skip and not any(
                    not self.down[g.res_host[r]] and g.res_host[r] != h for r in g.slots[v]):
                return False  # cheap refusal: some VM has no slot left at all
        self.journal = []
        self.down[h] = True
        pending = [self._unassign(r) for r in g.host_res[h] if self.res_vm[r] != -1]
        pending.extend(v for v in g.host_vms[h] if v not in self.skip)
        for v in pending:
            if not self._augment(v):
                self._rollback()
                self.down[h] = False
                return False
        self.journal = []
        self.hosts.append(h)
        return True


def _unprotected_vms(graph: _Graph) -> set:
    """VMs that cannot get a slot even when their host is the only one down.

    After re-validation these are exactly the VMs without a usable slot; on a
    world that still breaks rule 3 the matching picks which VMs miss out.
    """
    probe = _Batch(graph, set())
    found: set = set()
    for h, vms in enumerate(graph.host_vms):
        probe.journal = []
        probe.down[h] = True
        found.update(v for v in vms if not probe._augment(v))
        probe._rollback()
        probe.down[h] = False
    return found


def _difficulty_order(graph: _Graph, candidates: list) -> list:
    """Hosts with the most ties to other hosts first (Welsh-Powell for graph colouring).

    A host is tied to the hosts holding its VMs' slots and to the hosts whose VMs
    hold slots on it; those are the hosts it is most likely unable to share a
    batch with, so placing it while batches are still empty keeps it from
    ending up alone at the end.
    """
    ties: list = [set() for _host in graph.hosts]
    for v, h in enumerate(graph.vm_host):
        for r in graph.slots[v]:
            other = graph.res_host[r]
            ties[h].add(other)
            ties[other].add(h)
    load = [len(vms) for vms in graph.host_vms]
    return sorted(candidates, key=lambda h: (-len(ties[h]), -load[h], graph.hosts[h]))


def plan_batches(world: World, max_batch_size: int | None = None,
                 allow_unprotected: bool = False) -> Plan:
    """Ordered batches covering every host once, each safe to take down together.

    `world` should already be re-validated (see plan_maintenance); the planner
    itself only trusts slots that fit the VM and sit on another host.
    """
    if max_batch_size is not None and max_batch_size < 1:
        raise FailoverInputError("max_batch_size", f"must be 1 or more, got {max_batch_size}")
    hosts = world.hosts()
    vm_ids = sorted(world.vms)
    graph = _Graph(world, hosts, vm_ids)
    unprotected = _unprotected_vms(graph)
    plan = Plan(unprotected=sorted(vm_ids[v] for v in unprotected))
    candidates = list(range(len(hosts)))
    if not allow_unprotected:
        blocked = {graph.vm_host[v] for v in unprotected}
        plan.blocked_hosts = sorted(hosts[h] for h in blocked)
        candidates = [h for h in candidates if h not in blocked]
    remaining = _difficulty_order(graph, candidates)
    while remaining:
        batch = _Batch(graph, unprotected)
        left: list = []
        for h in remaining:
            if (max_batch_size is not None and len(batch.hosts) >= max_batch_size) \
                    or not batch.try_add(h):
                left.append(h)
        if not batch.hosts:  # cannot happen: a lone host always fits once unprotected VMs are set aside
            raise RuntimeError("planner made no progress")
        plan.batches.append(sorted(hosts[h] for h in batch.hosts))
        remaining = left
    return plan


def plan_maintenance(world: World, max_batch_size: int | None = None,
                     allow_unprotected: bool = False, in_place: bool = False) -> Plan:
    """Re-validate `world` (a copy of it unless `in_place`), then plan on what is left."""
    clean = world if in_place else world.copy()
    ineligible = revalidate(clean)
    plan = plan_batches(clean, max_batch_size, allow_unprotected)
    plan.ineligible = ineligible
    return plan
