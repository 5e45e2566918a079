# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Read, plan, apply, verify: the one pipeline every network module runs.

Modules give a planner (snapshot -> Plan) and a view (host -> dict the user
reads); every plan then keeps the static routes the kernel would drop on its
way (plan_routes.keep_routes). Check mode stops after planning and predicts the result. After a
real apply the host is read again and planned again: anything left to do
means the kernel did not converge, so the whole change is undone.

A real change does all four under the host's network lock (hostlock.py), so
that two writers never plan from the same state; check mode only reads.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import nm_hands
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import NetlinkConfigurator, undo_text
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink, require_namespace
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_routes import keep_routes
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import result_diff


WAIT_WORTH_TELLING = 1.0   # seconds spent waiting for another writer that the task reports as a warning


class NotConverged(NetsafeError):
    """The kernel accepted every request but the state read back differs; the change was undone (or not all of it)."""

    def __init__(self, message: str, undo_errors):
        self.undo_errors = undo_errors
        self.host_changed = bool(undo_errors)
        super().__init__(message)


def converge(namespace, guests, planner, view, check_mode: bool, writer: Writer = Writer(),
             hold_networkmanager: bool = True) -> dict:
    """Bring the host to what `planner` wants; returns the module result.

    `writer` names the caller in the lock (what a waiting writer reports) and
    says how long to wait for another writer to finish. `hold_networkmanager`
    False: a rollback, which brings the kernel back to what NetworkManager's
    files say and gives its profiles back after; it never waits for, or is
    refused by, a NetworkManager that does not answer.
    """
    if check_mode:
        return _converge(namespace, guests, planner, view, check_mode)
    require_namespace(namespace)   # before the lock's file is made for it
    with writer.lock(namespace) as lock:
        result = _converge(namespace, guests, planner, view, check_mode, hold_networkmanager)
    if lock.waited >= WAIT_WORTH_TELLING:
        result["warnings"] = [*result["warnings"], f"waited {lock.waited:.1f} s for the network lock: {lock.waited_for}"]
    return result


def planned(netlink, guests, planner) -> tuple:
    """(the host as read, the plan for it with the static routes the kernel would drop kept)."""
    snapshot = read_host(netlink, guests)
    return snapshot, keep_routes(planner(snapshot), snapshot.host, snapshot.other_routes)


def preview(namespace, guests, planner) -> tuple:
    """(snapshot, plan) without changing anything and without the lock: what check mode shows."""
    with Netlink(namespace) as netlink:
        return planned(netlink, guests, planner)


def _converge(namespace, guests, planner, view, check_mode: bool, hold_networkmanager: bool = True) -> dict:
    """converge() itself, under the lock when it changes anything."""
    with Netlink(namespace) as netlink:
        snapshot, plan = planned(netlink, guests, planner)
        before = view(snapshot.host)
        result = {"changed": bool(plan), "commands": plan.commands(namespace),
                  "operations": [op.to_dict() for op in plan.operations], "warnings": plan.warnings}
        if not plan:
            result.update(diff={"before": before, "after": before}, state=before)
            return result
        if check_mode:
            future = plan.predict(snapshot.host)
            result.update(diff=result_diff(view, snapshot.host, future), state=view(future))
            return result
        taken = nm_hands.hold(nm_hands.touched_devices(plan.operations), namespace) if hold_networkmanager else []
        if taken:
            result["warnings"] = [*result["warnings"], (
                f"NetworkManager: the profiles of {', '.join(nm_hands.interfaces(taken))} do not auto-activate until "
                f"their keyfiles are saved (net_persist, or persist at the confirmation) or the change is rolled back, "
                f"so that it does not undo this change")]
        configurator = NetlinkConfigurator(netlink, snapshot.index_of)
        try:
            final = _apply_and_verify(configurator, plan, netlink, guests, planner, namespace)
        except NetsafeError:
            nm_hands.give_back(namespace, only=taken)   # undone: nothing for NetworkManager to undo
            raise
        result.update(diff=result_diff(view, snapshot.host, final.host), state=view(final.host))
        return result


def _apply_and_verify(configurator, plan, netlink, guests, planner, namespace):
    """Apply `plan`, read the host again and plan again: the host as read, or NotConverged (the change undone)."""
    configurator.apply(plan.operations)
    try:
        final, leftover = planned(netlink, guests, planner)
    except NetsafeError as exc:   # the planner refuses the state the change made: it did not converge either
        undo_errors = configurator.undo(plan.operations)
        raise NotConverged(
            f"the kernel accepted every change but the result is refused when checked again: {exc}; "
            f"{undo_text(undo_errors, namespace, 'the change was undone')}", undo_errors) from None
    if leftover:
        undo_errors = configurator.undo(plan.operations)
        raise NotConverged(
            "the kernel accepted every change but still differs from the request: "
            f"{'; '.join(leftover.commands(namespace))} would still be needed; "
            f"{undo_text(undo_errors, namespace, 'the change was undone')}",
            undo_errors)
    return final
