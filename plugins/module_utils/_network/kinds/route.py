# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The route kind: a static route of one device, its identity, its checks and its `ip route` words.

A route belongs to the device it leaves through (its `dev`, RTA_OIF): it is
held in that device's IpConfig.routes. The main table's default route with a
gateway is not one of them: that is the device's gateway4/gateway6, as
before. netsafe manages unicast routes an administrator made (`proto static`,
what NetworkManager, networkd and `ip route add ... proto static` write, and
`proto boot`, what a bare `ip route add` and ifupdown2's `post-up ip route
add` make) outside the local table. Routes the kernel makes (connected
prefixes, `proto kernel`), the ones daemons own (dhcp, ra, bird, zebra...),
multipath routes and other route types are never changed.

Two routes are the same route when family, table, destination and metric
are equal (`key`): the kernel holds at most one unicast route per key, and
`ip route replace` changes the rest (`via`, `onlink`, `proto`). A metric not
given is the kernel's default for the family (0 for IPv4, 1024 for IPv6), so
a route read back equals the route asked for.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl

RT_TABLE_DEFAULT = 253
RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255
TABLE_NAMES = {"main": RT_TABLE_MAIN, "default": RT_TABLE_DEFAULT}
TABLE_WORDS = {number: name for name, number in TABLE_NAMES.items()}
MAX_TABLE = 2 ** 32 - 1
MAX_METRIC = 2 ** 32 - 1
# What netsafe writes, and the protocols of routes it manages (rtnetlink.h RTPROT_BOOT, RTPROT_STATIC).
RTPROT_BOOT = 3
RTPROT_STATIC = 4
PROTOCOLS = {"boot": RTPROT_BOOT, "static": RTPROT_STATIC}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOLS.items()}
DEFAULT_PROTOCOL = "static"
DEFAULT_METRIC = {4: 0, 6: 1024}

ROUTE_FIELDS = ("dst", "via", "table", "metric", "onlink", "proto")


@dataclass
class Route:
    """One static unicast route through the device that holds it (model.IpConfig.routes)."""

    dst: str
    via: str | None = None
    table: int | str | None = None
    metric: int | None = None
    onlink: bool | None = None
    proto: str | None = None

    # -- identity -----------------------------------------------------------
    @property
    def family(self) -> int:
        return ipaddress.ip_network(self.dst, strict=False).version

    def key(self) -> tuple:
        """(family, table, destination, metric): one kernel route per key (normalized routes only)."""
        return (self.family, self.table, self.dst, self.metric)

    def is_default(self) -> bool:
        return ipaddress.ip_network(self.dst, strict=False).prefixlen == 0

    def is_gateway(self) -> bool:
        """Whether this (normalized) route is a device's gateway4/gateway6: the main table's default via a gateway at
        the family's default metric. A default with another metric (a second uplink's, NetworkManager's 425 of a
        bridge) is a route of its own: written back as a gateway it would land at the default metric and replace
        another device's default, the host's way out (review 25)."""
        return (self.table == RT_TABLE_MAIN and self.is_default() and self.via is not None
                and self.metric == DEFAULT_METRIC[self.family])

    # -- checks and the canonical form ----------------------------------------
    def problems(self, where: str = "routes") -> list:
        """What is wrong with this route as a user gave it; each message names `where` and the field."""
        found = []
        try:
            net = ipaddress.ip_network(str(self.dst).strip(), strict=False)
        except ValueError:
            return [f"{where}: dst {self.dst!r} is not a destination like 10.20.0.0/16, 2001:db8:20::/48 or "
                    f"0.0.0.0/0"]
        if net.is_multicast:
            found.append(f"{where}: dst {self.dst!r} is a multicast range; only unicast routes are managed")
        if self.via is not None:
            try:
                via = ipaddress.ip_address(str(self.via).strip())
            except ValueError:
                via = None
                found.append(f"{where}: via {self.via!r} is not an IP address")
            if via is not None and via.version != net.version:
                found.append(f"{where}: via {self.via} is IPv{via.version} but dst {self.dst} is IPv{net.version}")
            elif via is not None and (via.is_multicast or via.is_unspecified):
                found.append(f"{where}: via {self.via} cannot be a gateway")
        table = table_number(self.table)
        if table is None:
            found.append(f"{where}: table {self.table!r} is not a routing table; allowed 1-{MAX_TABLE} except "
                         f"{RT_TABLE_LOCAL} (local), or main or default")
        metric = self.metric
        if metric is not None and (isinstance(metric, bool) or not isinstance(metric, int)
                                   or not 0 <= metric <= MAX_METRIC):
            found.append(f"{where}: metric {metric!r} is out of range; allowed 0-{MAX_METRIC}")
        if self.onlink is not None and not isinstance(self.onlink, bool):
            found.append(f"{where}: onlink {self.onlink!r} is not true or false")
        if self.onlink and self.via is None:
            found.append(f"{where}: onlink needs a gateway (via); a route without via is already on the link")
        if self.proto is not None and self.proto not in PROTOCOLS:
            found.append(f"{where}: proto {self.proto!r} is not one netsafe manages; allowed {', '.join(PROTOCOLS)}")
        return found

    def normalized(self) -> Route:
        """The canonical form: network address of dst, table and metric as numbers, the kernel's defaults filled in.

        A protocol not given stays None, "either": a route that ifupdown2 made
        (boot) satisfies a task that did not name one, and is not replaced on
        every run. A route netsafe adds without one gets DEFAULT_PROTOCOL.
        """
        net = ipaddress.ip_network(str(self.dst).strip(), strict=False)
        return Route(
            dst=str(net),
            via=None if self.via is None else str(ipaddress.ip_address(str(self.via).strip())),
            table=table_number(self.table),
            # The kernel stores an IPv6 route's metric 0 as its default, 1024 (ip6_route_info_create).
            metric=DEFAULT_METRIC[net.version] if self.metric is None or (net.version == 6 and self.metric == 0)
            else self.metric,
            onlink=bool(self.onlink),
            proto=self.proto,
        )

    def satisfies(self, wanted: Route) -> bool:
        """Whether this route (read from the kernel) is `wanted` (normalized): same key, gateway and onlink;
        its protocol only when `wanted` names one."""
        return (self.key() == wanted.key() and self.via == wanted.via and bool(self.onlink) == bool(wanted.onlink)
                and (wanted.proto is None or self.proto == wanted.proto))

    # -- the `ip route` words --------------------------------------------------
    def words(self, device: str, with_via: bool = True) -> list:
        """`ip route <verb>`'s words after the verb: what iproute2 needs to make (or find) this route on `device`.

        The family is in the destination (0.0.0.0/0 or ::/0 for a default),
        so no `-6` is needed, which `ip -batch` would refuse inside a line.
        """
        words = [self.dst]
        if with_via and self.via is not None:
            words += ["via", self.via]
        words += ["dev", device]
        if self.table not in (None, RT_TABLE_MAIN):
            words += ["table", TABLE_WORDS.get(self.table, str(self.table))]
        if self.metric is not None:
            words += ["metric", str(self.metric)]
        if with_via and self.onlink:
            words.append("onlink")
        if with_via and self.proto is not None:
            words += ["proto", self.proto]
        return words

    def text(self, device: str) -> str:
        """How a message names this route: as `ip route` would show it."""
        return " ".join(self.words(device))

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in ROUTE_FIELDS}

    @classmethod
    def from_dict(cls, data) -> Route:
        if isinstance(data, Route):
            return data
        return cls(**{name: data.get(name) for name in ROUTE_FIELDS})


@dataclass
class SourcedRoute(Route):
    """A route with a preferred source address (`ip route ... src`): never changed by netsafe (read.Snapshot's
    other_routes), and deleted by the kernel with the address it names, on whichever device that is."""

    src: str | None = None


def table_number(table):
    """A routing table as its number (None: main), or None when it is not one netsafe can manage."""
    if table is None:
        return RT_TABLE_MAIN
    if isinstance(table, str):
        text = table.strip()
        if text in TABLE_NAMES:
            return TABLE_NAMES[text]
        if not (text.isascii() and text.isdigit()):   # iproute2 reads ASCII digits only
            return None
        table = int(text)
    if isinstance(table, bool) or not isinstance(table, int) or not 1 <= table <= MAX_TABLE or table == RT_TABLE_LOCAL:
        return None
    return table


def route_problems(routes, where: str = "routes") -> list:
    """Problems of a device's desired route list: each route's, then two routes with one key."""
    if routes is None:
        return []
    if not isinstance(routes, list):
        return [f"{where}: must be a list of routes"]
    found, seen = [], {}
    for position, route in enumerate(routes):
        label = f"{where}[{position}]"
        if not isinstance(route, Route):
            found.append(f"{label}: must be a route with dst (and via, table, metric, onlink, proto)")
            continue
        problems = route.problems(label)
        found += problems
        if problems:
            continue
        key = route.normalized().key()
        if route.normalized().is_gateway():
            found.append(f"{label}: the main table's default route via a gateway at metric {key[3]} is the device's "
                         f"gateway{key[0]} option (gateway{key[0]}: {route.via}), not a route; give it there (a "
                         f"default route with another metric is a route)")
            continue
        if key in seen:
            found.append(f"{label}: {route.dst} in table {key[1]} with metric {key[3]} is already {where}[{seen[key]}]; "
                         f"the kernel holds one route per destination, table and metric")
        seen.setdefault(key, position)
    return found


def managed_protocol(proto: int) -> bool:
    """Whether a route of kernel protocol number `proto` is one netsafe manages (boot or static)."""
    return proto in PROTOCOL_NAMES


# -- the kernel's messages -----------------------------------------------------
# Protocol names as iproute2 shows them (rt_protos), for messages about routes netsafe does not manage.
PROTOCOL_WORDS = {0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra", 10: "mrt",
                  11: "zebra", 12: "bird", 13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp", 18: "keepalived",
                  42: "babel", 186: "bgp", 187: "isis", 188: "ospf", 189: "rip", 192: "eigrp"}
ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
               7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
_FAMILIES = {socket.AF_INET: 4, socket.AF_INET6: 6}
_ANY = {4: ipaddress.IPv4Address(0), 6: ipaddress.IPv6Address(0)}
# What a route may carry besides what Route holds; one that has any is not netsafe's (a `src`, an encap, a
# gateway of the other family). Its kernel metrics are not part of Route (docs/architecture.md); a default route's
# own MTU is read (RouteDump.default_mtus): it caps what the path MTU probe must prove.
_FOREIGN_ATTRS = (nl.RTA_PREFSRC, nl.RTA_VIA, nl.RTA_ENCAP)
_ROUTE_ATTRS = frozenset((nl.RTA_DST, nl.RTA_OIF, nl.RTA_GATEWAY, nl.RTA_PRIORITY, nl.RTA_MULTIPATH, nl.RTA_TABLE,
                          nl.RTA_NH_ID, nl.RTA_METRICS) + _FOREIGN_ATTRS)


def route_mtu(attrs: dict) -> int | None:
    """A route's own MTU (RTA_METRICS' RTAX_MTU), or None."""
    raw = attrs.get(nl.RTA_METRICS)
    if raw is None:
        return None
    value = nl.parse_attrs(raw, 0, len(raw)).get(nl.RTAX_MTU)
    return nl.as_u32(value) if value is not None else None


class RouteDump:
    """What one route dump (every family and table) holds for the model.

    `gateways`: ifindex -> {'gateway4', 'gateway6'} from the main table's
    default routes via a gateway (any protocol); `routes`: ifindex -> the
    managed routes leaving through it (normalized, proto named); `others`:
    ifindex -> [(Route, why)] for the routes through it that netsafe never
    changes but a change of the device would make the kernel drop (another
    protocol, multipath, a nexthop object, a source address...);
    `defaults`: ifindex -> [(version, metric, gateway)] of every main-table
    default route via a gateway, whatever its metric or protocol (what a
    probe of "the default gateways" must reach: dhclient's metric 100 too);
    `default_mtus`: ifindex -> {gateway: MTU} of those whose route in use
    (the lowest metric: a backup route's MTU is not the one packets get) has
    an MTU of its own (jumbo on the LAN, `default via GW mtu 1500` toward
    the router).
    """

    def __init__(self):
        self.defaults: dict = {}
        self._default_mtus: dict = {}   # (ifindex, gateway) -> (metric, MTU or None) of the lowest metric
        self.gateways: dict = {}
        self.routes: dict = {}
        self.others: dict = {}

    @property
    def default_mtus(self) -> dict:
        found: dict = {}
        for (index, via), (_metric, mtu) in self._default_mtus.items():
            if mtu:
                found.setdefault(index, {})[via] = mtu
        return found

    def add(self, body, header_size: int) -> None:
        """Sort one RTM_NEWROUTE message into the three maps."""
        family, dst_len, src_len, tos, table, proto, _scope, rtype, flags = nl.RTMSG.unpack_from(body)
        version = _FAMILIES.get(family)
        if version is None or table == RT_TABLE_LOCAL or rtype != nl.RTN_UNICAST or (proto == nl.RTPROT_KERNEL
                                                                                     and dst_len):
            # Other families, the local table, blackholes, connected prefixes: no device's to lose. A default
            # route of proto kernel is read on: ifupdown2 makes the `gateway` of a stanza so (a gateway4/6).
            return
        attrs = nl.parse_attrs(body, header_size, len(body), _ROUTE_ATTRS)
        if nl.RTA_TABLE in attrs:
            table = nl.as_u32(attrs[nl.RTA_TABLE])
        if table == RT_TABLE_LOCAL:
            return
        raw_dst = attrs.get(nl.RTA_DST)
        address = ipaddress.ip_address(bytes(raw_dst)) if raw_dst else _ANY[version]
        dst = f"{address}/{dst_len}"
        raw_gw = attrs.get(nl.RTA_GATEWAY)
        via = str(ipaddress.ip_address(bytes(raw_gw))) if raw_gw else None
        metric = nl.as_u32(attrs[nl.RTA_PRIORITY]) if nl.RTA_PRIORITY in attrs else 0
        route = Route(dst=dst, via=via, table=table, metric=metric, onlink=bool(flags & nl.RTNH_F_ONLINK),
                      proto=PROTOCOL_NAMES.get(proto, PROTOCOL_WORDS.get(proto, str(proto))))
        if nl.RTA_OIF not in attrs:
            if nl.RTA_MULTIPATH in attrs:
                for index in sorted(set(_nexthop_devices(attrs[nl.RTA_MULTIPATH]))):
                    self.others.setdefault(index, []).append((route, "a multipath route"))
            return
        oif = nl.as_u32(attrs[nl.RTA_OIF])
        if table == RT_TABLE_MAIN and dst_len == 0 and via is not None:
            self.defaults.setdefault(oif, []).append((version, metric, via))
            seen = self._default_mtus.get((oif, via))
            if seen is None or metric < seen[0]:
                self._default_mtus[(oif, via)] = (metric, route_mtu(attrs))
        if table == RT_TABLE_MAIN and dst_len == 0 and via is not None and (
                metric == DEFAULT_METRIC[version] or proto == nl.RTPROT_KERNEL):
            # ifupdown2 makes a stanza's `gateway` (with its `metric`, if any) proto kernel: a gateway4/6.
            self.gateways.setdefault(oif, {}).setdefault(f"gateway{version}", via)
            return
        why = None
        if nl.RTA_NH_ID in attrs:
            why = "a route through a nexthop object"
        elif not managed_protocol(proto):
            why = f"proto {route.proto}"
        elif nl.RTA_PREFSRC in attrs and not (src_len or tos or nl.RTA_VIA in attrs or nl.RTA_ENCAP in attrs):
            src = str(ipaddress.ip_address(bytes(attrs[nl.RTA_PREFSRC])))
            route = SourcedRoute(**route.__dict__, src=src)
            why = f"a route with source address {src}"
        elif src_len or tos or any(kind in attrs for kind in _FOREIGN_ATTRS):
            why = "a route with a source address, type of service or encapsulation"
        if why is None:
            self.routes.setdefault(oif, []).append(route)
        else:
            self.others.setdefault(oif, []).append((route, why))


def _nexthop_devices(raw) -> list:
    """The ifindexes of RTA_MULTIPATH's nexthops."""
    found, offset = [], 0
    while offset + nl.RTNH.size <= len(raw):
        length, _flags, _hops, index = nl.RTNH.unpack_from(raw, offset)
        if length < nl.RTNH.size:
            break
        found.append(index)
        offset += (length + 3) & ~3
    return found


def route_message(route: Route, index: int, delete: bool = False) -> bytes:
    """The rtmsg and attributes of RTM_NEWROUTE/RTM_DELROUTE for `route` (normalized) through ifindex `index`.

    What iproute2 sends for the same `ip route` words: a table above 255 only
    in RTA_TABLE (rtm_table RT_TABLE_UNSPEC), an IPv4 route without a gateway
    in scope link, a delete in scope nowhere (any scope matches); the
    protocol of a delete is matched by the kernel, so it names the route.
    """
    net = ipaddress.ip_network(route.dst)
    family = socket.AF_INET if net.version == 4 else socket.AF_INET6
    proto = PROTOCOLS.get(route.proto or ("" if delete else DEFAULT_PROTOCOL), 0)
    if delete:
        scope = nl.RT_SCOPE_NOWHERE
    else:
        scope = nl.RT_SCOPE_LINK if net.version == 4 and route.via is None else nl.RT_SCOPE_UNIVERSE
    table = route.table if route.table is not None else RT_TABLE_MAIN
    header = nl.RTMSG.pack(family, net.prefixlen, 0, 0, table if table < 256 else nl.RT_TABLE_UNSPEC, proto, scope,
                           nl.RTN_UNICAST, nl.RTNH_F_ONLINK if route.onlink else 0)
    attrs = nl.attr_u32(nl.RTA_TABLE, table)
    if net.prefixlen:
        attrs += nl.attr(nl.RTA_DST, net.network_address.packed)
    if route.via is not None:
        attrs += nl.attr(nl.RTA_GATEWAY, ipaddress.ip_address(route.via).packed)
    attrs += nl.attr_u32(nl.RTA_OIF, index)
    if route.metric is not None:
        attrs += nl.attr_u32(nl.RTA_PRIORITY, route.metric)
    return header + attrs


# -- what the kernel does to a device's routes (pinned in tests/kernel/test_routes_kernel.py) --------------------

def dropped_by(device_up_before: bool, device_up_after: bool, lost_ipv4: bool, routes) -> list:
    """The routes of a device (managed or not) the kernel deletes by itself after a change of that device.

    Both families: all of them when the device goes admin down (or is
    deleted). IPv4: all of them when its last IPv4 address goes, whatever
    their table and also onlink ones; removing an address whose subnet holds
    a gateway while another IPv4 address stays deletes nothing (the route is
    left with an unreachable gateway). IPv6: removing addresses deletes none.
    Enslaving into a bridge, and losing the carrier, delete none (a bond
    refuses an up device: its slave goes down first, which deletes them).
    """
    if device_up_before and not device_up_after:
        return list(routes)
    if lost_ipv4:
        return [route for route in routes if route.family == 4]
    return []


def has_ipv4(addresses) -> bool:
    """Whether a device's addresses ('ip/prefix') include an IPv4 one."""
    return any(":" not in address for address in addresses or [])


def reachable(route: Route, addresses) -> bool:
    """Whether the kernel can reach `route`'s gateway through a device with `addresses`: inside one of them, or
    onlink; a route without a gateway always."""
    if route.via is None or route.onlink:
        return True
    return gateway_on_link(ipaddress.ip_address(route.via), addresses)


def gateway_on_link(gateway, addresses) -> bool:
    """Whether a device with `addresses` reaches `gateway` without onlink: inside one of its subnets, or an IPv6
    link-local router (fe80::1, as Hetzner's Proxmox hosts give it), which every up IPv6 device reaches through
    its own fe80::/64 (the kernel's link-local address is not in `addresses`)."""
    if gateway.version == 6 and gateway.is_link_local:
        return True
    return any(gateway in ipaddress.ip_interface(a).network for a in addresses or []
               if ipaddress.ip_interface(a).version == gateway.version)
