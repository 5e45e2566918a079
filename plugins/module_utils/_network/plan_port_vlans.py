# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Planning the VLAN membership of one bridge port (or of the bridge itself, `self`).

Used by the bridge planner, by the rebuild of a deleted bridge, and by the
guest re-attach planner. Memberships are the dicts of vlans.py; each operation
covers a run of VLANs with equal flags and carries its exact undo.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL, Operation,
)


def plan_port_vlans(port: str, current: dict | None, desired: dict, self_entry: bool = False) -> list:
    """Operations that make `port`'s membership `desired`; each carries its undo."""
    if current == desired:
        return []
    have = vlans.flags_by_vid(current)
    want = vlans.flags_by_vid(desired)
    ops = []
    changed = sorted((vid, flags) for vid, flags in want.items() if have.get(vid) != flags)
    for first, last, (pvid, untagged) in vlans.runs(changed):
        params = {"vids": [first, last], "pvid": pvid, "untagged": untagged}
        if self_entry:
            params["self"] = True
        undo = []
        for vid in range(first, last + 1):
            old = have.get(vid)
            if old is None:
                undo.append(Operation(BRIDGE_VLAN_DEL, port, {"vids": [vid, vid], **({"self": True} if self_entry else {})}))
            else:
                undo.append(Operation(BRIDGE_VLAN_ADD, port, {"vids": [vid, vid], "pvid": old[0], "untagged": old[1],
                                                              **({"self": True} if self_entry else {})}))
        ops.append(Operation(BRIDGE_VLAN_ADD, port, params, _compact(undo)))
    gone = sorted((vid, have[vid]) for vid in have if vid not in want)
    for first, last, _flags in vlans.runs([(vid, (False, False)) for vid, _f in gone]):
        params = {"vids": [first, last], **({"self": True} if self_entry else {})}
        undo = [Operation(BRIDGE_VLAN_ADD, port, {"vids": [a, b], "pvid": f[0], "untagged": f[1],
                                                  **({"self": True} if self_entry else {})})
                for a, b, f in vlans.runs([(vid, have[vid]) for vid in range(first, last + 1)])]
        ops.append(Operation(BRIDGE_VLAN_DEL, port, params, undo))
    # Removals first: dropping the old pvid VLAN must not undo a new pvid set after it.
    return [op for op in ops if op.action == BRIDGE_VLAN_DEL] + [op for op in ops if op.action == BRIDGE_VLAN_ADD]


def _compact(ops: list) -> list:
    """Merge consecutive single-vid undo operations with equal flags into ranges."""
    out: list = []
    for op in ops:
        prev = out[-1] if out else None
        if (prev and prev.action == op.action and prev.device == op.device
                and {k: v for k, v in prev.params.items() if k != "vids"} == {k: v for k, v in op.params.items() if k != "vids"}
                and not op.params.get("pvid") and prev.params["vids"][1] + 1 == op.params["vids"][0]):
            prev.params["vids"] = [prev.params["vids"][0], op.params["vids"][1]]
            continue
        out.append(Operation(op.action, op.device, dict(op.params, vids=list(op.params["vids"]))))
    return out
