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

import contextlib
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import nm_hands
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import name_problem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import WAIT_WORTH_TELLING, converge, preview
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import result_diff
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import arming, confirming, path_mtu, probes, window
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp

GUARD_OPTIONS = dict(
    timeout=dict(type="float", default=120),
    probes=dict(type="list", elements="dict", default=[], options=probes.PROBE_OPTIONS),
    gate=dict(type="bool", default=True),
    gate_settle=dict(type="float", default=5),
    watchdog=dict(type="str", choices=["auto", "systemd", "detached"], default="auto"),
    root=dict(type="path", default="/"),
    mtu_probe=dict(type="bool", default=True),
)


class WindowFailed(NetsafeError):
    """The window stopped: before any change (host_changed False), or after a rollback; `details` is the report."""

    def __init__(self, message: str, details: dict, host_changed: bool = False):
        super().__init__(message)
        # `changed` is the edge's (host_changed), warnings are reported by it: neither goes twice into the result.
        self.details = {k: v for k, v in details.items() if k not in ("changed", "warnings", "msg", "failed")}
        self.host_changed = host_changed


def _unprefixed(text: str) -> str:
    """window's refusals name net_checkpoint's `id: `; in net_state the parameter is checkpoint.confirm."""
    return text[len("id: "):] if text.startswith("id: ") else text


def _failures(results) -> str:
    return "; ".join(f"{r['name']}: {r['error']}" for r in probes.failed_required(results))


def _preflight_failed(results) -> list:
    """The required probes that failed before the change, less a path MTU probe the host refused to send because
    its own MTU is below the size: the change raises it, so that probe proves its path after the change."""
    return [r for r in probes.failed_required(results) if not (r.get("detail") or {}).get("refused_locally")]


def _finished_elsewhere(store: cp.Store, record: dict):
    """`record`'s outcome when it is no longer armed (its watchdog rolled it back at the deadline while the window
    ran); None while it is. Must be called holding the store's lock."""
    current = store.load()
    if current is not None and current.get("id") == record["id"]:
        return None
    last = store.last() or {}
    if last.get("id") == record["id"]:
        return last
    return {"outcome": "unknown", "errors": [window.not_armed(store, record["id"], current)]}


def _past_deadline(store: cp.Store, record: dict):
    """`record`'s outcome (or, still armed, the record) once its deadline has passed: its watchdog rolls it back
    (or did) and nothing is left to confirm; None before the deadline."""
    with store:
        done = _finished_elsewhere(store, record)
    if done is None and cp.remaining(record) > 0:
        return None
    return done if done is not None else dict(record, outcome=cp.ARMED)


def _roll_back(store: cp.Store, record: dict, reason: str, writer) -> dict:
    """Roll the armed checkpoint back now, as net_checkpoint state=rolled_back would; its outcome.

    One that cannot start (another change holds the network lock past
    lock_timeout, the store cannot be locked) leaves the checkpoint armed:
    its watchdog rolls back at the deadline, and the outcome says so.
    """
    try:
        with store:
            done = _finished_elsewhere(store, record)
            if done is not None:
                return done
            with writer.lock(record["namespace"]):
                result = window.roll_back_record(store, record, reason, "net_state", False, writer)
                cp.stop_watchdog(record)
    except (NetsafeError, OSError) as exc:
        return {"outcome": cp.ARMED, "errors": [str(exc)]}
    return result["outcome"]


def _rolled_back_text(outcome: dict) -> str:
    if outcome.get("outcome") == cp.ROLLED_BACK and outcome.get("by") != "net_state":
        return (f"was already rolled back by its {outcome.get('by')} ({outcome.get('reason')}): the window outlasted "
                f"checkpoint.timeout, raise it")
    if outcome.get("outcome") == cp.ROLLED_BACK:
        return f"rolled back in {outcome.get('duration_ms', '?')} ms ({len(outcome.get('commands') or [])} commands)"
    if outcome.get("outcome") == cp.ARMED:
        return (f"could not be rolled back now ({'; '.join(outcome['errors'])}); it stays armed and its watchdog "
                f"rolls it back at the deadline")
    return f"THE ROLLBACK FAILED: {'; '.join(outcome.get('errors') or ['?'])}; see net_checkpoint state=query"


@contextlib.contextmanager
def _untouched(report: dict):
    """A refusal before anything is armed or changed (the request, the probes' specs, the lock, the arm) is the
    window's `not_touched`, as a failed preflight is: the role reports it so, and rolls nothing back."""
    try:
        yield
    except WindowFailed:
        raise
    except NetsafeError as exc:
        raise WindowFailed(f"{exc}; the host was not touched", dict(report, outcome="not_touched")) from None


def _checked_future(check_future, snapshot, plan, report: dict) -> None:
    """check_future's verdict on what the plan leaves behind: its dict joins the report as `persist`; a refusal stops
    the window before anything is armed or changed."""
    if check_future is None:
        return
    try:
        persisted = check_future(snapshot, plan)
    except NetsafeError as exc:
        raise WindowFailed(f"the change could not be persisted, the host was not touched: {exc}",
                           dict(report, outcome="not_touched")) from None
    if persisted is not None:
        report["persist"] = persisted


def _with_path_mtu(specs: list, snapshot, future, guests, options: dict, report: dict, namespace=None,
                   check_mode: bool = False, written=None) -> list:
    """`specs` and, unless options' mtu_probe is off, the probes proving the MTU the change to `future` raises
    toward a default gateway (path_mtu.py); what those prove goes into the report as `path_mtu`. `written`: (what
    the files say, the devices a save writes) for a window that changes nothing but the files: their MTU is the
    one raised from.

    A gateway the preflight did not reach is first asked with a small ping (not in check mode): one that does not
    answer echo at all cannot prove a size, so its path MTU probe is left out with a warning rather than rolling
    back a good change (review 27: a dead second default route)."""
    if not options.get("mtu_probe", True):
        return specs
    before, only = written if written is not None else (snapshot.host, None)
    added, proves, unproven = path_mtu.window_probes(before, future, guests, specs, snapshot.other_routes, only,
                                                     snapshot.gateway_mtus)
    if unproven:
        report.setdefault("warnings", []).extend(unproven)
    if not check_mode and added:
        reached = {r["target"] for r in report["probes"]["preflight"] if r["ok"]}
        for target in sorted({spec["target"] for spec in added} - reached):
            asked = probes.run_probes([{"type": "icmp", "target": target, "required": False,
                                        "name": f"gateway {target} before its path MTU probe"}], namespace)
            report["probes"]["preflight"] += asked
            if not asked[0]["ok"]:
                added = [spec for spec in added if spec["target"] != target]
                proves = [entry for entry in proves if entry["target"] != target]
                report.setdefault("warnings", []).append(
                    f"path MTU to {target} not proven: the gateway does not answer ICMP echo before the change "
                    f"({asked[0]['error']}); give a probe that reaches the network behind it, with mtu")
    if not added:
        return specs
    report["path_mtu"] = proves
    return [*specs, *probes.normalize(added)]


def previewed(namespace, guests, planner, view, options: dict, check_future=None, files_before=None) -> dict:
    """Check mode of a guarded change: the plan, the predicted state and check_future's verdict; the probes are
    resolved (with none given, the host's default gateways: a host without any is refused as the real run
    refuses it), not run, and nothing is armed. The path MTU probes the change would add are in `path_mtu`; for a
    host already as wanted, those its files would need (files_before, as the real run: _files_proven)."""
    specs = probes.resolve(options["probes"], namespace)
    snapshot, plan = preview(namespace, guests, planner)
    future = plan.predict(snapshot.host) if plan else snapshot.host
    diff = result_diff(view, snapshot.host, future)
    report: dict = {}
    if plan:
        _with_path_mtu(specs, snapshot, future, guests, options, report, check_mode=True)
        _checked_future(check_future, snapshot, plan, report)
    elif files_before is not None:
        written = _files_written(files_before, snapshot, report)
        if written is not None:
            report["persist"] = written[2]
            _with_path_mtu(specs, snapshot, snapshot.host, guests, options, report, check_mode=True,
                           written=written[:2])
    # What the files will say goes with it, one diff per file, as the confirmation's does: --diff shows both.
    files = report.get("persist", {}).get("diff") or []
    return dict(report, changed=bool(plan), commands=plan.commands(namespace),
                operations=[op.to_dict() for op in plan.operations],
                # The save's own warnings too: the confirmation (or the unchanged path's save) prints them.
                warnings=[*plan.warnings, *report.pop("warnings", []), *report.get("persist", {}).get("warnings", [])],
                diff=[diff, *files] if files else diff, state=view(future))


def _files_written(files_before, snapshot, report: dict):
    """files_before(snapshot): (what the files say, the devices a save writes, the save's check-mode result), or
    None when the files already say what the host runs; a file a save would refuse stops the window."""
    try:
        return files_before(snapshot)
    except NetsafeError as exc:
        raise WindowFailed(f"the host is already as the task describes, but its files could not be written: {exc}; "
                           f"nothing was changed", dict(report, outcome="not_touched")) from None


def _files_proven(specs: list, snapshot, guests, options: dict, report: dict, namespace, files_before) -> None:
    """A window that finds the host as wanted still has its files written (the role's unchanged path): an MTU the
    files do not have yet (raised by hand, or by a module outside a window) is proven first, as a change's is, and
    a path that does not carry it stops the window before a file is written (review 27: the black hole would
    survive a reboot, reported as UNCHANGED)."""
    written = _files_written(files_before, snapshot, report)
    if written is None:
        return
    added = _with_path_mtu(list(specs), snapshot, snapshot.host, guests, options, report, namespace,
                           written=written[:2])[len(specs):]
    if not added:
        return
    report["probes"]["after"] = probes.run_resolved(added, namespace)
    failed = [r for r in report["probes"]["after"] if not r["ok"] and r["required"]]
    if failed:
        files = written[0]
        back = "; ".join(
            f"{', '.join(f'{name} to {_files_mtu(files, name)}' for name in entry['raised'])} (now {entry['mtu']})"
            for entry in report["path_mtu"])
        raise WindowFailed(f"the host is already as the task describes, but its files would get an MTU the path does "
                           f"not carry: {_failures(failed)}. Nothing was changed and no file was written. Bring the "
                           f"path (the switch port) to that MTU, or the host back to what its files say: {back}",
                           dict(report, outcome="not_touched"))


def _files_mtu(files, name: str) -> int:
    dev = files.get(name)
    return (dev.mtu if dev is not None else None) or path_mtu.DEFAULT_MTU


def guarded_change(namespace, guests, planner, view, writer, options: dict, check_future=None,
                   files_before=None) -> dict:
    """Run the planner's change inside a checkpoint (`options`: GUARD_OPTIONS' values); the module result.

    `check_future(snapshot, plan)` is called with the plan before anything is
    armed; it raises to stop the window (a file the format refuses) and may
    return a dict that joins the result as `persist`. `files_before(snapshot)`:
    for a host already as wanted, (what the files say, the devices a save
    writes, the save's check-mode result) when a save would change them,
    else None (_files_proven).
    """
    timings = {"start": time.time()}
    report = {"probes": {}, "timings": timings}
    with _untouched(report):
        specs = probes.resolve(options["probes"], namespace)
        report["probes"]["preflight"] = probes.run_resolved(specs, namespace)
    failed = _preflight_failed(report["probes"]["preflight"])
    if failed:
        raise WindowFailed(f"preflight probes failed, the host was not touched: {_failures(failed)}",
                           dict(report, outcome="not_touched"))
    with _untouched(report):
        snapshot, plan = preview(namespace, guests, planner)
    if not plan:
        if files_before is not None:
            _files_proven(specs, snapshot, guests, options, report, namespace, files_before)
        before = view(snapshot.host)
        return dict(report, changed=False, commands=[], operations=[], warnings=[*plan.warnings, *report.pop("warnings", [])],
                    outcome="unchanged", diff={"before": before, "after": before}, state=before)
    _checked_future(check_future, snapshot, plan, report)
    # Not in the preflight: the path carries the new MTU only once the change made it.
    specs = _with_path_mtu(specs, snapshot, plan.predict(snapshot.host), guests, options, report, namespace)
    unproven = report.pop("warnings", [])
    store = cp.Store(namespace, options["root"])
    failure = None
    # One hold of the network lock from the snapshot to the end of the change (arm and converge take it again
    # without waiting): another writer's change can no longer fall between them, where a rollback to the
    # snapshot would undo it. A writer that keeps the lock past lock_timeout stops the window before the arm.
    with _untouched(report), writer.lock(namespace) as lock:
        # The devices whose files were checked go with the record: the confirmation writes those.
        # Those the change removes too (their stanzas go): the files then describe none of them.
        keep = ({"persist_devices": sorted({*report["persist"]["devices"], *report["persist"].get("removed_devices", [])})}
                if "persist" in report else None)
        record = arming.arm(store, writer, [p.pattern for p in guests.patterns], options["timeout"], None,
                            specs if options["gate"] else [], options["gate_settle"], options["root"], options["watchdog"],
                            keep=keep)
        timings["armed"] = time.time()
        report["checkpoint"] = cp.describe(record, time.time())
        try:
            result = converge(namespace, guests, planner, view, False, writer)
        except NetsafeError as exc:
            failure = exc
    if failure is not None:
        outcome = _roll_back(store, record, f"the change failed: {failure}", writer)
        raise WindowFailed(f"{failure}; checkpoint {record['id']} {_rolled_back_text(outcome)}",
                           dict(report, outcome=outcome.get("outcome"), rollback=outcome),
                           outcome.get("outcome") != cp.ROLLED_BACK) from None
    timings["applied"] = time.time()
    result["warnings"] = [*result["warnings"], *unproven]
    if lock.waited >= WAIT_WORTH_TELLING:
        result["warnings"] = [*result["warnings"], f"waited {lock.waited:.1f} s for the network lock: {lock.waited_for}"]
    report["probes"]["after"] = probes.run_resolved(specs, namespace)
    timings["probed"] = time.time()
    if probes.failed_required(report["probes"]["after"]):
        outcome = _roll_back(store, record, f"probes failed after the change: {_failures(report['probes']['after'])}",
                             writer)
        raise WindowFailed(f"probes failed after the change ({_failures(report['probes']['after'])}); checkpoint "
                           f"{record['id']} {_rolled_back_text(outcome)}",
                           {**report, **result, "outcome": outcome.get("outcome"), "rollback": outcome},
                           outcome.get("outcome") != cp.ROLLED_BACK)
    late = _past_deadline(store, record)
    if late is not None:
        pending = late.get("outcome") == cp.ARMED
        done = ("its watchdog is rolling the change back" if pending else
                f"its {late.get('by')} ended it: {late.get('outcome')}, {len(late.get('commands') or [])} commands")
        raise WindowFailed(f"checkpoint {record['id']} reached its deadline (checkpoint.timeout={record['timeout']:g} s) "
                           f"before the window ended; {done}. Nothing is left to confirm: raise checkpoint.timeout",
                           {**report, **result, "outcome": late.get("outcome"), **({} if pending else {"rollback": late})},
                           pending or late.get("outcome") != cp.ROLLED_BACK)
    report["checkpoint"] = cp.describe(store.load() or record, time.time())
    return dict(result, **report, outcome="armed")


def confirmed_change(namespace, guests, planner, view, root: str, checkpoint_id: str, check_mode: bool,
                     save=None) -> dict:
    """`checkpoint.confirm`: confirm `checkpoint_id` if the host is in the state the task describes, then
    `save(result, devices)`: the files, for the devices whose files the arming run checked (None: not known).

    The window's second run is the same task with the id: it confirms what it can see, over the fresh connection
    that reached the host, and changes nothing in the network. A host that differs (the watchdog rolled back
    meanwhile, a change since) is refused with what differs, and nothing is confirmed."""
    snapshot, plan = preview(namespace, guests, planner)
    store = cp.Store(namespace, root)
    record, last = store.load(), store.last() or {}
    mine = (record if record is not None and record["id"] == checkpoint_id
            else last if last.get("id") == checkpoint_id else {})
    if plan:
        commands = plan.commands(namespace)
        differs = (f"the host is not in the state this task describes ({len(commands)} operation(s) would be "
                   f"needed: {'; '.join(commands[:3])}{'; ...' if len(commands) > 3 else ''})")
        if record is not None and mine is record:
            raise cp.CheckpointError(
                f"checkpoint.confirm: {differs}: checkpoint {checkpoint_id} was NOT confirmed and its watchdog rolls the change back in "
                f"{max(0, round(cp.remaining(record)))} s. If the host is as the change should leave it, this task's "
                f"lists differ from those of the run that armed it: give it the same lists and run it again")
        if record is None and mine.get("outcome") == cp.CONFIRMED:
            raise cp.CheckpointError(
                f"checkpoint.confirm: {differs}: checkpoint {checkpoint_id} IS confirmed ({cp.iso(mine['at'])} by {mine['by']}) and "
                f"its change is kept; the host changed since (or this task's lists differ from those of the run "
                f"that armed it), so no file was written")
        # Too late, or not this host's checkpoint: that first, then how the host differs.
        raise cp.CheckpointError(
            f"checkpoint.confirm: checkpoint {checkpoint_id} was NOT confirmed: "
            f"{_unprefixed(window.not_armed(store, checkpoint_id, record))}; {differs}")
    kept = mine.get("persist_devices")
    if save is not None and kept is not None and not (isinstance(kept, list) and all(
            isinstance(name, str) and not name_problem(name) for name in kept)):
        raise cp.CheckpointError(f"checkpoint.confirm: the record of checkpoint {checkpoint_id} is damaged: its "
                                 f"persist_devices is not a list of interface names ({str(kept)[:80]}); nothing was "
                                 f"confirmed: give checkpoint.persist.devices to write the files of those devices")
    warnings = [] if save is not None or kept is None else [
        f"checkpoint.persist not given: the network files the arming run checked ({', '.join(map(str, kept))}) were "
        f"not written; until they are, the host boots into its previous network configuration"]
    try:
        result = confirming.confirm(store, checkpoint_id, check_mode, "net_state")
    except cp.CheckpointError as exc:   # window's refusals name net_checkpoint's `id`: this task's is checkpoint.confirm
        raise cp.CheckpointError(f"checkpoint.confirm: {_unprefixed(str(exc))}; nothing was confirmed") from None
    confirmation = result.pop("outcome", None) or (result["last"] if not result["changed"] else None)
    result.pop("armed", None)
    state = view(snapshot.host)
    result = dict(result, outcome="confirmed", commands=[], operations=[], state=state,
                  diff={"before": state, "after": state}, warnings=[*result.get("warnings", []), *plan.warnings, *warnings])
    if confirmation is not None:
        result["confirmation"] = confirmation
    if save is not None:
        save(result, kept)
    if not check_mode:
        result["warnings"] = [*result["warnings"], *nm_hands.held_warning(namespace)]
    result.pop("last", None)   # what the save needed: net_state returns `confirmation`
    return result
