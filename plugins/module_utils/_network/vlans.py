# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""VLAN membership of ports on a vlan-aware bridge.

A port's membership is {"pvid": int|None, "untagged": ranges, "tagged": ranges}
with ranges as in _common/vlan_ranges.py. Proxmox VE's `tag=10` is pvid 10
untagged 10; `trunks=20;30-40` adds tagged 20 and 30-40.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import (
    VID_MAX, VID_MIN, contains, format_ranges, merge, parse_ranges, ranges_of,
)


def default_membership() -> dict:
    """What the kernel gives a port joining a vlan-aware bridge (and the bridge itself): VLAN 1, pvid, untagged."""
    return {"pvid": 1, "untagged": [[1, 1]], "tagged": []}


def membership(pvid=None, untagged=None, tagged=None, param: str = "port_vlans") -> dict:
    """A validated membership dict; pvid is untagged unless listed as tagged."""
    untagged_r = parse_ranges(untagged or [], f"{param}.untagged")
    tagged_r = parse_ranges(tagged or [], f"{param}.tagged")
    if pvid is not None:
        if isinstance(pvid, bool) or not isinstance(pvid, int) or not VID_MIN <= pvid <= VID_MAX:
            raise ValidationError([f"{param}.pvid: {pvid!r} is out of range; allowed {VID_MIN}-{VID_MAX}"])
        if not contains(tagged_r, pvid):
            untagged_r = merge(untagged_r + [[pvid, pvid]])
    overlap = [v for a, b in untagged_r for v in range(a, b + 1) if contains(tagged_r, v)]
    if overlap:
        raise ValidationError([f"{param}: VLAN {overlap[0]} is listed both untagged and tagged"])
    return {"pvid": pvid, "untagged": untagged_r, "tagged": tagged_r}


def memberships(entries, param: str = "port_vlans") -> dict | None:
    """port -> membership from a list of {port, pvid, untagged, tagged}; None when not given."""
    if entries is None:
        return None
    found: dict = {}
    problems = []
    for entry in entries:
        port = entry["port"]
        if port in found:
            problems.append(f"{param}: {port!r} is listed twice")
            continue
        try:
            found[port] = membership(entry.get("pvid"), entry.get("untagged"), entry.get("tagged"), f"{param}[{port}]")
        except ValidationError as exc:
            problems += exc.problems
    if problems:
        raise ValidationError(problems)
    return found


def describe(member: dict) -> str:
    """'(pvid 10; untagged 10; tagged 20,30-40)' for messages."""
    words = [f"pvid {member['pvid']}"] if member.get("pvid") else []
    words += [f"{key} {format_ranges(member[key])}" for key in ("untagged", "tagged") if member.get(key)]
    return "(" + "; ".join(words) + ")"


def flags_by_vid(member: dict | None) -> dict:
    """vid -> (pvid, untagged) for every member VLAN."""
    out: dict = {}
    if not member:
        return out
    for untagged, key in ((True, "untagged"), (False, "tagged")):
        for a, b in member.get(key) or []:
            for vid in range(a, b + 1):
                out[vid] = (vid == member.get("pvid"), untagged)
    return out


def add_vids(flags: dict, vids, pvid: bool = False, untagged: bool = False) -> dict:
    """What `bridge vlan add` does to a VLAN table (vid -> (pvid, untagged), changed in place and returned).

    `vids` (a range, or any VLAN ids) get these flags, replacing their old ones; a port has one PVID, so a new
    one moves the old one (over a range, the last VLAN keeps it). The one rule for the kernel's simulation and
    for what ifupdown2's post-up lines, NetworkManager and networkd leave on a port.
    """
    vids = tuple(vids)
    if pvid and vids:
        for vid in [v for v, (is_pvid, _u) in flags.items() if is_pvid]:
            flags[vid] = (False, flags[vid][1])
    flags.update(dict.fromkeys(vids, (False, untagged)))   # a trunk of 4,094 VLANs in one C call
    if pvid and vids:
        flags[vids[-1]] = (True, untagged)
    return flags


def del_vids(flags: dict, vids) -> dict:
    """What `bridge vlan del` does to a VLAN table: `vids` leave it (a PVID among them too)."""
    for vid in vids:
        flags.pop(vid, None)
    return flags


def runs(vids_flags):
    """Group sorted (vid, flags) into (first, last, flags) runs; a pvid never shares a run."""
    run = None
    for vid, flags in vids_flags:
        if run and vid == run[1] + 1 and flags == run[2] and not flags[0]:
            run[1] = vid
            continue
        if run:
            yield tuple(run)
        run = [vid, vid, flags]
    if run:
        yield tuple(run)


def from_flags(flags: dict) -> dict:
    """The inverse of flags_by_vid, in one pass over the table."""
    pvid, untagged, tagged = None, [], []
    for vid, (is_pvid, is_untagged) in flags.items():
        if is_pvid and pvid is None:
            pvid = vid
        (untagged if is_untagged else tagged).append(vid)
    return {"pvid": pvid, "untagged": ranges_of(untagged), "tagged": ranges_of(tagged)}
