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
