"""The shared random-world generator reaches what each property test relies on."""
from __future__ import annotations

from failover_worlds import messy_worlds
from hypothesis import Phase, find, given, settings

SEARCH = settings(max_examples=500, database=None, phases=[Phase.generate])   # found is enough: no shrinking


def stale(w) -> bool:
    return any(host != w.vms[u].host for r in w.reservations.values() for u, host in r.allocations.items())


def misfit(w) -> bool:
    return any(not r.fits(w.vms[u]) for r in w.reservations.values() for u in r.allocations)


def test_stale_allocations_and_misfits_appear_when_asked_for():
    find(messy_worlds(stale=True), stale, settings=SEARCH)
    find(messy_worlds(varied_sizes=True), misfit, settings=SEARCH)


@settings(max_examples=100, deadline=None)
@given(messy_worlds(stale=False, varied_sizes=False))
def test_without_them_every_allocation_is_current_and_fits(w):
    assert not stale(w) and not misfit(w)


def test_the_planners_worlds_may_be_empty_or_crowded():
    planner = messy_worlds(hosts=(1, 6), vms=(0, 9), reservations=(0, 8), max_users=4)
    find(planner, lambda w: not w.vms and not w.reservations, settings=SEARCH)
    find(planner, lambda w: any(len(r.allocations) == 4 for r in w.reservations.values()), settings=SEARCH)
