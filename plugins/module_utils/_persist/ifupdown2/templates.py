# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Names a file generates rather than writes: Mako templates and ifupdown2's `glob` ranges.

ifupdown2 renders Mako before it reads a stanza and expands `glob swp1-4` in
port lists. net_persist never writes what such a line may describe, so it
needs the names (or, past MAX_EXPANDED, a pattern) a line stands for.
"""
from __future__ import annotations

import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import Problem


_MAKO_CONTROL = re.compile(r"^%(?!%)")


# Python (Mako's language) reads only ASCII digits as a number literal.
_MAKO_RANGE = re.compile(r"^%\s*for\s+(\w+)\s+in\s+range\(\s*([0-9]+)\s*,\s*([0-9]+)\s*\)\s*:\s*$")
_MAKO_EXPR = re.compile(r"\$\{([^}]*)\}")


# A template or glob that stands for more names than this is matched by a pattern instead of listed: a file
# must not make net_persist build millions of names (`%for v in range(0, 10**12):`, `glob swp1-99999999`).
MAX_EXPANDED = 4096


def _generated_names(name: str, loops: dict) -> tuple:
    """(names, patterns) a templated (`vmbr${v}` inside `%for v in range(10, 20):`) or ranged (`swp[1-4]`) name
    stands for: the names themselves where the template is that simple and small, else a pattern that may match
    more."""
    exprs = _MAKO_EXPR.findall(name)
    count = 1
    for expr in exprs:
        count *= len(loops.get(expr.strip(), ()))
    if exprs and "[" not in name and all(e.strip() in loops for e in exprs) and count <= MAX_EXPANDED:
        names = [""]
        for part in re.split(r"(\$\{[^}]*\})", name):
            values = loops[part[2:-1].strip()] if part.startswith("${") else [part]
            names = [n + str(v) for n in names for v in values]
        return names, []
    parts = re.split(r"(\$\{[^}]*\}|\[\d+-\d+\])", name)
    return [], [re.compile("".join(".*" if p.startswith("$") else r"\d+" if p.startswith("[") else re.escape(p)
                                   for p in parts if p))]


def generated(name: str) -> bool:
    return "${" in name or bool(re.search(r"\[\d+-\d+\]", name))


def generated_problem(where: str, text: str, name: str, loops: dict) -> Problem:
    return Problem(f"{where}: '{text}' is generated (a Mako template or a name range); net_persist does not write "
                   f"what it may describe", *_generated_names(name, loops))


class Template:
    """Mako while a file is read: whether a line is template syntax (a %for/%if control line, a <% %> block),
    and the `%for v in range(a, b):` loops open, which name what a templated stanza makes."""

    def __init__(self):
        self.in_block, self.loops = False, {}

    def takes(self, stripped: str) -> bool:
        if not (self.in_block or stripped.startswith("<%") or _MAKO_CONTROL.match(stripped)):
            return False
        start = 0 if self.in_block else 2
        self.in_block = (self.in_block or stripped.startswith("<%")) and "%>" not in stripped[start:]
        loop = _MAKO_RANGE.match(stripped)
        if loop:
            self.loops[loop.group(1)] = range(int(loop.group(2)), int(loop.group(3)))
        elif re.match(r"^%\s*endfor\b", stripped) and self.loops:
            self.loops.popitem()
        return True


# \d as in ifupdown2's own parse_glob (ifupdownaddons/modulebase.py), which is Python too: what it expands.
_GLOBS = (re.compile(r"([A-Za-z0-9\-]+)\[(\d+)\-(\d+)\]([A-Za-z0-9\-]+)\[(\d+)\-(\d+)\](.*)"),
          re.compile(r"([A-Za-z0-9\-]+[A-Za-z])(\d+)\-(\d+)(.*)"),
          re.compile(r"([A-Za-z0-9\-]+)\[(\d+)\-(\d+)\](.*)"))


def glob_names(expr: str) -> tuple:
    """(names, patterns) an ifupdown2 `glob` expression stands for (swp1-4, swp[1-4].100, swp[1-2]s[0-1]; as
    ifupdownaddons/modulebase.py's parse_glob expands them, bounds included); past MAX_EXPANDED names, a pattern."""
    two = _GLOBS[0].match(expr)
    if two:
        pre, a, b, mid, c, d, post = two.groups()
        first, second = range(int(a), int(b) + 1), range(int(c), int(d) + 1)
        if len(first) * len(second) <= MAX_EXPANDED:
            return [f"{pre}{i}{mid}{j}{post}" for i in first for j in second], []
        return [], [re.compile(rf"{re.escape(pre)}\d+{re.escape(mid)}\d+{re.escape(post)}")]
    one = _GLOBS[1].match(expr) or _GLOBS[2].match(expr)
    if one:
        pre, a, b, post = one.groups()
        if len(range(int(a), int(b) + 1)) <= MAX_EXPANDED:
            return [f"{pre}{i}{post}" for i in range(int(a), int(b) + 1)], []
        return [], [re.compile(rf"{re.escape(pre)}\d+{re.escape(post)}")]
    return [expr], []
