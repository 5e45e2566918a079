# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""A device's static routes in its stanzas: `post-up ip route add` lines, as Proxmox VE's documentation writes them.

Read: every `up`/`post-up` line running `ip [-4|-6] route add|replace` in a
stanza of the device is one of its routes (ifupdown2 runs them once the
device has its addresses). A word such a line has that the model cannot hold
(`src`, `mtu`, `vrf`, a route type like `unreachable`, a named table, a
shell `|| true`...) makes the device unreadable, with a Problem naming the
line: netsafe would otherwise write the route again without it. Every other
command line (`route add -net`, `ip route del` in post-up, `iptables`...) is
the operator's and stays as it is.

Written: one `post-up ip route add DST [via GW] dev DEV [table N] [metric M]
[onlink] [proto static]` line per route with its `pre-down ip route del DST
dev DEV [table N] [metric M]` (the route's identity: it goes whatever its
gateway became). A re-run (`ifreload -a`, a second `ifup`) of an `add` whose
route exists fails with "File exists", which ifupdown2 3.0 ignores without a
word (checked: tests/persist/test_ifupdown2_real.py), so `add` is kept, as
the Proxmox VE documentation writes it. Without `proto`, iproute2 gives the
route protocol boot: the parser reads that, so a route saved as the kernel
holds it reads back the same.
"""
from __future__ import annotations

import ipaddress

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import (
    DEFAULT_METRIC, MAX_METRIC, MAX_TABLE, PROTOCOLS, Route, table_number,
)

ROUTE_KEY = "#route"           # an up/post-up `ip route add|replace` line
ROUTE_DEL_KEY = "#route-del"   # a pre-down/down `ip route del` line of one plain route (as written here)
ROUTE_KEYS = (ROUTE_KEY, ROUTE_DEL_KEY)
BOOT = "boot"                  # what a bare `ip route add` gives (RTPROT_BOOT)
_IP = ("ip", "/sbin/ip", "/bin/ip", "/usr/sbin/ip", "/usr/bin/ip")
_ROUTE_WORDS = ("r", "ro", "rou", "rout", "route")
_FAMILIES = {"-4": 4, "-6": 6}
_METRIC_WORDS = ("metric", "priority", "preference")
_VALUED = ("to", "via", "dev", "oif", "table", "tab", "proto", "protocol") + _METRIC_WORDS
_TYPES = ("unreachable", "blackhole", "prohibit", "local", "broadcast", "throw", "nat", "anycast", "multicast")


def _command(value: str):
    """(family or None, verb, argument words, an ip option not read) of `ip ... route VERB ...`; None for any other command."""
    words = value.split()
    if not words or words[0] not in _IP:
        return None
    family, odd, rest = None, None, words[1:]
    while rest and rest[0].startswith("-"):
        if rest[0] in _FAMILIES:
            family = _FAMILIES[rest[0]]
        else:
            odd = odd or rest[0]   # `ip -n ns route ...`, `ip -b`: read as a route line, refused below
        rest = rest[1:]
    while odd and rest and rest[0] not in _ROUTE_WORDS:
        rest = rest[1:]            # the odd option's own argument
    if len(rest) < 2 or rest[0] not in _ROUTE_WORDS:
        return None
    return family, rest[1], rest[2:], odd


def route_key(key: str, value: str):
    """The pseudo key of a route line (ROUTE_KEY, ROUTE_DEL_KEY), or None for any other line."""
    found = _command(value)
    if found is None:
        return None
    family, verb, words, odd = found
    if key in ("up", "post-up") and verb in ("add", "replace", "append", "change", "prepend"):
        return ROUTE_KEY
    if key in ("pre-down", "down") and verb in ("del", "delete") and odd is None:
        try:
            parse_words(family, words, None)
        except ValueError:
            return None   # not one plain route: the operator's line, kept as it is
        return ROUTE_DEL_KEY
    return None


def _destination(dst, word: str) -> str:
    if dst is not None:
        odd = word if dst == "default" or _is_address(dst.split("/")[0]) else dst
        raise ValueError(f"{odd!r} is not a word netsafe reads in a route (via, dev, table, metric, onlink, proto)")
    return word


def parse_words(family, words, device) -> Route:
    """The normalized route `ip route add` makes of `words` through `device` (None: any); ValueError says why not."""
    dst = via = table = metric = proto = None
    onlink = False
    if words and words[0] in _TYPES:
        raise ValueError(f"a {words[0]} route is not a unicast route; netsafe manages unicast routes only")
    args = list(words[1:] if words and words[0] == "unicast" else words)
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if word == "onlink":
            onlink = True
            continue
        if word not in _VALUED:
            dst = _destination(dst, word)
            continue
        if index >= len(args):
            raise ValueError(f"{word!r} has no value")
        value = args[index]
        index += 1
        if word == "via" and value in ("inet", "inet6") and index < len(args):
            value = args[index]
            index += 1
        if word == "to":
            dst = _destination(dst, value)
        elif word == "via":
            via = value
        elif word in ("dev", "oif"):
            if device is not None and value != device:
                raise ValueError(f"the route leaves through {value}, not {device}; write it in {value}'s stanza")
        elif word in ("table", "tab"):
            table = table_number(value)
            if table is None:
                raise ValueError(f"table {value!r} is not one netsafe writes (a number 1-{MAX_TABLE} but 255, "
                                 f"main or default)")
        elif word in _METRIC_WORDS:
            if not value.isascii() or not value.isdigit() or int(value) > MAX_METRIC:
                raise ValueError(f"{word} {value!r} is not a number 0-{MAX_METRIC}")
            metric = int(value)
        elif value not in PROTOCOLS:
            raise ValueError(f"proto {value!r} is not one netsafe manages ({', '.join(PROTOCOLS)})")
        else:
            proto = value
    if dst is None:
        raise ValueError("the destination is missing")
    if dst == "default":
        version = family or (ipaddress.ip_address(via).version if via and _is_address(via) else 4)
        dst = "0.0.0.0/0" if version == 4 else "::/0"
    route = Route(dst=dst, via=via, table=table, metric=metric, onlink=onlink, proto=proto or BOOT)
    problems = route.problems("route")
    if problems:
        raise ValueError("; ".join(p.split(": ", 1)[1] for p in problems))
    route = route.normalized()
    if family is not None and route.family != family:
        raise ValueError(f"`ip -{family}` but {route.dst} is IPv{route.family}")
    if route.is_gateway():
        raise ValueError("the main table's default route via a gateway at the default metric is the device's "
                         "gateway; write it as `gateway` instead")
    return route


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def stanza_routes(host, name: str) -> list:
    """The routes the `up`/`post-up` route lines of `name`'s stanzas make; ValidationError naming a line it cannot read."""
    routes, seen = [], {}
    for st, opt in host.values(name, ROUTE_KEY):
        family, verb, words, odd = _command(opt.value)
        try:
            if odd is not None:
                raise ValueError(f"ip option {odd} is not one netsafe reads (-4, -6)")
            if verb not in ("add", "replace"):
                raise ValueError(f"`ip route {verb}`: only add and replace lines are read")
            route = parse_words(family, words, name)
        except ValueError as exc:
            line = " ".join(opt.line.text.split())
            raise ValidationError([f"{st.where(opt)}: '{line}' of {name}: {exc}; net_persist does not write a route "
                                   f"it cannot read (make it `{line.split()[0]} ip route add DST via GW [table N] "
                                   f"[metric M] [onlink]`, or leave {name} out of devices)"]) from None
        if route.key() in seen:
            first, where = seen[route.key()]
            if first == route:
                continue   # the same line again: the kernel keeps the one route ("File exists", ignored)
            raise ValidationError([f"{st.where(opt)}: {name} has another route to {route.dst} in table {route.table} "
                                   f"with metric {route.metric} at {where}; the kernel holds one route per "
                                   f"destination, table and metric"])
        seen[route.key()] = (route, st.where(opt))
        routes.append(route)
    return routes


def route_lines(dev) -> list:
    """The post-up/pre-down lines of every route of `dev` (routes not None)."""
    lines = []
    for route in dev.ip.routes:
        written = Route(dst=route.dst, via=route.via, table=route.table,
                        metric=None if route.metric == DEFAULT_METRIC[route.family] else route.metric,
                        onlink=route.onlink, proto=None if route.proto in (None, BOOT) else route.proto)
        lines.append(f"post-up ip route add {' '.join(written.words(dev.name))}")
        lines.append(f"pre-down ip route del {' '.join(written.words(dev.name, with_via=False))}")
    return lines
