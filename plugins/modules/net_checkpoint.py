#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a rollback armed on the host itself (commit confirmed for a hypervisor's network)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: net_checkpoint
short_description: Arm, confirm or roll back a checkpoint of a hypervisor's network, guarded by a watchdog on the host
version_added: 0.1.0
description:
  - The host's side of a change window, like Junos C(commit confirmed). V(armed) takes a complete snapshot of the
    network (bridges, bonds, VLANs, NICs with their addresses and default routes, and which bridge every guest port
    is on), stores it on the host and starts a watchdog there. Unless the checkpoint is confirmed before O(timeout)
    seconds pass, the watchdog restores the snapshot by itself, whatever happened to the module, the SSH session or
    the controller.
  - V(confirmed) disarms it and keeps the change. Confirm only from a task that reached the host over the network
    as it is now; the role P(netsafe.hypervisor.change_window#role) resets the connection first.
  - V(rolled_back) restores the snapshot now. V(query) reports what is armed, since when, until when, whether its
    watchdog runs, and what happened to the last checkpoint; it warns when an armed checkpoint is orphaned (nothing
    will roll back at its deadline) and when the last rollback failed (the change is still there).
  - A rollback that fails (the kernel refuses it twice, or it does not converge) leaves the network as it was before
    the rollback, records V(rollback_failed) and keeps the checkpoint's snapshot (C(failed.json) in the state
    directory). Until the operator resolves it, V(armed) is refused, as over an orphaned checkpoint. V(rolled_back)
    (with its O(id) or without) tries the rollback again from that snapshot; V(confirmed) with its O(id) keeps the
    network as it is now and closes the window.
  - One checkpoint per host (or per O(namespace)) at a time. Arming while one is armed fails and names it, its age
    and its deadline. A checkpoint whose watchdog died, or that was armed before a reboot, is reported as orphaned;
    V(rolled_back) still restores it and V(confirmed) keeps the network as it is.
  - A rollback is one plan from the current state to the snapshot, made by the same planners as every other module
    (devices the change built are deleted, the snapshot's devices planned back, guest ports re-attached), applied,
    verified and undone if the kernel refuses it. It is logged to syslog (the journal) and to C(last.json), which the
    next V(query) reports.
  - A rollback never detaches a guest. Guest plumbing made while the checkpoint was armed stays, and so does a
    guest port the hypervisor plugged onto it. A guest started in the window keeps Proxmox VE's firewall bridge
    C(fwbr<vmid>i<n>), its VLAN bridge C(<bridge>v<tag>) with its VLAN uplink, a libvirt network's C(virbr<n>), or
    a new bridge it joined. The outcome's C(left) names each one with the reason.
  - A new bridge, bond or VLAN stays only for what it carries that the change cannot have made, a guest port that
    joined since the checkpoint or a new device of a kind netsafe never creates (a container's veth, a macvlan, a
    vxlan, a tap); a name alone keeps nothing. What stays gives back what the snapshot has, its ports, addresses and
    default routes, listed in C(taken_back) of its C(left) entry.
  - The snapshot is kept in C(/run/netsafe/checkpoint/) and copied to C(/var/lib/netsafe/checkpoint/), so that a
    checkpoint armed before a power cut is found after the reboot. The host boots into its persistent configuration
    (write it only after confirming, with O(persist) in the same task or with M(netsafe.hypervisor.net_persist)).
  - The deadline is kept on the host's C(CLOCK_BOOTTIME), with the boot id, so a wall-clock step (NTP, an operator)
    neither brings a rollback forward nor delays it; times in results are wall-clock times for display.
  - While a checkpoint is armed its watchdog does not exit without rolling back, whatever fails around it
    (a full C(/var/lib) or C(/run), gate probes that take long, an unexpected error, which it logs and retries). Its
    namespace deleted while armed closes the checkpoint as V(namespace_gone). What could not be written during a
    rollback is listed in C(not_written) of RV(last) and written once there is space again.
  - SIGTERM or SIGINT to an armed watchdog (C(kill), C(systemctl stop)) makes it roll back at once, the reason naming
    the signal; once the checkpoint is confirmed or rolled back they end it quietly. Other signals that would end it
    are ignored. V(query) reports a checkpoint whose watchdog is alive but has not rolled back 2 s after the deadline
    as C(overdue), with the reason (stopped, or waiting for another writer).
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
extends_documentation_fragment:
  - netsafe.hypervisor.network
  - netsafe.hypervisor.probes
options:
  state:
    description:
      - V(armed) snapshots and starts the watchdog; V(confirmed) disarms (needs O(id)); V(rolled_back) restores the
        snapshot now; V(query) changes nothing.
    type: str
    choices: [armed, confirmed, rolled_back, query]
    default: query
  id:
    description:
      - The checkpoint id that V(armed) returned. Required with O(state=confirmed), so that a late confirmation
        never disarms another window. With O(state=rolled_back), optional; when given it must name the armed one
        (or the last one, whose rollback failed, to try it again).
    type: str
  timeout:
    description:
      - Seconds from arming until the watchdog rolls back an unconfirmed checkpoint, 5-86400.
    type: float
    default: 120
  devices:
    description:
      - Limit the rollback to these devices and what they stand on in the snapshot (the ports of a bridge or bond, a
        VLAN's parent), with their addresses and routes. Name the devices the change will create too, or a rollback
        leaves them.
      - Default, every device of the host. Guest port memberships are always restored.
    type: list
    elements: str
  probes:
    description:
      - Connectivity probes the watchdog runs on the host after the change (the same entries as
        M(netsafe.hypervisor.net_probe)'s O(netsafe.hypervisor.net_probe#module:probes)). Once the network differs
        from the snapshot and has not changed for O(gate_settle) seconds, the watchdog runs them; if a required probe
        fails it rolls back at once instead of waiting for the deadline. They run again whenever the network changes
        again, and once after a rollback (reported in RV(last)).
      - Empty (the default), the watchdog only keeps the deadline.
    type: list
    elements: dict
    default: []
  gate_settle:
    description:
      - Seconds the network must stay unchanged before the gate probes run, 0-3600. A change applied in several
        tasks should not leave the host unreachable for longer than this between two of them.
    type: float
    default: 5
  watchdog:
    description:
      - How the watchdog is started. V(systemd), a transient unit through C(systemd-run) (needs systemd as PID 1;
        falls back to V(detached), saying why). V(detached), a process in its own session with no terminal and no
        inherited descriptors. V(auto), systemd when systemd runs, otherwise detached.
    type: str
    choices: [auto, systemd, detached]
    default: auto
  root:
    description:
      - Where the host's C(/) is. Tests point it at a scratch tree; leave it alone on a real host (the watchdog, the
        C(change_window) role and other tasks look for checkpoints under the real C(/run/netsafe)).
      - A path that C(..) or a symlink leads out of O(root) fails, naming it, before anything is created.
      - Every directory under C(/run/netsafe) and C(/var/lib/netsafe) is made 0700 and root's whatever the umask;
        one that is a symlink, another user's or writable by others fails the task, naming it, and nothing is armed.
    type: path
    default: /
  persist:
    description:
      - With O(state=confirmed), write the host's network files for the network as confirmed, as
        M(netsafe.hypervisor.net_persist) with O(netsafe.hypervisor.net_persist#module:state=saved) does, in the
        same task. The suboptions are net_persist's and mean the same; O(root) and O(namespace) are this task's.
      - The files are written only after the confirmation succeeded; a confirmation that fails writes nothing.
        Options a save would refuse before reading any file (O(persist.path) or O(persist.backup_dir) out of
        O(root), a negative O(persist.backup_keep), a format that cannot be detected) fail the task before the
        confirmation, naming them; nothing is confirmed.
      - If the save fails after the confirmation (a stanza the format cannot write, staged Proxmox VE changes, a
        full disk), the task fails with C(changed=true) and a message that says the change IS confirmed and kept,
        the files were NOT written and why, and how to write them (net_persist with O(state=saved), or this task
        again with the same O(id), which finds the checkpoint confirmed and tries the save again).
      - In check mode, the confirmation and the save are both checked; nothing is written.
      - Refused with any other O(state).
    type: dict
    suboptions:
      format:
        description:
          - The network stack whose files are written (V(auto) detects it); see
            M(netsafe.hypervisor.net_persist)'s O(netsafe.hypervisor.net_persist#module:format).
        type: str
        choices: [auto, ifupdown2, networkmanager, networkd, netplan]
        default: auto
      devices:
        description:
          - The devices whose descriptions are written, with what they stand on; default, every bridge, bond and VLAN
            of the host and the NICs beneath them. See M(netsafe.hypervisor.net_persist)'s
            O(netsafe.hypervisor.net_persist#module:devices).
        type: list
        elements: str
      path:
        description:
          - The main file (V(ifupdown2)) or directory, as the host sees it, inside O(root); defaults to the
            format's usual place.
        type: path
      backup_dir:
        description:
          - Where the previous content of every replaced or removed file goes, inside O(root).
        type: path
        default: /var/lib/netsafe/backups
      backup_keep:
        description:
          - How many backup run directories to keep, the newest; V(0) keeps every backup.
        type: int
        default: 10
      pending_changes:
        description:
          - What to do when Proxmox VE's web UI has staged changes in C(/etc/network/interfaces.new); see
            M(netsafe.hypervisor.net_persist)'s O(netsafe.hypervisor.net_persist#module:pending_changes).
        type: str
        choices: [refuse, discard, keep]
        default: refuse
notes:
  - Check mode changes nothing and writes nothing (not even the checkpoint's lock file). V(armed) reports whether it
    would be refused; V(rolled_back) reports the rollback plan.
  - Routes other than the default routes, bridge ageing and multicast settings, and bridge port cost and priority
    are not part of the snapshot.
seealso:
  - module: netsafe.hypervisor.net_probe
  - module: netsafe.hypervisor.net_persist
"""

EXAMPLES = r"""
- name: Arm a rollback that fires in two minutes unless confirmed
  netsafe.hypervisor.net_checkpoint:
    state: armed
    timeout: 120
    probes:
      - {type: icmp, target: 192.0.2.1}
      - {type: tcp, target: 192.0.2.50, port: 443}
  register: checkpoint

- name: Move vmbr0 to the bond
  netsafe.hypervisor.net_bridge:
    name: vmbr0
    ports: [bond0]

- name: Reach the host again over the network as it is now
  ansible.builtin.meta: reset_connection

- name: Confirm
  netsafe.hypervisor.net_checkpoint:
    state: confirmed
    id: "{{ checkpoint.checkpoint.id }}"

- name: Confirm, then write the network files for the confirmed network (Proxmox VE)
  netsafe.hypervisor.net_checkpoint:
    state: confirmed
    id: "{{ checkpoint.checkpoint.id }}"
    persist:
      format: ifupdown2
      devices: [vmbr0, bond0]
  register: confirmed

- name: What is armed, and what happened to the last checkpoint
  netsafe.hypervisor.net_checkpoint:
    state: query
  register: window
"""

RETURN = r"""
armed:
  description: Whether a checkpoint is armed after the task.
  returned: always
  type: bool
checkpoint:
  description: The armed checkpoint (after V(armed), or found by V(query)), without its snapshot.
  returned: when one is armed
  type: dict
  contains:
    id: {description: Give it to O(state=confirmed)., type: str, returned: always}
    armed_at: {description: "When it was armed (UTC, ISO 8601).", type: str, returned: always}
    deadline_at: {description: "When the watchdog rolls back (UTC, ISO 8601).", type: str, returned: always}
    remaining: {description: Seconds left until the deadline., type: float, returned: always}
    watchdog: {description: "C(kind) (V(systemd) or V(detached)), C(pid), C(unit), C(fallback).", type: dict, returned: always}
    watchdog_alive: {description: Whether the watchdog runs., type: bool, returned: always}
    orphaned: {description: "The watchdog is gone (died, or a reboot); see C(problem).", type: bool, returned: always}
    overdue: {description: "Still armed, the watchdog alive, the deadline more than 2 s ago; see C(problem).",
              type: bool, returned: always}
    problem: {description: Why the checkpoint needs an operator (orphaned or overdue)., type: str,
              returned: when orphaned or overdue}
  sample: {"id": "20261128T020001Z-3fa2c1", "deadline_at": "2026-11-28T02:02:01.000Z", "remaining": 119.8}
outcome:
  description: What this task did to the checkpoint; also kept as RV(last).
  returned: when O(state) is V(confirmed) or V(rolled_back) and something was armed
  type: dict
last:
  description:
    - What happened to the last checkpoint that is no longer armed. C(outcome) (V(confirmed), V(rolled_back),
      V(rollback_failed), V(namespace_gone)), C(at), C(by) (the module or the watchdog's pid), C(reason),
      C(commands), C(duration_ms), C(started_after_deadline_ms) and C(after_deadline_ms) (on the deadline's clock),
      C(probes_after).
    - C(not_written), what could not be written while it happened (a full disk), one line each with the path and
      the error; C(recorded_late) when last.json itself was written late.
    - After a rollback, C(left) lists what it left in place on purpose (guest plumbing made while the checkpoint was
      armed, and guest ports the hypervisor plugged onto it), each C(device) with its C(reason), and C(taken_back)
      when the rollback took the snapshot's ports, addresses or default routes back from it (also in the reason).
    - A record that could not be removed when its checkpoint finished (a read-only C(/var/lib)) is named in
      C(not_written); the outcome bearing its id makes it history, never armed again.
    - After V(rollback_failed), C(errors) and C(snapshot_kept) (whether V(rolled_back) can try it again). A failed
      rollback the operator kept with V(confirmed) says so in C(reason), with the failure under C(rollback_failed).
  returned: always
  type: dict
pending:
  description:
    - A checkpoint its watchdog finished (rolled back) but whose outcome it could not write yet, because
      C(/var/lib/netsafe) and C(/run/netsafe) both refused; C(id), C(watchdog_pid), C(problem). RV(last) is then
      about the checkpoint before it.
  returned: when O(state=query) finds one
  type: dict
persist:
  description:
    - With O(persist), the result of saving the files after the confirmation, as
      M(netsafe.hypervisor.net_persist) returns it with O(netsafe.hypervisor.net_persist#module:state=saved)
      (in check mode, what would be written).
  returned: when O(persist) is given and the save succeeded
  type: dict
  contains:
    format: {description: The format used., type: str, returned: always}
    detected: {description: "With O(persist.format=auto), what on the host showed the format.", type: list,
               elements: str, returned: always}
    changed: {description: Whether files were (or would be) written., type: bool, returned: always}
    devices: {description: The devices in scope., type: list, elements: str, returned: always}
    removed_devices: {description: "Named devices the kernel no longer has, removed from the files.", type: list,
                      elements: str, returned: always}
    files: {description: "The files written (in check mode, that would be), each C(path) and C(action)
                          (V(created), V(updated), V(removed)).", type: list, elements: dict, returned: always}
    backups: {description: The backup of each replaced or removed file., type: list, elements: str, returned: always}
    pruned_backups: {description: Backup run directories removed to keep O(persist.backup_keep) of them., type: list,
                     elements: str, returned: when files were written}
    diff: {description: "Each file before and after; secret values replaced by C(********).", type: list,
           elements: dict, returned: always}
  sample: {"format": "ifupdown2", "changed": true, "files": [{"path": "/etc/network/interfaces", "action": "updated"}]}
diff:
  description: With O(persist), the files before and after (the same as C(persist.diff)), for C(--diff).
  returned: when O(persist) is given and the save succeeded
  type: list
  elements: dict
commands:
  description: The equivalent iproute2 commands of a rollback (planned, in check mode).
  returned: when O(state=rolled_back)
  type: list
  elements: str
left:
  description: In check mode with O(state=rolled_back), what the rollback would leave in place, each C(device) with
    its C(reason) (after a real rollback, see C(left) in RV(outcome) and RV(last)).
  returned: when O(state=rolled_back) in check mode
  type: list
  elements: dict
  sample: [{"device": "fwbr101i0", "reason": "Proxmox VE's firewall bridge of a guest NIC; carries guest ports fwln101i0, tap101i0"}]
"""

import contextlib
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import nm_hands
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import require_namespace
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import (
    NETWORK_ARGS, check_names, run_network_module, task_writer,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import spec as persist_spec
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import arming, confirming, probes, window

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["armed", "confirmed", "rolled_back", "query"], default="query"),
    id=dict(type="str"),
    timeout=dict(type="float", default=120),
    devices=dict(type="list", elements="str"),
    probes=dict(type="list", elements="dict", default=[], options=probes.PROBE_OPTIONS),
    gate_settle=dict(type="float", default=5),
    watchdog=dict(type="str", choices=["auto", "systemd", "detached"], default="auto"),
    root=dict(type="path", default="/"),
    persist=dict(type="dict", options=persist_spec.PERSIST_SPEC),
    **NETWORK_ARGS,
)
WATCHDOG_START = arming.WATCHDOG_START


def _validate(params) -> None:
    problems = []
    if params["state"] == "armed":
        problems += arming.arm_problems(params["timeout"], params["gate_settle"], params["probes"])
    if params["state"] == "confirmed" and not params["id"]:
        problems.append("id: required with state=confirmed; give the id that state=armed returned")
    if params["persist"] is not None and params["state"] != "confirmed":
        problems.append(f"persist: applies only with state=confirmed (the files are written once the change is "
                        f"confirmed), not with state={params['state']}; remove it, or save the files with "
                        f"netsafe.hypervisor.net_persist")
    if problems:
        raise ValidationError(problems)


def would_arm(module, store: cp.Store, guests: GuestMatcher) -> dict:
    """Check mode: what arming would do, read without the store's lock.

    Taking the lock would create the run directory and its lock file: check
    mode writes nothing. Records are replaced whole (write_atomic), so an
    unlocked read sees a whole one.
    """
    record = store.load()
    if record is not None:
        window.refuse_second(store, record)
    window.refuse_after_failure(store)
    host = window.snapshot(module.params["namespace"], guests)
    return {"changed": True, "armed": False, "last": store.last(),
            "msg": f"would arm a checkpoint of {len(host.devices)} devices for {module.params['timeout']} s"}


def arm(module, store: cp.Store) -> dict:
    params = module.params
    guests = GuestMatcher(params["guest_patterns"])
    if module.check_mode:
        return would_arm(module, store, guests)
    record = arming.arm(store, task_writer(module), params["guest_patterns"], params["timeout"], params["devices"],
                        probes.normalize(params["probes"]), params["gate_settle"], params["root"], params["watchdog"],
                        WATCHDOG_START)
    result = {"changed": True, "armed": True, "checkpoint": cp.describe(record, time.time()), "last": store.last()}
    if record["watchdog"].get("fallback"):
        result["warnings"] = [f"watchdog: {record['watchdog']['fallback']}"]
    return result


def _locked(store: cp.Store, check_mode: bool):
    """The store's lock for a change; none in check mode, which writes nothing (taking the lock would create the
    run directory and its lock file). Records are replaced whole (write_atomic): an unlocked read sees a whole one."""
    return contextlib.nullcontext() if check_mode else store


def _to_retry(store: cp.Store, wanted_id):
    """With nothing armed: the kept record of the last checkpoint, when its rollback failed (and `wanted_id`, if
    given, names it), to be rolled back again; None when there is nothing to do. A failed rollback whose
    snapshot was not kept is a CheckpointError that says what to do."""
    last = window.failed_rollback(store)
    if last is None or wanted_id not in (None, last["id"]):
        last = store.last()
        if wanted_id and not (last and last.get("id") == wanted_id and last["outcome"] == cp.ROLLED_BACK):
            raise cp.CheckpointError(window.not_armed(store, wanted_id, None))
        return None
    kept = store.failed(last["id"])
    if kept is None:
        raise cp.CheckpointError(window.failed_advice(store, last))
    return kept


def rolled_back(module, store: cp.Store) -> dict:
    """Roll back the armed checkpoint, or try again the last one whose rollback failed."""
    params = module.params
    with _locked(store, module.check_mode):
        record = store.load()
        retry = record is None
        if retry:
            record = _to_retry(store, params["id"])
            if record is None:
                return {"changed": False, "armed": False, "last": store.last(), "commands": []}
        if params["id"] and params["id"] != record["id"]:
            raise cp.CheckpointError(window.not_armed(store, params["id"], record))
        reason = ("tried again after its rollback failed at " + cp.iso(store.last()["at"])) if retry else \
            "rolled back on request"
        writer = task_writer(module)
        if module.check_mode:
            result = window.roll_back_record(store, record, reason, "net_checkpoint", True, writer)
        else:
            # The network lock first: a rollback that cannot have it leaves the checkpoint armed and its
            # watchdog running. The watchdog is stopped once the record is finished (as a confirmation does):
            # told to stop while armed, it would roll back itself; a task that dies mid-way leaves it to.
            with writer.lock(params["namespace"]):
                result = window.roll_back_record(store, record, reason, "net_checkpoint", False, writer)
                cp.stop_watchdog(record)
    if result.get("failed"):
        raise cp.CheckpointError(f"the rollback of {record['id']} failed: {'; '.join(result['outcome']['errors'])}; "
                                 f"{window.failed_advice(store, store.last())}")
    result.update(armed=module.check_mode and not retry, last=store.last())
    result.setdefault("commands", (result.get("outcome") or {}).get("commands", []))
    return confirming.warn_not_written(result)


def confirmed(module, store: cp.Store) -> dict:
    """Disarm the armed checkpoint (with the id of one whose rollback failed, keep the network as it is); then,
    with `persist`, write the network files for the network as confirmed."""
    params = module.params
    confirming.check_persist_first(params["persist"], params["root"], module.no_log_values)
    result = confirming.confirm(store, params["id"], module.check_mode, "net_checkpoint")
    if params["persist"] is not None:
        confirming.save_confirmed(result, params["persist"], params["root"], params["namespace"],
                                  GuestMatcher(params["guest_patterns"]), module.check_mode, module.no_log_values,
                                  params["id"])
    if not module.check_mode:
        result["warnings"] = result.get("warnings", []) + nm_hands.held_warning(params["namespace"])
    return result


def run(module) -> dict:
    params = module.params
    check_names({"devices": params["devices"], "persist.devices": (params["persist"] or {}).get("devices")})
    _validate(params)
    store = cp.Store(params["namespace"], params["root"])   # judges namespace and root before any path is built
    state = params["state"]
    if state == "armed" or (state != "query" and not store.kept_anything()):
        require_namespace(params["namespace"])   # a misspelt namespace gets no directory and no lock file
    if state == "armed":
        return arm(module, store)
    if state == "confirmed":
        return confirmed(module, store)
    if state == "rolled_back":
        return rolled_back(module, store)
    result = window.query(store)
    result["changed"] = False
    return result


def main():
    run_network_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
