# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The model simulator: what an operation does to a HostNetwork.

Check mode's prediction and `--diff` come from here, and so does the
topology check of a plan before anything is sent. It follows the kernel's
rules where they matter to a plan: a new VLAN takes its parent's MTU, a
deleted master frees its ports, a port joining a vlan-aware bridge gets VLAN 1
as untagged PVID, one PVID per port, a bond opens (brings up) a device it
enslaves, closes one it releases (and forgets it as its primary) and keeps
its slaves at its own MTU.
"""
from __future__ import annotations

import copy

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_OPTIONS, Bond, Bridge, HostNetwork, IpConfig, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_ADD, ADDR_DEL, BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL, LINK_ADD, LINK_DEL, LINK_SET, ROUTE_DEL, ROUTE_REPLACE,
)


def predict(host: HostNetwork, operations) -> HostNetwork:
    """A copy of `host` as it would be after `operations`."""
    future = host.clone()
    for op in operations:
        apply_op(future, op)
    return future


def apply_op(host: HostNetwork, op) -> None:
    """Change `host` as the kernel would for `op`."""
    p = op.params
    if op.action == LINK_ADD:
        device = _new_device(op.device, p)
        parent = host.get(p.get("parent") or "")
        if parent is not None and not p.get("mtu"):
            device.mtu = parent.mtu  # a VLAN starts with its parent's MTU
        host.add(device)
        return
    if op.action == LINK_DEL:
        host.devices.pop(op.device, None)
        for dev in host.devices.values():
            if dev.master == op.device:
                dev.master = None
                dev.vlans = None
        return
    dev = host.get(op.device)
    if dev is None:
        return
    if op.action == LINK_SET:
        old_master = host.get(dev.master or "")
        for key, value in p.items():
            setattr(dev, key, copy.deepcopy(value))
        master = host.get(p.get("master") or "")
        if "master" in p:
            dev.vlans = vlans.default_membership() if isinstance(master, Bridge) and master.vlan_filtering else None
            if isinstance(master, Bond):
                dev.up, dev.mtu = True, master.mtu
            elif isinstance(old_master, Bond) and "up" not in p:
                dev.up = False  # a bond closes the device it releases
            if isinstance(old_master, Bond) and old_master is not master and old_master.primary == dev.name:
                old_master.primary = None  # and forgets it as its primary
        if isinstance(dev, Bond) and p.get("mtu"):
            for slave in host.ports_of(dev.name):
                slave.mtu = p["mtu"]
        if p.get("vlan_filtering") is not None and isinstance(dev, Bridge):
            for port in [dev] + host.ports_of(dev.name):
                port.vlans = vlans.default_membership() if p["vlan_filtering"] else None
    elif op.action == ADDR_ADD:
        dev.ip.addresses = sorted(set(dev.ip.addresses or []) | {p["address"]})
    elif op.action == ADDR_DEL:
        dev.ip.addresses = sorted(set(dev.ip.addresses or []) - {p["address"]})
    elif op.action == ROUTE_REPLACE:
        key = f"gateway{p['family']}"
        for other in host.devices.values():
            setattr(other.ip, key, None)
        setattr(dev.ip, key, p["gateway"])
    elif op.action == ROUTE_DEL:
        setattr(dev.ip, f"gateway{p['family']}", None)
    elif op.action in (BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL):
        flags = vlans.flags_by_vid(dev.vlans)
        first, last = p["vids"]
        if op.action == BRIDGE_VLAN_DEL:
            vlans.del_vids(flags, range(first, last + 1))
        else:
            vlans.add_vids(flags, range(first, last + 1), bool(p.get("pvid")), bool(p.get("untagged")))
        dev.vlans = vlans.from_flags(flags)


def _new_device(name: str, p: dict):
    common = {"name": name, "mtu": p.get("mtu") or 1500, "mac": p.get("mac"), "up": False, "ip": IpConfig(addresses=[])}
    if p["type"] == "bond":
        options = {k: p.get(k) for k in BOND_OPTIONS}
        return Bond(**common, **{k: v for k, v in options.items() if v is not None})
    if p["type"] == "vlan":
        return Vlan(parent=p["parent"], vlan_id=p["vlan_id"], protocol=p.get("protocol", "802.1Q"),
                    loose_binding=bool(p.get("loose_binding", False)), **common)
    return Bridge(stp=bool(p.get("stp", False)), forward_delay=p.get("forward_delay", 15.0),
                  vlan_filtering=bool(p.get("vlan_filtering", False)),
                  vlans=vlans.default_membership() if p.get("vlan_filtering") else None, **common)
