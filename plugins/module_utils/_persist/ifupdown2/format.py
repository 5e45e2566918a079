# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""`Ifupdown2Format`: reading the files, and a render that edits them and proves its result.

The render refuses first what it cannot write (a device whose stanzas cannot be
read, an Open vSwitch stanza, Proxmox VE's SDN file), edits the stanzas in place,
adds new ones, then parses the result back: the files must mean the desired
devices (`_verify`), or nothing is written.
"""
from __future__ import annotations

import os
import posixpath

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import PersistFormat, refuse
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.edit import (
    edit_device, edit_port_lists, remove_device,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.host import load
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.insert import add_new
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.keywords import (
    SDN_FILE, STAGED_SUFFIX,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.lines import (
    is_secret_key, parse_directives, parse_file,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.render import Context
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.sources import absolute, sourced
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import as_parsed
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import description


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
            for _line, word, argument, _n in parse_directives(path, files[path]):
                for sub in sourced(word, argument, self._candidates(word, argument)):
                    visit(sub)

        visit(self.path)
        return files

    def _candidates(self, word: str, argument: str) -> list:
        """Host paths of the files a source/source-directory line could name, found under `root`."""
        target = absolute(argument)
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
        host = load(self.path, files)
        remove = [n for n in remove if n not in desired.devices]
        refuse(host.problems, list(desired.devices) + list(remove))
        for name in list(desired.devices) + list(remove):
            if name in host.ovs:
                st = host.stanzas[name][0] if name in host.stanzas else None
                raise ValidationError([f"{name}: {st.where() if st else 'the files'} describe it as an Open vSwitch "
                                       f"device; net_persist does not write Open vSwitch stanzas"])
        ctx = Context(host, desired, set(remove))
        if self.path not in host.files:
            host.files[self.path] = parse_file(self.path, "")
        for name in remove:
            remove_device(host, name)
        new = [d for n, d in desired.devices.items() if not host.stanzas.get(n)]
        ctx.reach(desired, [d.name for d in new], remove)
        for name, dev in desired.devices.items():
            if host.stanzas.get(name):
                edit_device(host, ctx, dev)
        edit_port_lists(host, ctx, set(remove), {d.name for d in new})
        add_new(host, ctx, new, self.path)
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
        host = load(self.path, files)
        return host.model, list(host.problems)

    def describing(self, files: dict, names) -> set:
        host = load(self.path, files)
        return {st.path for name in names for st in host.stanzas.get(name, [])}

    def reserved(self, files: dict) -> dict:
        """Devices of Proxmox VE's SDN file (pve-network writes and reloads it itself)."""
        if SDN_FILE not in files:
            return {}
        return {st.name: f"is defined in {SDN_FILE}, which Proxmox VE's SDN writes"
                for st in parse_file(SDN_FILE, files[SDN_FILE]).stanzas}

    def staged(self):
        """Proxmox VE's interfaces.new (the web UI's changes, applied by moving it over the main file)."""
        path = self.path + STAGED_SUFFIX
        return type(self)(path, self.root) if os.path.isfile(self.host_path(path)) else None

    SYNTAX = "words"

    def secret_key(self, section: str, key: str) -> bool:
        return is_secret_key(key)

    def _verify(self, files, changes, desired, remove) -> None:
        """The parser, not hope, says the result means `desired` (what ifupdown2 cannot say is refused here)."""
        after = load(self.path, {**files, **changes}).model
        problems = []
        for name, dev in desired.devices.items():
            got = after.get(name)
            want = as_parsed(dev, after.get(dev.master or ""))
            if got is None or description(got, dev) != want:
                fields = sorted(k for k, v in want.items() if got is None or description(got, dev).get(k) != v)
                problems.append(f"{name}: ifupdown2 stanzas cannot say {', '.join(fields)} as desired")
        problems += [f"{name}: still described after removal" for name in remove if after.get(name) is not None]
        if problems:
            raise ValidationError(problems)
