# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Which devices the persistent files describe, and what of each they hold.

`persisted()` is the contract between the kernel and every format: the
devices in scope, each reduced to what a configuration file can say about
it. A format's renderer writes exactly that and its parser reads exactly that
back (`parse(render(p)) == p`, tested for every format), so "the files are
right" is one comparison of models, never of text.

What is never persisted: guest ports (their hypervisor creates them, and
tap_reenslave/tap_guard put them back), the rest of a hypervisor's guest
plumbing (PLUMBING: Proxmox VE's firewall bridges and links, the vmbrNvM
bridges it makes for tagged guests on a bridge that is not vlan-aware and the
VLAN devices under them, libvirt's virbrN network bridges, any tap or veth), devices the files leave to another
owner (Proxmox VE's SDN file; the format's `reserved()`), MAC addresses
(derived by the kernel from the ports; a format that cannot say "derived"
would pin them), and the transient loose binding the bond planner uses during
a mode change.
"""
from __future__ import annotations

import copy
import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_OPTIONS, DEFAULT_BOND_MODE, DEFAULT_VLAN_PROTOCOL, HYPERVISOR_BRIDGES, VLAN_PROTOCOLS, Bond, Bridge,
    GuestMatcher, HostNetwork, IpConfig, Nic, Vlan, bond_options_for_mode, name_problem,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import persisted_options


# The kernel's value when a bond option is not given; a parser fills these in
# for a bond whose file leaves an option out only where its format says the
# same (see each format's module).
BOND_DEFAULTS = {
    "mode": DEFAULT_BOND_MODE, "miimon": 0, "updelay": 0, "downdelay": 0, "lacp_rate": "slow",
    "xmit_hash_policy": "layer2", "ad_select": "stable", "arp_interval": 0, "arp_ip_target": [],
    "min_links": 0, "primary": None,
}


# Guest plumbing a hypervisor makes and removes itself (Proxmox VE: pve-firewall's fwbr/fwpr/fwln, and
# vmbrNvM with its NIC.M, bond.M VLAN, for a tagged guest on a bridge that is not vlan-aware); any tap or veth;
# and the bridges model.HYPERVISOR_BRIDGES names, which a rollback leaves too: libvirt's virbrN, which libvirt
# creates from its network's definition (/etc/libvirt/qemu/networks) when it starts the network. In the host's
# files ifupdown2 would make it at boot, before libvirt, with the network's address.
PLUMBING = tuple(re.compile(p) for p in (
    r"fwbr\d+i\d+", r"fwpr\d+p\d+", r"fwln\d+[io]\d+", r"vmbr\d+v\d+", r"tap.*", r"veth.*")) + tuple(
    pattern for pattern, _what in HYPERVISOR_BRIDGES)


def vlan_protocol(value: str):
    """A VLAN protocol as a file writes it, in any case ('802.1q'), by its model name; None when it is not one."""
    return next((p for p in VLAN_PROTOCOLS if p.lower() == value.strip().lower()), None)


def options_in_mode(bond: Bond) -> dict:
    """Every bond option, None where the bond's mode gives it no meaning (model.bond_options_for_mode); the mode
    itself always said: what a configuration file says of a bond, and what each format's parser reads back."""
    options = {key: None for key in BOND_OPTIONS}
    options.update(bond_options_for_mode(bond))
    options["mode"] = bond.mode or DEFAULT_BOND_MODE
    if options["arp_ip_target"] is not None:
        options["arp_ip_target"] = list(options["arp_ip_target"])
    return options


def is_plumbing(host: HostNetwork, dev) -> bool:
    """Guest plumbing by its name, or a VLAN device that is a port of such (eno1.100 under vmbr0v100)."""
    if any(p.fullmatch(dev.name) for p in PLUMBING):
        return True
    upper = host.get(dev.master) if dev.master else None
    return isinstance(dev, Vlan) and upper is not None and any(p.fullmatch(upper.name) for p in PLUMBING)


def _left_out(host: HostNetwork, dev, guests: GuestMatcher, reserved) -> bool:
    """Never written: guest ports, guest plumbing, devices another owner's files define."""
    return guests.is_guest_device(dev) or is_plumbing(host, dev) or dev.name in reserved


def _expand(host: HostNetwork, names, guests: GuestMatcher, reserved=()) -> list:
    """`names` plus what they stand on: the ports of bridges and bonds, and VLAN parents (never what is left out)."""
    wanted, todo = set(), list(names)
    while todo:
        name = todo.pop()
        dev = host.get(name)
        if name in wanted or dev is None or _left_out(host, dev, guests, reserved):
            continue
        wanted.add(name)
        if isinstance(dev, (Bridge, Bond)):
            todo += [p.name for p in host.ports_of(name)]
        if isinstance(dev, Vlan) and dev.parent:
            todo.append(dev.parent)
    return sorted(wanted)


def scope(host: HostNetwork, names, guests: GuestMatcher, reserved=None) -> tuple:
    """(device names in scope, named devices the host does not have).

    `names` None: every bridge, bond and VLAN of `host` and the NICs beneath
    them, guest plumbing and `reserved` ({name: why}) left out. A list: those
    devices and what they stand on. A guest port, plumbing or a reserved device
    named is an error (never written); a name the host lacks is returned
    separately: for `saved` it means "remove it from the files".
    """
    reserved = reserved or {}
    if names is None:
        roots = [d.name for d in host.devices.values() if isinstance(d, (Bridge, Bond, Vlan))]
        return _writable(_expand(host, roots, guests, reserved)), []
    problems, missing = [], []
    for name in names:
        problem = name_problem(name, "devices")
        if problem:
            problems.append(problem)
            continue
        dev = host.get(name)
        if name in reserved:
            problems.append(f"devices: {name!r} {reserved[name]}; net_persist never writes it")
        elif dev is None:
            missing.append(name)
        elif guests.is_guest_device(dev):
            problems.append(f"devices: {name!r} is a guest port; guest ports are never written to the persistent "
                            f"configuration (their hypervisor creates them; tap_reenslave puts them back)")
        elif is_plumbing(host, dev):
            problems.append(f"devices: {name!r} is guest plumbing (its hypervisor makes and removes it, like Proxmox "
                            f"VE's fwbr/fwpr/fwln and vmbrNvM devices, libvirt's virbrN network bridges, or a tap "
                            f"or veth); it is never written")
        elif dev.name == "lo":
            problems.append("devices: 'lo' is the loopback device; it is not ours to persist")
    if len(set(names)) != len(names):
        problems.append("devices: lists the same device twice")
    if problems:
        raise ValidationError(problems)
    return _writable(_expand(host, [n for n in names if n not in missing], guests, reserved)), sorted(missing)


def _writable(names: list) -> list:
    """`names`, once each can be written into a file: a kernel device named `vm*` would be networkd's glob `Name=vm*`."""
    problems = [f"{problem}; the kernel has it and it is in scope, but no configuration file can name it safely: "
                f"rename it or leave it out of devices" for problem in (name_problem(n, "devices") for n in names) if problem]
    if problems:
        raise ValidationError(problems)
    return names


def persisted_device(host: HostNetwork, name: str, in_scope):
    """Device `name` as a configuration file describes it (see the module docstring)."""
    dev = host.get(name)
    ip = IpConfig(addresses=list(dev.ip.addresses or []), gateway4=dev.ip.gateway4, gateway6=dev.ip.gateway6,
                  routes=dev.ip.routes).normalized()
    common = {"name": name, "mtu": dev.mtu, "up": bool(dev.up), "ip": ip,
              "master": dev.master if dev.master in in_scope else None}
    master = host.get(dev.master) if dev.master else None
    filtering = (isinstance(dev, Bridge) and dev.vlan_filtering) or (isinstance(master, Bridge) and master.vlan_filtering)
    if filtering and common["master"] is not None or isinstance(dev, Bridge) and dev.vlan_filtering:
        common["vlans"] = copy.deepcopy(dev.vlans) if dev.vlans is not None else {"pvid": None, "untagged": [], "tagged": []}
    common.update(persisted_options(dev, master if common["master"] is not None else None))
    if isinstance(dev, Bridge):
        return Bridge(stp=bool(dev.stp), forward_delay=dev.forward_delay, vlan_filtering=bool(dev.vlan_filtering), **common)
    if isinstance(dev, Bond):
        return Bond(**options_in_mode(dev), **common)
    if isinstance(dev, Vlan):
        return Vlan(parent=dev.parent, vlan_id=dev.vlan_id, protocol=dev.protocol or DEFAULT_VLAN_PROTOCOL, **common)
    return Nic(**common)


def persisted(host: HostNetwork, names, guests: GuestMatcher, reserved=None, described=()) -> tuple:
    """(HostNetwork of the devices in scope as files describe them, named devices the host lacks).

    A port in scope keeps its master when the master is in scope too, or is one of `described` (bridges and
    bonds the files already describe): saving a port alone must not take it off its bridge at boot.
    """
    in_scope, missing = scope(host, names, guests, reserved)
    out, known = HostNetwork(), set(in_scope) | set(described)
    for name in in_scope:
        out.add(persisted_device(host, name, known))
    return out, missing


def differences(want: HostNetwork, have: HostNetwork, names) -> list:
    """Device names among `names` whose description differs between two models (absent counts)."""
    found = []
    for name in sorted(names):
        a, b = want.get(name), have.get(name)
        if (a is None) != (b is None) or (a is not None and description(b, a) != a.to_dict()):
            found.append(name)
    return found


def description(dev, like=None) -> dict:
    """`dev.to_dict()`, leaving open what the desired device `like` leaves open: all routes when `like` does
    not manage them (routes None: a kernel read that does not report routes must not erase the files' own),
    and the protocol of a route `like` asks for without one ("either", kinds/route.py)."""
    out = dev.to_dict()
    if like is None or dev.ip.routes is None:
        return out
    if like.ip.routes is None:
        out["ip"]["routes"] = None
        return out
    open_keys = {r.key() for r in like.ip.routes if r.proto is None}
    out["ip"]["routes"] = [dict(r.to_dict(), proto=None) if r.key() in open_keys else r.to_dict()
                           for r in dev.ip.routes]
    return out


def route_drift(want: HostNetwork, have: HostNetwork) -> list:
    """One message per device in `want` whose routes the files (`have`) say otherwise, naming each route."""
    found = []
    for name, dev in sorted(want.devices.items()):
        old = have.get(name)
        if dev.ip.routes is None or old is None or old.ip.routes is None:
            continue
        mine = description(old, dev)["ip"]["routes"]
        wanted = dev.to_dict()["ip"]["routes"]
        running = [r.text(name) for r, d in zip(dev.ip.routes, wanted) if d not in mine]
        written = [r.text(name) for r, d in zip(old.ip.routes, mine) if d not in wanted]
        if running or written:
            found.append(f"{name}: routes differ between the kernel and the files; "
                         + "; ".join(part for part in (
                             "in the kernel only: " + ", ".join(running) if running else "",
                             "in the files only: " + ", ".join(written) if written else "") if part))
    return found
