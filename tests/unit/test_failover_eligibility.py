"""Eligibility of a VM for reservations, and re-validation of existing allocations."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.rules import (
    Reservation, Vm, World, check_eligibility, check_rules, eligible_reservations, revalidate,
)

from failover_worlds import broken_rules, messy_worlds, world


def test_vm_is_eligible_when_every_member_keeps_the_rules():
    w = world({"a": "h1", "b": "h2"}, {"r1": ("h3", ["b"])})
    answer = check_eligibility(w, "a", "r1")
    assert answer.eligible and answer.violations == []


def test_check_leaves_the_world_unchanged():
    w = world({"a": "h1", "b": "h2"}, {"r1": ("h3", ["b"])})
    check_eligibility(w, "a", "r1")
    assert w.reservations["r1"].allocations == {"b": "h2"} and w.held("a") == []


def test_vm_on_the_same_host_as_a_member_is_not_eligible():
    w = world({"a": "h1", "b": "h1"}, {"r1": ("h3", ["b"])})
    answer = check_eligibility(w, "a", "r1")
    assert not answer.eligible
    assert 3 in {v.rule for v, _existed in answer.violations}
    assert not answer.blocked_by_existing
    assert answer.reason() == "adding the VM would break a rule"


def test_vm_on_the_reservation_host_is_not_eligible():
    answer = check_eligibility(world({"a": "h3"}, {"r1": ("h3", [])}), "a", "r1")
    assert not answer.eligible and [v.rule for v, _existed in answer.violations] == [1]


def test_addition_that_breaks_a_members_rule_is_not_eligible():
    # b holds r1 (h3) and r2 (h4). a runs on h4, a slot host of b: rule 4 from b's side.
    w = world({"a": "h4", "b": "h1"}, {"r1": ("h3", ["b"]), "r2": ("h4", ["b"])})
    answer = check_eligibility(w, "a", "r1")
    assert not answer.eligible
    assert [(v.rule, v.vms) for v, _existed in answer.violations] == [(4, ("a", "b"))]


def test_existing_violation_among_members_blocks_any_addition():
    # b and c already share r1 on the same host h2; a on h1 would be fine on its own.
    w = world({"a": "h1", "b": "h2", "c": "h2"}, {"r1": ("h3", ["b", "c"])})
    answer = check_eligibility(w, "a", "r1")
    assert not answer.eligible
    assert answer.blocked_by_existing
    assert {(v.rule, v.vms) for v, existed in answer.violations if existed} == {(3, ("b", "c")), (4, ("b", "c"))}
    assert "already broken" in answer.reason()


def test_new_violations_are_not_marked_existing():
    w = world({"a": "h2", "b": "h2", "c": "h2"}, {"r1": ("h3", ["b", "c"])})
    answer = check_eligibility(w, "a", "r1")
    marks = {v.vms: existed for v, existed in answer.violations if v.rule == 3}
    assert marks == {("b", "c"): True, ("a", "b"): False, ("a", "c"): False}


def test_vm_already_in_the_reservation_is_not_eligible():
    answer = check_eligibility(world({"a": "h1"}, {"r1": ("h3", ["a"])}), "a", "r1")
    assert not answer.eligible and answer.already_allocated and answer.violations == []


def test_eligible_reservations_lists_those_that_keep_the_rules():
    w = world({"a": "h1", "b": "h1", "c": "h2"},
              {"own": ("h1", []), "clash": ("h3", ["b"]), "ok": ("h4", ["c"]), "empty": ("h5", [])})
    assert eligible_reservations(w, "a") == ["ok", "empty"]


def test_eligible_reservations_needs_memory_and_vcpus_to_fit():
    w = World([Vm("a", "h1", 4096, 4)],
              [Reservation("small_mem", "h2", 2048, 8), Reservation("small_cpu", "h3", 8192, 2),
               Reservation("fits", "h4", 4096, 4)])
    assert eligible_reservations(w, "a") == ["fits"]


def test_eligible_reservations_skips_those_already_held():
    w = world({"a": "h1"}, {"r1": ("h2", ["a"]), "r2": ("h3", [])})
    assert eligible_reservations(w, "a") == ["r2"]


# --- re-validation -------------------------------------------------------------

def test_revalidate_keeps_a_healthy_world():
    w = world({"a": "h1", "b": "h2"}, {"r1": ("h3", ["a", "b"])})
    assert revalidate(w) == {}
    assert w.reservations["r1"].allocations == {"a": "h1", "b": "h2"}


def test_revalidate_removes_a_vm_that_moved():
    w = world({"a": "h1", "b": "h2"}, {"r1": ("h3", ["a", "b"])})
    w.reservations["r1"].allocations["a"] = "h0"  # allocated while a ran on h0
    assert revalidate(w) == {"r1": ["a"]}
    assert w.held("a") == [] and w.held("b") == ["r1"]


def test_revalidate_removes_a_vm_that_no_longer_fits():
    w = World([Vm("a", "h1", 8192, 2)], [Reservation("r1", "h2", 4096, 2, {"a": "h1"})])
    assert revalidate(w) == {"r1": ["a"]}


def test_revalidate_removes_one_vm_at_a_time():
    # a and b share r1 on the same host: removing a (first) already cures b.
    w = world({"a": "h1", "b": "h1"}, {"r1": ("h3", ["a", "b"])})
    assert revalidate(w) == {"r1": ["a"]}
    assert w.reservations["r1"].allocations == {"b": "h1"}


def test_revalidate_only_removes_the_reservation_involved():
    # a's two slots are on the same host (rule 2): it loses the first, keeps the other.
    w = world({"a": "h1"}, {"r1": ("h2", ["a"]), "r2": ("h2", ["a"]), "r3": ("h3", ["a"])})
    assert revalidate(w) == {"r1": ["a"]}
    assert w.held("a") == ["r2", "r3"]


def test_revalidate_later_reservations_see_earlier_removals():
    # b uses both of a's reservations (rule 5). Dropping b from r1 cures r2 as well.
    w = world({"a": "h1", "b": "h5"}, {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a", "b"])})
    assert revalidate(w) == {"r1": ["a"]}
    assert w.reservations["r1"].allocations == {"b": "h5"}
    assert check_rules(w) == []


@settings(max_examples=300, deadline=None)
@given(messy_worlds(hosts=(2, 6), vms=(1, 8), reservations=(0, 6), max_users=5, stale=True))
def test_revalidation_leaves_no_violation_and_no_stale_allocation(w):
    before = {n: dict(r.allocations) for n, r in w.reservations.items()}
    removed = revalidate(w)
    assert broken_rules(w) == set()
    for name, res in w.reservations.items():
        assert all(res.allocations[u] == w.vms[u].host for u in res.allocations)
        assert set(before[name]) - set(res.allocations) == set(removed.get(name, []))


@settings(max_examples=300, deadline=None)
@given(messy_worlds(hosts=(2, 6), vms=(1, 8), reservations=(0, 6), max_users=5, stale=True), st.data())
def test_on_a_clean_world_eligible_means_no_rule_breaks_after_adding(w, data):
    revalidate(w)  # start from a world that keeps every rule
    uuid = data.draw(st.sampled_from(sorted(w.vms)))
    name = data.draw(st.sampled_from(sorted(w.reservations) or ["-"]))
    if name == "-" or uuid in w.reservations[name].allocations:
        return
    answer = check_eligibility(w, uuid, name)
    w.allocate(uuid, name)
    assert answer.eligible == (broken_rules(w) == set())
    assert not answer.blocked_by_existing
