# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this package.
"""One home per device kind: what read, apply, ops, simulate and the planners ask instead of branching on a kind.

Each kind file holds its attribute table (attrs.Attr rows: netlink type,
codec, iproute2 word, check, default), from which the request, the decoding,
the `ip` words, the checks and a new device's values are all derived. The
`DeviceKind` objects here add the rules a table cannot say: how a kind is
rebuilt and what the kernel does to a device of that kind, or to its ports
(the simulation, simulate.py). The model classes (model.py) ask their kind
for their checks. Standard library only, and nothing of the model: model.py
builds on this package.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bond import (
    BOND, bond_create_params,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import (
    BRIDGE, BRIDGE_PORT, bridge_problems, stp_ageing_time,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.nic import NIC
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.vlan import VLAN, vlan_params


class DeviceKind:
    """The rules of one model type (`type_name`, model.Device.TYPE) around its attribute `table` (attrs.Kind)."""

    creatable = True

    def __init__(self, type_name: str, table):
        self.type_name = type_name
        self.table = table

    def problems(self, device) -> list:
        """The checks of the device's kind attributes, each naming its attribute."""
        return self.table.problems(device)

    def create_params(self, device) -> dict:
        """What `ip link add ... type <kind>` sends to make `device` as it is (plan_bridge, the rebuild of a
        deleted device)."""
        return self.table.create_params(device)

    def decode(self, data: dict, name_of: dict, parent) -> dict:
        """The model values of a link the kernel reports with IFLA_INFO_DATA `data` (a kernel without bridge VLAN
        filtering does not report it: None) on `parent` (IFLA_LINK)."""
        return self.table.decode(data, name_of)

    def request(self, params: dict) -> dict:
        """A request's params as the kernel gets them (defaults a request must carry filled in)."""
        return params

    def created(self, params: dict, host) -> dict:
        """The model values of a device the kernel made from a `link add` with `params` (simulation)."""
        return self.table.created(params)

    def changed(self, host, device, params: dict) -> None:
        """What the kernel does beyond the attributes themselves when a request sets `params` on `device`."""

    def joined(self, port, master) -> None:
        """What the kernel does to `port` when it becomes a port of `master` (a device of this kind)."""

    def left(self, port, master, params: dict) -> None:
        """What the kernel does to `port` (and `master`) when it stops being a port of `master`."""


class NicKind(DeviceKind):
    creatable = False


class BridgeKind(DeviceKind):
    """A bridge: a vlan-aware one gives itself and every port VLAN 1 as untagged PVID."""

    def problems(self, device) -> list:
        return bridge_problems(device)

    def decode(self, data: dict, name_of: dict, parent) -> dict:
        values = super().decode(data, name_of, parent)
        values["ageing_time"] = stp_ageing_time(values, data)
        return values

    def created(self, params: dict, host) -> dict:
        values = super().created(params, host)
        values["vlans"] = vlans.default_membership() if values["vlan_filtering"] else None
        return values

    def changed(self, host, device, params: dict) -> None:
        if params.get("vlan_filtering") is not None:
            for port in [device] + [host.mutable(p.name) for p in host.ports_of(device.name)]:
                port.vlans = vlans.default_membership() if params["vlan_filtering"] else None

    def joined(self, port, master) -> None:
        if master.vlan_filtering:
            port.vlans = vlans.default_membership()


class BondKind(DeviceKind):
    """A bond opens a device it enslaves and keeps it at its own MTU; it closes one it releases and forgets it as
    its primary."""

    def create_params(self, device) -> dict:
        return bond_create_params(device)

    # What Debian's 6.1 kernel reports for a bond made with none of these options (`ip -d link show`, read in the
    # full-kernel lane): a prediction must say what the kernel will, or the files checked for it (net_state's
    # checkpoint.persist) differ from what a save after the change writes.
    KERNEL_DEFAULTS = {"mode": "balance-rr", "miimon": 0, "updelay": 0, "downdelay": 0, "arp_interval": 0,
                       "min_links": 0, "lacp_rate": "slow", "xmit_hash_policy": "layer2", "ad_select": "stable",
                       "arp_ip_target": []}
    # Modes without ARP monitoring: the kernel turns MII monitoring on (100 ms) when nothing monitors links.
    MII_MODES = ("802.3ad", "balance-tlb", "balance-alb")

    def created(self, params: dict, host) -> dict:
        given = {k: v for k, v in super().created(params, host).items() if v is not None}
        values = dict(self.KERNEL_DEFAULTS, **given)
        if values["mode"] in self.MII_MODES and not values["miimon"] and not values["arp_interval"]:
            values["miimon"] = 100
        return values

    def changed(self, host, device, params: dict) -> None:
        if params.get("mtu"):
            for slave in host.ports_of(device.name):
                host.mutable(slave.name).mtu = params["mtu"]

    def joined(self, port, master) -> None:
        port.up, port.mtu = True, master.mtu

    def left(self, port, master, params: dict) -> None:
        if "up" not in params:
            port.up = False
        if master.primary == port.name:
            master.primary = None


class VlanKind(DeviceKind):
    """A VLAN sits on its parent (IFLA_LINK, not a kind attribute) and starts with the parent's MTU."""

    def decode(self, data: dict, name_of: dict, parent) -> dict:
        return dict(super().decode(data, name_of, parent), parent=parent)

    def request(self, params: dict) -> dict:
        return vlan_params(params)

    def created(self, params: dict, host) -> dict:
        values = super().created(params, host)
        values["parent"] = params["parent"]
        parent = host.get(params["parent"] or "")
        if parent is not None and not params.get("mtu"):
            values["mtu"] = parent.mtu
        return values


KINDS = {kind.type_name: kind for kind in (
    NicKind("nic", NIC), BridgeKind("bridge", BRIDGE), BondKind("bond", BOND), VlanKind("vlan", VLAN),
)}
# Attribute tables a request can carry, each found by its attribute names (which no two tables share).
TABLES = (BRIDGE, BRIDGE_PORT, BOND, VLAN)


def kind_of(type_name: str) -> DeviceKind | None:
    """The kind of a model type ('bridge', 'bond', 'vlan', 'nic'); None for one without rules (a guest port)."""
    return KINDS.get(type_name)


def table_of_params(params: dict):
    """The attribute table whose attributes a `link set` request's params carry, or None."""
    for table in TABLES:
        if table.carries(params):
            return table
    return None


def request_params(table, params: dict) -> dict:
    """`params` as the kernel gets them for `table` (the VLAN protocol goes with its id)."""
    kind = KINDS.get(table.name)
    return kind.request(params) if kind is not None and not table.slave else params
