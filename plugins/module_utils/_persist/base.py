# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The contract every persistent-configuration format keeps.

A format reads the files it owns into {path: text}, parses them into a
HostNetwork (what the files say; a field the files do not set is None, "not
managed"), and renders a change as the complete new text of each file that
must change. The module (plugins/modules/net_persist.py) does the rest:
scope, comparison, atomic writes, backups, diff, restore.

Rules every renderer keeps, checked by tests/unit/test_persist_formats.py:
- parse(files after render) gives exactly `desired` for every device in it,
  and no longer describes any device in `remove`;
- every other device the files describe reads back unchanged, and a file
  that holds none of the changed devices is not in the result;
- a file whose parsed meaning already equals `desired` is not in the result
  (no rewrite for formatting alone): that is what makes `saved` idempotent.

Files hold more than networks: Wi-Fi keys, 802.1X passwords, WireGuard
private keys. Each format names its secret keys once (`secret_key`); every
text that leaves the module (diff, rendered files) goes through `redact`, and
the values themselves are handed to Ansible's no_log masking (`secret_values`)
for anything that quotes a line.
"""
from __future__ import annotations

import os
import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.files import under_root
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import HostNetwork


REDACTED = "********"   # Ansible's own mask for a no_log value
_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*$")
_KEY_VALUE = re.compile(r"^([ \t]*)([^=\s#;][^=]*?)([ \t]*=[ \t]*)(.*?)(\r?\n?)$")
_KEY_WORDS = re.compile(r"^([ \t]*)(\S+)([ \t]+)(.*?)([ \t]*)(\r?\n?)$")
_CONTINUATION = re.compile(r"^([ \t]*)()()(.*?)([ \t]*)(\r?\n?)$")   # all of a line is the value it continues


class Problem:
    """What the files say that net_persist cannot read, and which device names it concerns.

    A problem concerns the devices in `names`, and any name matching one of
    `patterns` (compiled regular expressions: a stanza made by a template, a
    glob of ports). One that concerns nothing in particular (neither given)
    concerns every device. A save refuses only the problems that concern a
    device it writes (`refuse`); everything else stays as it is.
    """

    def __init__(self, message: str, names=(), patterns=()):
        self.message = message
        self.names = set(n for n in names if n)
        self.patterns = list(patterns)

    def concerns(self, name: str) -> bool:
        if not self.names and not self.patterns:
            return True
        return name in self.names or any(p.fullmatch(name) for p in self.patterns)


def refuse(problems, names) -> None:
    """ValidationError with every problem that concerns one of `names` (None: every problem), each naming its line."""
    found = [p.message for p in problems
             if names is None or (not p.names and not p.patterns) or any(p.concerns(n) for n in names)]
    if found:
        raise ValidationError(list(dict.fromkeys(found)))


class PersistFormat:
    """One network stack's configuration files. Subclasses set the class attributes and the three methods."""

    NAME = ""
    DEFAULT_PATH = ""           # inside `root`
    PATH_IS_DIR = False         # a directory of files (NetworkManager, networkd) or one main file (ifupdown2)
    NEW_FILE_MODE = 0o644       # for files it creates; a replaced file keeps its own mode and owner
    SYNTAX = "ini"              # key=value lines in [sections] ("ini"), or "key value" lines ("words")

    def __init__(self, path: str, root: str = "/"):
        """`path`: the main file or directory as the host sees it; `root`: where that host's / is (a scratch tree in tests)."""
        self.root = root
        self.path = path

    def host_path(self, path: str, param: str = "root") -> str:
        """Where a path as the host sees it (absolute) lives on this machine: under `root`, never out of it (an
        escape is refused naming `param`, the option the path came from)."""
        return under_root(self.root, path, param)

    def check_path(self) -> None:
        """A clear error when `path` is not the kind of thing this format needs (or leads out of root)."""
        real = self.host_path(self.path, "path")
        if self.PATH_IS_DIR:
            if os.path.exists(real) and not os.path.isdir(real):
                raise ValidationError([f"path: {self.path} is not a directory; format {self.NAME} keeps one file per "
                                       f"device in a directory"])
        elif os.path.isdir(real):
            raise ValidationError([f"path: {self.path} is a directory; format {self.NAME} needs its main file "
                                   f"(like {self.DEFAULT_PATH})"])

    def read(self) -> dict:
        """{path as the host sees it: text} of every file this format would parse (none yet: {})."""
        raise NotImplementedError

    def parse(self, files: dict) -> HostNetwork:
        """What `files` say, as a model. Raises ValidationError naming the file and line for what it cannot read."""
        raise NotImplementedError

    def render(self, files: dict, desired: HostNetwork, remove=()) -> dict:
        """{path: new text, or None to delete the file} for the files that must change.

        `desired` holds complete device descriptions (scope.persisted()), each
        to be written where the format keeps it; `remove` names devices whose
        descriptions must go.
        """
        raise NotImplementedError

    def new_file_mode(self, path: str) -> int:
        return self.NEW_FILE_MODE

    def refuse_competing(self, files: dict, kernel: HostNetwork) -> None:
        """ValidationError when another file would configure one of `kernel`'s devices (as the kernel has them,
        MACs included: the devices a save writes) at boot instead of ours; nothing by default."""

    def as_written(self, dev):
        """`dev` as this format's files will read back (NetworkManager: every route proto static); the drift report
        compares the files with this, so that what a format cannot say is not reported on every run."""
        return dev

    def parse_lenient(self, files: dict) -> tuple:
        """(what `files` say, [Problem]): what cannot be read is reported, not raised (parse() raises it all)."""
        return self.parse(files), []

    def describing(self, files: dict, names) -> set:
        """The paths of the files that describe any of `names`: what `rendered` returns."""
        raise NotImplementedError

    def reserved(self, files: dict) -> dict:
        """{device: why} for devices the files leave to another owner: never written, not in the default scope."""
        return {}

    def staged(self):
        """Another copy of this format's files holding changes staged but not applied (None: there is none)."""
        return None

    # -- secrets -----------------------------------------------------------------------------------------------

    def secret_key(self, section: str, key: str) -> bool:
        """Whether the value of `key` (in `section`; "" where the format has none) is a secret."""
        raise NotImplementedError

    def _secret_lines(self, text: str):
        """(line, match) for every line holding a secret value, the value being group 4 of the match.

        A secret's value is its whole logical line: one continued with a trailing '\\' (ifupdown2 and systemd
        join such lines; ifupdown2 skips blank lines in between) goes on in the lines after it, each all value.
        """
        section, continued = "", False
        for line in text.splitlines(keepends=True):
            if continued:
                continued = not line.strip() or line.strip().endswith("\\")
                yield line, _CONTINUATION.match(line) if line.strip() else None
                continue
            found = _SECTION.match(line) if self.SYNTAX == "ini" else None
            if found:
                section = found.group(1).strip()
                yield line, None
                continue
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                yield line, None
                continue
            match = (_KEY_VALUE if self.SYNTAX == "ini" else _KEY_WORDS).match(line)
            if match and match.group(4) and self.secret_key(section, match.group(2).strip()):
                continued = match.group(4).rstrip().endswith("\\")
                yield line, match
            else:
                yield line, None

    def redact(self, text):
        """`text` with the value of every secret key replaced by REDACTED (None stays None)."""
        if text is None:
            return None
        out = []
        for line, match in self._secret_lines(text):
            if match is None:
                out.append(line)
            else:
                out.append(match.group(1) + match.group(2) + match.group(3) + REDACTED + match.group(len(match.groups())))
        return "".join(out)

    def secret_values(self, text: str) -> set:
        """The secret values in `text`, for Ansible's no_log masking of anything that quotes a line."""
        values = (match.group(4).strip().rstrip("\\").strip() for _line, match in self._secret_lines(text or "")
                  if match is not None)
        return {value for value in values if value}
