# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""VLAN membership of ports on a vlan-aware bridge, as ranges.

A port's membership is {"pvid": int|None, "untagged": ranges, "tagged": ranges}
with ranges a sorted list of [first, last] pairs. Ranges keep a Proxmox trunk
of 2-4094 on 1,000 ports small. Proxmox's `tag=10` is pvid 10 untagged 10;
`trunks=20;30-40` adds tagged 20 and 30-40.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._model import ValidationError

VID_MIN, VID_MAX = 1, 4094


def parse_ranges(spec, param: str) -> list:
    """'10', 10, '20-30', '2-9,11-4094', or a list of those -> merged [[a, b], ...]."""
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    vids: list = []
    for item in items:
        for part in str(item).replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            first, _sep, last = part.partition("-")
            try:
                a, b = int(first), int(last or first)
            except ValueError:
                raise ValidationError([f"{param}: {part!r} is not a VLAN id or range like 10 or 20-30"]) from None
            if not VID_MIN <= a <= b <= VID_MAX:
                raise ValidationError([f"{param}: {part!r} is out of range; VLAN ids are {VID_MIN}-{VID_MAX}, first <= last"])
            vids.append([a, b])
    return merge(vids)


def merge(ranges) -> list:
    out: list = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def format_ranges(ranges) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def membership(pvid=None, untagged=None, tagged=None, param: str = "port_vlans") -> dict:
    """A validated membership dict; pvid is untagged unless listed as tagged."""
    untagged_r = parse_ranges(untagged or [], f"{param}.untagged")
    tagged_r = parse_ranges(tagged or [], f"{param}.tagged")
    if pvid is not None:
        if isinstance(pvid, bool) or not isinstance(pvid, int) or not VID_MIN <= pvid <= VID_MAX:
            raise ValidationError([f"{param}.pvid: {pvid!r} is out of range; allowed {VID_MIN}-{VID_MAX}"])
        if not _contains(tagged_r, pvid):
            untagged_r = merge(untagged_r + [[pvid, pvid]])
    overlap = [v for a, b in untagged_r for v in range(a, b + 1) if _contains(tagged_r, v)]
    if overlap:
        raise ValidationError([f"{param}: VLAN {overlap[0]} is listed both untagged and tagged"])
    return {"pvid": pvid, "untagged": untagged_r, "tagged": tagged_r}


def _contains(ranges, vid: int) -> bool:
    return any(a <= vid <= b for a, b in ranges)


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
    pvid = next((vid for vid, (is_pvid, _u) in flags.items() if is_pvid), None)
    untagged = merge([[v, v] for v, (_p, u) in flags.items() if u])
    tagged = merge([[v, v] for v, (_p, u) in flags.items() if not u])
    return {"pvid": pvid, "untagged": untagged, "tagged": tagged}
