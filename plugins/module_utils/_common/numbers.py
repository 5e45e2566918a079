# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Numbers as configs and users write them: ASCII digits, nothing else.

`str.isdigit()` is true for '²', which `int()` then refuses with ValueError;
and `int()` reads '١٢' or '１２' (Arabic-Indic, fullwidth digits) as 12, a
number no Proxmox VE or libvirt parser would see there. So a check with one
and a conversion with the other either crashes or reads what nobody wrote.
Every count, id and MTU read from a guest config goes through `ascii_int`.
"""
from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def ascii_int(value):
    """The non-negative int `value` spells in ASCII digits (an int stands for itself), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    text = str(value).strip()
    return int(text) if _DIGITS.fullmatch(text) else None


def ascii_decimal(value):
    """The non-negative number `value` spells in ASCII digits with an optional fraction ('2', '2.5'), or None.

    float() would also take '١٥', 'nan' and 'inf'.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    text = str(value).strip()
    return float(text) if _DECIMAL.fullmatch(text) else None
