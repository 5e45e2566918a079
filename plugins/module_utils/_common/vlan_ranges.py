# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""VLAN ids and ranges: the one parser for every way users and configs write them.

A range list is a sorted list of [first, last] pairs with no overlap and no
two touching pairs. Ranges keep a trunk of 2-4094 on 1,000 ports small.
Written forms accepted: 10, '10', '20-30', '2-9,11-4094', Proxmox VE's
'10;20-22', whitespace-separated, or a list of any of those. The persistent
formats read theirs here too, each naming its separators: ifupdown2's
`bridge-vids 10 20-30`, NetworkManager's `vlans=1 pvid untagged,20-30`
(words after a range), networkd's `VLAN=10-20` (one range).
"""
from __future__ import annotations

import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int

VID_MIN, VID_MAX = 1, 4094
# What separates ranges in what users, guest configs and Proxmox VE write (a regex character class).
ANY_SEPARATOR = r";,\s"


def parse_vid(value, param: str) -> int:
    """One VLAN id (int or ASCII digits); ValidationError naming `param` otherwise."""
    vid = ascii_int(value)
    if vid is None or not VID_MIN <= vid <= VID_MAX:
        raise ValidationError([f"{param}: {value!r} is not a VLAN id; allowed {VID_MIN}-{VID_MAX}"])
    return vid


def _bounds(part: str) -> tuple:
    first, sep, last = part.partition("-")
    return ascii_int(first), ascii_int(last if sep else first)


def _parse_range(part: str, param: str) -> tuple:
    """(first, last) of one VLAN id or 'first-last' range; the one place its errors are worded."""
    low, high = _bounds(part)
    if low is None or high is None:
        raise ValidationError([f"{param}: {part!r} is not a VLAN id or range like 10 or 20-30 (ASCII digits)"])
    if not VID_MIN <= low <= high <= VID_MAX:
        raise ValidationError([f"{param}: {part!r} is out of range; VLAN ids are {VID_MIN}-{VID_MAX}, first <= last"])
    return low, high


def _entry(part: str, param: str, flags) -> tuple:
    """(first, last, words) of one entry: a range, then (with `flags`) words from `flags`, each once."""
    if not flags:
        return _parse_range(part, param) + ((),)
    words = part.split()
    extra = tuple(words[1:])
    if any(w not in flags for w in extra) or len(set(extra)) != len(extra):
        allowed = " and ".join(repr(f) for f in flags)
        raise ValidationError([f"{param}: {part!r}: after the VLAN only {allowed} may follow, each once"])
    return _parse_range(words[0], param) + (extra,)


def parse_entries(spec, param: str, separators: str = ANY_SEPARATOR, flags=(), strict: bool = False) -> list:
    """Every VLAN id or range as written, in order: [(first, last, words), ...]; ValidationError naming `param`.

    `separators` (a regex character class) stand between entries; '' reads the whole of `spec` as one entry
    (networkd's `VLAN=10-20`). `flags`: the words that may follow a range, after white space (NetworkManager's
    `1 pvid untagged`). `strict`, for a file's syntax: every separator stands between two entries, so '10,'
    or an empty value is refused; otherwise an empty entry is skipped (a user's '10;20;').
    """
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    split = re.compile(f"[{separators}]+") if separators else None
    found: list = []
    for item in items:
        text = str(item).strip()
        for part in split.split(text) if split else [text]:
            if not part.strip():
                if strict:
                    raise ValidationError([f"{param}: {text!r} has an empty entry; write a VLAN id or range "
                                           f"like 10 or 20-30 between separators"])
                continue
            found.append(_entry(part.strip(), param, flags))
    return found


def parse_ranges(spec, param: str, separators: str = ANY_SEPARATOR, strict: bool = False) -> list:
    """Any accepted written form -> merged [[first, last], ...]; ValidationError naming `param`."""
    return merge([low, high] for low, high, _words in parse_entries(spec, param, separators, strict=strict))


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
    """VLAN ids in any order -> [[first, last], ...]; one pass over the sorted ids (a trunk has 4,094)."""
    out: list = []
    for vid in sorted(set(vids)):
        if out and vid == out[-1][1] + 1:
            out[-1][1] = vid
        else:
            out.append([vid, vid])
    return out


def vids_of(ranges) -> tuple:
    """[[first, last], ...] -> every VLAN id, sorted."""
    return tuple(vid for low, high in ranges for vid in range(low, high + 1))


def contains(ranges, vid: int) -> bool:
    return any(low <= vid <= high for low, high in ranges)


def format_ranges(ranges) -> str:
    """[[2, 2], [10, 20]] -> '2,10-20'."""
    return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)
