# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The dangerous part of a change window in one module run (net_state's `checkpoint`).

preflight probes (a host that fails them is not touched) -> the plan, and
what it will leave behind checked by the caller (the persistent files can
take it) -> arm (snapshot + watchdog) -> apply -> the same probes again. A
change that fails, or whose probes fail, is rolled back in the same run
through the checkpoint, and the task fails with the report. What is left
for the controller is the confirmation over a fresh connection.

A host already as wanted gets no checkpoint at all: nothing is armed.
"""
from __future__ import annotations

import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import converge, preview
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import arming, probes, window
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp

GUARD_OPTIONS = dict(
    timeout=dict(type="float", default=120),
    probes=dict(type="list", elements="dict", default=[]),
    gate_settle=dict(type="float", default=5),
    watchdog=dict(type="str", choices=["auto", "systemd", "detached"], default="auto"),
    root=dict(type="path", default="/"),
)


class WindowFailed(NetsafeError):
    """The window stopped: before any change (host_changed False), or after a rollback; `details` is the report."""

    def __init__(self, message: str, details: dict, host_changed: bool = False):
        super().__init__(message)
        self.details = details
        self.host_changed = host_changed


def _failures(results) -> str:
    return "; ".join(f"{r['name']}: {r['error']}" for r in probes.failed_required(results))


def _roll_back(store: cp.Store, record: dict, reason: str, writer) -> dict:
    """Roll the armed checkpoint back now, as net_checkpoint state=rolled_back would; its outcome."""
    with store:
        with writer.lock(record["namespace"]):
            result = window.roll_back_record(store, record, reason, "net_state", False, writer)
            cp.stop_watchdog(record)
    return result["outcome"]


def _rolled_back_text(outcome: dict) -> str:
    if outcome.get("outcome") == cp.ROLLED_BACK:
        return f"rolled back in {outcome.get('duration_ms', '?')} ms ({len(outcome.get('commands') or [])} commands)"
    return f"THE ROLLBACK FAILED: {'; '.join(outcome.get('errors') or ['?'])}; see net_checkpoint state=query"


def guarded_change(namespace, guests, planner, view, writer, options: dict, check_future=None) -> dict:
    """Run the planner's change inside a checkpoint (`options`: GUARD_OPTIONS' values); the module result.

    `check_future(snapshot, plan)` is called with the plan before anything is
    armed; it raises to stop the window (a file the format refuses) and may
    return a dict that joins the result as `persist`.
    """
    timings = {"start": time.time()}
    specs = probes.resolve(options["probes"], namespace)
    report = {"probes": {"preflight": probes.run_probes(specs, namespace)}, "timings": timings}
    if probes.failed_required(report["probes"]["preflight"]):
        raise WindowFailed(f"preflight probes failed, the host was not touched: "
                           f"{_failures(report['probes']['preflight'])}", dict(report, outcome="not_touched"))
    snapshot, plan = preview(namespace, guests, planner)
    if not plan:
        before = view(snapshot.host)
        return dict(report, changed=False, commands=[], operations=[], warnings=plan.warnings, outcome="unchanged",
                    diff={"before": before, "after": before}, state=before)
    if check_future is not None:
        try:
            persisted = check_future(snapshot, plan)
        except NetsafeError as exc:
            raise WindowFailed(f"the change could not be persisted, the host was not touched: {exc}",
                               dict(report, outcome="not_touched")) from None
        if persisted is not None:
            report["persist"] = persisted
    store = cp.Store(namespace, options["root"])
    record = arming.arm(store, writer, [p.pattern for p in guests.patterns], options["timeout"], None,
                        specs, options["gate_settle"], options["root"], options["watchdog"])
    timings["armed"] = time.time()
    report["checkpoint"] = cp.describe(record, time.time())
    try:
        result = converge(namespace, guests, planner, view, False, writer)
    except NetsafeError as exc:
        outcome = _roll_back(store, record, f"the change failed: {exc}", writer)
        raise WindowFailed(f"{exc}; checkpoint {record['id']} {_rolled_back_text(outcome)}",
                           dict(report, outcome=outcome.get("outcome"), rollback=outcome),
                           outcome.get("outcome") != cp.ROLLED_BACK) from None
    timings["applied"] = time.time()
    report["probes"]["after"] = probes.run_probes(specs, namespace)
    timings["probed"] = time.time()
    if probes.failed_required(report["probes"]["after"]):
        outcome = _roll_back(store, record, f"probes failed after the change: {_failures(report['probes']['after'])}",
                             writer)
        raise WindowFailed(f"probes failed after the change ({_failures(report['probes']['after'])}); checkpoint "
                           f"{record['id']} {_rolled_back_text(outcome)}",
                           {**report, **{k: v for k, v in result.items() if k not in ("warnings", "changed")},
                            "outcome": outcome.get("outcome"), "rollback": outcome},
                           outcome.get("outcome") != cp.ROLLED_BACK)
    report["checkpoint"] = cp.describe(store.load() or record, time.time())
    return dict(result, **report, outcome="armed")
