# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The four things a change window asks of the host: arm, confirm, roll back, query.

net_checkpoint calls these; the watchdog calls `roll_back_record` for its own
rollback, so the module and the watchdog restore a snapshot the same way and
leave the same report in last.json.
"""
from __future__ import annotations

import errno
import json
import syslog
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import nm_hands
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.announce import announce
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import (
    NamespaceNotFound, Netlink, namespace_path,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.rollback import in_scope, roll_back, warnings_beyond_left


UNWRITTEN_KEPT = 1000     # log lines a process keeps while its log cannot be written (the oldest go first)
_unwritten = {"lines": [], "error": None, "errno": None}


def log(store: cp.Store, text: str) -> bool:
    """One line to the journal (syslog) and to the run directory's log; both best effort.

    A line the log file refuses (a full /run) is kept, and written before the
    next line that fits: the watchdog's log says afterwards what happened
    while it could not be written. True when the file has every line.
    """
    line = f"checkpoint {store.scope}: {text}"
    try:
        syslog.openlog("netsafe-checkpoint", syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_WARNING, line)
    except OSError:
        pass
    _unwritten["lines"] = (_unwritten["lines"] + [f"{cp.iso(time.time())} {line}\n"])[-UNWRITTEN_KEPT:]
    return flush_log(store)


def flush_log(store: cp.Store) -> bool:
    """Write the log lines kept so far; True when none is left."""
    if not _unwritten["lines"]:
        return True
    text = "".join(_unwritten["lines"])
    try:
        with open(store.run_path(cp.LOG), "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        _unwritten["error"], _unwritten["errno"] = f"{store.run_path(cp.LOG)}: {cp.why(exc)}", exc.errno
        return False
    _unwritten["lines"] = []
    return True


def unwritten_log() -> str | None:
    """What keeps log lines from the file ('<path>: <error>'), or None when every line is written."""
    return _unwritten["error"] if _unwritten["lines"] else None


def log_waits_for_space() -> bool:
    """Log lines are kept because their file system is full: worth waiting for (a log whose directory was
    removed is not)."""
    return bool(_unwritten["lines"]) and _unwritten["errno"] in (errno.ENOSPC, errno.EDQUOT)


def namespace_gone(namespace) -> bool:
    """The record's namespace no longer exists (never true for the host itself)."""
    if not namespace:
        return False
    try:
        namespace_path(namespace)
    except NamespaceNotFound:
        return True
    return False


def fingerprint(host: HostNetwork) -> str:
    """What the change window changes, without what moves by itself (carrier, ifindex)."""
    devices = []
    for item in host.to_dict()["devices"]:
        devices.append({k: v for k, v in item.items() if k not in ("operstate", "index")})
    return json.dumps(devices, sort_keys=True)


def snapshot(namespace, guests: GuestMatcher) -> HostNetwork:
    with Netlink(namespace) as netlink:
        return read_host(netlink, guests).host


def query(store: cp.Store) -> dict:
    """What is armed and what happened last; a warning for each state that needs the operator: an orphaned
    checkpoint (nothing will roll back at its deadline), a failed rollback (the change stays), a pending outcome."""
    now = time.time()
    record = store.load()
    result = {"armed": record is not None, "checkpoint": cp.describe(record, now) if record else None,
              "last": store.last()}
    pending = None if record else cp.pending_outcome(store, result["last"])
    if pending:
        result["pending"] = pending
    warnings = [cp.orphan_advice(result["checkpoint"])] if record and result["checkpoint"]["orphaned"] else []
    failed = failed_rollback(store)
    if failed and not record:
        warnings.append(failed_advice(store, failed))
    warnings += [pending["problem"]] if pending else []
    if warnings:
        result["warnings"] = warnings
    return result


def failed_rollback(store: cp.Store):
    """last.json, when it tells of a rollback that failed and nobody resolved since (the network still has the
    change); else None."""
    last = store.last()
    return last if last and last.get("outcome") == cp.ROLLBACK_FAILED else None


def failed_advice(store: cp.Store, last: dict) -> str:
    """What a failed rollback means and the operator's two ways out: try it again, or keep the network as it is."""
    ident = last["id"]
    text = (f"the rollback of checkpoint {ident} failed at {cp.iso(last.get('at'))} "
            f"({'; '.join(last.get('errors') or []) or 'no error recorded'}); the network still has the change")
    if store.failed(ident) is not None:
        return (text + f". Its snapshot is kept: state=rolled_back (id={ident}) tries the rollback again, "
                       f"state=confirmed with id={ident} keeps the network as it is now")
    return (text + f". Its snapshot was not kept ({store.state_path(cp.FAILED)}): check the host by hand, then "
                   f"state=confirmed with id={ident} keeps the network as it is now")


def accept_failed(store: cp.Store, last: dict, check_mode: bool, by: str = "net_checkpoint") -> dict:
    """state=confirmed for a checkpoint whose rollback failed: the network stays as it is, the window is closed
    (last.json says so) and its kept snapshot goes."""
    if check_mode:
        return {"changed": True}
    with store:
        outcome = dict(last, outcome=cp.CONFIRMED, at=time.time(), by=by, not_written=[],
                       reason="the network as it was after the failed rollback was kept (confirmed by request)",
                       rollback_failed={k: last.get(k) for k in ("at", "by", "reason", "errors")})
        for key in ("commands", "snapshot_kept", "started_at", "started_after_deadline_ms"):
            outcome.pop(key, None)
        store.record_outcome(outcome)
        store.drop_failed()
    log(store, f"{last['id']}: the network after its failed rollback is kept (confirmed)")
    return {"changed": True, "outcome": outcome}


def refuse_after_failure(store: cp.Store) -> None:
    """No new window over one whose rollback failed: its change is still there (like an orphan, it is resolved
    first: tried again, or kept)."""
    failed = failed_rollback(store)
    if failed:
        raise cp.CheckpointError(f"cannot arm: {failed_advice(store, failed)}")


def refuse_second(store: cp.Store, record: dict) -> None:
    view = cp.describe(record, time.time())
    if view["orphaned"]:
        raise cp.CheckpointError(f"cannot arm: {cp.orphan_advice(view)}")
    raise cp.CheckpointError(
        f"cannot arm: checkpoint {view['id']} is already armed on {store.scope} since {view['armed_at']} "
        f"({view['age']} s ago), deadline {view['deadline_at']} (in {view['remaining']} s), watchdog pid "
        f"{view['watchdog']['pid']}; one change window at a time. Confirm it (state=confirmed, id={view['id']}), "
        f"roll it back (state=rolled_back), or wait for its deadline")


def new_record(namespace, host: HostNetwork, timeout: float, devices, probes, gate_settle: float, guest_patterns) -> dict:
    """A record to arm: the deadline on CLOCK_BOOTTIME (what counts) and on the wall clock (what is shown)."""
    now, booted = time.time(), cp.boottime()
    return {"id": cp.new_id(now), "namespace": namespace, "created": now, "deadline": now + timeout,
            "created_boottime": booted, "deadline_boottime": booted + timeout, "timeout": timeout,
            "devices": devices, "probes": probes, "gate_settle": gate_settle,
            "guest_patterns": list(guest_patterns), "boot_id": cp.boot_id(), "state": cp.ARMED, "watchdog": None,
            "snapshot": host.to_dict(facts=True)}


def confirm(store: cp.Store, checkpoint_id: str, check_mode: bool, by: str = "net_checkpoint") -> dict:
    """Disarm `checkpoint_id`: the change stays. Under the lock, so a deadline cannot win at the same time
    (check mode reads without it: taking it would create the run directory)."""
    if check_mode:
        return {"changed": True, "checkpoint": cp.describe(_the_armed(store, checkpoint_id), time.time())}
    with store:
        record = _the_armed(store, checkpoint_id)
        if record["state"] != cp.ARMED:
            raise cp.CheckpointError(f"checkpoint {checkpoint_id} is {record['state']}; it can no longer be confirmed")
        # The record goes first, the watchdog second: a confirmation that cannot write last.json (a
        # full disk) still disarms, and never leaves an armed record without its watchdog.
        outcome = store.finish(record, {"outcome": cp.CONFIRMED, "at": time.time(), "by": by,
                                        "reason": "confirmed over a fresh connection",
                                        "before_deadline": round(cp.remaining(record), 3),
                                        **({"persist_devices": record["persist_devices"]}
                                           if "persist_devices" in record else {})})
        cp.stop_watchdog(record)
    log(store, f"{checkpoint_id} confirmed {outcome['before_deadline']} s before its deadline")
    return {"changed": True, "outcome": outcome}


def _the_armed(store: cp.Store, checkpoint_id: str) -> dict:
    """The armed record, when it is `checkpoint_id`; else a CheckpointError saying what is armed."""
    record = store.load()
    if record is None or record["id"] != checkpoint_id:
        raise cp.CheckpointError(not_armed(store, checkpoint_id, record))
    return record


def not_armed(store: cp.Store, checkpoint_id: str, record) -> str:
    if record is not None:
        return (f"id: checkpoint {checkpoint_id} is not the one armed on {store.scope}; "
                f"{record['id']} is (armed {cp.iso(record['created'])})")
    last = store.last()
    if last and last.get("id") == checkpoint_id:
        return (f"checkpoint {checkpoint_id} is no longer armed: {last['outcome']} at {cp.iso(last['at'])} "
                f"by {last['by']} ({last['reason']})")
    return f"id: no checkpoint {checkpoint_id} on {store.scope}; nothing is armed there"


def _announce(namespace, guests: GuestMatcher) -> list:
    """Gratuitous ARP and unsolicited NA for the restored host, so that switches find it on its old ports at once."""
    try:
        with Netlink(namespace) as netlink:
            current = read_host(netlink, guests)
        return announce(namespace, current.host, current.index_of)
    except (OSError, LookupError) as exc:
        return [str(exc)]


def roll_back_record(store: cp.Store, record: dict, reason: str, by: str, check_mode: bool = False,
                     writer: Writer = Writer()) -> dict:
    """Restore `record`'s snapshot through the core; must be called holding the store's lock.

    The host's network lock is taken first: while another change holds it
    past `writer`'s timeout, LockTimeout propagates and the checkpoint stays
    armed, untouched, for the next attempt. A rollback the kernel refuses or
    that does not converge is undone by the core (the host stays as it was)
    and tried once more from the state read again; the outcome says what
    happened either way.
    """
    guests = GuestMatcher(record["guest_patterns"])
    target = HostNetwork.from_dict(record["snapshot"])
    if check_mode:
        result = roll_back(record["namespace"], target, guests, record["devices"], check_mode=True)
        return {"changed": result["changed"], "commands": result["commands"], "left": result["left"],
                **({"warnings": result["warnings"]} if result.get("warnings") else {})}
    with writer.lock(record["namespace"]) as lock:
        if namespace_gone(record["namespace"]):
            return close_gone(store, record, by)
        return _roll_back_locked(store, record, reason, by, writer, guests, target, lock.problems)


def close_gone(store: cp.Store, record: dict, by: str) -> dict:
    """Close a checkpoint whose namespace was deleted (or replaced) while armed: nothing is left to roll back."""
    reason = (f"namespace {record['namespace']} was deleted (or replaced by another of that name) while the "
              f"checkpoint was armed: nothing is left to roll back")
    log(store, f"{record['id']}: {reason}; closed as {cp.NAMESPACE_GONE}")
    outcome = store.finish(record, {"outcome": cp.NAMESPACE_GONE, "at": time.time(), "by": by, "reason": reason,
                                    "commands": [], "errors": []})
    return {"changed": False, "outcome": outcome}


def _late_ms(record: dict) -> float:
    """Milliseconds past the deadline (negative before it), on the deadline's own clock."""
    return round(-cp.remaining(record) * 1000, 1)


def _roll_back_locked(store: cp.Store, record: dict, reason: str, by: str, writer: Writer, guests, target,
                      lock_problems=()) -> dict:
    """The rollback itself. Every write here is best effort: a full disk changes what is recorded, never
    whether the host is restored; what could not be written is listed in the outcome's `not_written`."""
    started, started_late = time.time(), _late_ms(record)
    log(store, f"{record['id']}: rolling back ({reason})")
    record["state"] = cp.ROLLING_BACK
    not_written = [f"the network lock: {line}" for line in lock_problems]
    not_written += store.try_save(record)
    commands, errors, left = [], [], []
    for _attempt in range(2):
        try:
            result = roll_back(record["namespace"], target, guests, record["devices"], writer=writer)
        except (NetsafeError, OSError, LookupError) as exc:  # LookupError: the namespace is gone
            errors.append(str(exc))
            continue
        commands += result["commands"]
        left = result["left"]
        warnings = warnings_beyond_left(result.get("warnings", []), left)
        break
    else:
        kept = store.keep_failed(record)   # its snapshot, so that the operator can try again (failed_advice)
        outcome = _finish_rollback(store, record, not_written + kept, {
            "outcome": cp.ROLLBACK_FAILED, "at": time.time(), "by": by, "reason": reason, "errors": errors,
            "commands": commands, "started_at": started, "started_after_deadline_ms": started_late,
            "snapshot_kept": not kept})
        log(store, f"{record['id']}: ROLLBACK FAILED: {'; '.join(errors)}")
        return {"changed": bool(commands), "outcome": outcome, "failed": True}
    store.drop_failed()   # a failed rollback of this checkpoint, tried again: done
    # The profiles held for this window's changes (their files were never changed: they agree again); not those
    # held before it was armed, for a change confirmed without its files.
    warnings += nm_hands.give_back(record["namespace"],
                                   since=record["created_boottime"] if cp.on_boottime(record) else None)
    finished, finished_late = time.time(), _late_ms(record)
    announce_errors = _announce(record["namespace"], guests) if commands else []
    outcome = _finish_rollback(store, record, not_written, {
        "outcome": cp.ROLLED_BACK, "at": finished, "by": by, "reason": reason, "commands": commands,
        "errors": errors, "announce_errors": announce_errors, "duration_ms": round((finished - started) * 1000, 1),
        "started_at": started, "started_after_deadline_ms": started_late, "after_deadline_ms": finished_late,
        "devices_restored": len(in_scope(target, target, record["devices"])), "left": left, "warnings": warnings})
    log(store, f"{record['id']}: rolled back in {outcome['duration_ms']} ms with {len(commands)} commands"
               + "".join(f"; left in place: {item['device']} ({item['reason']})" for item in left)
               + "".join(f"; warning: {w}" for w in warnings))
    return {"changed": bool(commands), "outcome": outcome, **({"warnings": warnings} if warnings else {})}


def _finish_rollback(store: cp.Store, record: dict, not_written: list, outcome: dict) -> dict:
    """store.finish() with what could not be written so far (the log included); the log then says all of it."""
    if unwritten_log():
        not_written = not_written + [f"the log: {unwritten_log()} (its lines are kept and written once it fits)"]
    outcome = store.finish(record, dict(outcome, not_written=not_written))
    if outcome["not_written"]:
        log(store, f"{record['id']}: could not write: " + "; ".join(outcome["not_written"]))
    return outcome
