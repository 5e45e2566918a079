# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The file as lines: every byte kept, so that an edit changes only the lines it means to.

A `File` is its `Line`s (each can be replaced, deleted, or get text before or
after it) and what they are: `iface` stanzas with their options, `auto` and
`allow-` marks, `source` lines. Reading never fails on a file: what cannot be
read becomes a Problem of the stanza it is in, which base.refuse holds against
a save only when that save writes the device.
"""
from __future__ import annotations

import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import Problem, REDACTED
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.keywords import command_key
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.routes import route_key
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.templates import (
    Template, generated, generated_problem,
)


# Keys whose value is a secret (wpa-psk, wpa-password, wireless-key1...), after _ -> - and lower case.
_SECRET_KEY = re.compile(r"(?:^|-)(?:psk|passphrase|password|passwd|secret|secrets|private-key|preshared-key|pin|cak"
                         r"|wep-key\d?)$|^wireless-key\d?$")


class Line:
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
    def last(self) -> Line:
        return self.options[-1].line if self.options else self.header

    def where(self, option=None) -> str:
        return f"{self.path} line {option.lineno if option else self.lineno}"


class File:
    def __init__(self, path: str, text: str):
        self.path = path
        self.newline = "\r\n" if "\n" in text and text.split("\n", 1)[0].endswith("\r") else "\n"
        self.lines = [Line(t) for t in text.splitlines(keepends=True)]
        if self.lines and not self.lines[-1].text.endswith(("\n", "\r")):
            self.lines[-1].text += self.newline   # appending after it needs a line end; undone in text()
            self.no_final_newline = True
        else:
            self.no_final_newline = False
        self.end = Line("")   # sentinel: text added at the end of the file goes before it
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


def parse_file(path: str, text: str) -> File:
    """The file's lines and items. What cannot be read becomes a Problem of the stanza it is in (of the whole
    file outside any stanza); Mako template lines (ifupdown2 renders them) are kept and never read as options."""
    f = File(path, text)
    f.problems = []
    stanza, blank_before, template, continued = None, False, Template(), False
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
            if generated(name):
                # Made by a template or a range: which devices it describes is known only once rendered.
                stanza.name, stanza.opaque = None, True
                f.problems.append(generated_problem(where, f"iface {words[1]}", name, template.loops))
                f.items.append(("opaque", stanza))
                continue
            f.stanzas.append(stanza)
            f.items.append(("stanza", stanza))
        elif word == "auto" or word.startswith("allow-"):
            stanza = None
            if len(words) < 2:
                f.problems.append(Problem(f"{where}: {word!r} without interface names"))
                continue
            plain = [n for n in words[1:] if not generated(n)]
            for odd in (n for n in words[1:] if generated(n)):
                f.problems.append(generated_problem(where, f"{word} {odd}", odd, template.loops))
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
            key = command_key(key, value, stanza.name) or route_key(key, value) or key
            stanza.options.append(_Option(line, key, value, lineno))
    return f


def parse_directives(path: str, text: str) -> list:
    """The `source`/`source-directory` lines of one file."""
    return parse_file(path, text).sources
