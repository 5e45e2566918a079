"""The five rules, each broken and kept, in worlds small enough to read."""
from __future__ import annotations

import pytest
from hypothesis import given, settings

from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.rules import (
    FailoverInputError, Reservation, Vm, World, build_world, check_rules, vm_violations,
)

from failover_worlds import broken_rules, messy_worlds, world


def rules(w):
    return {v.rule for v in check_rules(w)}


def test_rule1_broken_by_a_slot_on_the_own_host():
    w = world({"a": "h1"}, {"r1": ("h1", ["a"])})
    [found] = check_rules(w)
    assert (found.rule, found.vms, found.hosts, found.reservations) == (1, ("a",), ("h1",), ("r1",))


def test_rule1_kept_by_a_slot_elsewhere():
    assert check_rules(world({"a": "h1"}, {"r1": ("h2", ["a"])})) == []


def test_rule2_broken_by_two_slots_on_one_host():
    w = world({"a": "h1"}, {"r1": ("h2", ["a"]), "r2": ("h2", ["a"])})
    [found] = check_rules(w)
    assert (found.rule, found.hosts, found.reservations) == (2, ("h2",), ("r1", "r2"))


def test_rule2_kept_by_slots_on_distinct_hosts():
    assert check_rules(world({"a": "h1"}, {"r1": ("h2", ["a"]), "r2": ("h3", ["a"])})) == []


def test_rule3_broken_by_two_users_of_a_reservation_on_one_host():
    w = world({"a": "h1", "b": "h1"}, {"r1": ("h3", ["a", "b"])})
    found = [v for v in check_rules(w) if v.rule == 3]
    assert [(v.vms, v.hosts, v.reservations) for v in found] == [(("a", "b"), ("h1",), ("r1",))]


def test_rule3_kept_by_users_on_distinct_hosts():
    w = world({"a": "h1", "b": "h2"}, {"r1": ("h3", ["a", "b"])})
    assert check_rules(w) == []


def test_rule4_broken_by_a_sharer_running_on_a_slot_host():
    # b shares r1 with a and runs on h4, where a holds r2.
    w = world({"a": "h1", "b": "h4"}, {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a"])})
    found = check_rules(w)
    assert rules(w) == {4}
    assert found[0].vms == ("a", "b") and found[0].hosts == ("h4",)
    assert set(found[0].reservations) == {"r1", "r2"}


def test_rule4_kept_by_a_sharer_elsewhere():
    w = world({"a": "h1", "b": "h5"}, {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a"])})
    assert check_rules(w) == []


def test_rule4_also_covers_a_sharer_on_the_own_host():
    w = world({"a": "h1", "b": "h1"}, {"r1": ("h3", ["a", "b"])})
    assert 4 in rules(w)


def test_rule5_broken_by_two_sharers_on_one_host():
    # b uses r1 and c uses r2, both of a's reservations; b and c both run on h5.
    w = world({"a": "h1", "b": "h5", "c": "h5"},
              {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a", "c"])})
    found = [v for v in check_rules(w) if v.rule == 5]
    assert [(v.vms, v.hosts) for v in found] == [(("a", "b", "c"), ("h5",))]


def test_rule5_kept_by_sharers_on_distinct_hosts():
    w = world({"a": "h1", "b": "h5", "c": "h6"},
              {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a", "c"])})
    assert check_rules(w) == []


def test_rule5_broken_by_one_sharer_using_two_of_the_reservations():
    w = world({"a": "h1", "b": "h5"}, {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a", "b"])})
    found = [v for v in check_rules(w) if v.rule == 5]
    assert [(v.vms, v.reservations) for v in found] == [(("a", "b"), ("r1", "r2"))]


def test_rule5_kept_by_a_sharer_using_one_of_the_reservations():
    w = world({"a": "h1", "b": "h5"}, {"r1": ("h3", ["a", "b"]), "r2": ("h4", ["a"])})
    assert check_rules(w) == []


def test_violation_seen_from_both_vms_is_reported_once():
    w = world({"a": "h1", "b": "h1"}, {"r1": ("h3", ["a", "b"])})
    assert len(vm_violations(w, "a")) == 2  # rules 3 and 4 from a's side
    assert len(check_rules(w)) == 2        # and the same two from b's side are not repeated


def test_violation_message_names_vms_and_hosts():
    w = world({"a": "h1", "b": "h1"}, {"r1": ("h3", ["a", "b"])})
    message = [v for v in check_rules(w) if v.rule == 3][0].to_dict()["message"]
    assert "a" in message and "b" in message and "h1" in message and "r1" in message


@settings(max_examples=300, deadline=None)
@given(messy_worlds(hosts=(2, 5), vms=(1, 6), reservations=(0, 5), max_users=4, stale=False))
def test_checker_agrees_with_the_rules_as_written(w):
    assert rules(w) == broken_rules(w)


# --- input checks ------------------------------------------------------------

VM = {"uuid": "a", "hypervisor": "h1", "memory_mb": 1024, "vcpus": 1}
RES = {"name": "r1", "host": "h2", "memory_mb": 1024, "vcpus": 1, "allocations": {"a": "h1"}}


def test_build_world_accepts_valid_input():
    w = build_world([VM], [RES])
    assert w.held("a") == ["r1"] and w.vms["a"] == Vm("a", "h1", 1024, 1)


@pytest.mark.parametrize("vms, reservations, param", [
    ([VM, dict(VM, hypervisor="h3")], [RES], "vms"),
    ([VM], [RES, dict(RES)], "reservations"),
    ([VM], [dict(RES, allocations={"a": "h1", "ghost": "h9"})], "reservations[0].allocations"),
    ([dict(VM, memory_mb=-1)], [RES], "vms[0].memory_mb"),
    ([VM], [dict(RES, vcpus=-2)], "reservations[0].vcpus"),
    ([dict(VM, hypervisor="")], [RES], "vms[0].hypervisor"),
])
def test_build_world_rejects_bad_input_naming_the_parameter(vms, reservations, param):
    with pytest.raises(FailoverInputError) as caught:
        build_world(vms, reservations)
    assert caught.value.param == param


def test_world_copy_is_independent():
    w = World([Vm("a", "h1", 1, 1)], [Reservation("r1", "h2", 1, 1, {"a": "h1"})])
    twin = w.copy()
    twin.release("a", "r1")
    assert w.held("a") == ["r1"] and w.reservations["r1"].allocations == {"a": "h1"}
