# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""ifupdown2's /etc/network/interfaces (Proxmox VE, Debian): edit only the stanzas of the devices in scope.

The file is the operator's (and Proxmox VE's web UI's): every byte outside
the lines of the devices we change stays as it was (comments, other stanzas,
`source` lines, order, tabs or spaces). A device's stanzas stay in the file
that defines them (main file or a `source`d one); a new device goes into the
main file where Proxmox VE's writer would put it (NICs, bonds, bridges, then
VLANs named otherwise than parent.id; before a trailing `source` line).

What a stanza means is what Debian's ifupdown2 3.0 does with it (read in
tests/persist/test_ifupdown2_real.py, docs/net_persist_ifupdown2.md): a key
the file leaves out means what ifupdown2 does without it (no STP, forward
delay 15 s, no VLAN filtering, the kernel's bond defaults, 802.1Q); ports and
slaves are brought up with their bridge or bond; `link-down yes` keeps a
device that `auto` creates down. What ifupdown2 has no key for (a fractional
forward delay, ARP monitoring and ad_select of a bond, the bridge's own VLAN
entry) is written as an `ip`/`bridge` command on a `pre-up`/`post-up` line of
the device's stanza, in one fixed form the parser reads back.
"""
from __future__ import annotations

import copy
import fnmatch
import ipaddress
import os
import posixpath
import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import parse_ranges, vids_of
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_MODES, Bond, Bridge, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.vlans import (
    add_vids, del_vids, flags_by_vid, from_flags, runs,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import REDACTED, PersistFormat, Problem, refuse
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import (
    BOND_DEFAULTS, DEFAULT_VLAN_PROTOCOL, VLAN_PROTOCOLS, options_in_mode, vlan_protocol,
)

# Lines that end a stanza (ifupdown2's keywords, plus what classic ifupdown and Proxmox VE also write).
_STANZA_WORDS = ("iface", "auto", "source", "source-directory", "mapping", "vlan")
_SOURCE_DIRECTORY_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")   # run-parts names, as ifupdown reads a source-directory
_METHODS_WITHOUT_STATIC = ("dhcp", "dhcp6", "ppp", "tunnel", "auto")
_BOND_NATIVE = {"miimon": "bond-miimon", "updelay": "bond-updelay", "downdelay": "bond-downdelay",
                "lacp_rate": "bond-lacp-rate", "xmit_hash_policy": "bond-xmit-hash-policy",
                "primary": "bond-primary", "min_links": "bond-min-links"}
_BOND_BY_COMMAND = ("ad_select", "arp_interval", "arp_ip_target")   # no ifupdown2 key: an `ip link` pre-up line
_BOND_MODE_NUMBERS = {str(i): mode for i, mode in enumerate(BOND_MODES)}
_LACP_NUMBERS = {"0": "slow", "1": "fast"}
_PORT_VLAN_KEYS = ("bridge-vids", "bridge-trunk", "bridge-pvid", "bridge-access", "bridge-allow-untagged")
_TYPE_KEYS = {
    "bridge": ("bridge-ports", "bridge-stp", "bridge-fd", "bridge-vlan-aware", "#bridge-fd", "#self-vlan", "#bridge-mtu"),
    "bond": ("bond-slaves", "bond-ports", "bond-mode") + tuple(_BOND_NATIVE.values())
    + tuple(f"#bond-{k}" for k in _BOND_BY_COMMAND),
    "vlan": ("vlan-raw-device", "vlan-id", "vlan-protocol"),
}
# ifupdown2's default_mtu: what `ifup` sets a bridge to when its stanza has no `mtu` (addons/address.py).
IFUPDOWN2_DEFAULT_MTU = 1500
# Proxmox VE's own files: its SDN (pve-network) writes this one, and the staged copy is the main file's name + .new.
SDN_FILE = "/etc/network/interfaces.d/sdn"
STAGED_SUFFIX = ".new"
_MAKO_CONTROL = re.compile(r"^%(?!%)")
# Keys whose value is a secret (wpa-psk, wpa-password, wireless-key1...), after _ -> - and lower case.
_SECRET_KEY = re.compile(r"(?:^|-)(?:psk|passphrase|password|passwd|secret|secrets|private-key|preshared-key|pin|cak"
                         r"|wep-key\d?)$|^wireless-key\d?$")
_PRIO = {"lo": 100000, "nic": 200000, "bond": 400000, "bridge": 500000, "vlan": 600000}   # Proxmox VE's writer

# The command lines this format writes where ifupdown2 has no key (and reads back, in exactly this form).
# Numbers in our own lines are ASCII digits ([0-9], not \d, which also matches other scripts' digits that
# iproute2 would refuse): a line with others is not ours and stays as it is.
_RE_BR_MTU = re.compile(r"^post-up\s+ip\s+link\s+set\s+dev\s+(\S+)\s+mtu\s+([0-9]+)$")
_RE_BR_FD = re.compile(r"^post-up\s+ip\s+link\s+set\s+dev\s+(\S+)\s+type\s+bridge\s+forward_delay\s+([0-9]+)$")
_RE_BOND_CMD = re.compile(r"^pre-up\s+ip\s+link\s+set\s+dev\s+(\S+)\s+type\s+bond\s+(ad_select|arp_interval|arp_ip_target)\s+(\S+)$")
_RE_SELF_VLAN = re.compile(r"^post-up\s+bridge\s+vlan\s+(add|del)\s+dev\s+(\S+)\s+vid\s+([0-9]+)(?:-([0-9]+))?((?:\s+(?:pvid|untagged))*)\s+self$")


class _Line:
    """One physical line (with its end); edits replace it (None deletes it) or add text before/after it."""

    __slots__ = ("text", "before", "after")

    def __init__(self, text: str):
        self.text = text
        self.before: list = []
        self.after: list = []


class _Option:
    __slots__ = ("line", "key", "value", "lineno", "indent")

    def __init__(self, line, key, value, lineno):
        self.line, self.key, self.value, self.lineno = line, key, value, lineno
        self.indent = line.text[:len(line.text) - len(line.text.lstrip())] or "\t"


class _Stanza:
    """`iface NAME [FAMILY METHOD]` and its option lines."""

    def __init__(self, path, lineno, header, name, family, method):
        self.path, self.lineno, self.header = path, lineno, header
        self.name, self.family, self.method = name, family, method
        self.options: list = []
        self.inner: list = []   # comment and blank lines between its options
        self.opaque = False     # mapping/vlan blocks: not a device

    @property
    def last(self) -> _Line:
        return self.options[-1].line if self.options else self.header

    def where(self, option=None) -> str:
        return f"{self.path} line {option.lineno if option else self.lineno}"


class _File:
    def __init__(self, path: str, text: str):
        self.path = path
        self.newline = "\r\n" if "\n" in text and text.split("\n", 1)[0].endswith("\r") else "\n"
        self.lines = [_Line(t) for t in text.splitlines(keepends=True)]
        if self.lines and not self.lines[-1].text.endswith(("\n", "\r")):
            self.lines[-1].text += self.newline   # appending after it needs a line end; undone in text()
            self.no_final_newline = True
        else:
            self.no_final_newline = False
        self.end = _Line("")   # sentinel: text added at the end of the file goes before it
        self.lines.append(self.end)
        self.original = text
        self.stanzas: list = []
        self.marks: list = []     # (line, word, names, lineno): auto / allow-*
        self.sources: list = []   # (line, word, argument, lineno)
        self.items: list = []     # ("stanza", stanza) / ("mark", ...) / ("source", ...) in file order

    def text(self) -> str:
        out = []
        for line in self.lines:
            out += line.before
            if line.text is not None:
                out.append(line.text)
            out += line.after
        text = "".join(out)
        if self.no_final_newline and text.endswith(self.newline) and self.lines[-2].text is not None \
                and not self.lines[-2].after and not self.end.before:
            text = text[:-len(self.newline)]
        return text


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key.replace("_", "-").lower()))


def _redacted_line(text: str) -> str:
    """An option line as an error may quote it: the value of a secret key hidden."""
    words = text.split(None, 1)
    return f"{words[0]} {REDACTED}" if len(words) == 2 and is_secret_key(words[0]) else text


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


def _generated(name: str) -> bool:
    return "${" in name or bool(re.search(r"\[\d+-\d+\]", name))


def _generated_problem(where: str, text: str, name: str, loops: dict) -> Problem:
    return Problem(f"{where}: '{text}' is generated (a Mako template or a name range); net_persist does not write "
                   f"what it may describe", *_generated_names(name, loops))


class _Template:
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


def _parse_file(path: str, text: str) -> _File:
    """The file's lines and items. What cannot be read becomes a Problem of the stanza it is in (of the whole
    file outside any stanza); Mako template lines (ifupdown2 renders them) are kept and never read as options."""
    f = _File(path, text)
    f.problems = []
    stanza, blank_before, template, continued = None, False, _Template(), False
    for index, line in enumerate(f.lines[:-1]):
        lineno = index + 1
        stripped = line.text.strip()
        where = f"{path} line {lineno}"
        if continued:
            # The rest of a line continued with '\' (refused below, once): ifupdown2 joins it to that line, blank
            # lines skipped, so it is never an option of its own, and never quoted (it may be half a secret).
            continued = not stripped or stripped.endswith("\\")
            continue
        if template.takes(stripped):
            # Kept as it is. Right under a stanza's options it shapes that stanza, which net_persist then does
            # not claim to know; after a blank line it starts something new.
            if stanza is not None and stanza.name is not None and not blank_before:
                f.problems.append(Problem(f"{where}: {stanza.name} is shaped by a Mako template line here; "
                                          f"net_persist does not write templated stanzas", [stanza.name]))
            else:
                stanza = None
            continue
        blank_before = not stripped
        if not stripped or stripped.startswith("#"):
            if stanza is not None:
                stanza.inner.append(line)
            continue
        if stripped.endswith("\\"):
            problem = f"{where}: a line continued with '\\' is not supported here; join it into one line"
            f.problems.append(Problem(problem, [stanza.name] if stanza is not None and stanza.name else ()))
            continued = True
            continue
        words = stripped.split()
        word = words[0]
        if word == "iface":
            if len(words) < 2:
                f.problems.append(Problem(f"{where}: 'iface' without an interface name"))
                stanza = None
                continue
            name = words[1].split(":")[0]
            stanza = _Stanza(path, lineno, line, name, words[2] if len(words) > 2 else None,
                             words[3] if len(words) > 3 else None)
            if _generated(name):
                # Made by a template or a range: which devices it describes is known only once rendered.
                stanza.name, stanza.opaque = None, True
                f.problems.append(_generated_problem(where, f"iface {words[1]}", name, template.loops))
                f.items.append(("opaque", stanza))
                continue
            f.stanzas.append(stanza)
            f.items.append(("stanza", stanza))
        elif word == "auto" or word.startswith("allow-"):
            stanza = None
            if len(words) < 2:
                f.problems.append(Problem(f"{where}: {word!r} without interface names"))
                continue
            plain = [n for n in words[1:] if not _generated(n)]
            for odd in (n for n in words[1:] if _generated(n)):
                f.problems.append(_generated_problem(where, f"{word} {odd}", odd, template.loops))
            f.marks.append((line, word, plain, lineno))
            f.items.append(("mark", line))
        elif word in ("source", "source-directory"):
            stanza = None
            if len(words) < 2:
                f.problems.append(Problem(f"{where}: {word!r} without a path"))
                continue
            f.sources.append((line, word, words[1], lineno))
            f.items.append(("source", line))
        elif word in ("mapping", "vlan"):
            stanza = _Stanza(path, lineno, line, None, None, None)
            stanza.opaque = True
            f.items.append(("opaque", stanza))
        elif stanza is None and "${" in stripped:
            f.problems.append(Problem(f"{where}: {stripped!r} is a Mako expression that may make any stanza; "
                                      f"net_persist does not write what a template may describe",
                                      patterns=[re.compile(".*")]))
        elif stanza is None:
            f.problems.append(Problem(f"{where}: {_redacted_line(stripped)!r} is outside any 'iface' stanza"))
        else:
            parts = stripped.split(None, 1)
            if stanza.name is None:
                continue   # an option of a mapping/vlan block or of a generated stanza: not ours to read
            if len(parts) < 2:
                f.problems.append(Problem(f"{where}: option {parts[0]!r} of {stanza.name} has no value", [stanza.name]))
                continue
            key, value = parts[0].replace("_", "-"), parts[1].strip()
            if "${" in value:
                f.problems.append(Problem(f"{where}: {key} of {stanza.name} is a Mako expression; net_persist does "
                                          f"not write templated stanzas", [stanza.name]))
            key = _command_key(key, value, stanza.name) or key
            stanza.options.append(_Option(line, key, value, lineno))
    return f


def _command_key(key: str, value: str, name) -> str | None:
    """The pseudo key of a command line this format writes, or None for any other line."""
    if key not in ("pre-up", "post-up"):
        return None
    text = f"{key} {' '.join(value.split())}"
    found = _RE_BR_FD.match(text)
    if found and found.group(1) == name:
        return "#bridge-fd"
    found = _RE_BR_MTU.match(text)
    if found and found.group(1) == name:
        return "#bridge-mtu"
    found = _RE_BOND_CMD.match(text)
    if found and found.group(1) == name:
        return f"#bond-{found.group(2)}"
    found = _RE_SELF_VLAN.match(text)
    if found and found.group(2) == name:
        return "#self-vlan"
    return None


def _glob_match(pattern: str, path: str) -> bool:
    """glob(3) on one path: per component, and a wildcard matches no leading dot."""
    pat_parts, path_parts = pattern.split("/"), path.split("/")
    if len(pat_parts) != len(path_parts):
        return False
    for pat, part in zip(pat_parts, path_parts):
        if part.startswith(".") and not pat.startswith("."):
            return False
        if not fnmatch.fnmatchcase(part, pat):
            return False
    return True


def _absolute(argument: str) -> str:
    """A `source` path as ifupdown2 opens it: relative to its working directory, / when started at boot."""
    return posixpath.normpath(argument if argument.startswith("/") else "/" + argument)


def _expand(word: str, argument: str, candidates) -> list:
    """The files a `source`/`source-directory` line names, among `candidates` (host paths), sorted."""
    target = _absolute(argument)
    if word == "source":
        return sorted(p for p in candidates if _glob_match(target, p))
    return sorted(p for p in candidates
                  if posixpath.dirname(p) == target and _SOURCE_DIRECTORY_NAME.match(posixpath.basename(p)))


class _Host:
    """Every file read from the main one, and what each device's stanzas are."""

    def __init__(self):
        self.files: dict = {}
        self.stanzas: dict = {}       # name -> [stanza] in reading order
        self.auto: dict = {}          # name -> [(file, line, word, names)]
        self.ovs: set = set()
        self.model = HostNetwork()
        self.bridge_level: dict = {}  # bridge name -> (vids, pvid) written on the bridge for its ports
        self.port_lists: dict = {}    # bridge/bond name -> (key, [ports], option)
        self.problems: list = []      # Problem: what cannot be read, and which devices it concerns
        self.broken: set = set()      # devices left out of the model for a problem

    def options(self, name: str) -> list:
        return [(st, opt) for st in self.stanzas.get(name, []) for opt in st.options]

    def values(self, name: str, key: str) -> list:
        return [(st, opt) for st, opt in self.options(name) if opt.key == key]


def _load(main: str, files: dict) -> _Host:
    host = _Host()

    def visit(path):
        if path in host.files or path not in files:
            return
        f = _parse_file(path, files[path])
        host.files[path] = f
        host.problems += f.problems
        for kind, item in f.items:
            if kind == "stanza":
                host.stanzas.setdefault(item.name, []).append(item)
            elif kind == "source":
                _line, word, argument, _n = next(s for s in f.sources if s[0] is item)
                for sub in _expand(word, argument, files):
                    visit(sub)
        for line, word, names, _n in f.marks:
            if word in ("auto", "allow-auto", "allow-hotplug"):
                for name in names:
                    host.auto.setdefault(name, []).append((f, line, word, names))

    visit(main)
    for name, stanzas in host.stanzas.items():
        if any(opt.key.startswith("ovs-") for st in stanzas for opt in st.options):
            host.ovs.add(name)
            for st in stanzas:
                for opt in st.options:
                    if opt.key in ("ovs-ports", "ovs-bonds"):
                        host.ovs.update(opt.value.split())
    _describe(host)
    return host


# -- what the files mean -------------------------------------------------------------------------------------

def _one(host: _Host, name: str, key: str):
    found = host.values(name, key)
    return found[-1] if found else (None, None)


def _int(st, opt, low=0, high=2**31 - 1) -> int:
    """A number option in ASCII digits (ifupdown2 hands it to iproute2 or the kernel, which read nothing else)."""
    number = ascii_int(opt.value)
    if number is None or not low <= number <= high:
        raise ValidationError([f"{st.where(opt)}: {opt.key} {opt.value!r} is not a number in {low}-{high} "
                               f"(ASCII digits)"])
    return number


def _yes(st, opt) -> bool:
    value = opt.value.strip().lower()
    if value in ("yes", "on", "1"):
        return True
    if value in ("no", "off", "0"):
        return False
    raise ValidationError([f"{st.where(opt)}: {opt.key} {opt.value!r} is not yes/no (or on/off)"])


def _kind(host: _Host, name: str) -> str:
    keys = {opt.key for _st, opt in host.options(name)}
    if keys & {"bridge-ports", "bridge-vlan-aware"}:   # ifupdown2's own test (addons/bridge.py, _is_bridge)
        return "bridge"
    if keys & {"bond-slaves", "bond-ports"}:
        return "bond"
    if "vlan-raw-device" in keys or "." in name:
        return "vlan"
    return "nic"


def _vlan_from_name(name: str):
    """(raw device, id) as ifupdown2 derives them from a name: eth0.100 -> eth0, 100; vlan100 -> None, 100."""
    if "." in name:
        parts = name.split(".", 2)
        raw, vid = ".".join(parts[:-1]), parts[-1]
    elif name.startswith("vlan"):
        raw, vid = None, name[4:]
    else:
        return None, None
    return raw, ascii_int(vid)


class _Unreadable(Exception):
    """A device's stanzas say something net_persist cannot read; carries the Problem."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


# \d as in ifupdown2's own parse_glob (ifupdownaddons/modulebase.py), which is Python too: what it expands.
_GLOBS = (re.compile(r"([A-Za-z0-9\-]+)\[(\d+)\-(\d+)\]([A-Za-z0-9\-]+)\[(\d+)\-(\d+)\](.*)"),
          re.compile(r"([A-Za-z0-9\-]+[A-Za-z])(\d+)\-(\d+)(.*)"),
          re.compile(r"([A-Za-z0-9\-]+)\[(\d+)\-(\d+)\](.*)"))


def _glob_names(expr: str) -> tuple:
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


def _port_list(host: _Host, name: str, kind: str):
    """((stanza, option) of the list, [ports]): every `bridge-ports` line joined (as ifupdown2 does), a bond's
    first `bond-slaves`. A glob or regex list raises _Unreadable naming the line and what it may match."""
    keys = ("bridge-ports",) if kind == "bridge" else ("bond-slaves", "bond-ports")
    found = [(st, opt) for st, opt in host.options(name) if opt.key in keys]
    if not found:
        return None, []
    used = found if kind == "bridge" else found[:1]
    words = [w for _st, opt in used for w in opt.value.split()]
    if any(w in ("glob", "regex") for w in words):
        st, opt = next((st, opt) for st, opt in used if set(opt.value.split()) & {"glob", "regex"})
        patterns, literal, mode = [], [], None
        for word in words:
            if word in ("glob", "regex", "noglob", "noregex"):
                mode = word if word in ("glob", "regex") else None
            elif mode == "glob":
                names, matching = _glob_names(word)
                literal += names
                patterns += matching
                mode = None
            elif mode == "regex":
                try:
                    patterns.append(re.compile(f".*(?:{word})"))
                except re.error:
                    patterns.append(re.compile(".*"))
                mode = None
            elif word != "none":
                literal.append(word)
        kind_word = "glob" if "glob" in words else "regex"
        raise _Unreadable(Problem(f"{st.where(opt)}: '{opt.key} {opt.value}' of {name} is a {kind_word} list; "
                                  f"net_persist does not write it, nor a device it may match", [name] + literal, patterns))
    return found[-1] if kind == "bridge" else found[0], [w for w in words if w != "none"]


def _addresses(host: _Host, name: str):
    """(addresses, gateway4, gateway6), or None for a device whose addresses come from elsewhere (DHCP...)."""
    if any(st.method in _METHODS_WITHOUT_STATIC for st in host.stanzas.get(name, [])):
        return None
    addresses, gateways = [], {4: [], 6: []}
    for st in host.stanzas.get(name, []):
        pending = []
        for opt in st.options:
            if opt.key == "address":
                for word in opt.value.split():
                    pending.append([word, None, opt])
            elif opt.key == "netmask" and pending:
                pending[-1][1] = opt.value.strip()
            elif opt.key == "gateway":
                for word in opt.value.split():
                    try:
                        gw = ipaddress.ip_address(word)
                    except ValueError:
                        raise ValidationError([f"{st.where(opt)}: gateway {word!r} is not an IP address"]) from None
                    gateways[gw.version].append((str(gw), st, opt))
        for word, mask, opt in pending:
            try:
                text = word if "/" in word or not mask else f"{word}/{mask}"
                addresses.append(str(ipaddress.ip_interface(text)))
            except ValueError:
                raise ValidationError([f"{st.where(opt)}: address {word!r} (netmask {mask!r}) is not an address "
                                       f"with prefix"]) from None
    for version, found in gateways.items():
        if len({g for g, _s, _o in found}) > 1:
            _g, st, opt = found[1]
            raise ValidationError([f"{st.where(opt)}: {name} has a second IPv{version} gateway; net_persist keeps "
                                   f"one default gateway per family"])
    return IpConfig(addresses=addresses, gateway4=gateways[4][0][0] if gateways[4] else None,
                    gateway6=gateways[6][0][0] if gateways[6] else None).normalized()


def _bond(host: _Host, name: str, common: dict) -> Bond:
    values = dict(BOND_DEFAULTS)
    st, opt = _one(host, name, "bond-mode")
    if opt is not None:
        mode = _BOND_MODE_NUMBERS.get(opt.value.strip(), opt.value.strip().lower())
        if mode not in BOND_MODES:
            raise ValidationError([f"{st.where(opt)}: bond-mode {opt.value!r} is not one of {', '.join(BOND_MODES)}"])
        values["mode"] = mode
    for field, key in _BOND_NATIVE.items():
        st, opt = _one(host, name, key)
        if opt is None:
            continue
        if field == "lacp_rate":
            values[field] = _LACP_NUMBERS.get(opt.value.strip(), opt.value.strip().lower())
        elif field in ("xmit_hash_policy", "primary"):
            values[field] = opt.value.strip()
        else:
            values[field] = _int(st, opt)
    for field in _BOND_BY_COMMAND:
        st, opt = _one(host, name, f"#bond-{field}")
        if opt is None:
            continue
        value = _RE_BOND_CMD.match(f"pre-up {' '.join(opt.value.split())}").group(3)
        if field == "arp_ip_target":
            values[field] = [] if value == "0" else value.split(",")
        elif field == "arp_interval":
            number = ascii_int(value)
            values[field] = -1 if number is None else number
        else:
            values[field] = value
    return Bond(**options_in_mode(Bond(**values, **common)), **common)


def _bridge(host: _Host, name: str, common: dict) -> Bridge:
    st, opt = _one(host, name, "bridge-stp")
    stp = _yes(st, opt) if opt is not None else False
    st, opt = _one(host, name, "bridge-fd")
    fd = 15.0
    if opt is not None:
        fd = float(_int(st, opt, 0, 255))
    st, opt = _one(host, name, "#bridge-fd")
    if opt is not None:
        fd = int(_RE_BR_FD.match(f"post-up {' '.join(opt.value.split())}").group(2)) / 100
    st, opt = _one(host, name, "bridge-vlan-aware")
    aware = _yes(st, opt) if opt is not None else False
    return Bridge(stp=stp, forward_delay=fd, vlan_filtering=aware, **common)


def _vlan(host: _Host, name: str, common: dict) -> Vlan:
    raw, vid = _vlan_from_name(name)
    st, opt = _one(host, name, "vlan-raw-device")
    if opt is not None:
        raw = opt.value.strip()
    st, opt = _one(host, name, "vlan-id")
    if opt is not None:
        vid = _int(st, opt, 1, 4094)
    if raw is None or vid is None:
        first = host.stanzas[name][0]
        raise ValidationError([f"{first.where()}: {name} looks like a VLAN but its raw device and id cannot be told; "
                               f"give vlan-raw-device and vlan-id"])
    st, opt = _one(host, name, "vlan-protocol")
    protocol = DEFAULT_VLAN_PROTOCOL
    if opt is not None:
        protocol = vlan_protocol(opt.value)
        if protocol is None:
            raise ValidationError([f"{st.where(opt)}: vlan-protocol {opt.value!r} is not "
                                   f"{' or '.join(p.lower() for p in VLAN_PROTOCOLS)}"])
    return Vlan(parent=raw, vlan_id=vid, protocol=protocol, **common)


def _vids(st, opt) -> tuple:
    """Every VLAN id of a bridge-vids/bridge-trunk line ('10 20-30'; commas read too, as before)."""
    return vids_of(parse_ranges(opt.value, f"{st.where(opt)}: {opt.key}", separators=r",\s", strict=True))


def _port_membership(host: _Host, name: str, bridge: str) -> dict:
    """What ifupdown2 gives a port of a vlan-aware bridge: its own keys, else the bridge's, pvid 1 by default."""
    st, access = _one(host, name, "bridge-access")
    if access is not None:
        vid = _int(st, access, 1, 4094)
        return from_flags({vid: (True, True)})
    vids = None
    for key in ("bridge-vids", "bridge-trunk"):
        st, opt = _one(host, name, key)
        if opt is not None:
            vids = _vids(st, opt)
            break
    bridge_vids, bridge_pvid = host.bridge_level.get(bridge, (None, None))
    if vids is None:
        vids = bridge_vids or []
    st, opt = _one(host, name, "bridge-allow-untagged")
    allow_untagged = _yes(st, opt) if opt is not None else True
    pvid = None
    if allow_untagged:
        st, opt = _one(host, name, "bridge-pvid")
        pvid = _int(st, opt, 1, 4094) if opt is not None else (bridge_pvid or 1)
    flags = {vid: (False, False) for vid in vids}
    if pvid:
        flags[pvid] = (True, True)
    return from_flags(flags)


def _self_membership(host: _Host, bridge: str, svi_vids) -> dict:
    """The bridge's own entry: the kernel's VLAN 1 (pvid, untagged), our post-up lines, then its VLAN devices' ids."""
    flags = {1: (True, True)}
    for _st, opt in host.values(bridge, "#self-vlan"):
        found = _RE_SELF_VLAN.match(f"post-up {' '.join(opt.value.split())}")
        action, first, last, words = found.group(1), int(found.group(3)), int(found.group(4) or found.group(3)), found.group(5).split()
        if action == "del":
            del_vids(flags, first, last)
        else:
            add_vids(flags, first, last, "pvid" in words, "untagged" in words)
    for vid in svi_vids:
        add_vids(flags, vid, vid)   # ifupdown2 adds a VLAN device's id to a vlan-aware bridge, without flags
    return from_flags(flags)


def _describe(host: _Host) -> None:
    """host.model from the stanzas. A device whose stanzas cannot be read is left out of the model and its
    Problem recorded (host.problems): the renderer refuses it only when it concerns a device being written."""
    names = [n for n in host.stanzas if n != "lo" and n not in host.ovs
             and not any(st.method == "loopback" for st in host.stanzas[n])]
    kinds = {name: _kind(host, name) for name in names}
    broken: set = set()

    def unreadable(name, exc):
        problem = exc.problem if isinstance(exc, _Unreadable) else Problem("; ".join(exc.problems), [name])
        host.problems.append(problem)
        broken.add(name)

    master: dict = {}
    for name in names:
        if kinds[name] in ("bridge", "bond"):
            try:
                where, ports = _port_list(host, name, kinds[name])
            except _Unreadable as exc:
                unreadable(name, exc)
                continue
            host.port_lists[name] = (where, ports)
            for port in ports:
                if port in master:
                    st, opt = where
                    unreadable(name, _Unreadable(Problem(f"{st.where(opt)}: {port} is already a port of "
                                                         f"{master[port]}", [name, port, master[port]])))
                    continue
                master[port] = name
    for port in master:
        if port not in kinds and port not in host.ovs and port != "lo":
            # A port without a stanza of its own: ifupdown2 still makes it (a VLAN from a parent.id name),
            # enslaves it and brings it up.
            kinds[port] = "vlan" if "." in port and _vlan_from_name(port)[1] is not None else "nic"
    lowers: dict = {name: [] for name in kinds}
    for port, upper in master.items():
        lowers[upper].append(port)
    vlans = {}
    for name in (n for n in kinds if kinds[n] == "vlan"):
        try:
            vlans[name] = _vlan(host, name, {"name": name})
            lowers[name].append(vlans[name].parent)
        except ValidationError as exc:
            unreadable(name, exc)
    reached, todo = set(), [n for n in kinds if n in host.auto]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += lowers.get(name, [])
    for name in kinds:
        if kinds[name] == "bridge":
            try:
                host.bridge_level[name] = _bridge_level(host, name)
            except ValidationError as exc:
                unreadable(name, exc)
    for name in sorted(kinds):
        if name in broken:
            continue
        try:
            host.model.add(_device(host, name, kinds[name], name in reached, master.get(name)))
        except ValidationError as exc:
            unreadable(name, exc)
    for name, dev in list(host.model.devices.items()):
        upper = host.model.get(dev.master) if dev.master else None
        try:
            if isinstance(upper, Bridge) and upper.vlan_filtering:
                dev.vlans = _port_membership(host, name, upper.name)
            if isinstance(dev, Bridge) and dev.vlan_filtering:
                svis = sorted(v.vlan_id for v in host.model.devices.values() if isinstance(v, Vlan) and v.parent == name)
                dev.vlans = _self_membership(host, name, svis)
        except ValidationError as exc:
            unreadable(name, exc)
            del host.model.devices[name]
    host.broken = broken


def _bridge_level(host: _Host, name: str) -> tuple:
    """(vids, pvid) a bridge's own stanza gives its ports (bridge-vids/bridge-trunk, bridge-pvid)."""
    vids = pvid = None
    st, opt = _one(host, name, "bridge-vids")
    if opt is None:
        st, opt = _one(host, name, "bridge-trunk")
    if opt is not None:
        vids = _vids(st, opt)
    st, opt = _one(host, name, "bridge-pvid")
    if opt is not None:
        pvid = _int(st, opt, 1, 4094)
    return vids, pvid


def _device(host: _Host, name: str, kind: str, reached: bool, master):
    """One device of the model, as ifupdown2 would bring it up at boot."""
    st, opt = _one(host, name, "link-down")
    down = opt is not None and _yes(st, opt)
    if reached:
        up = not down
    else:
        up = False if kind == "nic" else None   # a bridge/bond/VLAN nothing brings up is not even created
    common = {"name": name, "mtu": _mtu(host, name, kind), "up": up, "master": master,
              "ip": _addresses(host, name) if name in host.stanzas else IpConfig()}
    if common["ip"] is None:
        common["ip"] = IpConfig()
    if kind == "bridge":
        return _bridge(host, name, common)
    if kind == "bond":
        return _bond(host, name, common)
    if kind == "vlan":
        return _vlan(host, name, common)
    return Nic(**common)


def _mtu(host: _Host, name: str, kind: str):
    """The `mtu` key; for a bridge also our post-up line, and without either ifupdown2's default (it sets a bridge
    that has no `mtu` to it, whatever its ports have: addons/address.py, checked on Debian's 3.0)."""
    st, opt = _one(host, name, "mtu")
    if opt is not None:
        return _int(st, opt, 68, 65535)
    if kind != "bridge":
        return None
    st, opt = _one(host, name, "#bridge-mtu")
    if opt is not None:
        return int(_RE_BR_MTU.match(f"post-up {' '.join(opt.value.split())}").group(2))
    return IFUPDOWN2_DEFAULT_MTU


# -- what to write ------------------------------------------------------------------------------------------------

def _vid_words(ranges) -> str:
    return " ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _port_vlan_lines(dev, bridge_has_vids: bool) -> list:
    """Port keys that give `dev.vlans` whatever the bridge's own bridge-vids/bridge-pvid say."""
    member = dev.vlans
    pvid, untagged, tagged = member.get("pvid"), member.get("untagged") or [], member.get("tagged") or []
    if pvid and untagged == [[pvid, pvid]] and not tagged:
        return [f"bridge-access {pvid}"]
    if pvid and untagged == [[pvid, pvid]]:
        return [f"bridge-vids {_vid_words(tagged)}", f"bridge-pvid {pvid}"]
    if not pvid and not untagged and (tagged or not bridge_has_vids):
        return ([f"bridge-vids {_vid_words(tagged)}"] if tagged else []) + ["bridge-allow-untagged no"]
    raise ValidationError([f"{dev.name}: ifupdown2 gives a port of a vlan-aware bridge one untagged VLAN, its PVID, "
                           f"and tagged ones; it cannot say pvid {pvid}, untagged {untagged}, tagged {tagged}"
                           + ("" if tagged or pvid else " (the bridge's own bridge-vids would apply)")])


def _self_vlan_lines(dev, svi_vids) -> list:
    want = flags_by_vid(dev.vlans)
    for vid in svi_vids:
        if want.get(vid) != (False, False):
            raise ValidationError([f"{dev.name}: its VLAN device for VLAN {vid} makes ifupdown2 add VLAN {vid} to the "
                                   f"bridge's own entry tagged; it cannot be {'absent' if vid not in want else 'pvid/untagged'}"])
    base = {1: (True, True)}
    lines = [f"post-up bridge vlan del dev {dev.name} vid {vid} self"
             for vid in sorted(base) if vid not in want and vid not in svi_vids]
    adds = [(vid, flags) for vid, flags in sorted(want.items()) if vid not in svi_vids and base.get(vid) != flags]
    for first, last, (pvid, untagged) in runs(adds):
        words = (" pvid" if pvid else "") + (" untagged" if untagged else "")
        span = str(first) if first == last else f"{first}-{last}"
        lines.append(f"post-up bridge vlan add dev {dev.name} vid {span}{words} self")
    return lines


def _vlan_lines(dev) -> list:
    lines = []
    if dev.name != f"{dev.parent}.{dev.vlan_id}":
        lines += [f"vlan-raw-device {dev.parent}", f"vlan-id {dev.vlan_id}"]
    if dev.protocol not in (None, DEFAULT_VLAN_PROTOCOL):
        lines.append(f"vlan-protocol {dev.protocol}")
    return lines


def _bond_option_lines(dev, field: str) -> list:
    value = getattr(dev, field)
    if field == "mode":
        return [f"bond-mode {value}"]
    if value is None:
        return []
    if field == "miimon":
        return [f"bond-miimon {value}"]
    if value == BOND_DEFAULTS[field] and field != "primary":
        return []
    if field in _BOND_NATIVE:
        return [f"{_BOND_NATIVE[field]} {value}"]
    if field == "arp_ip_target":
        value = ",".join(value) if value else "0"
    return [f"pre-up ip link set dev {dev.name} type bond {field} {value}"]


def _fields(dev, ctx) -> list:
    """(field, value, keys, lines) for everything a stanza says of `dev` besides addresses, ports and admin state."""
    out = []
    if isinstance(dev, Bond):
        for field in ("miimon", "mode") + tuple(f for f in BOND_DEFAULTS if f not in ("mode", "miimon")):
            keys = ("bond-mode",) if field == "mode" else (_BOND_NATIVE[field],) if field in _BOND_NATIVE \
                else (f"#bond-{field}",)
            out.append((field, getattr(dev, field), keys, _bond_option_lines(dev, field)))
    if isinstance(dev, Bridge):
        out.append(("stp", dev.stp, ("bridge-stp",), [f"bridge-stp {'on' if dev.stp else 'off'}"]))
        fd = dev.forward_delay
        fd_lines = [] if fd is None else [f"bridge-fd {int(fd)}"] if float(fd) == int(fd) else \
            [f"post-up ip link set dev {dev.name} type bridge forward_delay {round(fd * 100)}"]
        out.append(("forward_delay", fd, ("bridge-fd", "#bridge-fd"), fd_lines))
        out.append(("vlan_filtering", dev.vlan_filtering, ("bridge-vlan-aware",),
                    ["bridge-vlan-aware yes"] if dev.vlan_filtering else []))
    if isinstance(dev, Vlan):
        out.append(("vlan", (dev.parent, dev.vlan_id, dev.protocol), _TYPE_KEYS["vlan"], _vlan_lines(dev)))
    if isinstance(dev, Bridge):
        # ifupdown2's syntax check refuses `mtu` on a bridge ("bridge inherits mtu from its ports"), yet sets a
        # bridge without it to its default: the default needs no line, any other MTU a post-up line. A stanza
        # that already says `mtu` (Proxmox VE's web UI writes it) keeps saying it: that file never passed the check.
        if dev.mtu is not None and ctx.host.values(dev.name, "mtu"):
            lines = [f"mtu {dev.mtu}"]
        elif dev.mtu in (None, IFUPDOWN2_DEFAULT_MTU):
            lines = []
        else:
            lines = [f"post-up ip link set dev {dev.name} mtu {dev.mtu}"]
        out.append(("mtu", dev.mtu, ("mtu", "#bridge-mtu"), lines))
    else:
        out.append(("mtu", dev.mtu, ("mtu",), [] if dev.mtu is None else [f"mtu {dev.mtu}"]))
    if isinstance(dev, Bridge):
        lines = [] if dev.vlans is None or not dev.vlan_filtering else _self_vlan_lines(dev, ctx.svis(dev.name))
        out.append(("self_vlans", dev.vlans, ("#self-vlan",), lines))
    else:
        port = dev.vlans is not None and ctx.filtering_master(dev)
        lines = _port_vlan_lines(dev, ctx.bridge_has_vids(dev.master)) if port else []
        out.append(("port_vlans", dev.vlans, _PORT_VLAN_KEYS, lines))
    return out


class _Context:
    """The devices as they will be once rendered (the files' plus `desired`, less `remove`)."""

    def __init__(self, host: _Host, desired: HostNetwork, remove):
        self.host, self.remove = host, set(remove)
        self.final = {n: d for n, d in host.model.devices.items() if n not in remove}
        self.final.update(desired.devices)
        for name, dev in list(self.final.items()):
            if dev.master and (dev.master in remove or not isinstance(self.final.get(dev.master), (Bridge, Bond))):
                if name not in desired.devices:
                    self.final[name] = copy.copy(dev)
                    self.final[name].master = None

    def svis(self, bridge: str) -> list:
        return sorted(d.vlan_id for d in self.final.values() if isinstance(d, Vlan) and d.parent == bridge)

    def filtering_master(self, dev) -> bool:
        upper = self.final.get(dev.master) if dev.master else None
        return isinstance(upper, Bridge) and bool(upper.vlan_filtering)

    def bridge_has_vids(self, bridge) -> bool:
        return bool(self.host.bridge_level.get(bridge, (None, None))[0])

    def ports(self, name: str, current) -> list:
        """Ports of bridge/bond `name`: those listed now that stay, in their order, then new ones by name.

        A listed port net_persist does not model (an Open vSwitch port, a stanza it cannot read) stays listed:
        it is not ours to drop; only a removed one leaves."""
        members = [n for n, d in self.final.items() if d.master == name]
        kept = [p for p in current if p in members or (p not in self.final and p not in self.remove)]
        return kept + sorted(p for p in members if p not in kept)

    def reach(self, desired: HostNetwork, new, remove) -> None:
        """Which devices `ifup -a` will bring up without any `auto` added by this render (`self.auto_reached`:
        `auto` ones, new ones, and what they stand on), and which will get an `auto` line of their own.

        A port that leaves its bridge (a swapped uplink) is no longer brought up with it: whether its own
        stanza needs `auto` or `link-down` follows from this, not from what the files said before."""
        self._lowers: dict = {}
        for name, dev in self.final.items():
            if dev.master:
                self._lowers.setdefault(dev.master, []).append(name)
            if isinstance(dev, Vlan) and dev.parent:
                self._lowers.setdefault(name, []).append(dev.parent)
        base = (set(self.host.auto) - set(remove)) | set(new)
        self.auto_reached = self._closure(base)
        # Devices that will get an `auto` line of their own (_edit_up): what they stand on is reached too.
        self._own_auto = {n for n, d in desired.devices.items() if n not in self.auto_reached
                          and (d.up or (d.up is False and d.TYPE != "nic"))}

    def _closure(self, roots) -> set:
        """`roots` and everything they stand on (ports, slaves, a VLAN's parent): what `ifup` brings up with them."""
        found, todo = set(), list(roots)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo += self._lowers.get(name, [])
        return found

    def up_after(self, host: _Host, dev):
        """What the rendered files say of dev.up before its own `auto`/`link-down` lines are edited.

        Reached through an `auto` line, an added one included, but never through the `auto` line this device
        would get itself: a NIC Proxmox VE wrote without one (`iface eno1 inet manual`), left up when a swap took
        it out of its bridge, needs it added, or nothing brings it up at boot."""
        st, opt = _one(host, dev.name, "link-down")
        down = opt is not None and _yes(st, opt)
        if dev.name in self.auto_reached or dev.name in self._closure(self._own_auto - {dev.name}):
            return not down
        return False if dev.TYPE == "nic" else None


def _indent_of(stanza) -> str:
    return stanza.options[0].indent if stanza.options else "\t"


def _nl(stanza_or_file, host: _Host) -> str:
    path = stanza_or_file.path
    return host.files[path].newline


def _replace(host: _Host, stanzas: list, keys, lines: list, target=None) -> None:
    """Make `keys` say `lines`: the first line holding one of them is replaced, the others deleted; else appended."""
    found = [opt for st in stanzas for opt in st.options if opt.key in keys and opt.line.text is not None]
    if found:
        first = found[0].line
        indent = found[0].indent
        nl = "\r\n" if first.text.endswith("\r\n") else "\n"
        first.text = "".join(f"{indent}{line}{nl}" for line in lines) or None
        for opt in found[1:]:
            opt.line.text = None
        return
    if lines:
        st = target or stanzas[0]
        indent, nl = _indent_of(st), _nl(st, host)
        st.last.after.append("".join(f"{indent}{line}{nl}" for line in lines))


def _set_method(stanza, method: str) -> None:
    if stanza.family is None or stanza.method == method:
        return
    text = stanza.header.text
    stanza.header.text = re.sub(r"^(\s*iface\s+\S+\s+\S+\s+)\S+", lambda m: m.group(1) + method, text, count=1)
    stanza.method = method


def _stanza_end(f: _File, stanza) -> int:
    """Index of the stanza's last line: its last option, then the comment lines right after it.

    Proxmox VE writes a stanza's comments after its options; comment lines
    directly above an `auto`/`iface`/`source` line head that one instead.
    """
    last = f.lines.index(stanza.last)
    index = last
    while index + 1 < len(f.lines) - 1:
        text = f.lines[index + 1].text
        if text is None:
            index += 1
            continue
        if not text.strip().startswith("#"):
            break
        index += 1
    following = next((line.text for line in f.lines[index + 1:-1] if line.text is not None), None)
    if following is not None and following.strip() and not following.strip().startswith("#"):
        return last   # the comments run straight into the next item: they head it
    return index


def _delete_stanza(host: _Host, stanza) -> None:
    """The stanza's lines (with its trailing comments), and the blank lines right after it."""
    f = host.files[stanza.path]
    index = next(i for i, line in enumerate(f.lines) if line is stanza.header)
    last = _stanza_end(f, stanza)
    for line in f.lines[index:last + 1]:
        line.text = None
    for line in f.lines[last + 1:-1]:
        if line.text is None or line.text.strip():
            break
        line.text = None


def _stanza_text(name: str, family: str, method: str, lines: list, nl: str) -> str:
    return f"iface {name} {family} {method}{nl}" + "".join(f"\t{line}{nl}" for line in lines) + nl


def _address_lines(addresses, gateway) -> list:
    return [f"address {a}" for a in addresses] + ([f"gateway {gateway}"] if gateway else [])


class Ifupdown2Format(PersistFormat):
    """/etc/network/interfaces and the files it sources, as Debian's ifupdown2 (and Proxmox VE) read them."""

    NAME = "ifupdown2"
    DEFAULT_PATH = "/etc/network/interfaces"
    PATH_IS_DIR = False

    # -- reading -------------------------------------------------------------------------------------------------

    def read(self) -> dict:
        files: dict = {}

        def visit(path):
            real = self.host_path(path)
            if path in files or not os.path.isfile(real):
                return
            with open(real, encoding="utf-8", newline="") as handle:
                files[path] = handle.read()
            for _line, word, argument, _n in _parse_directives(path, files[path]):
                for sub in _expand(word, argument, self._candidates(word, argument)):
                    visit(sub)

        visit(self.path)
        return files

    def _candidates(self, word: str, argument: str) -> list:
        """Host paths of the files a source/source-directory line could name, found under `root`."""
        target = _absolute(argument)
        base = target if word == "source-directory" else posixpath.dirname(target)
        # The wildcard part may be anywhere: list from the deepest directory without one.
        while any(ch in base for ch in "*?["):
            base = posixpath.dirname(base)
        found = []
        for dirpath, _dirs, names in os.walk(self.host_path(base)):
            rel = os.path.relpath(dirpath, self.host_path(base))
            for name in names:
                found.append(posixpath.normpath(posixpath.join(base, rel.replace(os.sep, "/"), name)))
        return found

    # -- writing -------------------------------------------------------------------------------------------------

    def render(self, files: dict, desired: HostNetwork, remove=()) -> dict:
        host = _load(self.path, files)
        remove = [n for n in remove if n not in desired.devices]
        refuse(host.problems, list(desired.devices) + list(remove))
        for name in list(desired.devices) + list(remove):
            if name in host.ovs:
                st = host.stanzas[name][0] if name in host.stanzas else None
                raise ValidationError([f"{name}: {st.where() if st else 'the files'} describe it as an Open vSwitch "
                                       f"device; net_persist does not write Open vSwitch stanzas"])
        ctx = _Context(host, desired, set(remove))
        if self.path not in host.files:
            host.files[self.path] = _parse_file(self.path, "")
        for name in remove:
            self._remove(host, name)
        new = [d for n, d in desired.devices.items() if not host.stanzas.get(n)]
        ctx.reach(desired, [d.name for d in new], remove)
        for name, dev in desired.devices.items():
            if host.stanzas.get(name):
                self._edit(host, ctx, dev)
        self._port_lists(host, ctx, set(remove), {d.name for d in new})
        self._add_new(host, ctx, new)
        out = {}
        for path, f in host.files.items():
            text = f.text()
            if text != files.get(path, ""):
                out[path] = text
        for path in out:
            if path == SDN_FILE:
                raise ValidationError([f"{path}: Proxmox VE's SDN writes this file; net_persist never does (leave "
                                       f"the devices it defines out of `devices`)"])
        self._verify(files, out, desired, remove)
        return out

    def parse(self, files: dict) -> HostNetwork:
        model, problems = self.parse_lenient(files)
        refuse(problems, None)
        return model

    def parse_lenient(self, files: dict) -> tuple:
        host = _load(self.path, files)
        return host.model, list(host.problems)

    def describing(self, files: dict, names) -> set:
        host = _load(self.path, files)
        return {st.path for name in names for st in host.stanzas.get(name, [])}

    def reserved(self, files: dict) -> dict:
        """Devices of Proxmox VE's SDN file (pve-network writes and reloads it itself)."""
        if SDN_FILE not in files:
            return {}
        return {st.name: f"is defined in {SDN_FILE}, which Proxmox VE's SDN writes"
                for st in _parse_file(SDN_FILE, files[SDN_FILE]).stanzas}

    def staged(self):
        """Proxmox VE's interfaces.new (the web UI's changes, applied by moving it over the main file)."""
        path = self.path + STAGED_SUFFIX
        return type(self)(path, self.root) if os.path.isfile(self.host_path(path)) else None

    SYNTAX = "words"

    def secret_key(self, section: str, key: str) -> bool:
        return is_secret_key(key)

    def _verify(self, files, changes, desired, remove) -> None:
        """The parser, not hope, says the result means `desired` (what ifupdown2 cannot say is refused here)."""
        after = _load(self.path, {**files, **changes}).model
        problems = []
        for name, dev in desired.devices.items():
            got = after.get(name)
            if got is None or got.to_dict() != dev.to_dict():
                fields = sorted(k for k, v in dev.to_dict().items() if got is None or got.to_dict().get(k) != v)
                problems.append(f"{name}: ifupdown2 stanzas cannot say {', '.join(fields)} as desired")
        problems += [f"{name}: still described after removal" for name in remove if after.get(name) is not None]
        if problems:
            raise ValidationError(problems)

    def _remove(self, host: _Host, name: str) -> None:
        for st in host.stanzas.pop(name, []):
            _delete_stanza(host, st)
        for f, line, _word, names in host.auto.pop(name, []):
            self._drop_mark(line, names, name)

    @staticmethod
    def _drop_mark(line, names, name) -> None:
        if line.text is None:
            return
        words = line.text.split()
        if name not in words[1:]:
            return
        rest = [w for w in words[1:] if w != name]
        if not rest:
            line.text = None
            return
        names[:] = rest
        indent = line.text[:len(line.text) - len(line.text.lstrip())]
        nl = "\r\n" if line.text.endswith("\r\n") else "\n"
        line.text = f"{indent}{words[0]} {' '.join(rest)}{nl}"

    def _edit(self, host: _Host, ctx: _Context, dev) -> None:
        name = dev.name
        stanzas = host.stanzas[name]
        current = host.model.get(name)
        if current is None:
            raise ValidationError([f"{name}: {stanzas[0].where()} has a stanza for it that net_persist cannot use "
                                   f"(loopback)"])
        primary = next((st for st in stanzas if st.family in (None, "inet")), stanzas[0])
        if current.TYPE != dev.TYPE:
            stale = [k for kind, keys in _TYPE_KEYS.items() if kind != dev.TYPE for k in keys]
            _replace(host, stanzas, stale, [])
        cur_ip = (current.ip.addresses, current.ip.gateway4, current.ip.gateway6)
        if cur_ip != (dev.ip.addresses, dev.ip.gateway4, dev.ip.gateway6):
            self._edit_ip(host, dev, stanzas, primary)
        cur_fields = {field: value for field, value, _k, _l in _fields(current, ctx)} if current.TYPE == dev.TYPE else {}
        for field, value, keys, lines in _fields(dev, ctx):
            if field not in cur_fields or cur_fields[field] != value:
                _replace(host, stanzas, keys, lines, primary)
        if ctx.up_after(host, dev) != dev.up:
            self._edit_up(host, ctx, dev, stanzas, primary)

    def _edit_up(self, host: _Host, ctx: _Context, dev, stanzas, primary) -> None:
        _replace(host, stanzas, ("link-down",), [] if dev.up else ["link-down yes"], primary)
        if dev.name not in host.auto and dev.name not in ctx.auto_reached:
            first = stanzas[0]
            first.header.before.append(f"auto {dev.name}{_nl(first, host)}")

    def _edit_ip(self, host: _Host, dev, stanzas, primary) -> None:
        odd = [st for st in stanzas if st.method in _METHODS_WITHOUT_STATIC]
        if odd:
            raise ValidationError([f"{dev.name}: {odd[0].where()} gets its addresses by {odd[0].method}; net_persist "
                                   f"writes static addresses only (change that stanza by hand, or leave {dev.name} "
                                   f"out of `devices`)"])
        _replace(host, stanzas, ("address", "netmask", "gateway", "broadcast"), [])
        addresses = dev.ip.addresses or []
        v4 = [a for a in addresses if ipaddress.ip_interface(a).version == 4]
        v6 = [a for a in addresses if ipaddress.ip_interface(a).version == 6]
        if primary.family is None:   # `iface X` without a family: it holds both
            lines = _address_lines(v4, dev.ip.gateway4) + _address_lines(v6, dev.ip.gateway6)
            primary.header.after.insert(0, "".join(f"{_indent_of(primary)}{line}{_nl(primary, host)}" for line in lines))
            return
        inet = next((st for st in stanzas if st.family == "inet"), None)
        inet6 = next((st for st in stanzas if st.family == "inet6"), None)
        nl = _nl(stanzas[0], host)
        lines4 = _address_lines(v4, dev.ip.gateway4)
        if inet is None and lines4:
            stanzas[0].header.before.append(_stanza_text(dev.name, "inet", "static", lines4, nl))
        elif inet is not None:
            if lines4:
                inet.header.after.insert(0, "".join(f"{_indent_of(inet)}{line}{_nl(inet, host)}" for line in lines4))
            _set_method(inet, "static" if v4 else "manual")
        lines6 = _address_lines(v6, dev.ip.gateway6)
        if inet6 is None and lines6:
            last = stanzas[-1]
            f = host.files[last.path]
            anchor = self._after_stanza(f, last)
            anchor.after.append(self._separated(f, anchor, _stanza_text(dev.name, "inet6", "static", lines6, f.newline)))
        elif inet6 is not None:
            if lines6:
                inet6.header.after.insert(0, "".join(f"{_indent_of(inet6)}{line}{_nl(inet6, host)}" for line in lines6))
                _set_method(inet6, "static")
            elif all(opt.line.text is None for opt in inet6.options) and not any(
                    line.text is not None and line.text.strip() for line in inet6.inner) and inet is not None:
                _delete_stanza(host, inet6)   # it said nothing else: Proxmox VE drops an empty inet6 stanza too
            else:
                _set_method(inet6, "manual")

    @staticmethod
    def _after_stanza(f: _File, stanza) -> _Line:
        """The line after which text following `stanza` goes: its end, then the blank lines after it."""
        index = _stanza_end(f, stanza)
        anchor = f.lines[index]
        for line in f.lines[index + 1:-1]:
            if line.text is not None and line.text.strip():
                break
            anchor = line
        return anchor

    @staticmethod
    def _separated(f: _File, anchor: _Line, text: str) -> str:
        """`text`, with a blank line first when it would follow a line that is not blank."""
        previous = anchor.after[-1] if anchor.after else anchor.text
        if previous is not None and previous.strip() and not previous.endswith(f.newline * 2):
            return f.newline + text
        return text

    def _port_lists(self, host: _Host, ctx: _Context, remove: set, new: set) -> None:
        for name, dev in ctx.final.items():
            if not isinstance(dev, (Bridge, Bond)) or name in new or not host.stanzas.get(name):
                continue
            where, current = host.port_lists.get(name, (None, []))
            if host.model.get(name) is not None and host.model.get(name).TYPE != dev.TYPE:
                where, current = None, []
            ports = ctx.ports(name, current)
            if ports == current and (where is not None or not ports and host.model.get(name) is not None
                                     and host.model.get(name).TYPE == dev.TYPE):
                continue   # the same list, or a bridge without ports that says so by bridge-vlan-aware alone
            key = "bridge-ports" if isinstance(dev, Bridge) else "bond-slaves"
            keys = ("bridge-ports",) if isinstance(dev, Bridge) else ("bond-slaves", "bond-ports")
            primary = next((st for st in host.stanzas[name] if st.family in (None, "inet")), host.stanzas[name][0])
            line = f"{key} {' '.join(ports) or 'none'}"
            if where is None:
                # New type keys go first among the stanza's options, as Proxmox VE writes them.
                indent, nl = _indent_of(primary), _nl(primary, host)
                anchor = primary.header
                for opt in primary.options:
                    if opt.key in ("address", "netmask", "gateway", "broadcast") and opt.line.text is not None:
                        anchor = opt.line
                anchor.after.append(f"{indent}{line}{nl}")
            else:
                _replace(host, host.stanzas[name], keys, [line])

    def _new_text(self, ctx: _Context, dev, nl: str) -> str:
        addresses = dev.ip.addresses or []
        v4 = [a for a in addresses if ipaddress.ip_interface(a).version == 4]
        v6 = [a for a in addresses if ipaddress.ip_interface(a).version == 6]
        lines = _address_lines(v4, dev.ip.gateway4)
        if isinstance(dev, Bridge):
            lines.append(f"bridge-ports {' '.join(ctx.ports(dev.name, [])) or 'none'}")
        elif isinstance(dev, Bond):
            lines.append(f"bond-slaves {' '.join(ctx.ports(dev.name, [])) or 'none'}")
        for _field, _value, _keys, field_lines in _fields(dev, ctx):
            lines += field_lines
        if not dev.up:
            lines.append("link-down yes")
        text = f"auto {dev.name}{nl}" + _stanza_text(dev.name, "inet", "static" if v4 else "manual", lines, nl)
        if v6:
            text += _stanza_text(dev.name, "inet6", "static", _address_lines(v6, dev.ip.gateway6), nl)
        return text

    def _prio(self, ctx: _Context, host: _Host, name: str) -> int:
        """Proxmox VE's order: by the type of the name's root (eth0 of eth0.10), plus one per dot."""
        root, *rest = re.split(r"[.:]", name)
        dev = ctx.final.get(root) or host.model.get(root)
        kind = "lo" if root == "lo" else (dev.TYPE if dev is not None else "nic")
        return _PRIO.get(kind, _PRIO["nic"]) + len(rest)

    def _add_new(self, host: _Host, ctx: _Context, new: list) -> None:
        if not new:
            return
        f = host.files[self.path]
        existing = [st for st in f.stanzas if not st.opaque and st.name in host.stanzas
                    and st.header.text is not None]
        for dev in sorted(new, key=lambda d: (self._prio(ctx, host, d.name), d.name)):
            prio = self._prio(ctx, host, dev.name)
            text = self._new_text(ctx, dev, f.newline)
            before = [st for st in existing if self._prio(ctx, host, st.name) <= prio]
            if before:
                anchor = self._after_stanza(f, before[-1])
                anchor.after.append(self._separated(f, anchor, text))
                continue
            later = [st for st in existing if self._prio(ctx, host, st.name) > prio]
            if later:
                line = self._block_start(f, later[0])
                line.before.append(text)
                continue
            line = self._trailing_sources(f)
            if line is f.end:
                anchor = f.lines[-2] if len(f.lines) > 1 else f.end
                if anchor is f.end:
                    f.end.before.append(text)
                else:
                    anchor.after.append(self._separated(f, anchor, text))
            else:
                line.before.append(text)

    @staticmethod
    def _block_start(f: _File, stanza) -> _Line:
        """The first of the `auto`/`allow-` and comment lines right above `stanza` (they belong to it)."""
        index = f.lines.index(stanza.header)
        start = index
        while start > 0:
            text = f.lines[start - 1].text
            if text is None or not text.strip():
                break
            word = text.split()[0]
            if not (word.startswith("#") or word == "auto" or word.startswith("allow-")):
                break
            start -= 1
        return f.lines[start]

    @staticmethod
    def _trailing_sources(f: _File) -> _Line:
        """The first `source` line after the file's last stanza (new stanzas go before it), else the end."""
        last_stanza = max((f.lines.index(st.last) for st in f.stanzas if st.header.text is not None), default=-1)
        for line, _word, _arg, _n in f.sources:
            if line.text is not None and f.lines.index(line) > last_stanza:
                return line
        return f.end


def _parse_directives(path: str, text: str) -> list:
    """The `source`/`source-directory` lines of one file."""
    return _parse_file(path, text).sources
