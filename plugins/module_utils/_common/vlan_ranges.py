# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""VLAN ids and ranges: the one parser for every way users and configs write them.

A range list is a sorted list of [first, last] pairs with no overlap and no
two touching pairs. Ranges keep a trunk of 2-4094 on 1,000 ports small.
Written forms accepted: 10, '10', '20-30', '2-9,11-4094', Proxmox VE's
'10;20-22', whitespace-separated, or a list of any of those.
"""
from __future__ import annotations

import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int

VID_MIN, VID_MAX = 1, 4094
_SEPARATORS = re.compile(r"[;,\s]+")


def parse_vid(value, param: str) -> int:
    """One VLAN id (int or ASCII digits); ValidationError naming `param` otherwise."""
    vid = ascii_int(value)
    if vid is None or not VID_MIN <= vid <= VID_MAX:
        raise ValidationError([f"{param}: {value!r} is not a VLAN id; allowed {VID_MIN}-{VID_MAX}"])
    return vid


def _bounds(part: str) -> tuple:
    first, sep, last = part.partition("-")
    return ascii_int(first), ascii_int(last if sep else first)


def vid_range(part: str):
    """(first, last) of one VLAN id or 'first-last' range in ASCII digits, within 1-4094; None otherwise."""
    low, high = _bounds(part)
    if low is None or high is None or not VID_MIN <= low <= high <= VID_MAX:
        return None
    return low, high


def parse_ranges(spec, param: str) -> list:
    """Any accepted written form -> merged [[first, last], ...]; ValidationError naming `param`."""
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    found: list = []
    for item in items:
        for part in _SEPARATORS.split(str(item).strip()):
            if not part:
                continue
            low, high = _bounds(part)
            if low is None or high is None:
                raise ValidationError([f"{param}: {part!r} is not a VLAN id or range like 10 or 20-30"])
            if not VID_MIN <= low <= high <= VID_MAX:
                raise ValidationError([f"{param}: {part!r} is out of range; VLAN ids are {VID_MIN}-{VID_MAX}, "
                                       f"first <= last"])
            found.append([low, high])
    return merge(found)


def merge(ranges) -> list:
    """Sort and join overlapping or touching [first, last] pairs."""
    out: list = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], high)
        else:
            out.append([low, high])
    return out


def ranges_of(vids) -> list:
    """VLAN ids in any order -> [[first, last], ...]."""
    return merge([[vid, vid] for vid in vids])


def vids_of(ranges) -> tuple:
    """[[first, last], ...] -> every VLAN id, sorted."""
    return tuple(vid for low, high in ranges for vid in range(low, high + 1))


def contains(ranges, vid: int) -> bool:
    return any(low <= vid <= high for low, high in ranges)


def format_ranges(ranges) -> str:
    """[[2, 2], [10, 20]] -> '2,10-20'."""
    return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)
