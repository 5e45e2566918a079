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
from dataclasses import dataclass

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
            metric=DEFAULT_METRIC[net.version] if self.metric is None else self.metric,
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


def table_number(table):
    """A routing table as its number (None: main), or None when it is not one netsafe can manage."""
    if table is None:
        return RT_TABLE_MAIN
    if isinstance(table, str):
        text = table.strip()
        if text in TABLE_NAMES:
            return TABLE_NAMES[text]
        if not text.isdigit():
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
        if key in seen:
            found.append(f"{label}: {route.dst} in table {key[1]} with metric {key[3]} is already {where}[{seen[key]}]; "
                         f"the kernel holds one route per destination, table and metric")
        seen.setdefault(key, position)
    return found


def managed_protocol(proto: int) -> bool:
    """Whether a route of kernel protocol number `proto` is one netsafe manages (boot or static)."""
    return proto in PROTOCOL_NAMES
