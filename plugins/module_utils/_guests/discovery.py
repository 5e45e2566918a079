# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Guest discovery: which guest port belongs on which bridge, from every source there is.

`discover()` reads Proxmox VE configs (proxmox.py), libvirt domain XML
(libvirt.py) and an explicit list (explicit.py) into one list of `GuestNic`
records (nic.py). A file that cannot be read or understood becomes a problem
of its guest only: one broken config must not stop the others. A name in a
config is a claim, not proof: `resolve_claims` gives each device to at most
the one guest that owns it.
"""
from __future__ import annotations

import dataclasses
import os

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.explicit import parse_explicit
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.libvirt import (
    LIVE_DIR, PERSISTENT_DIR, choose_mode, discover_libvirt, has_libvirt,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    LISTED, LIVE, STOPPED, ConfigProblem, Discovery,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.proxmox import discover_proxmox, has_proxmox


def _owner(claims: list):
    """The one claim among several on a device that owns it, or None (then none does).

    An operator's `ports` entry wins (the first one); else the live status
    XML of a running guest, when exactly one names the device. A stopped
    guest's definition never contends: it owns nothing.
    """
    listed = [nic for nic in claims if nic.claim == LISTED]
    if listed:
        return listed[0]
    live = [nic for nic in claims if nic.claim == LIVE]
    return live[0] if len(live) == 1 else None


def _wish(nic) -> tuple:
    """What a config wants for its device: two that want the same are no conflict worth a warning."""
    return nic.bridge, nic.vlans(), nic.firewall, nic.mtu


def resolve_claims(nics) -> tuple:
    """(nics, warnings): each device acted on for at most the one guest that owns it.

    Two configs naming one device are a problem for both (neither is acted
    on, each says who else names it) unless one owns it (`_owner`); then the
    others are refused with the owner's name, or, under a `ports` entry, left
    with a warning as before. The NICs are copies: parsed configs are cached.
    """
    by_device: dict = {}
    for nic in nics:
        if nic.claim != STOPPED:
            by_device.setdefault(nic.device, []).append(nic)
    verdict, warnings = {}, []
    for device, claims in by_device.items():
        if len(claims) < 2:
            continue
        owner = _owner(claims)
        for nic in claims:
            if nic is owner:
                continue
            if owner is not None and owner.claim == LISTED:
                verdict[id(nic)] = None
                if _wish(owner) != _wish(nic):
                    warnings.append(f"{device} is configured twice ({owner.origin}: {owner.bridge}; "
                                    f"{nic.origin}: {nic.bridge}); the ports entry is used")
            elif owner is not None:
                verdict[id(nic)] = (f"{device} belongs to the running guest {owner.guest} ({owner.origin}); "
                                    f"a config names a device only for the guest that owns it")
            else:
                others = "; ".join(f"{o.guest} ({o.origin})" for o in claims if o is not nic)
                verdict[id(nic)] = (f"{device} is also named by {others}, and no running guest's live status XML says "
                                    f"whose it is; two configs cannot both own a device, so neither is acted on")
    kept = []
    for nic in nics:
        reason = verdict.get(id(nic), "")
        if reason is None:
            continue
        kept.append(dataclasses.replace(nic, refused=reason) if reason else nic)
    return kept, warnings


SOURCES = ("auto", "proxmox", "libvirt", "explicit")


def discover(source: str = "auto", proxmox_dir: str = "/etc/pve/local",
             libvirt_xml_dir: str = PERSISTENT_DIR, ports=None, cache: dict | None = None,
             libvirt_status_dir: str = LIVE_DIR, libvirt_read: str = "auto") -> Discovery:
    """Everything the guest configs say, for a module's or the watcher's settings.

    `auto` reads every source that is there: the explicit `ports` when given,
    Proxmox VE when the node directory has qemu-server/ or lxc/, libvirt when
    its live or persistent directory has domain files. An explicit entry wins
    over a config naming the same device; otherwise a device named by two
    configs is refused for both unless one is a running guest's live status
    XML (`resolve_claims`). libvirt: `libvirt_read` auto reads
    the live status XML of running guests from `libvirt_status_dir` when that
    directory exists, else the persistent definitions in `libvirt_xml_dir`;
    the result's `libvirt` says which. `cache` (a dict the caller keeps)
    skips parsing files that did not change.

    `auto` that finds no source at all (a plain KVM host, or one whose
    guests another tool manages) finds no guests, with a warning that names
    the places it looked: that is no reason to fail a change window. A
    source asked for by name that is not there raises ConfigProblem.
    """
    if source not in SOURCES:
        raise ConfigProblem(f"source: {source!r} is not allowed; allowed {', '.join(SOURCES)}")
    found = Discovery()
    used = []
    if source == "explicit" and not ports:
        raise ConfigProblem("ports: source=explicit needs a list of {device, bridge} entries")
    if ports and source in ("auto", "explicit"):
        found.extend(parse_explicit(ports))
        used.append("explicit")
    if source == "proxmox" or (source == "auto" and has_proxmox(proxmox_dir)):
        if source == "proxmox" and not os.path.isdir(proxmox_dir):
            raise ConfigProblem(f"proxmox_dir: {proxmox_dir} does not exist (is this a Proxmox VE node?)")
        if source == "proxmox" and not has_proxmox(proxmox_dir):
            raise ConfigProblem(f"proxmox_dir: {proxmox_dir} has neither qemu-server/ nor lxc/; a Proxmox VE node's "
                                f"directory (/etc/pve/local) has both")
        found.extend(discover_proxmox(proxmox_dir, cache))
        used.append("proxmox")
    mode = choose_mode(libvirt_read, libvirt_status_dir)
    if source == "libvirt" or (source == "auto" and has_libvirt(libvirt_xml_dir, libvirt_status_dir)):
        if source == "libvirt" and mode == "persistent" and not os.path.isdir(libvirt_xml_dir):
            raise ConfigProblem(f"libvirt_xml_dir: {libvirt_xml_dir} does not exist, and there is no live status "
                                f"directory ({libvirt_status_dir}); is libvirt installed here?")
        if source == "libvirt" and mode == "live" and not os.path.isdir(libvirt_status_dir):
            raise ConfigProblem(f"libvirt_status_dir: {libvirt_status_dir} does not exist (libvirt_read=live)")
        found.extend(discover_libvirt(libvirt_xml_dir, cache, libvirt_status_dir, mode))
        used.append("libvirt")
        found.libvirt = {"read": mode, "dir": libvirt_status_dir if mode == "live" else libvirt_xml_dir}
    if not used:
        found.warnings.append(
            f"source: auto found no guest configuration, so there is nothing to re-attach (looked in "
            f"{os.path.join(proxmox_dir, 'qemu-server')}, {os.path.join(proxmox_dir, 'lxc')}, {libvirt_status_dir} and "
            f"{libvirt_xml_dir}; no ports given). If this host has guests, set source and the matching directory, "
            f"or list ports")
        return found
    found.nics, warnings = resolve_claims(found.nics)
    found.warnings.extend(warnings)
    found.sources = used
    return found
