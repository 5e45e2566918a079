# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""What a user reads about a device: the `state` and `diff` of every network module.

One view per device type, all built the same way from a HostNetwork, so that
before, after and check mode's prediction compare like with like.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE, BRIDGE_PORT
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, Nic, Vlan,
)


def device_view(host: HostNetwork, name: str, kind) -> dict:
    """What a user reads about any managed device: state, MTU, MAC, addresses, master."""
    dev = host.get(name)
    if not isinstance(dev, kind):
        return {"name": name, "present": False}
    return {
        "name": name,
        "present": True,
        "up": dev.up,
        "operstate": dev.operstate,
        "mtu": dev.mtu,
        "mac": dev.mac,
        "addresses": list(dev.ip.addresses or []),
        "gateway4": dev.ip.gateway4,
        "gateway6": dev.ip.gateway6,
        "routes": [route.to_dict() for route in dev.ip.routes or []],
        "master": dev.master,
    }


def bridge_view(host: HostNetwork, name: str, guests: GuestMatcher) -> dict:
    """A bridge's settings, its uplinks and its guest ports."""
    view = device_view(host, name, Bridge)
    if not view["present"]:
        return view
    dev = host.get(name)
    ports = host.ports_of(name)
    del view["master"]
    uplinks = [p for p in ports if not guests.is_guest_device(p)]
    view.update({name: getattr(dev, name) for name in BRIDGE.names})
    view.update(
        ports=[p.name for p in uplinks],
        guest_ports=[p.name for p in ports if guests.is_guest_device(p)],
        port_vlans={d.name: d.vlans for d in [dev] + ports if d.vlans is not None},
        # An uplink's bridge-port attributes, by their option names (cost, priority).
        port_options={p.name: {a.word: getattr(p, a.name) for a in BRIDGE_PORT.attrs} for p in uplinks},
    )
    return view


def bond_view(host: HostNetwork, name: str) -> dict:
    """A bond's settings and its ports (slaves)."""
    view = device_view(host, name, Bond)
    if view["present"]:
        bond = host.get(name)
        view.update(ports=[d.name for d in host.ports_of(name)], mode=bond.mode,
                    options={k: v for k, v in bond.options().items() if k != "mode"})
    return view


def vlan_view(host: HostNetwork, name: str) -> dict:
    """A VLAN device's parent, id and protocol."""
    view = device_view(host, name, Vlan)
    if view["present"]:
        vlan = host.get(name)
        view.update(parent=vlan.parent, vlan_id=vlan.vlan_id, protocol=vlan.protocol)
    return view


def nic_view(host: HostNetwork, name: str) -> dict:
    """A NIC's settings and its kind as the kernel reports it (veth, dummy; empty for a physical NIC)."""
    view = device_view(host, name, Nic)
    if view["present"]:
        view["kind"] = host.get(name).kind
    return view


# What moves by itself or is no setting: left out of what a diff says changed.
_NOT_SETTINGS = ("operstate", "index", "name", "type")
_PORT_SHOWN = ("master", "vlans", "port_cost", "port_priority")


def _named(view) -> tuple:
    """(the device names a view describes: any dict with a `name`, at any depth; the names it lists as a master's
    `ports` or `guest_ports`, whose membership it shows)."""
    described, ports = set(), set()
    todo = [view]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if isinstance(node.get("name"), str):
                described.add(node["name"])
            for key in ("ports", "guest_ports"):
                if isinstance(node.get(key), list):
                    ports.update(name for name in node[key] if isinstance(name, str))
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return described, ports


def _settings(dev) -> dict:
    if dev is None:
        return {"present": False}
    return dict({k: v for k, v in dev.to_dict().items() if k not in _NOT_SETTINGS}, present=True)


def result_diff(view, before: HostNetwork, after: HostNetwork) -> dict:
    """A result's `diff`: the view before and after, plus `also_changed`: the devices no entry describes that the
    change moves too (the uplinks that follow a bridge's MTU, a bond's slaves, a macvlan the kernel lowers with its
    device, a port released), each with just what changes, so --diff shows every device the change touches."""
    old, new = view(before), view(after)
    (shown_old, ports_old), (shown_new, ports_new) = _named(old), _named(new)
    was, now = [], []
    for name in sorted((set(before.devices) | set(after.devices)) - shown_old - shown_new):
        a, b = _settings(before.get(name)), _settings(after.get(name))
        # A port the view lists: its membership (and what a bridge's view shows of its ports) is said already.
        said = _PORT_SHOWN if name in ports_old | ports_new else ()
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k not in said)
        if not (a["present"] and b["present"]):
            keys = ["present"]   # made or deleted: that is the news, not each of its settings
        if keys:
            was.append(dict({"name": name}, **{k: a.get(k) for k in keys}))
            now.append(dict({"name": name}, **{k: b.get(k) for k in keys}))
    if not was:
        return {"before": old, "after": new}
    return {"before": dict(old, also_changed=was), "after": dict(new, also_changed=now)}
