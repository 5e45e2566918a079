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
"""
from __future__ import annotations

import os

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.files import under_root
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import HostNetwork


class PersistFormat:
    """One network stack's configuration files. Subclasses set the class attributes and the three methods."""

    NAME = ""
    DEFAULT_PATH = ""           # inside `root`
    PATH_IS_DIR = False         # a directory of files (NetworkManager, networkd) or one main file (ifupdown2)
    NEW_FILE_MODE = 0o644       # for files it creates; a replaced file keeps its own mode and owner

    def __init__(self, path: str, root: str = "/"):
        """`path`: the main file or directory as the host sees it; `root`: where that host's / is (a scratch tree in tests)."""
        self.root = root
        self.path = path

    def host_path(self, path: str) -> str:
        """Where a path as the host sees it (absolute) lives on this machine: under `root`, never out of it."""
        return under_root(self.root, path)

    def check_path(self) -> None:
        """A clear error when `path` is not the kind of thing this format needs."""
        real = self.host_path(self.path)
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
