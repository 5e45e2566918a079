"""The maintenance planner: safe batches, every host once, unprotected VMs, limits."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.batches import (
    _Batch, _Graph, plan_batches, plan_maintenance,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.rules import FailoverInputError, Reservation, Vm, World

from failover_worlds import batch_is_safe, messy_worlds, usable_slots, world


def flat(plan):
    return [h for batch in plan.batches for h in batch]


def test_hosts_that_protect_each_other_go_in_separate_batches():
    w = world({"a": "h1", "b": "h2"}, {"ra": ("h2", ["a"]), "rb": ("h1", ["b"])})
    plan = plan_maintenance(w)
    assert sorted(map(sorted, plan.batches)) == [["h1"], ["h2"]]


def test_independent_hosts_share_a_batch():
    w = world({"a": "h1", "b": "h2"}, {"ra": ("h3", ["a"]), "rb": ("h4", ["b"])})
    plan = plan_maintenance(w)
    assert plan.batches[0] == ["h1", "h2"] and sorted(flat(plan)) == ["h1", "h2", "h3", "h4"]


def test_one_reservation_cannot_serve_two_vms_of_one_batch():
    # a and b share r on h3 and nothing else: h1 and h2 may not be down together.
    w = world({"a": "h1", "b": "h2"}, {"r": ("h3", ["a", "b"])})
    plan = plan_maintenance(w)
    assert not any({"h1", "h2"} <= set(batch) for batch in plan.batches)
    assert sorted(flat(plan)) == ["h1", "h2", "h3"]


def test_matching_moves_an_earlier_vm_to_its_other_slot():
    # a may use r1 or r2, b only r1: {h1, h2} is safe only with a on r2.
    w = world({"a": "h1", "b": "h2"}, {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a"])})
    graph = _Graph(w, w.hosts(), sorted(w.vms))
    batch = _Batch(graph, set())
    assert batch.try_add(0)  # h1: a takes the first free slot, r1
    assert batch.try_add(1)  # h2: b needs r1, so a must move to r2
    assert [graph.res_host[r] for r in batch.vm_res] == [3, 2]  # a on h4's r2, b on h3's r1


def test_refused_host_leaves_the_batch_as_it_was():
    w = world({"a": "h1", "b": "h2"}, {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a"])})
    graph = _Graph(w, w.hosts(), sorted(w.vms))
    batch = _Batch(graph, set())
    assert batch.try_add(0) and batch.try_add(1)
    before = (list(batch.vm_res), list(batch.res_vm), list(batch.down))
    assert not batch.try_add(3)  # h4 down leaves a without a slot
    assert not batch.try_add(2)  # h3 down leaves b without a slot
    assert (list(batch.vm_res), list(batch.res_vm), list(batch.down)) == before


def test_vm_without_slot_is_unprotected_and_blocks_its_host():
    w = world({"a": "h1", "b": "h2"}, {"rb": ("h3", ["b"])})
    plan = plan_maintenance(w)
    assert plan.unprotected == ["a"] and plan.blocked_hosts == ["h1"]
    assert "h1" not in flat(plan) and sorted(flat(plan)) == ["h2", "h3"]


def test_allow_unprotected_plans_the_host_anyway():
    w = world({"a": "h1", "b": "h2"}, {"rb": ("h3", ["b"])})
    plan = plan_maintenance(w, allow_unprotected=True)
    assert plan.unprotected == ["a"] and plan.blocked_hosts == []
    assert sorted(flat(plan)) == ["h1", "h2", "h3"]


def test_slot_that_is_too_small_does_not_protect():
    w = World([Vm("a", "h1", 8192, 2)], [Reservation("r", "h2", 4096, 2, {"a": "h1"})])
    plan = plan_maintenance(w)
    assert plan.unprotected == ["a"] and plan.ineligible == {"r": ["a"]}


def test_stale_allocation_does_not_protect():
    w = world({"a": "h1"}, {"r": ("h2", ["a"])})
    w.reservations["r"].allocations["a"] = "h0"
    plan = plan_maintenance(w)
    assert plan.unprotected == ["a"] and plan.ineligible == {"r": ["a"]}


def test_planning_leaves_the_given_world_alone():
    w = world({"a": "h1"}, {"r": ("h2", ["a"])})
    w.reservations["r"].allocations["a"] = "h0"
    plan_maintenance(w)
    assert w.reservations["r"].allocations == {"a": "h0"}


def test_max_batch_size_splits_batches():
    w = world({f"v{i}": f"h{i}" for i in range(5)}, {f"r{i}": ("spare", [f"v{i}"]) for i in range(5)})
    assert sorted(map(len, plan_maintenance(w).batches)) == [1, 5]  # the spare host, then all others
    plan = plan_maintenance(w, max_batch_size=2)
    assert sorted(map(len, plan.batches)) == [1, 1, 2, 2]


def test_max_batch_size_below_one_is_refused():
    with pytest.raises(FailoverInputError, match="max_batch_size: must be 1 or more"):
        plan_batches(world({"a": "h1"}, {}), max_batch_size=0)


def test_empty_world_has_no_batches():
    plan = plan_maintenance(World([], []))
    assert (plan.batches, plan.unprotected, plan.blocked_hosts) == ([], [], [])


def test_plan_is_deterministic():
    w = world({"a": "h1", "b": "h2", "c": "h3"},
              {"r1": ("h2", ["a"]), "r2": ("h3", ["b"]), "r3": ("h1", ["c"])})
    assert plan_maintenance(w).batches == plan_maintenance(w.copy()).batches


# --- properties on random worlds -----------------------------------------------

# Anything goes: shared, stale, misfitting and rule-breaking allocations; hosts and VMs may be none.
MESSY = messy_worlds(hosts=(1, 6), vms=(0, 9), reservations=(0, 8), max_users=4, varied_sizes=True, stale=True)


@st.composite
def protected_worlds(draw):
    """Every VM gets 1 or 2 private reservations on other hosts: the rules all hold."""
    hosts = [f"h{i}" for i in range(draw(st.integers(2, 7)))]
    vms, reservations = [], []
    for i in range(draw(st.integers(1, 12))):
        vm = Vm(f"v{i}", draw(st.sampled_from(hosts)), 2, 1)
        vms.append(vm)
        others = [h for h in hosts if h != vm.host]
        for host in draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True)):
            reservations.append(Reservation(f"r{len(reservations)}", host, 2, 1, {vm.uuid: vm.host}))
    return World(vms, reservations)


def check_plan(w, plan, max_batch_size=None, allow_unprotected=False):
    slots = usable_slots(w, plan.ineligible)
    hosts = {vm.host for vm in w.vms.values()} | {r.host for r in w.reservations.values()}
    placed = flat(plan)
    assert len(placed) == len(set(placed)), "a host appears twice"
    assert set(placed) | set(plan.blocked_hosts) == hosts
    assert not set(placed) & set(plan.blocked_hosts)
    assert all(batch for batch in plan.batches)
    if max_batch_size:
        assert all(len(batch) <= max_batch_size for batch in plan.batches)
    skip = set(plan.unprotected) if allow_unprotected else set()
    for batch in plan.batches:
        assert batch_is_safe(w, slots, batch, skip), f"unsafe batch {batch}"
    # After re-validation a VM is unprotected exactly when it has no usable slot at all.
    assert plan.unprotected == sorted(u for u, s in slots.items() if not s)
    blocked = set() if allow_unprotected else {w.vms[u].host for u in plan.unprotected}
    assert set(plan.blocked_hosts) == blocked


@settings(max_examples=300, deadline=None)
@given(MESSY, st.one_of(st.none(), st.integers(1, 3)), st.booleans())
def test_every_batch_is_safe_and_every_host_appears_once(w, max_batch_size, allow_unprotected):
    plan = plan_maintenance(w, max_batch_size, allow_unprotected)
    check_plan(w, plan, max_batch_size, allow_unprotected)


@settings(max_examples=300, deadline=None)
@given(protected_worlds(), st.one_of(st.none(), st.integers(1, 3)))
def test_world_with_a_slot_for_every_vm_always_gets_a_full_plan(w, max_batch_size):
    plan = plan_maintenance(w, max_batch_size)
    assert plan.unprotected == [] and plan.blocked_hosts == [] and plan.ineligible == {}
    check_plan(w, plan, max_batch_size)


@settings(max_examples=200, deadline=None)
@given(MESSY)
def test_every_vm_with_a_usable_slot_means_no_host_is_blocked(w):
    plan = plan_maintenance(w)
    if all(usable_slots(w, plan.ineligible).values()):
        assert plan.blocked_hosts == [] and plan.unprotected == []


@settings(max_examples=200, deadline=None)
@given(MESSY)
def test_no_later_batch_could_have_joined_an_earlier_one_whole(w):
    """Greedy leaves no host behind that fits an earlier batch as it stood when built."""
    plan = plan_maintenance(w)
    slots = usable_slots(w, plan.ineligible)
    for i, batch in enumerate(plan.batches):
        for later in plan.batches[i + 1:]:
            for host in later:
                assert not batch_is_safe(w, slots, batch + [host]), f"{host} fits {batch}"
