# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""systemd-networkd: one .netdev (bridge, bond, VLAN) and one .network per device.

Our files are named 10-netsafe-<ifname>.netdev / .network in the directory
we are given (/etc/systemd/network). networkd applies, to each link, the
first .network in lexical order of the file name whose [Match] matches, and
creates each .netdev name once (the first file wins). The parser follows the
same rules, so what it reports is what networkd would do with the directory:

- a device is described by a .netdev's Name= and by a .network whose [Match]
  holds only Name= (exact names; globs and "!" lists take part in the
  precedence); a .network that matches on anything else (MACAddress=, Type=,
  Driver=...) cannot be evaluated here and is left out of both;
- a file that is not ours is never edited or deleted. Writing a device whose
  effective file is not ours puts our file in front of it (ours sorts first);
  when a file that is not ours sorts before ours and matches the device, or
  still describes a device to remove, the render is refused with its name.

Settings that live in another device's file: a VLAN's parent is the device
whose .network lists it (VLAN=), a bond's primary is the port whose .network
says PrimarySlave=yes, and a vlan-aware bridge's DefaultPVID decides whether
its ports start with VLAN 1. Rendering a device updates those lines too.

Only this directory is read: networkd also reads /run/systemd/network and
/usr/lib/systemd/network (and drop-in directories); see docs/net_persist_networkd.md.
"""
from __future__ import annotations

import copy
import fnmatch
import ipaddress
import os
import re
from fractions import Fraction

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import (
    parse_ranges, ranges_of, vids_of,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import (
    DEFAULT_METRIC, RT_TABLE_MAIN, Route,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_ENUMS, BOND_MODES, Bond, Bridge, HostNetwork, IpConfig, Nic, Vlan, normalize_address, route_order,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.vlans import add_vids, flags_by_vid, from_flags
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import PersistFormat, Problem, refuse
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan_files import refuse_netplan_owned
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import (
    BRIDGE_OPTIONS, PORT_OPTIONS, is_flag, is_seconds, out_of_range, port_values, unsaid, zero_problem, zero_read,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import (
    BOND_DEFAULTS, DEFAULT_VLAN_PROTOCOL, VLAN_PROTOCOLS, description, options_in_mode, vlan_protocol,
)

OUR_PREFIX = "10-netsafe-"
HEADER = ("# Written by netsafe.hypervisor (net_persist, format networkd). The whole file is rewritten\n"
          "# when {name} changes; settings added by hand here are lost then.\n")
NETDEV_KINDS = ("bridge", "bond", "vlan")
ACTIVATION_UP = {"up": True, "always-up": True, "down": False, "always-down": False, "manual": None, "bound": None}
# networkd 252's own names (src/shared/bond-util.c): no vlan+srcmac yet.
BOND_ENUM_KEYS = {
    "Mode": ("mode", BOND_MODES),
    "TransmitHashPolicy": ("xmit_hash_policy", tuple(p for p in BOND_ENUMS["xmit_hash_policy"] if p != "vlan+srcmac")),
    "LACPTransmitRate": ("lacp_rate", BOND_ENUMS["lacp_rate"]),
    "AdSelect": ("ad_select", BOND_ENUMS["ad_select"]),
}
BOND_TIME_KEYS = {"MIIMonitorSec": "miimon", "UpDelaySec": "updelay", "DownDelaySec": "downdelay",
                  "ARPIntervalSec": "arp_interval"}
BOND_KEYS = tuple(v[0] for v in BOND_ENUM_KEYS.values()) + tuple(BOND_TIME_KEYS.values()) + ("arp_ip_target", "min_links")
# A bridge's options ([Bridge] of its .netdev) and a bridge port's attributes ([Bridge] of the port's .network),
# systemd.netdev(5) and systemd.network(5): model attribute -> networkd's key (_persist/options.py). Seconds are a
# time span, a flag yes/no. networkd sends Priority=, HelloTimeSec=, MaxAgeSec= of a bridge and a port's Cost= only
# when above 0 (netdev/bridge.c): 0 there is unset (ZERO_IS_UNSET).
NETWORKD_WORDS = {
    "ageing_time": "AgeingTimeSec",
    "mcast_snooping": "MulticastSnooping",
    "hello_time": "HelloTimeSec",
    "max_age": "MaxAgeSec",
    "priority": "Priority",
    "port_cost": "Cost",
    "port_priority": "Priority",
}
ZERO_IS_UNSET = ("priority", "hello_time", "max_age", "port_cost")
_NETDEV_OPTIONS = {NETWORKD_WORDS[a.name]: a for a in BRIDGE_OPTIONS if a.name in NETWORKD_WORDS}
_PORT_OPTIONS = {NETWORKD_WORDS[a.name]: a for a in PORT_OPTIONS if a.name in NETWORKD_WORDS}
_TRUE = ("1", "yes", "y", "true", "t", "on")
_FALSE = ("0", "no", "n", "false", "f", "off")
_USEC = {"": 1000000, "us": 1, "usec": 1, "\u00b5s": 1, "ms": 1000, "msec": 1000,
         "s": 1000000, "sec": 1000000, "second": 1000000, "seconds": 1000000,
         "m": 60000000, "min": 60000000, "minute": 60000000, "minutes": 60000000,
         "h": 3600000000, "hr": 3600000000, "hour": 3600000000, "hours": 3600000000}
# Secret settings: [WireGuard] PrivateKey=, [WireGuardPeer] PresharedKey=, the Key= of a MACsec association
# (systemd.netdev(5)); the *File= variants only name a file.
_SECRET_KEYS = ("PrivateKey", "PresharedKey")
# systemd reads numbers in ASCII digits only ([0-9]: \d would take other scripts' digits too).
_TIME_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z\u00b5]*)")


# -- systemd's unit-file syntax -------------------------------------------------------------

class _Bad(ValueError):
    """A value networkd would not take; the caller adds file, line and key."""


def _entries(path: str, text: str) -> list:
    """[(line, section index, section, key, value)]: comments, blank lines and continuations handled."""
    out, section, index, pending, start = [], None, -1, "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending, start = pending + line[:-1] + " ", start or number
            continue
        line, number, pending, start = pending + line, start or number, "", 0
        if line.startswith("["):
            if not line.endswith("]"):
                raise ValidationError([f"{path}:{number}: {line!r} is not a [Section] header"])
            section, index = line[1:-1], index + 1
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValidationError([f"{path}:{number}: {line!r} is not Key=value"])
        if section is None:
            raise ValidationError([f"{path}:{number}: {key.strip()}= comes before any [Section]"])
        out.append((number, index, section, key.strip(), value.strip()))
    return out


def _bool(value: str) -> bool:
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise _Bad("not a boolean (yes/no)")


def time_span_usec(value: str) -> int:
    """A systemd time span (a bare number is seconds; '2.5s', '2500ms', '1min 30s') in microseconds."""
    text, pos, total = value.strip().lower(), 0, Fraction(0)
    if not text:
        raise _Bad("empty time span")
    while pos < len(text):
        match = _TIME_PART.match(text, pos)
        if not match or match.end() == pos or match.group(2) not in _USEC:
            raise _Bad("not a time span like 15s, 2500ms or 2.5s (ASCII digits)")
        total += Fraction(match.group(1)) * _USEC[match.group(2)]
        pos = match.end()
    return int(total)


def _size(value: str) -> int:
    match = re.fullmatch(r"([0-9]+)\s*([KMG]?)", value.strip(), re.I)
    if not match:
        raise _Bad("not a byte count like 9000 or 1K (ASCII digits)")
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[match.group(2).upper()]


def _vid(value: str) -> int:
    vid = ascii_int(value)
    if vid is None or not 1 <= vid <= 4094:
        raise _Bad("not a VLAN id 1-4094 (ASCII digits)")
    return vid


def _ip(value: str, version: int | None = None) -> str:
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        raise _Bad("not an IP address") from None
    if version and addr.version != version:
        raise _Bad(f"not an IPv{version} address")
    return str(addr)


def _option(attr, value: str):
    """A bridge option's or port attribute's value (NETWORKD_WORDS) as the model's, in the kernel's range."""
    if is_flag(attr):
        return _bool(value)
    if is_seconds(attr):
        number = Fraction(time_span_usec(value), 1000000)
        number = int(number) if number.denominator == 1 else float(number)
    else:
        number = ascii_int(value)
        if number is None:
            raise _Bad("not a number (ASCII digits)")
    if zero_read(attr, number, ZERO_IS_UNSET) != number:
        return None   # networkd sends nothing: the kernel's default
    problem = out_of_range(attr, number)
    if problem:
        raise _Bad(f"{problem}; the kernel refuses it")
    return float(number) if is_seconds(attr) else number


def _option_text(attr, value) -> str:
    if is_flag(attr):
        return "yes" if value else "no"
    if is_seconds(attr):
        return _seconds_text(int(round(value * 1000000)))
    return str(value)


def _seconds_text(usec: int) -> str:
    return f"{usec // 1000000}s" if usec % 1000000 == 0 else f"{usec // 1000}ms" if usec % 1000 == 0 else f"{usec}us"


# -- one file: its spec (what it says that we understand) --------------------------------------

def _netdev_spec(path: str, text: str) -> dict:
    spec = {"name": None, "kind": None, "mtu": None, "stp": None, "forward_delay": None, "vlan_filtering": None,
            "default_pvid": None, "vlan_id": None, "protocol": None, "arp_ip_target": None}
    spec.update({key: None for key in BOND_KEYS})
    spec.update({attr.name: None for attr in _NETDEV_OPTIONS.values()})
    for number, _index, section, key, value in _entries(path, text):
        try:
            if section == "NetDev" and key == "Name":
                spec["name"] = value or None
            elif section == "NetDev" and key == "Kind":
                spec["kind"] = value or None
            elif section == "NetDev" and key == "MTUBytes":
                spec["mtu"] = _size(value) if value else None
            elif section == "Bridge" and key in ("STP", "VLANFiltering"):
                spec["stp" if key == "STP" else "vlan_filtering"] = _bool(value) if value else None
            elif section == "Bridge" and key == "ForwardDelaySec":
                spec["forward_delay"] = time_span_usec(value) if value else None
            elif section == "Bridge" and key in _NETDEV_OPTIONS:
                spec[_NETDEV_OPTIONS[key].name] = _option(_NETDEV_OPTIONS[key], value) if value else None
            elif section == "Bridge" and key == "DefaultPVID":
                spec["default_pvid"] = 0 if value == "none" else _vid(value) if value else None
            elif section == "Bond" and key in BOND_ENUM_KEYS:
                field_name, allowed = BOND_ENUM_KEYS[key]
                if value and value not in allowed:
                    raise _Bad(f"allowed {', '.join(allowed)}")
                spec[field_name] = value or None
            elif section == "Bond" and key in BOND_TIME_KEYS:
                spec[BOND_TIME_KEYS[key]] = time_span_usec(value) // 1000 if value else None
            elif section == "Bond" and key == "MinLinks":
                if value and ascii_int(value) is None:
                    raise _Bad("not a number (ASCII digits)")
                spec["min_links"] = ascii_int(value) if value else None
            elif section == "Bond" and key == "ARPIPTargets":
                targets = [] if not value else (spec["arp_ip_target"] or []) + [_ip(v, 4) for v in value.split()]
                spec["arp_ip_target"] = targets or None
            elif section == "VLAN" and key == "Id":
                spec["vlan_id"] = _vid(value)
            elif section == "VLAN" and key == "Protocol":
                spec["protocol"] = vlan_protocol(value)
                if spec["protocol"] is None:
                    raise _Bad(f"allowed {', '.join(p.lower() for p in VLAN_PROTOCOLS)}")
        except _Bad as exc:
            raise ValidationError([f"{path}:{number}: [{section}] {key}={value}: {exc}"]) from None
    if not spec["name"] or not spec["kind"]:
        raise ValidationError([f"{path}: a .netdev needs Name= and Kind= in [NetDev]"])
    return spec


def _network_spec(path: str, text: str) -> dict:
    spec = {"names": [], "other_match": [], "mtu": None, "policy": None, "bridge": None, "bond": None,
            "primary_slave": False, "vlan": [], "addresses": [], "gateways": [], "pvid": None, "vids": set(),
            "untagged": set()}
    spec.update({attr.name: None for attr in _PORT_OPTIONS.values()})
    routes: dict = {}
    for number, index, section, key, value in _entries(path, text):
        try:
            if section == "Match":
                if key == "Name":
                    spec["names"] = [] if not value else spec["names"] + value.split()
                elif key not in spec["other_match"]:
                    spec["other_match"].append(key)
            elif section == "Link" and key == "MTUBytes":
                spec["mtu"] = _size(value) if value else None
            elif section == "Link" and key == "ActivationPolicy":
                if value and value not in ACTIVATION_UP:
                    raise _Bad(f"allowed {', '.join(ACTIVATION_UP)}")
                spec["policy"] = value or None
            elif section == "Network" and key in ("Bridge", "Bond"):
                spec[key.lower()] = value or None
            elif section == "Bridge" and key in _PORT_OPTIONS:
                spec[_PORT_OPTIONS[key].name] = _option(_PORT_OPTIONS[key], value) if value else None
            elif section == "Network" and key == "PrimarySlave":
                spec["primary_slave"] = _bool(value)
            elif section == "Network" and key == "VLAN":
                spec["vlan"] = sorted(set(spec["vlan"] + value.split())) if value else []
            elif section in ("Network", "Address") and key == "Address":
                try:
                    spec["addresses"].append(normalize_address(value))
                except ValueError:
                    raise _Bad("not an address with prefix, like 192.0.2.10/24") from None
            elif section == "Network" and key == "Gateway":
                if not value.startswith("_"):   # _dhcp4, _ipv6ra: not a static gateway
                    spec["gateways"].append(_ip(value))
            elif section == "Route":
                routes.setdefault(index, {"line": number})[_route_key(key)] = value
            elif section == "BridgeVLAN" and key == "PVID":
                spec["pvid"] = _vid(value)
                spec["vids"].add(spec["pvid"])
            elif section == "BridgeVLAN" and key in ("VLAN", "EgressUntagged"):
                # networkd 252 reads one id or range per line.
                vids = set(vids_of(parse_ranges(value, f"{path}:{number}: [{section}] {key}", separators="",
                                                strict=True)))
                spec["vids"] |= vids
                if key == "EgressUntagged":
                    spec["untagged"] |= vids
        except _Bad as exc:
            raise ValidationError([f"{path}:{number}: [{section}] {key}={value}: {exc}"]) from None
    spec["routes"] = []
    for route in routes.values():
        _route_of(path, route, spec)
    spec["routes"].sort(key=route_order)
    return spec


# -- [Route] sections: the static routes of the device (the main table's default via a gateway is its gateway) --

# [Route] keys this format reads and writes (systemd.network(5), networkd 252); GatewayOnlink= is the older spelling.
ROUTE_KEYS = {"Destination": "dst", "Gateway": "via", "Table": "table", "Metric": "metric", "GatewayOnLink": "onlink",
              "GatewayOnlink": "onlink", "Protocol": "proto"}
NETWORKD_PROTOCOL = "static"   # what networkd gives a route without Protocol= (RTPROT_STATIC)


def _route_key(key: str) -> str:
    if key not in ROUTE_KEYS:
        raise _Bad(f"netsafe reads only {', '.join(k for k in ROUTE_KEYS if k != 'GatewayOnlink')} in [Route]; it "
                   f"would write this route again without {key}=")
    return ROUTE_KEYS[key]


def _route_of(path: str, found: dict, spec: dict) -> None:
    """One [Route] section into spec's gateways (the main table's default via a gateway) or routes."""
    where = f"{path}:{found['line']}: [Route]"
    via = found.get("via") or None
    if via is not None and via.startswith("_"):
        # _dhcp4, _ipv6ra: a gateway networkd learns. netsafe cannot hold such a route, and would drop the section
        # when it writes the file again: refused for the device, naming the line.
        raise ValidationError([f"{where} Gateway={via}: a route via the gateway networkd learns by DHCP or router "
                               f"advertisement is not a static route netsafe can keep; remove the section or "
                               f"manage this device's file yourself"])
    try:
        via = None if via is None else _ip(via)
        onlink = _bool(found["onlink"]) if found.get("onlink") else False
    except _Bad as exc:
        raise ValidationError([f"{where} Gateway={found.get('via')} / GatewayOnLink={found.get('onlink')}: {exc}"]) from None
    dst = found.get("dst") or ("::/0" if via and ":" in via else "0.0.0.0/0")
    metric = found.get("metric") or None
    if metric is not None and ascii_int(metric) is None:
        raise ValidationError([f"{where} Metric={metric}: not a number (ASCII digits)"])
    route = Route(dst=dst, via=via, table=found.get("table") or None, metric=None if metric is None else ascii_int(metric),
                  onlink=onlink, proto=found.get("proto") or NETWORKD_PROTOCOL)
    problems = route.problems(where)
    if problems:
        raise ValidationError(problems)
    route = route.normalized()
    if route.is_gateway():
        spec["gateways"].append(via)
        return
    if any(r.key() == route.key() for r in spec["routes"]):
        raise ValidationError([f"{where}: a second route to {route.dst} in table {route.table} with metric "
                               f"{route.metric}; the kernel holds one"])
    spec["routes"].append(route)


def _route_lines(route) -> list:
    lines = ["", "[Route]", f"Destination={route.dst}"]
    if route.via:
        lines.append(f"Gateway={route.via}")
    if route.table != RT_TABLE_MAIN:
        lines.append(f"Table={route.table}")
    if route.metric != DEFAULT_METRIC[route.family]:
        lines.append(f"Metric={route.metric}")
    if route.onlink:
        lines.append("GatewayOnLink=yes")
    if route.proto not in (None, NETWORKD_PROTOCOL):
        lines.append(f"Protocol={route.proto}")
    return lines


def _matches(spec: dict, name: str) -> bool:
    """networkd's Name= test: any pattern matches; a list starting with '!' is inverted."""
    patterns = spec["names"]
    if not patterns:
        return False    # networkd 252 ignores a .network without a usable [Match] ("add Name=*")
    invert = patterns[0].startswith("!")
    hit = any(fnmatch.fnmatchcase(name, p.lstrip("!")) for p in patterns)
    return hit != invert


def _exact_names(spec: dict) -> list:
    if not spec["names"] or spec["names"][0].startswith("!"):
        return []
    return [n for n in spec["names"] if not re.search(r"[*?\[]", n)]


def _render_netdev(spec: dict) -> str:
    lines = [HEADER.format(name=spec["name"]), "[NetDev]", f"Name={spec['name']}", f"Kind={spec['kind']}",
             "# The kernel's own MAC (a bridge follows its ports, a VLAN its parent), not one networkd makes up.",
             "MACAddress=none"]
    if spec["kind"] == "bridge":
        lines += ["", "[Bridge]", f"STP={'yes' if spec['stp'] else 'no'}"]
        if spec["forward_delay"] is not None:
            lines.append(f"ForwardDelaySec={_seconds_text(spec['forward_delay'])}")
        if spec["vlan_filtering"]:
            # Only when on: networkd sends the value as written, and a kernel without VLAN filtering refuses even 0
            # (then none of the [Bridge] settings are applied: "Bridge parameters could not be set").
            lines.append("VLANFiltering=yes")
        if spec["default_pvid"] is not None:
            lines.append("DefaultPVID=" + ("none" if spec["default_pvid"] == 0 else str(spec["default_pvid"])))
        lines += [f"{key}={_option_text(attr, spec[attr.name])}" for key, attr in _NETDEV_OPTIONS.items()
                  if spec[attr.name] is not None]
    elif spec["kind"] == "bond":
        lines += ["", "[Bond]"]
        for key, (field_name, _allowed) in BOND_ENUM_KEYS.items():
            if spec[field_name] is not None:
                lines.append(f"{key}={spec[field_name]}")
        for key, field_name in BOND_TIME_KEYS.items():
            if spec[field_name] is not None:
                lines.append(f"{key}={spec[field_name]}ms")
        if spec["arp_ip_target"]:
            lines.append("ARPIPTargets=" + " ".join(spec["arp_ip_target"]))
        if spec["min_links"] is not None:
            lines.append(f"MinLinks={spec['min_links']}")
    elif spec["kind"] == "vlan":
        lines += ["", "[VLAN]", f"Id={spec['vlan_id']}", f"Protocol={(spec['protocol'] or DEFAULT_VLAN_PROTOCOL).lower()}"]
    return "\n".join(lines) + "\n"


def _render_network(spec: dict) -> str:
    name = spec["names"][0]
    lines = [HEADER.format(name=name), "[Match]", f"Name={name}", "", "[Link]"]
    if spec["mtu"] is not None:
        lines.append(f"MTUBytes={spec['mtu']}")
    if spec["policy"] is not None:
        lines.append(f"ActivationPolicy={spec['policy']}")
    lines += ["", "[Network]",
              "# Addresses and routes stay while the carrier is away (a bridge whose ports are all down).",
              "ConfigureWithoutCarrier=yes",
              "# Only what is written here: no router advertisements (DHCP is off by default).",
              "IPv6AcceptRA=no"]
    for key in ("Bridge", "Bond"):
        if spec[key.lower()]:
            lines.append(f"{key}={spec[key.lower()]}")
    if spec["primary_slave"]:
        lines.append("PrimarySlave=yes")
    lines += [f"VLAN={v}" for v in spec["vlan"]]
    lines += [f"Address={a}" for a in spec["addresses"]]
    lines += [f"Gateway={g}" for g in spec["gateways"]]
    said = [f"{key}={_option_text(attr, spec[attr.name])}" for key, attr in _PORT_OPTIONS.items()
            if spec[attr.name] is not None]
    if said:
        lines += ["", "[Bridge]"] + said
    if spec["vids"]:
        lines += ["", "[BridgeVLAN]"]
        if spec["pvid"] is not None:
            lines.append(f"PVID={spec['pvid']}")
        for key, vids in (("EgressUntagged", spec["untagged"]), ("VLAN", spec["vids"] - spec["untagged"] - {spec["pvid"]})):
            lines += [f"{key}={a}" if a == b else f"{key}={a}-{b}" for a, b in ranges_of(vids)]
    for route in spec["routes"]:
        lines += _route_lines(route)
    return "\n".join(lines) + "\n"


# -- the directory as networkd sees it ------------------------------------------------------------

def _named_in(path: str, text: str) -> tuple:
    """(names, patterns) of the devices a file is about, read as loosely as can be: what its Problem concerns.

    A .netdev's Name=, a .network's [Match] Name= (globs as patterns); a file
    whose names cannot be told (no Name=, an inverted list, broken syntax)
    concerns every device: ((), ()).
    """
    try:
        entries = _entries(path, text)
    except ValidationError:
        return (), ()
    if path.endswith(".netdev"):
        return [v for _n, _i, section, key, v in entries if section == "NetDev" and key == "Name" and v], ()
    words: list = []
    for _n, _i, section, key, value in entries:
        if section == "Match" and key == "Name":
            words = words + value.split() if value else []
    if not words or words[0].startswith("!"):
        return (), ()
    globbed = [w for w in words if re.search(r"[*?\[]", w)]
    return [w for w in words if w not in globbed], [re.compile(fnmatch.translate(w)) for w in globbed]


class _Directory:
    """The parsed files: who describes which device, and the model they give.

    A file that cannot be read (a value networkd would not take, a number in
    anything but ASCII digits) is left out of the model and kept as a Problem
    of the devices it is about (`problems`): a save refuses it only when it
    concerns a device the save writes, and never rewrites it.
    """

    def __init__(self, files: dict):
        self.netdevs, self.networks, self.dropins, self.problems = {}, {}, [], []
        for path in sorted(files, key=os.path.basename):
            text = files[path]
            if os.path.basename(os.path.dirname(path)).endswith((".network.d", ".netdev.d")):
                self.dropins.append(path)
            elif path.endswith((".netdev", ".network")):
                try:
                    spec = (_netdev_spec if path.endswith(".netdev") else _network_spec)(path, text)
                except ValidationError as exc:
                    self.problems.append(Problem("; ".join(exc.problems), *_named_in(path, text)))
                    continue
                (self.netdevs if path.endswith(".netdev") else self.networks)[path] = spec
        for path in self.dropins:
            owner = os.path.basename(os.path.dirname(path))[:-2]
            if owner.startswith(OUR_PREFIX):
                raise ValidationError([f"{path}: a drop-in for our {owner} changes it behind our back; netsafe does not "
                                       f"merge drop-ins: move its settings elsewhere or remove it"])
        self.order = sorted(list(self.netdevs) + list(self.networks), key=os.path.basename)

    def netdev_files(self, name: str) -> list:
        return [p for p in sorted(self.netdevs, key=os.path.basename) if self.netdevs[p]["name"] == name]

    def network_files(self, name: str) -> list:
        """Evaluable .network files that match `name`, in networkd's order (the first one applies)."""
        return [p for p in sorted(self.networks, key=os.path.basename)
                if not self.networks[p]["other_match"] and _matches(self.networks[p], name)]

    def names(self) -> list:
        found = {s["name"] for s in self.netdevs.values() if s["kind"] in NETDEV_KINDS}
        for spec in self.networks.values():
            if not spec["other_match"]:
                found.update(_exact_names(spec))
        return sorted(found)

    def effective(self, name: str) -> tuple:
        """(netdev path or None, network path or None) networkd would use for `name`."""
        netdevs, networks = self.netdev_files(name), self.network_files(name)
        return (netdevs[0] if netdevs else None), (networks[0] if networks else None)

    def model(self) -> HostNetwork:
        host, effective = HostNetwork(), {name: self.effective(name) for name in self.names()}
        parents, primaries = {}, {}
        for name, (_nd, nw) in effective.items():
            if nw is None:
                continue
            spec = self.networks[nw]
            for child in spec["vlan"]:
                if child in parents and parents[child][0] != name:
                    raise ValidationError([f"{nw}: VLAN={child} is also listed by {parents[child][1]}; a VLAN has one parent"])
                parents[child] = (name, nw)
            if spec["bond"] and spec["primary_slave"]:
                if spec["bond"] in primaries:
                    raise ValidationError([f"{nw}: PrimarySlave=yes for {spec['bond']} is also set by {primaries[spec['bond']][1]}"])
                primaries[spec["bond"]] = (name, nw)
        for name, (nd, nw) in effective.items():
            dev = self._device(name, nd, nw, parents, primaries, effective)
            if dev is not None:
                host.add(dev)
        port_values(host)
        return host

    def _device(self, name, nd, nw, parents, primaries, effective):
        netdev = self.netdevs[nd] if nd else None
        network = self.networks[nw] if nw else None
        if netdev is not None and netdev["kind"] not in NETDEV_KINDS:
            return None   # a kind netsafe does not write (dummy, wireguard...): not ours to describe
        common = {"name": name, "mtu": None, "up": None, "master": None, "ip": IpConfig()}
        if network is not None:
            common["mtu"] = network["mtu"]
            common["up"] = True if network["policy"] is None else ACTIVATION_UP[network["policy"]]
            if network["bridge"] and network["bond"]:
                raise ValidationError([f"{nw}: Bridge= and Bond= together; a device has one master"])
            common["master"] = network["bridge"] or network["bond"]
            v4 = [g for g in network["gateways"] if ":" not in g]
            v6 = [g for g in network["gateways"] if ":" in g]
            for found in (v4, v6):
                if len(found) > 1:
                    raise ValidationError([f"{nw}: more than one default gateway of a family ({', '.join(found)}); "
                                           f"netsafe keeps one per family"])
            common["ip"] = IpConfig(addresses=list(network["addresses"]), gateway4=v4[0] if v4 else None,
                                    gateway6=v6[0] if v6 else None, routes=list(network["routes"])).normalized()
        if common["mtu"] is None and netdev is not None:
            common["mtu"] = netdev["mtu"]
        bridge = self._filtering_bridge(name, netdev, network, effective)
        if bridge is not None and network is not None:
            common["vlans"] = self._membership(network, bridge)
        elif bridge is not None:
            common["vlans"] = self._membership(None, bridge)
        kind = netdev["kind"] if netdev else None
        if network is not None:
            common.update({attr.name: network[attr.name] for attr in _PORT_OPTIONS.values()})
        if kind == "bridge":
            fd = netdev["forward_delay"]
            options = {a.name: a.default if netdev[a.name] is None else netdev[a.name] for a in _NETDEV_OPTIONS.values()}
            return Bridge(stp=bool(netdev["stp"]), forward_delay=15.0 if fd is None else fd / 1000000,
                          vlan_filtering=bool(netdev["vlan_filtering"]), **options, **common)
        if kind == "bond":
            values = {key: (netdev[key] if netdev[key] is not None else copy.deepcopy(BOND_DEFAULTS[key])) for key in BOND_KEYS}
            values["primary"] = primaries[name][0] if name in primaries else None
            return Bond(**options_in_mode(Bond(name=name, **values)), **common)
        if kind == "vlan":
            return Vlan(parent=parents[name][0] if name in parents else None, vlan_id=netdev["vlan_id"],
                        protocol=netdev["protocol"] or DEFAULT_VLAN_PROTOCOL, **common)
        if network is None:
            return None
        return Nic(**common)

    def _filtering_bridge(self, name, netdev, network, effective):
        """The vlan-aware bridge whose VLAN table holds `name` (itself or its master), as its .netdev spec."""
        if netdev is not None and netdev["kind"] == "bridge" and netdev["vlan_filtering"]:
            return netdev
        master = network["bridge"] if network else None
        if master and master in effective and effective[master][0]:
            spec = self.netdevs[effective[master][0]]
            if spec["kind"] == "bridge" and spec["vlan_filtering"]:
                return spec
        return None

    @staticmethod
    def _membership(network, bridge) -> dict:
        """What the kernel's VLAN table holds after networkd: the bridge's default PVID, then [BridgeVLAN] on top."""
        default = 1 if bridge["default_pvid"] is None else bridge["default_pvid"]
        flags = {default: (True, True)} if default else {}
        if network is not None and network["vids"]:
            vids, untagged, pvid = network["vids"], network["untagged"], network["pvid"]
            add_vids(flags, vids - untagged)
            add_vids(flags, vids & untagged, untagged=True)
            if pvid is not None:
                add_vids(flags, (pvid,), pvid=True, untagged=pvid in untagged)
        return from_flags(flags)


def _said(dev, attrs) -> dict:
    """{attribute: value} a file says of `dev` (None: left to the kernel's default); what networkd cannot say refused."""
    out = {}
    for attr in attrs:
        value = getattr(dev, attr.name)
        problem = zero_problem(attr, value, ZERO_IS_UNSET, where=f"{dev.name}: ")
        if problem:
            raise ValidationError([f"{problem} (systemd-networkd 252 sends no {NETWORKD_WORDS[attr.name]}=0)"])
        out[attr.name] = None if unsaid(attr, value) else value
    return out


def _membership_spec(member: dict) -> tuple:
    """(pvid, every VLAN id, untagged ids) for [BridgeVLAN]."""
    flags = flags_by_vid(member)
    return member.get("pvid"), set(flags), {vid for vid, (_p, untagged) in flags.items() if untagged}


def _default_pvid(bridge: Bridge, host: HostNetwork):
    """None (the kernel's 1) when the bridge and every port it has keep VLAN 1; else 0 (none): networkd only adds VLANs."""
    if not bridge.vlan_filtering:
        return None
    members = [bridge] + [d for d in host.ports_of(bridge.name) if d.vlans is not None]
    if all(1 in flags_by_vid(d.vlans) for d in members if d.vlans is not None):
        return None
    return 0


def with_file_routes(desired: HostNetwork, have: HostNetwork) -> HostNetwork:
    """`desired`, where a device's routes are not managed (None), with the routes the files give it (our file is
    written whole, so what it says of routes must come from somewhere)."""
    out = HostNetwork(devices=dict(desired.devices))
    for name, dev in desired.devices.items():
        if dev.ip.routes is None:
            dev = dev.clone()
            dev.ip.routes = copy.deepcopy(have.get(name).ip.routes) if have.get(name) is not None else None
            out.devices[name] = dev
    return out


class NetworkdFormat(PersistFormat):
    """systemd-networkd (252, Debian 12): 10-netsafe-<ifname>.netdev and .network per device."""

    NAME = "networkd"
    DEFAULT_PATH = "/etc/systemd/network"
    PATH_IS_DIR = True

    def read(self) -> dict:
        """Every *.netdev and *.network of the directory, and the drop-ins (<file>.d/*.conf) of those; masked (to /dev/null) files are skipped."""
        real = self.host_path(self.path)
        out = {}
        if not os.path.isdir(real):
            return out
        for entry in sorted(os.listdir(real)):
            full = os.path.join(real, entry)
            if entry.endswith((".netdev", ".network")) and os.path.isfile(full):
                with open(full, encoding="utf-8") as handle:
                    out[os.path.join(self.path, entry)] = handle.read()
            elif entry.endswith((".netdev.d", ".network.d")) and os.path.isdir(full):
                for conf in sorted(os.listdir(full)):
                    if conf.endswith(".conf") and os.path.isfile(os.path.join(full, conf)):
                        with open(os.path.join(full, conf), encoding="utf-8") as handle:
                            out[os.path.join(self.path, entry, conf)] = handle.read()
        return out

    def parse(self, files: dict) -> HostNetwork:
        current = _Directory(files)
        refuse(current.problems, None)
        return current.model()

    def parse_lenient(self, files: dict) -> tuple:
        current = _Directory(files)
        return current.model(), current.problems

    def secret_key(self, section: str, key: str) -> bool:
        return key in _SECRET_KEYS or (section.startswith("MACsec") and key == "Key")

    def describing(self, files: dict, names) -> set:
        current = _Directory(files)
        return {p for name in names for p in current.netdev_files(name) + current.network_files(name)}

    def our_path(self, name: str, ext: str) -> str:
        return os.path.join(self.path, f"{OUR_PREFIX}{name}{ext}")

    def render(self, files: dict, desired: HostNetwork, remove=()) -> dict:
        refuse_netplan_owned(self, desired.devices)   # netplan's 10-netplan-* files come first (netplan_files.py)
        current = _Directory(files)
        have = current.model()
        merged = HostNetwork(devices=dict(have.devices))
        for name in remove:
            merged.devices.pop(name, None)
        merged.devices.update(desired.devices)
        problems = [f"devices: {name} is both to write and to remove" for name in remove if name in desired.devices]
        desired = with_file_routes(desired, have)
        changed = [n for n in sorted(desired.devices)
                   if have.get(n) is None or description(have.get(n), desired.get(n)) != desired.get(n).to_dict()]
        changed += [n for n in sorted(set(remove)) if n not in desired.devices]
        wanted = {}     # path -> spec we want there (ours)
        for name in changed:
            if name in desired.devices:
                problems += self._want_device(current, merged, desired.get(name), wanted)
        for name in sorted(set(remove)):
            problems += self._remove_device(current, name, wanted)
        related = set(changed)
        for name in changed:
            for dev in (have.get(name), merged.get(name)):
                if dev is not None:
                    related.update(x for x in (dev.master, getattr(dev, "parent", None)) if x)
                    related.update(p.name for p in have.ports_of(name) + merged.ports_of(name))
        for name in sorted(related - set(changed)):
            if merged.get(name) is not None:
                problems += self._dependents(current, merged, name, wanted)
        # A file that cannot be read stays as it is, unless it is about a device this save writes.
        scope = related | set(desired.devices) | set(remove)
        problems += [p.message for p in current.problems if any(p.concerns(n) for n in scope)]
        if problems:
            raise ValidationError(list(dict.fromkeys(problems)))
        result = {}
        for path, spec in sorted(wanted.items()):
            if spec is None:
                if path in files:
                    result[path] = None
                continue
            old = files.get(path)
            if old is not None and self._same(path, old, spec):
                continue
            result[path] = _render_netdev(spec) if path.endswith(".netdev") else _render_network(spec)
        return result

    # -- render helpers --------------------------------------------------------------------------

    @staticmethod
    def _same(path: str, text: str, spec: dict) -> bool:
        try:
            old = _netdev_spec(path, text) if path.endswith(".netdev") else _network_spec(path, text)
        except ValidationError:
            return False
        return old == spec

    def _precedence(self, current: _Directory, name: str, ours: str, files: list) -> list:
        """Files not ours that networkd would apply to `name` before our file."""
        mine = os.path.basename(ours)
        return [f"{name}: {p} is not ours and networkd applies it before {ours} (first in lexical order wins); "
                f"rename or remove it, or leave {name} out of the devices"
                for p in files if not os.path.basename(p).startswith(OUR_PREFIX) and os.path.basename(p) < mine]

    def _want_device(self, current, merged, dev, wanted) -> list:
        name = dev.name
        nd_path, nw_path = self.our_path(name, ".netdev"), self.our_path(name, ".network")
        problems = self._precedence(current, name, nw_path, current.network_files(name))
        problems += self._precedence(current, name, nd_path, current.netdev_files(name))
        kind = {"bridge": "bridge", "bond": "bond", "vlan": "vlan"}.get(dev.TYPE)
        if kind is None and any(not os.path.basename(p).startswith(OUR_PREFIX) for p in current.netdev_files(name)):
            problems.append(f"{name}: {current.netdev_files(name)[0]} (not ours) creates it as a virtual device; "
                            f"netsafe does not edit that file")
        if isinstance(dev, Bond) and dev.xmit_hash_policy == "vlan+srcmac":
            problems.append(f"{name}: xmit_hash_policy vlan+srcmac cannot be written for systemd-networkd 252 "
                            f"(TransmitHashPolicy= has no such value)")
        for path in current.netdev_files(name) + current.network_files(name):
            base = os.path.basename(path)
            if base.startswith(OUR_PREFIX) and path not in (nd_path, nw_path):
                if path in current.netdevs or _exact_names(current.networks[path]) == [name]:
                    wanted[path] = None     # ours under another name: the canonical file replaces it
        if problems:
            return problems
        if kind:
            wanted[nd_path] = self._netdev_of(dev, merged)
        elif nd_path in current.netdevs:
            wanted[nd_path] = None
        wanted[nw_path] = self._network_of(dev, merged)
        return []

    def _remove_device(self, current, name, wanted) -> list:
        problems = []
        for path in current.netdev_files(name) + current.network_files(name):
            spec = current.netdevs.get(path) or current.networks.get(path)
            if os.path.basename(path).startswith(OUR_PREFIX):
                if path in current.netdevs or _exact_names(spec) == [name]:
                    wanted[path] = None
                elif path in current.networks:
                    problems.append(f"{name}: {path} describes it with other devices; netsafe writes one device per file")
            elif path in current.netdevs or name in _exact_names(spec):
                problems.append(f"{name}: {path} is not ours and still describes it; netsafe does not edit or delete "
                                f"files it did not write: remove it by hand or keep {name}")
        return problems

    def _netdev_of(self, dev, merged) -> dict:
        spec = _netdev_spec("<new>", f"[NetDev]\nName={dev.name}\nKind={dev.TYPE}\n")
        if isinstance(dev, Bridge):
            spec.update(stp=bool(dev.stp), vlan_filtering=True if dev.vlan_filtering else None, default_pvid=_default_pvid(dev, merged),
                        forward_delay=None if dev.forward_delay is None else int(round(dev.forward_delay * 1000000)))
            spec.update(_said(dev, _NETDEV_OPTIONS.values()))
        elif isinstance(dev, Bond):
            for key in BOND_KEYS:
                value = getattr(dev, key)
                spec[key] = (list(value) or None) if key == "arp_ip_target" and value is not None else value
            spec["mode"] = dev.mode
        elif isinstance(dev, Vlan):
            spec.update(vlan_id=dev.vlan_id, protocol=dev.protocol or DEFAULT_VLAN_PROTOCOL)
        return spec

    def _network_of(self, dev, merged) -> dict:
        spec = _network_spec("<new>", f"[Match]\nName={dev.name}\n")
        master = merged.get(dev.master) if dev.master else None
        policy = None if dev.up is None else ("up" if dev.up else "down")
        spec.update(mtu=dev.mtu, policy=policy, addresses=list(dev.ip.addresses or []),
                    gateways=[g for g in (dev.ip.gateway4, dev.ip.gateway6) if g],
                    routes=[Route(**dict(r.__dict__, proto=r.proto or NETWORKD_PROTOCOL)) for r in dev.ip.routes or []])
        if dev.master:
            spec["bond" if isinstance(master, Bond) else "bridge"] = dev.master
        if isinstance(master, Bridge):
            spec.update(_said(dev, _PORT_OPTIONS.values()))
        spec.update(self._dependent_network(dev.name, merged))
        if dev.vlans is not None:
            spec["pvid"], spec["vids"], spec["untagged"] = _membership_spec(dev.vlans)
        return spec

    @staticmethod
    def _dependent_network(name, merged) -> dict:
        dev = merged.get(name)
        master = merged.get(dev.master) if dev.master else None
        return {"vlan": sorted(d.name for d in merged.devices.values() if isinstance(d, Vlan) and d.parent == name),
                "primary_slave": isinstance(master, Bond) and master.primary == name}

    def _dependents(self, current, merged, name, wanted) -> list:
        """A device we do not rewrite whose file holds settings of a changed one (VLAN=, PrimarySlave=, DefaultPVID=)."""
        problems = []
        nd, nw = current.effective(name)
        dev = merged.get(name)
        need = self._dependent_network(name, merged)
        if nw is None:
            if need["vlan"] or need["primary_slave"]:
                problems.append(f"{name}: no .network describes it, so VLAN= or PrimarySlave= has no place; "
                                f"include {name} in the devices")
        else:
            spec = current.networks[nw]
            if any(spec[k] != v for k, v in need.items()):
                if not os.path.basename(nw).startswith(OUR_PREFIX):
                    problems.append(f"{name}: {nw} is not ours and would need {need}; include {name} in the devices "
                                    f"or edit that file")
                else:
                    new = copy.deepcopy(wanted.get(nw) or spec)
                    new.update(need)
                    wanted[nw] = new
        if isinstance(dev, Bridge) and nd is not None:
            default = _default_pvid(dev, merged)
            spec = current.netdevs[nd]
            if spec["default_pvid"] != default:
                if not os.path.basename(nd).startswith(OUR_PREFIX):
                    problems.append(f"{name}: {nd} is not ours and would need DefaultPVID="
                                    f"{'none' if default == 0 else 'unset'}; include {name} in the devices or edit that file")
                else:
                    new = copy.deepcopy(wanted.get(nd) or spec)
                    new["default_pvid"] = default
                    wanted[nd] = new
        return problems
