# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""A NetworkManager profile's static routes: `routeN=dst,gateway,metric` and `routeN_options=` in [ipv4]/[ipv6].

Written as NetworkManager 1.42's own writer does (nm-keyfile.c): a gateway
always (0.0.0.0 or :: for none), the metric always (netsafe's: the kernel's
exact number, never NetworkManager's per-type default), options sorted by
name (`onlink=true,table=100`). A route whose line does not change keeps its
number; a new one takes the lowest number free. Read back as NetworkManager
applies it: a metric left out is the profile's `route-metric`, else
NetworkManager's default for the device type; a table left out is the
profile's `route-table`, else main. NetworkManager 1.42 has no option for
the route protocol (`protocol=` is dropped without a word, checked with
`nmcli --offline`) and gives every route of a profile protocol static
(RTPROT_STATIC): a route the kernel holds as `proto boot` is written as
static, the one allowed difference (docs/net_persist_networkmanager.md).
An option NetworkManager has that the model cannot hold (`src=`, `mtu=`,
`type=`...) makes the profile unreadable for netsafe: it would write the
route again without it.
"""
from __future__ import annotations

import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import RT_TABLE_MAIN, Route

_ROUTE_KEY = re.compile(r"^routes?([0-9]*)$")   # ASCII digits, as NetworkManager reads them
NM_PROTOCOL = "static"
# NetworkManager 1.42's route metric for a device type when the profile sets no route-metric
# (nm_device_get_route_metric_default): the metric a route without one gets.
NM_TYPE_METRIC = {"nic": 100, "bond": 300, "vlan": 400, "bridge": 425}
_ZERO = {4: "0.0.0.0", 6: "::"}


def as_written(dev):
    """`dev` as a profile can say it: every route protocol static (NetworkManager writes none)."""
    if not dev.ip.routes:
        return dev
    out = dev.clone()
    for route in out.ip.routes:
        route.proto = NM_PROTOCOL if route.proto is not None else None
    return out


def _route_keys(kf, section: str) -> list:
    """(number or None, key) of the section's route keys in NetworkManager's order (None: `route`/`routes`)."""
    found = []
    for key in kf.keys(section):
        match = _ROUTE_KEY.match(key)
        if match and key not in (k for _n, k in found):
            found.append((int(match.group(1)) if match.group(1) else None, key))
    return sorted(found, key=lambda item: (-1 if item[0] is None else item[0], item[1]))


def _section_number(kf, section: str, key: str, where: str, default: int) -> int:
    raw = kf.get(section, key)
    if raw is None or raw.strip() in ("", "-1"):
        return default
    number = ascii_int(raw.strip())
    if number is None:
        raise ValidationError([f"{where} {key}={raw!r} is not a whole number (ASCII digits)"])
    return number


def profile_routes(profile, section: str, family: int) -> list:
    """The routes of one [ipv4]/[ipv6] section, normalized; ValidationError naming the key it cannot read."""
    kf, where = profile.kf, f"{profile.path}: [{section}]"
    metric = _section_number(kf, section, "route-metric", where, NM_TYPE_METRIC.get(profile.kind, 100))
    table = _section_number(kf, section, "route-table", where, 0) or RT_TABLE_MAIN
    routes, seen = [], {}
    for _number, key in _route_keys(kf, section):
        options = _options(kf.get(section, f"{key}_options"), f"{where} {key}_options")
        for item in (i.strip() for i in (kf.get(section, key) or "").split(";") if i.strip()):
            parts = [p.strip() for p in item.split(",")]
            if len(parts) > 3:
                raise ValidationError([f"{where} {key}={item!r} is not dst/prefix,gateway,metric"])
            via = parts[1] if len(parts) > 1 and parts[1] not in ("", _ZERO[family]) else None
            number = ascii_int(parts[2]) if len(parts) > 2 and parts[2] else metric
            if number is None:
                raise ValidationError([f"{where} {key}={item!r}: the metric is not a number (ASCII digits)"])
            route = Route(dst=parts[0], via=via, table=options.get("table", table), metric=number,
                          onlink=options.get("onlink", False), proto=NM_PROTOCOL)
            problems = route.problems(f"{where} {key}")
            if problems:
                raise ValidationError(problems)
            route = route.normalized()
            if route.family != family:
                raise ValidationError([f"{where} {key}={item!r} is not an IPv{family} route"])
            if route.is_gateway():
                raise ValidationError([f"{where} {key}={item!r} is a default route in the main table at the default "
                                       f"metric: netsafe keeps that as the profile's gateway (address1=...,GATEWAY or "
                                       f"gateway=)"])
            if route.key() in seen:   # as ifupdown2 and networkd refuse: the kernel holds one of them
                raise ValidationError([f"{where} {key}={item!r} has the destination, table and metric of "
                                       f"{seen[route.key()]}; the kernel holds one route of each, so the profile "
                                       f"cannot mean both"])
            seen[route.key()] = key
            routes.append(route)
    return routes


def _options(raw, where: str) -> dict:
    """`table=100,onlink=true` as {"table": 100, "onlink": True}; any other option refused, naming it."""
    out = {}
    for item in (i.strip() for i in (raw or "").split(",") if i.strip()):
        name, _sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if name == "table" and ascii_int(value) is not None:
            out["table"] = ascii_int(value)
        elif name == "onlink" and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            out["onlink"] = value.lower() in ("true", "1", "yes")
        else:
            raise ValidationError([f"{where}: {item!r}: netsafe reads only table=N and onlink=true|false in route "
                                   f"options; it would write the route again without the others"])
    return out


def _texts(route, table: int) -> tuple:
    """(value, options or None) of a route's keys, as NetworkManager writes them."""
    value = f"{route.dst},{route.via or _ZERO[route.family]},{route.metric}"
    options = (["onlink=true"] if route.onlink else []) + ([f"table={route.table}"] if route.table != table else [])
    return value, ",".join(options) or None


def fill_routes(kf, section: str, routes: list) -> None:
    """Make the section's route keys say `routes` (normalized, one family); an unchanged route keeps its key."""
    table = _section_number(kf, section, "route-table", f"[{section}]", 0) or RT_TABLE_MAIN
    wanted = [_texts(route, table) for route in routes]
    kept, todo = {}, list(wanted)
    for number, key in _route_keys(kf, section):
        current = (kf.get(section, key), kf.get(section, f"{key}_options"))
        if number is not None and current in todo:
            todo.remove(current)
            kept[number] = current
            continue
        kf.remove(section, key)
        kf.remove(section, f"{key}_options")
    number = 0
    for value, options in todo:
        number += 1
        while number in kept:
            number += 1
        kf.set(section, f"route{number}", value)
        if options:
            kf.set(section, f"route{number}_options", options)
