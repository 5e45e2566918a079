# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Read a host or a network namespace into a HostNetwork: one dump per table.

Only the attributes the model needs are decoded, which keeps a read of 1,000
links in the tens of milliseconds (docs/performance.md).
"""
from __future__ import annotations

import ipaddress
import socket
import struct

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl, vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds import kind_of
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import (
    BRIDGE_PORT, IFLA_BR_VLAN_FILTERING,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import RouteDump
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    DEVICE_TYPES, STACKED_KINDS, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, route_order,
)

_IFI_HEADER = nl.IFINFOMSG.size
_IFA_HEADER = nl.IFADDRMSG.size
_RT_HEADER = nl.RTMSG.size
_NEIGH_ATTRS = frozenset((nl.NDA_DST, nl.NDA_LLADDR))
_AF_SPEC = frozenset((nl.IFLA_AF_SPEC,))
_TUN_ATTRS = frozenset((nl.IFLA_TUN_TYPE,))
_LINK_ATTRS = frozenset((nl.IFLA_IFNAME, nl.IFLA_MTU, nl.IFLA_ADDRESS, nl.IFLA_MASTER, nl.IFLA_LINK,
                         nl.IFLA_OPERSTATE, nl.IFLA_LINKINFO, nl.IFLA_MAX_MTU, nl.IFLA_LINK_NETNSID))
_LINK_REQUEST = nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + nl.attr_u32(nl.IFLA_EXT_MASK, nl.RTEXT_FILTER_SKIP_STATS)


class RawLink:
    """The decoded part of one RTM_NEWLINK message."""

    __slots__ = ("index", "name", "flags", "mtu", "max_mtu", "mac", "master", "link", "operstate",
                 "kind", "data", "port_data")

    def __init__(self, body):
        _family, _type, self.index, self.flags, _change = nl.IFINFOMSG.unpack_from(body)
        attrs = nl.parse_attrs(body, _IFI_HEADER, len(body), _LINK_ATTRS)
        self.name = nl.as_str(attrs[nl.IFLA_IFNAME])
        self.mtu = nl.as_u32(attrs[nl.IFLA_MTU]) if nl.IFLA_MTU in attrs else None
        self.max_mtu = (nl.as_u32(attrs[nl.IFLA_MAX_MTU]) or None) if nl.IFLA_MAX_MTU in attrs else None
        raw_mac = attrs.get(nl.IFLA_ADDRESS)
        self.mac = nl.as_mac(raw_mac) if raw_mac is not None and len(raw_mac) == 6 else None
        self.master = nl.as_u32(attrs[nl.IFLA_MASTER]) if nl.IFLA_MASTER in attrs else 0
        # A lower device (or veth peer) in another namespace: its ifindex names nothing here.
        self.link = nl.as_u32(attrs[nl.IFLA_LINK]) if nl.IFLA_LINK in attrs and nl.IFLA_LINK_NETNSID not in attrs else 0
        state = nl.as_u8(attrs[nl.IFLA_OPERSTATE]) if nl.IFLA_OPERSTATE in attrs else 0
        self.operstate = nl.OPERSTATES[state] if state < len(nl.OPERSTATES) else "unknown"
        self.kind = ""
        self.data = {}
        self.port_data = None
        info = attrs.get(nl.IFLA_LINKINFO)
        if info is not None:
            info_attrs = nl.parse_attrs(info, 0, len(info))
            if nl.IFLA_INFO_KIND in info_attrs:
                self.kind = nl.as_str(info_attrs[nl.IFLA_INFO_KIND])
            data = info_attrs.get(nl.IFLA_INFO_DATA)
            if data is not None:   # a guest's tap: only its type (guest_kind)
                self.data = nl.parse_attrs(data, 0, len(data), _TUN_ATTRS if self.kind == "tun" else None)
            port = info_attrs.get(nl.IFLA_INFO_SLAVE_DATA)
            if port is not None and nl.as_str(info_attrs.get(nl.IFLA_INFO_SLAVE_KIND, b"")) == BRIDGE_PORT.name:
                self.port_data = nl.parse_attrs(port, 0, len(port), BRIDGE_PORT.wanted)


def read_links(netlink: nl.Netlink) -> list:
    return [RawLink(body) for _t, body in netlink.dump(nl.RTM_GETLINK, _LINK_REQUEST)]


def read_addresses(netlink: nl.Netlink) -> dict:
    """ifindex -> static addresses ('ip/prefix'); kernel-made ones are skipped."""
    found: dict = {}
    request = nl.IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    for _t, body in netlink.dump(nl.RTM_GETADDR, request):
        family, prefixlen, flags, _scope, index = nl.IFADDRMSG.unpack_from(body)
        attrs = nl.parse_attrs(body, _IFA_HEADER, len(body))
        if nl.IFA_FLAGS in attrs:
            flags = nl.as_u32(attrs[nl.IFA_FLAGS])
        if not flags & nl.IFA_F_PERMANENT:
            continue  # SLAAC, temporary or otherwise kernel-managed
        raw = attrs.get(nl.IFA_LOCAL, attrs.get(nl.IFA_ADDRESS))
        if raw is None:
            continue
        address = ipaddress.ip_address(bytes(raw))
        if family == socket.AF_INET6 and address.is_link_local:
            continue  # made by the kernel for every up device
        found.setdefault(index, []).append(f"{address}/{prefixlen}")
    return found


def read_routes(netlink: nl.Netlink) -> RouteDump:
    """One dump of every family's routes in every table (AF_UNSPEC without RTM_F_LOOKUP_TABLE: the kernel
    walks them all; RTA_TABLE says which), sorted into gateways, managed and other routes (kinds/route.py)."""
    dump = RouteDump()
    request = nl.RTMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0, 0)
    for _t, body in netlink.dump(nl.RTM_GETROUTE, request):
        dump.add(body, _RT_HEADER)
    return dump


def read_default_gateways(netlink: nl.Netlink) -> dict:
    """ifindex -> [gateway, ...] of the main table's default routes via a gateway, whatever their metric or
    protocol: IPv4 first, then IPv6, each by metric."""
    return {index: list(dict.fromkeys(via for _version, _metric, via in sorted(found)))
            for index, found in read_routes(netlink).defaults.items()}


def read_neighbours(netlink: nl.Netlink, family: int) -> list:
    """The neighbour (ARP for AF_INET, ND for AF_INET6) table: one dict per entry.

    {'ifindex', 'address', 'state' (INCOMPLETE, REACHABLE, STALE, ... as `ip neigh` names them),
    'lladdr' (None while unresolved)}; proxy entries are not part of this dump.
    """
    found = []
    request = nl.NDMSG.pack(family, 0, 0, 0, 0)
    for _t, body in netlink.dump(nl.RTM_GETNEIGH, request):
        fam, ifindex, state, _flags, _type = nl.NDMSG.unpack_from(body)
        if fam != family:
            continue
        attrs = nl.parse_attrs(body, nl.NDMSG.size, len(body), _NEIGH_ATTRS)
        if nl.NDA_DST not in attrs:
            continue
        lladdr = attrs.get(nl.NDA_LLADDR)
        found.append({
            "ifindex": ifindex,
            "address": str(ipaddress.ip_address(bytes(attrs[nl.NDA_DST]))),
            "state": nl.NUD_STATES.get(state, f"0x{state:02x}"),
            "lladdr": nl.as_mac(lladdr) if lladdr else None,
        })
    return found


def read_port_vlans(netlink: nl.Netlink) -> dict:
    """ifindex -> VLAN membership, for ports of vlan-aware bridges and the bridges themselves."""
    request = nl.IFINFOMSG.pack(nl.AF_BRIDGE, 0, 0, 0, 0) + nl.attr_u32(nl.IFLA_EXT_MASK, nl.RTEXT_FILTER_BRVLAN_COMPRESSED)
    found: dict = {}
    for _t, body in netlink.dump(nl.RTM_GETLINK, request):
        index = nl.IFINFOMSG.unpack_from(body)[2]
        spec = nl.parse_attrs(body, _IFI_HEADER, len(body), _AF_SPEC).get(nl.IFLA_AF_SPEC)
        if spec is None:
            continue
        flags_of: dict = {}
        begin = None
        for kind, raw in nl.iter_attrs(spec, 0, len(spec)):
            if kind != nl.IFLA_BRIDGE_VLAN_INFO:
                continue
            flags, vid = struct.unpack_from("=HH", raw)
            if flags & nl.BRIDGE_VLAN_INFO_RANGE_BEGIN:
                begin = vid
                continue
            first = begin if flags & nl.BRIDGE_VLAN_INFO_RANGE_END and begin is not None else vid
            begin = None
            for v in range(first, vid + 1):
                flags_of[v] = (bool(flags & nl.BRIDGE_VLAN_INFO_PVID), bool(flags & nl.BRIDGE_VLAN_INFO_UNTAGGED))
        found[index] = vlans.from_flags(flags_of)
    return found


def guest_kind(raw: RawLink) -> str:
    """tap, tun, veth...: a tun device is a tap unless the kernel says it is layer 3 (IFF_TUN)."""
    if raw.kind == "tun":
        tun_type = raw.data.get(nl.IFLA_TUN_TYPE)
        return "tap" if tun_type is None or nl.as_u8(tun_type) == nl.IFF_TAP else "tun"
    return raw.kind or "other"


def filters_vlans(raw: RawLink) -> bool:
    """Whether a bridge's link message says it filters VLANs."""
    value = raw.data.get(IFLA_BR_VLAN_FILTERING)
    return value is not None and bool(nl.as_u8(value))


def _device_from(raw: RawLink, master_name, parent_name, guests: GuestMatcher, name_of: dict):
    common = {"name": raw.name, "mtu": raw.mtu, "mac": raw.mac, "up": bool(raw.flags & nl.IFF_UP),
              "master": master_name, "operstate": raw.operstate, "index": raw.index, "max_mtu": raw.max_mtu}
    if raw.port_data is not None:
        common.update(BRIDGE_PORT.decode(raw.port_data))
    kind = kind_of(raw.kind)
    if kind is not None and kind.creatable:
        return DEVICE_TYPES[raw.kind](**kind.decode(raw.data, name_of, parent_name), **common)
    if raw.kind in STACKED_KINDS:
        common["lower"] = parent_name
    if guests.is_guest(raw.name, raw.kind):
        return GuestPort(kind=guest_kind(raw), **common)
    return Nic(kind=raw.kind, **common)


class Snapshot:
    """A HostNetwork plus the ifindex of every device, which the configurator needs, and the routes through
    each device that netsafe never changes (`other_routes`: name -> [(Route, why)]), which a plan must not make
    the kernel drop (plan.keep_routes)."""

    def __init__(self, host: HostNetwork, index_of: dict, other_routes: dict | None = None,
                 gateway_mtus: dict | None = None):
        self.host = host
        self.index_of = index_of
        self.other_routes = other_routes or {}
        # name -> {gateway: MTU} of default routes with an MTU of their own (RouteDump.default_mtus)
        self.gateway_mtus = gateway_mtus or {}


def build_host(links, guests: GuestMatcher, addresses=None, routes: RouteDump | None = None, port_vlans=None) -> Snapshot:
    """The model of decoded links plus what was read of the other tables.

    `addresses` and `routes` None: not read (devices get no addresses or
    gateways, and routes None: unknown). `port_vlans`
    None: not read, so VLAN memberships stay unknown (None) even on a
    vlan-aware bridge; a dict: ports of vlan-aware bridges get theirs.
    """
    name_of = {raw.index: raw.name for raw in links}
    filtering = {raw.index for raw in links if raw.kind == "bridge" and filters_vlans(raw)}
    host = HostNetwork()
    for raw in links:
        device = _device_from(raw, name_of.get(raw.master) if raw.master else None,
                              name_of.get(raw.link) if raw.link else None, guests, name_of)
        gw = routes.gateways.get(raw.index, {}) if routes is not None else {}
        device.ip = IpConfig(addresses=sorted((addresses or {}).get(raw.index, [])),
                             gateway4=gw.get("gateway4"), gateway6=gw.get("gateway6")).normalized()
        if routes is not None:
            device.ip.routes = sorted(routes.routes.get(raw.index, []), key=route_order)
        if port_vlans is not None and (raw.index in filtering or raw.master in filtering):
            device.vlans = port_vlans.get(raw.index, {"pvid": None, "untagged": [], "tagged": []})
        host.add(device)
    others = {} if routes is None else {name_of[index]: found for index, found in routes.others.items() if index in name_of}
    capped = {} if routes is None else {name_of[index]: found for index, found in routes.default_mtus.items()
                                        if index in name_of}
    return Snapshot(host, {raw.name: raw.index for raw in links}, others, capped)


def read_host(netlink: nl.Netlink, guests: GuestMatcher | None = None) -> Snapshot:
    """One dump each of links, addresses and routes (and bridge VLANs where any bridge filters)."""
    links = read_links(netlink)
    # Only vlan-aware bridges have memberships; skip that dump on hosts without one.
    any_filtering = any(raw.kind == "bridge" and filters_vlans(raw) for raw in links)
    return build_host(links, guests or GuestMatcher(), read_addresses(netlink), read_routes(netlink),
                      read_port_vlans(netlink) if any_filtering else {})
