# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The model simulator: what an operation does to a HostNetwork.

Check mode's prediction and `--diff` come from here, and so does the
topology check of a plan before anything is sent. It follows the kernel's
rules where they matter to a plan: a new VLAN takes its parent's MTU, a
deleted master frees its ports, a port joining a vlan-aware bridge gets VLAN 1
as untagged PVID, one PVID per port, a bond opens (brings up) a device it
enslaves, closes one it releases, also when the bond itself is deleted (and
forgets it as its primary) and keeps its slaves at its own MTU; a VLAN follows
its lower device's MTU down (never up), and so does a macvlan; a device that goes down, or loses its
last IPv4 address, loses routes (kinds/route.py dropped_by).
"""
from __future__ import annotations

import copy

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds import kind_of
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import dropped_by, has_ipv4
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    DEVICE_TYPES, HostNetwork, IpConfig, route_order,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_ADD, ADDR_DEL, BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL, LINK_ADD, LINK_DEL, LINK_SET, ROUTE_DEL, ROUTE_REPLACE,
    STATIC_ROUTE_ADD, STATIC_ROUTE_CHANGE, STATIC_ROUTE_DEL,
)


def predict(host: HostNetwork, operations) -> HostNetwork:
    """A copy of `host` as it would be after `operations`."""
    future = host.shallow()
    for op in operations:
        apply_op(future, op)
    return future


def apply_op(host: HostNetwork, op) -> None:
    """Change `host` as the kernel would for `op`."""
    p = op.params
    if op.action == LINK_ADD:
        host.add(_new_device(host, op.device, p))
        return
    if op.action == LINK_DEL:
        gone = host.mutable(op.device)
        host.devices.pop(op.device, None)
        kind = kind_of(gone.TYPE) if gone is not None else None
        for name in [n for n, d in host.devices.items() if d.master == op.device]:
            dev = host.mutable(name)
            if dev.master == op.device:
                dev.master = None
                dev.vlans = None
                if kind is not None:
                    kind.left(dev, gone, {})  # a deleted master releases its ports as one that lets go (a bond closes them)
        return
    dev = host.mutable(op.device)
    if dev is None:
        return
    was_up, had_ipv4 = bool(dev.up), has_ipv4(dev.ip.addresses)
    if op.action == LINK_SET:
        old_master = host.mutable(dev.master or "")
        for key, value in p.items():
            setattr(dev, key, copy.deepcopy(value))
        if "master" in p:
            _moved(dev, old_master, host.mutable(p.get("master") or ""), p)
        kind = kind_of(dev.TYPE)
        if kind is not None:
            kind.changed(host, dev, p)
        if p.get("mtu"):
            for above in stacked_above(host, dev.name, p["mtu"]):
                host.mutable(above).mtu = p["mtu"]
    elif op.action == ADDR_ADD:
        dev.ip.addresses = sorted(set(dev.ip.addresses or []) | {p["address"]})
    elif op.action == ADDR_DEL:
        dev.ip.addresses = sorted(set(dev.ip.addresses or []) - {p["address"]})
    elif op.action == ROUTE_REPLACE:
        key = f"gateway{p['family']}"
        for name in [n for n, d in host.devices.items() if getattr(d.ip, key) is not None]:
            setattr(host.mutable(name).ip, key, None)
        setattr(dev.ip, key, p["gateway"])
    elif op.action == ROUTE_DEL:
        setattr(dev.ip, f"gateway{p['family']}", None)
    elif op.action in (STATIC_ROUTE_ADD, STATIC_ROUTE_CHANGE, STATIC_ROUTE_DEL):
        route = op.route()
        kept = [r for r in dev.ip.routes or [] if r.key() != route.key()]
        dev.ip.routes = kept if op.action == STATIC_ROUTE_DEL else sorted(kept + [route], key=route_order)
    elif op.action in (BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL):
        flags = vlans.flags_by_vid(dev.vlans)
        first, last = p["vids"]
        if op.action == BRIDGE_VLAN_DEL:
            vlans.del_vids(flags, range(first, last + 1))
        else:
            vlans.add_vids(flags, range(first, last + 1), bool(p.get("pvid")), bool(p.get("untagged")))
        dev.vlans = vlans.from_flags(flags)
    if had_ipv4 and not has_ipv4(dev.ip.addresses):
        dev.ip.gateway4 = None   # the kernel drops the IPv4 default route with the last IPv4 address
    if dev.ip.routes:
        dropped = dropped_by(was_up, bool(dev.up), had_ipv4 and not has_ipv4(dev.ip.addresses), dev.ip.routes)
        if dropped:
            dev.ip.routes = [r for r in dev.ip.routes if r not in dropped]


def stacked_above(host: HostNetwork, name: str, mtu: int) -> list:
    """The VLANs, macvlans and macvtaps on `name` whose MTU is above `mtu`: the kernel lowers them to `mtu` with
    it (vlan_device_event, macvlan_device_event), and never raises them back."""
    return sorted(d.name for d in host.devices.values() if d.mtu is not None and d.mtu > mtu
                  and ((d.TYPE == "vlan" and getattr(d, "parent", None) == name) or d.lower == name))


def _moved(dev, old_master, master, p: dict) -> None:
    """A device changed masters: each master's kind says what the kernel does to it (kinds/)."""
    dev.vlans = None
    if old_master is not master:
        dev.port_cost = dev.port_priority = None  # the kernel gives a joining port defaults the model cannot know
        if old_master is not None and kind_of(old_master.TYPE) is not None:
            kind_of(old_master.TYPE).left(dev, old_master, p)
    if master is not None and kind_of(master.TYPE) is not None:
        kind_of(master.TYPE).joined(dev, master)


def _new_device(host: HostNetwork, name: str, p: dict):
    """The device a `link add` makes: its kind's values for `p` (kinds/)."""
    common = {"name": name, "mtu": p.get("mtu") or 1500, "mac": p.get("mac"), "up": False, "ip": IpConfig(addresses=[])}
    common.update(kind_of(p["type"]).created(p, host))
    return DEVICE_TYPES[p["type"]](**common)
