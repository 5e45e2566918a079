# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Guest NICs of a Proxmox VE node, from its qemu-server and lxc configs.

Proxmox VE's rules: `netN: <model>=<mac>,bridge=vmbr0,tag=10,trunks=20;30,
firewall=1,mtu=1,link_down=1`; a VM's device is tap<vmid>i<N>, a container's
veth<vmid>i<N>. Only the current configuration counts, not snapshots or
pending changes; a template never runs. Lines are read by the rules of
Proxmox VE's own parsers (see `parse_proxmox_config`). A file that cannot be
used is a problem of its guest only.

Whether a guest runs is told by its device, as today: the name is made from
the config's own vmid (unique on the node, and a config cannot name any
other device), and qemu or lxc makes it only while the guest runs. A pid
file (/var/run/qemu-server/<vmid>.pid) would add nothing the device does not
say, and can be stale. So a Proxmox VE NIC's claim is DERIVED.
"""
from __future__ import annotations

import os
import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import parse_vid
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    DERIVED, ConfigProblem, Discovery, GuestNic, entry, parse_mtu, parse_trunks, read_cached,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import name_problem

_NET_KEY = re.compile(r"^net([0-9]+)$")
_VMID = re.compile(r"^([0-9]+)\.conf$")


def parse_property_string(text: str) -> dict:
    """'virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1' -> dict (keys lower-case).

    A key given twice is a ConfigProblem, as Proxmox VE's own parser refuses it ("duplicate key in
    comma-separated list property"): the guest cannot start with it, so no value of it is the right one."""
    found = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if key in found:
            raise ConfigProblem(f"duplicate key {key!r} in {text[:120]!r} (Proxmox VE refuses it)")
        found[key] = value.strip() if sep else ""
    return found


def _flag(props: dict, key: str) -> bool:
    return props.get(key, "0").strip().lower() in ("1", "on", "yes", "true")


# The line rules of Proxmox VE's own parsers (qemu-server's parse_vm_config,
# pve-container's parse_pct_config): a section header starts in column 0; a
# snapshot is named like a configuration ID; a key is lower-case letters and
# underscores with an optional number, and its value is not empty.
_SNAPSHOT = re.compile(r"^\[([a-z][a-z0-9_\-]+)\]\s*$", re.IGNORECASE)
_SPECIAL = {"qemu": re.compile(r"^\[(?:PENDING|special:cloudinit)\]\s*$", re.IGNORECASE),
            "lxc": re.compile(r"^\[pve:pending\]\s*$", re.IGNORECASE)}
_KEY_LINE = re.compile(r"^([a-z][a-z_]*[0-9]*):\s*(.+?)\s*$")
_LXC_RAW = re.compile(r"^(lxc\.[a-z0-9_\-.]+)(:|\s*=)\s*(.*?)\s*$")
_TRUE = re.compile(r"^(?:1|on|yes|true)$", re.IGNORECASE)


def parse_proxmox_config(text: str, vmid: str, kind: str, origin: str = "") -> Discovery:
    """The NICs of one qemu-server or lxc config, read by Proxmox VE's rules.

    - Only the current configuration counts: reading stops at the first
      section header Proxmox VE knows (a snapshot `[name]`, `[PENDING]` and
      `[special:cloudinit]` for VMs, `[pve:pending]` for containers), whose
      netN lines describe other times.
    - A line Proxmox VE cannot parse (a bracket line that is no valid section
      header, an indented line) is ignored with a warning, as Proxmox VE does;
      the lines after it still count.
    - A key given twice: the last one counts, as in Proxmox VE (warning).
    - A template (`template: 1`) never runs: its NICs are skipped.

    Raises ConfigProblem for a NIC that names a bridge but cannot be
    understood (the guest is then a problem, the others are not affected).
    """
    if kind not in ("qemu", "lxc"):
        raise ValueError(f"kind must be qemu or lxc, not {kind!r}")
    found = Discovery()
    where_of = (lambda n: f"{origin}:{n}") if origin else (lambda n: f"line {n}")
    values: dict = {}     # key -> (line number, value), the last one wins
    special = _SPECIAL[kind]
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if special.match(line) or _SNAPSHOT.match(line):
            break
        if line.startswith("#"):
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            if not (kind == "lxc" and _LXC_RAW.match(line)):
                what = "not a section header" if line.lstrip().startswith("[") else "not a 'key: value' line"
                found.warnings.append(f"{where_of(number)}: {line.strip()!r} is {what} Proxmox VE can read; "
                                      f"it is ignored and the lines after it still count, as in Proxmox VE")
            continue
        key, value = match.groups()
        if key in values and _NET_KEY.match(key):
            found.warnings.append(f"{where_of(number)}: {key} is set twice (lines {values[key][0]} and {number}); "
                                  f"the last one counts, as in Proxmox VE")
        values[key] = (number, value)
    template = _TRUE.match(values.get("template", (0, ""))[1]) is not None
    prefix = "tap" if kind == "qemu" else "veth"
    nets = sorted(((int(_NET_KEY.match(k).group(1)), v) for k, v in values.items() if _NET_KEY.match(k)))
    for n, (number, value) in nets:
        where = where_of(number)
        try:
            props = parse_property_string(value)
        except ConfigProblem as exc:
            raise ConfigProblem(f"{where}: net{n}: {exc}") from None
        device = f"{prefix}{vmid}i{n}"
        bridge = props.get("bridge", "")
        if template:
            found.skipped.append(entry(vmid, kind, f"net{n}", where, "template (template: 1): a template never runs",
                                       device, bridge))
            continue
        if not bridge:
            found.skipped.append(entry(vmid, kind, f"net{n}", where,
                                       "no bridge= (user-mode or other non-bridged networking)", device))
            continue
        try:
            # A device name outside the rule (a vmid so long that tap<vmid>i<n> has more than 15 bytes) is
            # no guest's device at all: the config cannot be used, which is not the same as "not running".
            problem = name_problem(bridge, "bridge") or name_problem(device, "device")
            if problem:
                raise ConfigProblem(problem)
            nic = GuestNic(
                guest=vmid, kind=kind, nic=f"net{n}", device=device, bridge=bridge,
                vlan=parse_vid(props["tag"], "tag") if props.get("tag") else None,
                trunks=parse_trunks(props["trunks"]) if props.get("trunks") else (),
                mtu=parse_mtu(props["mtu"], allow_one=kind == "qemu") if props.get("mtu") else None,
                link_down=_flag(props, "link_down"),
                firewall=_flag(props, "firewall"),
                origin=where,
                claim=DERIVED,
            )
            problem = next(filter(None, (name_problem(x, "firewall device") for x in (nic.fwbr, nic.fwln, nic.fwpr)
                                         if x)), None)
            if problem:
                raise ConfigProblem(problem)
        except ValidationError as exc:
            raise ConfigProblem(f"{where}: net{n}: {exc}") from None
        found.nics.append(nic)
    return found


def discover_proxmox(node_dir: str, cache: dict | None = None) -> Discovery:
    """Every qemu-server/<vmid>.conf and lxc/<vmid>.conf under a node's directory."""
    found = Discovery()
    for subdir, kind in (("qemu-server", "qemu"), ("lxc", "lxc")):
        directory = os.path.join(node_dir, subdir)
        try:
            names = sorted(os.listdir(directory), key=_vmid_key)
        except FileNotFoundError:
            continue
        except OSError as exc:
            found.problems.append({"guest": None, "origin": directory, "reason": f"cannot list: {exc.strerror}"})
            continue
        for name in names:
            match = _VMID.match(name)
            if not match:
                continue
            vmid = match.group(1)
            path = os.path.join(directory, name)
            try:
                found.extend(read_cached(cache, path, lambda text, v=vmid, k=kind, p=path: _proxmox_file(text, v, k, p)))
            except OSError as exc:
                found.problems.append({"guest": vmid, "origin": path, "reason": f"cannot read: {exc.strerror}"})
    return found


def _proxmox_file(text: str, vmid: str, kind: str, path: str) -> Discovery:
    """One config file; whatever goes wrong parsing it is that guest's problem, never the other guests'."""
    try:
        return parse_proxmox_config(text, vmid, kind, path)
    except ValidationError as exc:
        return Discovery(problems=[{"guest": vmid, "origin": path, "reason": str(exc)}])
    except ValueError as exc:
        return Discovery(problems=[{"guest": vmid, "origin": path, "reason": f"{path}: cannot be parsed ({exc})"}])


def _vmid_key(name: str):
    match = _VMID.match(name)
    return (0, int(match.group(1)), name) if match else (1, 0, name)


def has_proxmox(node_dir: str) -> bool:
    return any(os.path.isdir(os.path.join(node_dir, sub)) for sub in ("qemu-server", "lxc"))
