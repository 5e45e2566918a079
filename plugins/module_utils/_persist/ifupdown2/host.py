# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""What the main file and the files it sources describe: one Host, its model and its problems.

Which stanzas belong to which device, which devices are ports of which bridge
or bond, what an `auto` line brings up with it; a device whose stanzas cannot
be read is left out of the model with its Problem (devices.py reads each one).
"""
from __future__ import annotations

import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bridge, HostNetwork, Vlan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import Problem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.devices import (
    bridge_level_vlans, device, kind_of, port_membership, port_options, self_membership, vlan_from_name, vlan_of,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.lines import parse_file
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.sources import sourced
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.templates import glob_names
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import port_values


class Host:
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

    def last(self, name: str, key: str) -> tuple:
        """(stanza, option) of the last `key` line of `name`, the one ifupdown2 uses; (None, None) without one."""
        found = self.values(name, key)
        return found[-1] if found else (None, None)


def load(main: str, files: dict) -> Host:
    host = Host()

    def visit(path):
        if path in host.files or path not in files:
            return
        f = parse_file(path, files[path])
        host.files[path] = f
        host.problems += f.problems
        for kind, item in f.items:
            if kind == "stanza":
                host.stanzas.setdefault(item.name, []).append(item)
            elif kind == "source":
                _line, word, argument, _n = next(s for s in f.sources if s[0] is item)
                for sub in sourced(word, argument, files):
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


class _Unreadable(Exception):
    """A device's stanzas say something net_persist cannot read; carries the Problem."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def _port_list(host: Host, name: str, kind: str):
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
                names, matching = glob_names(word)
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


def _describe(host: Host) -> None:
    """host.model from the stanzas. A device whose stanzas cannot be read is left out of the model and its
    Problem recorded (host.problems): the renderer refuses it only when it concerns a device being written."""
    names = [n for n in host.stanzas if n != "lo" and n not in host.ovs
             and not any(st.method == "loopback" for st in host.stanzas[n])]
    kinds = {name: kind_of(host, name) for name in names}
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
            kinds[port] = "vlan" if "." in port and vlan_from_name(port)[1] is not None else "nic"
    lowers: dict = {name: [] for name in kinds}
    for port, upper in master.items():
        lowers[upper].append(port)
    vlans = {}
    for name in (n for n in kinds if kinds[n] == "vlan"):
        try:
            vlans[name] = vlan_of(host, name, {"name": name})
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
                host.bridge_level[name] = bridge_level_vlans(host, name)
            except ValidationError as exc:
                unreadable(name, exc)
    for name in sorted(kinds):
        if name in broken:
            continue
        try:
            host.model.add(device(host, name, kinds[name], name in reached, master.get(name)))
        except ValidationError as exc:
            unreadable(name, exc)
    for name, dev in list(host.model.devices.items()):
        upper = host.model.get(dev.master) if dev.master else None
        try:
            if isinstance(upper, Bridge):
                for key, value in port_options(host, name, upper.name).items():
                    setattr(dev, key, value)
            if isinstance(upper, Bridge) and upper.vlan_filtering:
                dev.vlans = port_membership(host, name, upper.name)
            if isinstance(dev, Bridge) and dev.vlan_filtering:
                svis = sorted(v.vlan_id for v in host.model.devices.values() if isinstance(v, Vlan) and v.parent == name)
                dev.vlans = self_membership(host, name, svis)
        except ValidationError as exc:
            unreadable(name, exc)
            del host.model.devices[name]
    port_values(host.model)
    host.broken = broken
