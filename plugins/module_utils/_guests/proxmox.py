# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Guest NICs of a Proxmox VE node, from its qemu-server and lxc configs.

Proxmox VE's rules: `netN: <model>=<mac>,bridge=vmbr0,tag=10,trunks=20;30,
firewall=1,mtu=1,link_down=1`; a VM's device is tap<vmid>i<N>, a container's
veth<vmid>i<N>. Only the current configuration counts, not snapshots or
pending changes. A file that cannot be used is a problem of its guest only.
"""
from __future__ import annotations

import os
import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    ConfigProblem, Discovery, GuestNic, parse_mtu, parse_trunks, parse_vid, read_cached,
)

_NET_KEY = re.compile(r"^net(\d+)$")
_VMID = re.compile(r"^(\d+)\.conf$")


def parse_property_string(text: str) -> dict:
    """'virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1' -> dict (keys lower-case)."""
    found = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        found[key.strip().lower()] = value.strip() if sep else ""
    return found


def _flag(props: dict, key: str) -> bool:
    return props.get(key, "0").strip().lower() in ("1", "on", "yes", "true")


def parse_proxmox_config(text: str, vmid: str, kind: str, origin: str = "") -> tuple:
    """(GuestNic list, skipped list) from one qemu-server or lxc config.

    Only the current configuration counts: parsing stops at the first section
    header (a snapshot `[name]`, `[PENDING]`, `[special:cloudinit]`), whose
    netN lines describe other times. Raises ConfigProblem for a NIC that
    names a bridge but cannot be understood.
    """
    if kind not in ("qemu", "lxc"):
        raise ValueError(f"kind must be qemu or lxc, not {kind!r}")
    nics, skipped = [], []
    prefix = "tap" if kind == "qemu" else "veth"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            break
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        match = _NET_KEY.match(key.strip())
        if not sep or not match:
            continue
        n = match.group(1)
        props = parse_property_string(value)
        where = f"{origin}:{number}" if origin else f"line {number}"
        bridge = props.get("bridge", "")
        if not bridge:
            skipped.append({"guest": vmid, "nic": f"net{n}", "origin": where,
                            "reason": "no bridge= (user-mode or other non-bridged networking)"})
            continue
        try:
            nic = GuestNic(
                guest=vmid, kind=kind, nic=f"net{n}", device=f"{prefix}{vmid}i{n}", bridge=bridge,
                vlan=parse_vid(props["tag"]) if props.get("tag") else None,
                trunks=parse_trunks(props["trunks"]) if props.get("trunks") else (),
                mtu=parse_mtu(props["mtu"], allow_one=kind == "qemu") if props.get("mtu") else None,
                link_down=_flag(props, "link_down"),
                firewall=_flag(props, "firewall"),
                origin=where,
            )
        except ConfigProblem as exc:
            raise ConfigProblem(f"{where}: net{n}: {exc}") from None
        nics.append(nic)
    return nics, skipped


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
    try:
        nics, skipped = parse_proxmox_config(text, vmid, kind, path)
    except ConfigProblem as exc:
        return Discovery(problems=[{"guest": vmid, "origin": path, "reason": str(exc)}])
    return Discovery(nics=nics, skipped=skipped)


def _vmid_key(name: str):
    match = _VMID.match(name)
    return (0, int(match.group(1)), name) if match else (1, 0, name)


def has_proxmox(node_dir: str) -> bool:
    return any(os.path.isdir(os.path.join(node_dir, sub)) for sub in ("qemu-server", "lxc"))
