# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Arming a checkpoint: what net_checkpoint (state=armed) and net_state (its `checkpoint`) both do.

A snapshot of the host, kept where the watchdog finds it, and the watchdog
started; refused while another checkpoint is armed or a rollback failed.
"""
from __future__ import annotations

import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes, watchdog, window


WATCHDOG_START = 60  # seconds a new watchdog may take to report ready (a slow or emulated host)


def arm_problems(timeout: float, gate_settle: float, probe_specs) -> list:
    """What is wrong with the options of a checkpoint to arm, each naming its option."""
    problems = []
    if not 5 <= timeout <= 86400:
        problems.append(f"timeout: {timeout} is out of range; allowed 5-86400 seconds")
    if not 0 <= gate_settle <= 3600:
        problems.append(f"gate_settle: {gate_settle} is out of range; allowed 0-3600 seconds")
    return problems + probes.probe_problems(probe_specs)


def arm(store: cp.Store, writer: Writer, guest_patterns: list, timeout: float, devices, normalized_probes,
        gate_settle: float, root: str, watchdog_kind: str, watchdog_start: float = WATCHDOG_START,
        keep=None) -> dict:
    """Snapshot the host (under its network lock, so never another writer's half-made change), keep the record,
    start its watchdog; the armed record. Refused while another checkpoint is armed or a rollback failed.
    `keep`: more for the record to carry to its confirmation (net_state: the devices whose files were checked)."""
    with store:
        record = store.load()
        if record is not None:
            window.refuse_second(store, record)
        window.refuse_after_failure(store)
        with writer.lock(store.namespace):
            host = window.snapshot(store.namespace, GuestMatcher(guest_patterns))
        record = window.new_record(store.namespace, host, timeout, devices, normalized_probes, gate_settle,
                                   guest_patterns)
        record.update(keep or {})
        try:
            store.save(record)
            try:
                record["watchdog"] = watchdog.spawn(store, record, root, watchdog_kind, watchdog_start)
            except BaseException:
                store.finish(record, {"outcome": cp.DISCARDED, "at": time.time(), "by": "net_checkpoint",
                                      "reason": "the watchdog did not start"})
                raise
            store.save(record)
        except OSError as exc:   # a full or read-only disk: a checkpoint that cannot be kept is not armed
            raise cp.CheckpointError(f"cannot arm: {exc.strerror or exc}; nothing was armed and the network was "
                                     f"not touched") from None
    window.log(store, f"{record['id']} armed for {timeout} s, watchdog {record['watchdog']['kind']} "
               f"pid {record['watchdog']['pid']}")
    return record
