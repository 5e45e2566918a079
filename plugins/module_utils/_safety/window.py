# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The four things a change window asks of the host: arm, confirm, roll back, query.

net_checkpoint calls these; the watchdog calls `roll_back_record` for its own
rollback, so the module and the watchdog restore a snapshot the same way and
leave the same report in last.json.
"""
from __future__ import annotations

import json
import syslog
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.announce import announce
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.rollback import in_scope, roll_back


def log(store: cp.Store, text: str) -> None:
    """One line to the journal (syslog) and to the run directory's log; both best effort."""
    line = f"checkpoint {store.scope}: {text}"
    try:
        syslog.openlog("netsafe-checkpoint", syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_WARNING, line)
    except OSError:
        pass
    try:
        with open(store.run_path(cp.LOG), "a", encoding="utf-8") as handle:
            handle.write(f"{cp.iso(time.time())} {line}\n")
    except OSError:
        pass


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
    now = time.time()
    record = store.load()
    return {"armed": record is not None, "checkpoint": cp.describe(record, now) if record else None,
            "last": store.last()}


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
    now = time.time()
    return {"id": cp.new_id(now), "namespace": namespace, "created": now, "deadline": now + timeout,
            "timeout": timeout, "devices": devices, "probes": probes, "gate_settle": gate_settle,
            "guest_patterns": list(guest_patterns), "boot_id": cp.boot_id(), "state": cp.ARMED, "watchdog": None,
            "snapshot": host.to_dict()}


def confirm(store: cp.Store, checkpoint_id: str, check_mode: bool) -> dict:
    """Disarm `checkpoint_id`: the change stays. Under the lock, so a deadline cannot win at the same time."""
    with store:
        record = store.load()
        if record is None or record["id"] != checkpoint_id:
            raise cp.CheckpointError(not_armed(store, checkpoint_id, record))
        if check_mode:
            return {"changed": True, "checkpoint": cp.describe(record, time.time())}
        if record["state"] != cp.ARMED:
            raise cp.CheckpointError(f"checkpoint {checkpoint_id} is {record['state']}; it can no longer be confirmed")
        cp.stop_watchdog(record)
        now = time.time()
        outcome = store.finish(record, {"outcome": cp.CONFIRMED, "at": now, "by": "net_checkpoint",
                                        "reason": "confirmed over a fresh connection",
                                        "before_deadline": round(record["deadline"] - now, 3)})
    log(store, f"{checkpoint_id} confirmed {outcome['before_deadline']} s before its deadline")
    return {"changed": True, "outcome": outcome}


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
        return {"changed": result["changed"], "commands": result["commands"], "left": result["left"]}
    with writer.lock(record["namespace"]):
        return _roll_back_locked(store, record, reason, by, writer, guests, target)


def _roll_back_locked(store: cp.Store, record: dict, reason: str, by: str, writer: Writer, guests, target) -> dict:
    started = time.time()
    record["state"] = cp.ROLLING_BACK
    store.save(record)
    log(store, f"{record['id']}: rolling back ({reason})")
    commands, errors, left = [], [], []
    for _attempt in range(2):
        try:
            result = roll_back(record["namespace"], target, guests, record["devices"], writer=writer)
        except (NetsafeError, OSError, LookupError) as exc:  # LookupError: the namespace is gone
            errors.append(str(exc))
            continue
        commands += result["commands"]
        left = result["left"]
        break
    else:
        outcome = store.finish(record, {"outcome": cp.ROLLBACK_FAILED, "at": time.time(), "by": by, "reason": reason,
                                        "errors": errors, "commands": commands})
        log(store, f"{record['id']}: ROLLBACK FAILED: {'; '.join(errors)}")
        return {"changed": bool(commands), "outcome": outcome, "failed": True}
    finished = time.time()
    announce_errors = _announce(record["namespace"], guests) if commands else []
    outcome = store.finish(record, {
        "outcome": cp.ROLLED_BACK, "at": finished, "by": by, "reason": reason, "commands": commands,
        "errors": errors, "announce_errors": announce_errors, "duration_ms": round((finished - started) * 1000, 1),
        "after_deadline_ms": round((finished - record["deadline"]) * 1000, 1),
        "devices_restored": len(in_scope(target, target, record["devices"])), "left": left})
    log(store, f"{record['id']}: rolled back in {outcome['duration_ms']} ms with {len(commands)} commands"
               + "".join(f"; left in place: {item['device']} ({item['reason']})" for item in left))
    return {"changed": bool(commands), "outcome": outcome}
