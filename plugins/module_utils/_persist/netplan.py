# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""netplan (Ubuntu): one netsafe file, /etc/netplan/90-netsafe.yaml, next to the host's own.

netplan reads every *.yaml of /lib/netplan, /etc/netplan and /run/netplan
(one file of each name: /run's shadows /etc's, which shadows /lib's) in
lexical order of the file name and merges them into one configuration:
a later file overrides the scalars of an earlier one, adds keys to its
mappings and APPENDS to its lists (checked with netplan 0.106: eno1 with
`addresses` in two files gets both, and a `dhcp4: true` of one file stays
whatever the other says). Its generator writes /run/systemd/network/10-netplan-*
(or NetworkManager profiles), which networkd reads before our own
10-netsafe-* files. So:

- netsafe writes one file only, the format's `path`; every other file is
  read (what the host boots into) and never edited; a file of the same
  name in /run/netplan (which would shadow ours) or /lib/netplan (which
  ours would shadow) is refused, and so is an entry netplan generate fails
  on (a broken symlink or a directory named *.yaml, a file not UTF-8);
- a device is written only when no other file defines it: merged with
  another file's definition it would keep that file's addresses, DHCP and
  ports next to ours. Such a device is refused naming the file;
- the file is written whole from the model on every change (a comment
  added by hand there is lost); it is 0600, as netplan asks;
- what netplan cannot say (a vlan-aware bridge, multicast snooping off, an
  802.1ad VLAN, a route protocol) is refused naming the device and the
  option; every route is written as netplan makes it, protocol static.

Values are read as netplan's own parser reads them: every scalar a string,
interpreted by the key (a bridge's times in seconds, a bond's in
milliseconds, both with an optional systemd time unit).
See docs/net_persist_netplan.md.
"""
from __future__ import annotations

import ipaddress
import os
import re
from fractions import Fraction

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import (
    DEFAULT_METRIC, RT_TABLE_MAIN, Route,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, HostNetwork, IpConfig, Nic, Vlan, normalize_address,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import PersistFormat, Problem, refuse
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile_routes import as_written
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan_files import (
    OUR_FILE, directories, load_text, need_yaml, read_files, yaml,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import (
    BOND_ENUM_KEYS, ZERO_IS_UNSET, time_span_usec, with_file_routes,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import (
    BRIDGE_OPTIONS, PORT_OPTIONS, as_parsed, out_of_range, port_values, unsaid, zero_problem, zero_read,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import (
    BOND_DEFAULTS, DEFAULT_VLAN_PROTOCOL, description, options_in_mode,
)

HEADER = ("# Written by netsafe.hypervisor (net_persist, format netplan). The whole file is rewritten\n"
          "# when a device in it changes; settings added by hand here are lost then. netplan merges every\n"
          "# file in /etc/netplan: the devices here are defined in no other file.\n")
# netplan's device sections this format reads and writes, and the model type of each.
SECTIONS = {"ethernets": Nic, "bonds": Bond, "vlans": Vlan, "bridges": Bridge}
SECTION_OF = {cls.TYPE: section for section, cls in SECTIONS.items()}
# Keys of a device read and left alone: what this format writes on every device and the model does not hold. Any
# other key the model cannot hold makes the device unreadable (a rewrite would drop it).
IGNORED_KEYS = ("accept-ra",)
# A bridge's parameters (netplan's name -> model attribute) and its ports' (a map port -> value in the bridge).
BRIDGE_WORDS = {"ageing-time": "ageing_time", "priority": "priority", "hello-time": "hello_time", "max-age": "max_age"}
PORT_WORDS = {"path-cost": "port_cost", "port-priority": "port_priority"}
_BRIDGE_ATTRS = {a.name: a for a in BRIDGE_OPTIONS}
_PORT_ATTRS = {a.name: a for a in PORT_OPTIONS}
BOND_ENUM_WORDS = {"mode": "mode", "lacp-rate": "lacp_rate", "transmit-hash-policy": "xmit_hash_policy",
                   "ad-select": "ad_select"}
BOND_TIME_WORDS = {"mii-monitor-interval": "miimon", "up-delay": "updelay", "down-delay": "downdelay",
                   "arp-interval": "arp_interval"}
# What networkd (netplan's default renderer) takes of each enum (networkd.py: no vlan+srcmac in 252).
BOND_ALLOWED = dict(BOND_ENUM_KEYS.values())
# activation-mode: netsafe writes `manual` for a device that is down (networkd: ActivationPolicy=manual, left down
# at boot; NetworkManager: autoconnect=false). `off` (networkd's always-down, which NetworkManager definitions
# refuse) reads as down too.
ACTIVATION = {"off": False, "manual": False}
_TRUE = ("true", "yes", "on", "y")
_FALSE = ("false", "no", "off", "n")
# Secret values a netplan file may hold: Wi-Fi and 802.1X passwords, WireGuard keys.
_SECRET_KEYS = ("password", "private", "shared", "private-key-password", "psk")
_SECRET_LINE = re.compile(r"^([ \t]*(?:-[ \t]+)?)([A-Za-z0-9_-]+)([ \t]*:[ \t]+)(.*?)([ \t]*)(\r?\n?)$")


class _Bad(Exception):
    """A value netplan (or this format) cannot take; the caller adds the file, device and key."""


def _merge(into: dict, new: dict) -> None:
    """netplan's merge of a later file: mappings merged key by key, lists appended, scalars replaced."""
    for key, value in new.items():
        old = into.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            into[key] = old + value
        else:
            into[key] = value if not isinstance(value, dict) else _copy(value)


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# -- scalars, as netplan reads them ------------------------------------------------------------------------------

def _bool(value) -> bool:
    if isinstance(value, str) and value.lower() in _TRUE:
        return True
    if isinstance(value, str) and value.lower() in _FALSE:
        return False
    raise _Bad("not a boolean (true/false)")


def _int(value, low: int = 0, high: int = 2 ** 32 - 1, key: str = "") -> int:
    number = ascii_int(value) if isinstance(value, str) else None
    if number is None or not low <= number <= high:
        raise _Bad(f"{key}{': ' if key else ''}{value!r} is not a whole number {low}-{high} (ASCII digits)")
    return number


def _time(value, unit: int) -> Fraction:
    """A time as netplan passes it to networkd: a bare number in `unit` microseconds, else a systemd time span."""
    if not isinstance(value, str) or not value.strip():
        raise _Bad("not a time")
    text = value.strip().lower()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return Fraction(text) * unit
    try:
        return Fraction(time_span_usec(text))
    except ValueError:
        raise _Bad("not a time like 15, 2.5 or 2500ms (ASCII digits)") from None


def _seconds(value) -> float:
    return float(_time(value, 1000000) / 1000000)


def _millis(value) -> int:
    return int(_time(value, 1000) / 1000)


def _list(value, what: str) -> list:
    if not isinstance(value, list):
        raise _Bad(f"not a list of {what}")
    return value


def _ip(value, version: int | None = None) -> str:
    try:
        addr = ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise _Bad(f"{value!r} is not an IP address") from None
    if version and addr.version != version:
        raise _Bad(f"{value!r} is not an IPv{version} address")
    return str(addr)


# -- a device definition into the model ------------------------------------------------------------------------------

def _route(found) -> Route:
    if not isinstance(found, dict):
        raise _Bad("a route is a mapping with to, via, metric, table, on-link")
    extra = sorted(set(found) - {"to", "via", "metric", "table", "on-link"})
    if extra:
        raise _Bad(f"routes: netsafe reads only to, via, metric, table and on-link of a route; it would write this "
                   f"route again without {', '.join(extra)}")
    via = _ip(found["via"]) if found.get("via") not in (None, "") else None
    dst = found.get("to")
    if dst in (None, "default"):
        dst = "::/0" if via and ":" in via else "0.0.0.0/0"
    route = Route(dst=dst, via=via, table=_int(found["table"], key="routes: table") if "table" in found else None,
                  metric=_int(found["metric"], key="routes: metric") if "metric" in found else None,
                  onlink=_bool(found["on-link"]) if "on-link" in found else False, proto="static")
    problems = route.problems("routes")
    if problems:
        raise _Bad("; ".join(problems))
    return route.normalized()


def _ip_config(definition: dict) -> IpConfig:
    for key in ("dhcp4", "dhcp6"):
        if key in definition and _bool(definition[key]):
            raise _Bad(f"{key}: true; netsafe writes static addresses only and would write the device again "
                       f"without DHCP")
    addresses = []
    for addr in _list(definition.get("addresses", []), "addresses"):
        if not isinstance(addr, str):
            raise _Bad("addresses: netsafe reads addresses written as 192.0.2.10/24 (not with a lifetime or label)")
        try:
            addresses.append(normalize_address(addr))
        except ValueError:
            raise _Bad(f"addresses: {addr!r} is not an address with prefix, like 192.0.2.10/24") from None
    gateways = {4: [], 6: []}
    for key, version in (("gateway4", 4), ("gateway6", 6)):
        if definition.get(key):
            gateways[version].append(_ip(definition[key], version))
    routes = []
    for found in _list(definition.get("routes", []), "routes"):
        route = _route(found)
        if route.is_gateway():
            gateways[route.family].append(route.via)
        elif any(r.key() == route.key() for r in routes):
            raise _Bad(f"routes: a second route to {route.dst} in table {route.table} with metric {route.metric}; "
                       f"the kernel holds one")
        else:
            routes.append(route)
    for version, found in gateways.items():
        if len(found) > 1:
            raise _Bad(f"more than one default gateway of IPv{version} ({', '.join(found)}); netsafe keeps one per family")
    return IpConfig(addresses=addresses, gateway4=(gateways[4] or [None])[0], gateway6=(gateways[6] or [None])[0],
                    routes=routes).normalized()


def _known(definition: dict, allowed) -> None:
    extra = sorted(k for k in definition if k not in allowed and k not in IGNORED_KEYS)
    if extra:
        raise _Bad(f"netsafe does not read {', '.join(extra)} of a device; it would write the device again without it")


COMMON_KEYS = ("mtu", "addresses", "gateway4", "gateway6", "routes", "dhcp4", "dhcp6", "activation-mode")


def _common(name: str, definition: dict) -> dict:
    mode = definition.get("activation-mode")
    if mode is not None and mode not in ACTIVATION:
        raise _Bad(f"activation-mode: {mode!r}; netplan allows manual, off")
    return {"name": name, "mtu": _int(definition["mtu"], 68, 65535, "mtu") if "mtu" in definition else None,
            "up": True if mode is None else ACTIVATION[mode], "master": None, "ip": _ip_config(definition)}


def _bridge(name: str, definition: dict, common: dict, ports: dict) -> Bridge:
    _known(definition, COMMON_KEYS + ("interfaces", "parameters"))
    params = definition.get("parameters", {})
    if not isinstance(params, dict):
        raise _Bad("parameters: not a mapping")
    extra = sorted(set(params) - {"stp", "forward-delay", *BRIDGE_WORDS, *PORT_WORDS})
    if extra:
        raise _Bad(f"parameters: netsafe does not read {', '.join(extra)}")
    values = {attr: _BRIDGE_ATTRS[attr].default for attr in BRIDGE_WORDS.values()}
    for word, attr in BRIDGE_WORDS.items():
        if word in params:
            values[attr] = _option(_BRIDGE_ATTRS[attr], params[word], f"parameters: {word}")
    for word, attr in PORT_WORDS.items():
        per_port = params.get(word, {})
        if not isinstance(per_port, dict):
            raise _Bad(f"parameters: {word} is a map of port name to value")
        for port, value in per_port.items():
            ports.setdefault(port, {})[attr] = _option(_PORT_ATTRS[attr], value, f"parameters: {word}: {port}")
    # netplan's default is STP on (it writes STP=true when the file says nothing).
    return Bridge(stp=_keyed(_bool, params["stp"], "parameters: stp") if "stp" in params else True,
                  forward_delay=_keyed(_seconds, params["forward-delay"], "parameters: forward-delay")
                  if "forward-delay" in params else 15.0,
                  vlan_filtering=False, mcast_snooping=True, **values, **common)


def _keyed(read, value, key: str):
    """`read(value)`, a _Bad naming `key`."""
    try:
        return read(value)
    except _Bad as exc:
        raise _Bad(f"{key}: {value!r}: {exc}") from None


def _option(attr, value, where: str):
    try:
        number = _seconds(value) if attr.name in ("ageing_time", "hello_time", "max_age") else _int(value)
    except _Bad as exc:
        raise _Bad(f"{where}: {exc}") from None
    # netplan's networkd files send nothing for 0 of these (networkd.py ZERO_IS_UNSET): the kernel's default.
    number = zero_read(attr, number, ZERO_IS_UNSET)
    problem = out_of_range(attr, number)
    if problem:
        raise _Bad(f"{where}: {problem}; the kernel refuses it")
    return number


def _bond(name: str, definition: dict, common: dict, primaries: dict) -> Bond:
    _known(definition, COMMON_KEYS + ("interfaces", "parameters"))
    params = definition.get("parameters", {})
    if not isinstance(params, dict):
        raise _Bad("parameters: not a mapping")
    extra = sorted(set(params) - {*BOND_ENUM_WORDS, *BOND_TIME_WORDS, "min-links", "arp-ip-targets", "primary"})
    if extra:
        raise _Bad(f"parameters: netsafe does not read {', '.join(extra)} of a bond; it would write it again without")
    values = {key: BOND_DEFAULTS[key] for key in BOND_DEFAULTS}
    values["arp_ip_target"] = []
    for word, field_name in BOND_ENUM_WORDS.items():
        if word in params:
            if params[word] not in BOND_ALLOWED[field_name]:
                raise _Bad(f"parameters: {word}: {params[word]!r}; allowed {', '.join(BOND_ALLOWED[field_name])}")
            values[field_name] = params[word]
    for word, field_name in BOND_TIME_WORDS.items():
        if word in params:
            values[field_name] = _keyed(_millis, params[word], f"parameters: {word}")
    if "min-links" in params:
        values["min_links"] = _int(params["min-links"], key="parameters: min-links")
    if "arp-ip-targets" in params:
        values["arp_ip_target"] = [_ip(t, 4) for t in _list(params["arp-ip-targets"], "IPv4 addresses")]
    if params.get("primary"):
        primaries[name] = params["primary"]
        values["primary"] = params["primary"]
    return Bond(**options_in_mode(Bond(name=name, **values)), **common)


class _Config:
    """Every file of the directory, merged as netplan merges them, and the model of what they say.

    `defined`: {device: [files defining it]}. A device whose merged definition
    netsafe cannot read (DHCP, a `match:`, a key it does not know) is left
    out of the model and kept as a Problem of that device (`problems`).
    """

    def __init__(self, files: dict):
        self.defined, self.problems, self.model = {}, [], HostNetwork()
        self.renderer = ("networkd", "")   # the host's global renderer (the last file that sets it wins), and where
        merged = {section: {} for section in SECTIONS}
        self.section = {}
        for path in sorted(files, key=os.path.basename):
            try:
                network = load_text(path, files[path])
            except ValidationError as exc:
                self.problems.append(Problem("; ".join(exc.problems)))   # netplan refuses the whole configuration
                continue
            if isinstance(network.get("renderer"), str):
                self.renderer = (network["renderer"], path)
            for section in SECTIONS:
                for name, definition in (network.get(section) or {}).items():
                    if not isinstance(definition, dict):
                        definition = {}
                    self.defined.setdefault(name, [])
                    if path not in self.defined[name]:
                        self.defined[name].append(path)
                    if self.section.setdefault(name, section) != section:
                        self.problems.append(Problem(f"{path}: {name} is defined as {section} here and as "
                                                     f"{self.section[name]} elsewhere; netplan refuses that", [name]))
                        continue
                    merged[section].setdefault(name, {})
                    _merge(merged[section][name], definition)
        self.merged = merged
        self._build(merged)

    def files_of(self, name: str) -> str:
        return ", ".join(self.defined.get(name, []))

    def _build(self, merged: dict) -> None:
        ports, masters, parents, primaries, bad = {}, {}, {}, {}, set()
        for section in ("bridges", "bonds"):
            for name, definition in merged[section].items():
                for port in definition.get("interfaces", []) if isinstance(definition.get("interfaces"), list) else []:
                    if port in masters and masters[port] != name:
                        self._problem(port, f"is a port of both {masters[port]} and {name}; netplan refuses that")
                        bad.add(port)
                    masters[port] = name
        for name, definition in merged["vlans"].items():
            parents[name] = definition.get("link")
        for section, cls in SECTIONS.items():
            for name, definition in merged[section].items():
                try:
                    dev = self._device(cls, name, definition, ports, primaries)
                except _Bad as exc:
                    self._problem(name, str(exc))
                    continue
                if name not in bad:
                    dev.master = masters.get(name)
                    self.model.add(dev)
        for name, attrs in ports.items():
            dev = self.model.get(name)
            if dev is not None:
                for attr, value in attrs.items():
                    setattr(dev, attr, value)
        for name, port in primaries.items():
            if port not in masters or masters[port] != name:
                self._problem(name, f"parameters: primary: {port} is not one of its interfaces")
        for dev in list(self.model.devices.values()):
            if dev.master is not None and dev.master not in self.model.devices:
                self.model.devices.pop(dev.name)
                self._problem(dev.name, f"is a port of {dev.master}, which netsafe cannot read")
        port_values(self.model)

    def _problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(f"{self.files_of(name)}: {name}: {message}", [name]))

    @staticmethod
    def _device(kind, name, definition, ports, primaries):
        common = _common(name, definition)
        if kind is Bridge:
            return _bridge(name, definition, common, ports)
        if kind is Bond:
            return _bond(name, definition, common, primaries)
        if kind is Vlan:
            _known(definition, COMMON_KEYS + ("id", "link"))
            if "id" not in definition or not definition.get("link"):
                raise _Bad("a VLAN needs id and link")
            return Vlan(parent=definition["link"], vlan_id=_int(definition["id"], 0, 4094, "id"),
                        protocol=DEFAULT_VLAN_PROTOCOL, **common)
        _known(definition, COMMON_KEYS)
        return Nic(**common)


# -- the model into our file ------------------------------------------------------------------------------------------

def _default_keys(definition) -> set:
    """{(IP version, table, metric)} of the default routes a raw device definition declares, read leniently (metric
    None: unsaid or the kernel's default): netplan flags two devices declaring the same one ("Conflicting default
    route declarations")."""
    found = set()
    if not isinstance(definition, dict):
        return found
    for key, version in (("gateway4", 4), ("gateway6", 6)):
        if definition.get(key):
            found.add((version, RT_TABLE_MAIN, None))
    for route in definition.get("routes") or [] if isinstance(definition.get("routes"), list) else []:
        if not isinstance(route, dict) or route.get("to") not in ("default", "0.0.0.0/0", "::/0"):
            continue
        version = 6 if route.get("to") == "::/0" or ":" in str(route.get("via") or "") else 4
        metric = ascii_int(str(route.get("metric"))) if "metric" in route else None
        found.add((version, ascii_int(str(route.get("table"))) or RT_TABLE_MAIN if "table" in route else RT_TABLE_MAIN,
                   None if metric == DEFAULT_METRIC[version] else metric))
    return found


def _whole_seconds(model: HostNetwork, where: str) -> list:
    """A bridge time in fractions of a second where netplan renders for NetworkManager: netplan passes the number
    on, and NetworkManager takes whole seconds only (its reader drops `forward-delay=2.5` without a word, checked
    with nmcli --offline on the profile netplan generated)."""
    problems = []
    for name, dev in sorted(model.devices.items()):
        if not isinstance(dev, Bridge):
            continue
        for attr in ("forward_delay", "ageing_time", "hello_time", "max_age"):
            value = getattr(dev, attr)
            if value is not None and not float(value).is_integer():
                problems.append(f"{name}: {attr}: {value} seconds cannot be written: {where} makes NetworkManager "
                                f"netplan's renderer, and NetworkManager takes whole seconds only (format netplan); "
                                f"nothing was written")
    return problems


def _number(value):
    """A whole float as an int (2.0 -> 2): netplan passes the text to networkd as it is."""
    return int(value) if float(value).is_integer() else value


def _said(dev, attr, value, word: str):
    problem = zero_problem(attr, value, ZERO_IS_UNSET, where=f"{dev.name}: ")
    if problem:
        raise _Bad(f"{problem} ({word}: 0 reaches networkd as unset)")
    return None if unsaid(attr, value) else _number(value)


def _routes(dev) -> list:
    """The gateways (`to: default`) and static routes, each with its metric said, the kernel's default too: netplan's
    NetworkManager renderer gives a route without one NetworkManager's metric of the device type (425 for a
    bridge, checked in the profiles netplan generates), networkd the kernel's."""
    out = [{"to": "default", "via": gw, "metric": DEFAULT_METRIC[version]}
           for gw, version in ((dev.ip.gateway4, 4), (dev.ip.gateway6, 6)) if gw]
    for route in dev.ip.routes or []:
        route = route.normalized()
        entry = {"to": route.dst}
        if route.via:
            entry["via"] = route.via
        if route.table != RT_TABLE_MAIN:
            if not isinstance(route.table, int):
                raise _Bad(f"routes: table {route.table!r}: netplan takes a table number")
            entry["table"] = route.table
        entry["metric"] = route.metric
        if route.onlink:
            entry["on-link"] = True
        out.append(entry)
    return out


def _definition(dev, model: HostNetwork) -> dict:
    """One device's netplan definition; _Bad names the option netplan cannot say."""
    out = {}
    if dev.vlans is not None and not isinstance(dev, Bridge):
        raise _Bad("vlans (its VLANs on a vlan-aware bridge): netplan has no bridge VLAN table")
    if isinstance(dev, (Bridge, Bond)):
        out["interfaces"] = sorted(p.name for p in model.ports_of(dev.name))
    if isinstance(dev, Bridge):
        if dev.vlan_filtering:
            raise _Bad("vlan_filtering: netplan cannot make a vlan-aware bridge")
        if dev.mcast_snooping is not None and not dev.mcast_snooping:
            raise _Bad("mcast_snooping: false; netplan has no key for multicast snooping")
        params = {"stp": bool(dev.stp), "forward-delay": _number(15.0 if dev.forward_delay is None else dev.forward_delay)}
        for word, attr in BRIDGE_WORDS.items():
            value = _said(dev, _BRIDGE_ATTRS[attr], getattr(dev, attr), word)
            if value is not None:
                params[word] = value
        for word, attr in PORT_WORDS.items():
            per_port = {}
            for port in sorted(model.ports_of(dev.name), key=lambda d: d.name):
                value = _said(port, _PORT_ATTRS[attr], getattr(port, attr), word)
                if value is not None:
                    per_port[port.name] = value
            if per_port:
                params[word] = per_port
        out["parameters"] = params
    elif isinstance(dev, Bond):
        params = {}
        for word, field_name in BOND_ENUM_WORDS.items():
            value = dev.mode if field_name == "mode" else getattr(dev, field_name)
            if value is not None:
                if value not in BOND_ALLOWED[field_name]:
                    raise _Bad(f"{field_name}: {value}; netplan's networkd renderer (systemd 252) takes "
                               f"{', '.join(BOND_ALLOWED[field_name])}")
                params[word] = value
        for word, field_name in BOND_TIME_WORDS.items():
            if getattr(dev, field_name) is not None:
                params[word] = getattr(dev, field_name)
        if dev.min_links is not None:
            params["min-links"] = dev.min_links
        if dev.arp_ip_target:
            params["arp-ip-targets"] = list(dev.arp_ip_target)
        if dev.primary is not None:
            params["primary"] = dev.primary
        out["parameters"] = params
    elif isinstance(dev, Vlan):
        if (dev.protocol or DEFAULT_VLAN_PROTOCOL) != DEFAULT_VLAN_PROTOCOL:
            raise _Bad(f"protocol: {dev.protocol}; netplan makes 802.1Q VLANs only (it has no protocol key)")
        out["id"], out["link"] = dev.vlan_id, dev.parent
    if dev.mtu is not None:
        out["mtu"] = dev.mtu
    if dev.ip.addresses:
        out["addresses"] = list(dev.ip.addresses)
    routes = _routes(dev)
    if routes:
        out["routes"] = routes
    out["accept-ra"] = False   # only what is written here: no addresses or routes from router advertisements
    if dev.up is False:
        out["activation-mode"] = "manual"
    return out


def _order(model: HostNetwork) -> list:
    """[(section, [device names])] in an order where every device comes after the devices it names.

    netplan 0.106 parses a file again when a device names one defined further down (a VLAN's link, a bridge's
    port), and that second pass refuses every bridge port cost it read in the first ("interface 'ens4' already
    has a path cost of 100", checked with netplan generate). So references only point up: ethernets, bonds,
    then VLANs and bridges in the order their links and ports need, VLANs on VLANs after their parents. A file
    that needs a VLAN after a bridge and a bridge after a VLAN is refused (`_Bad`): netplan could not read it.
    """
    names = {section: sorted(n for n, d in model.devices.items() if SECTION_OF[d.TYPE] == section) for section in SECTIONS}
    vlan_on_bridge = [n for n in names["vlans"] if isinstance(model.get(model.get(n).parent or ""), Bridge)]
    bridge_on_vlan = [b for b in names["bridges"] if any(isinstance(p, Vlan) for p in model.ports_of(b))]
    if vlan_on_bridge and bridge_on_vlan:
        raise _Bad(f"VLAN {vlan_on_bridge[0]} stands on a bridge and bridge {bridge_on_vlan[0]} has a VLAN port: "
                   f"netplan 0.106 reads such a file twice and then refuses its bridge port costs; keep one of the "
                   f"two out of devices")
    vlans, placed = [], set()
    while len(vlans) < len(names["vlans"]):
        ready = [n for n in names["vlans"] if n not in placed
                 and not (isinstance(model.get(model.get(n).parent or ""), Vlan) and model.get(n).parent not in placed)]
        if not ready:
            raise _Bad("VLANs stand on each other in a loop")
        vlans += ready
        placed.update(ready)
    middle = [("bridges", names["bridges"]), ("vlans", vlans)] if vlan_on_bridge else [("vlans", vlans), ("bridges", names["bridges"])]
    return [("ethernets", names["ethernets"]), ("bonds", names["bonds"])] + middle


def _render(model: HostNetwork) -> str:
    need_yaml()
    network = {"version": 2}
    for section, names in _order(model):
        if names:
            network[section] = {name: _definition(model.get(name), model) for name in names}
    return HEADER + yaml.safe_dump({"network": network}, sort_keys=False, default_flow_style=False, width=1000)


class NetplanFormat(PersistFormat):
    """netplan (Ubuntu; Debian 12's netplan.io 0.106): our devices in one file of /etc/netplan, 0600."""

    NAME = "netplan"
    DEFAULT_PATH = "/etc/netplan/" + OUR_FILE
    PATH_IS_DIR = False
    NEW_FILE_MODE = 0o600   # netplan warns about (and future versions refuse) a file others can read
    SYNTAX = "yaml"

    def check_path(self) -> None:
        super().check_path()
        if not self.path.endswith(".yaml"):
            raise ValidationError([f"path: {self.path} does not end in .yaml; netplan reads only *.yaml files "
                                   f"(like {self.DEFAULT_PATH})"])

    def read(self) -> dict:
        """Every file netplan reads (it merges them all): the *.yaml of /lib/netplan, /etc/netplan (or our path's
        directory) and /run/netplan, one of each name (/run's shadows /etc's, which shadows /lib's); an entry netplan
        generate fails on, or a file that is not UTF-8, is refused naming it."""
        return read_files(self.root, directories(os.path.dirname(self.path)))

    def parse(self, files: dict) -> HostNetwork:
        current = _Config(files)
        refuse(current.problems, None)
        return current.model

    def parse_lenient(self, files: dict) -> tuple:
        current = _Config(files)
        return current.model, current.problems

    def describing(self, files: dict, names) -> set:
        current = _Config(files)
        return {p for name in names for p in current.defined.get(name, [])}

    def as_written(self, dev):
        return as_written(dev)

    def render(self, files: dict, desired: HostNetwork, remove=()) -> dict:
        shadowing = self._shadowing(files)
        if shadowing:
            raise ValidationError(shadowing)
        everything = _Config(files)
        ours = _Config({self.path: files[self.path]} if self.path in files else {})
        have = everything.model
        problems = [f"devices: {name} is both to write and to remove" for name in remove if name in desired.devices]
        for name in sorted(set(desired.devices) | set(remove)):
            foreign = [p for p in everything.defined.get(name, []) if p != self.path]
            if foreign:
                problems.append(f"{name}: {', '.join(foreign)} (not netsafe's) defines it too; netplan merges every "
                                f"file in {', '.join(directories(os.path.dirname(self.path)))}, so what that file says of {name} (its "
                                f"addresses, DHCP, ports) would still apply next to {self.path}. Remove {name} from "
                                f"that file (netsafe then writes it whole), or leave {name} out of devices")
        scope = set(desired.devices) | set(remove)
        problems += [p.message for p in everything.problems if any(p.concerns(n) for n in scope)]
        # Our file is written whole: what cannot be read in it, about any device, would be dropped.
        problems += [f"{p.message} ({self.path} is rewritten whole; fix or remove that by hand first)"
                     for p in ours.problems]
        if problems:
            raise ValidationError(list(dict.fromkeys(problems)))
        desired = with_file_routes(desired, have)
        final = HostNetwork(devices=dict(ours.model.devices))
        for name in remove:
            final.devices.pop(name, None)
        final.devices.update(desired.devices)
        for dev in final.devices.values():
            if dev.master and dev.master not in final.devices:
                problems.append(f"{dev.name}: its master {dev.master} is not in {self.path} (netplan lists a "
                                f"bridge's or bond's ports in its own definition); include {dev.master} in the devices")
            if isinstance(dev, Vlan) and dev.parent not in final.devices and dev.parent not in everything.defined:
                problems.append(f"{dev.name}: its parent {dev.parent} is defined in no netplan file (netplan needs "
                                f"a VLAN's link defined); include {dev.parent} in the devices")
        for name, dev in sorted(final.devices.items()):
            try:
                _definition(dev, final)
            except _Bad as exc:
                problems.append(f"{name}: {exc} (format netplan); nothing was written")
        problems += self._default_conflicts(files, final)
        if everything.renderer[0] == "NetworkManager":
            problems += _whole_seconds(final, everything.renderer[1])
        try:
            _order(final)
        except _Bad as exc:
            problems.append(f"{self.path}: {exc} (format netplan); nothing was written")
        if problems:
            raise ValidationError(list(dict.fromkeys(problems)))
        text = _render(final) if final.devices else None
        old = files.get(self.path)
        if text is None:
            return {self.path: None} if old is not None else {}
        self._verify(text, desired, remove)
        if old is not None and _described(ours.model) == _described(_Config({self.path: text}).model):
            return {}   # the file already says this: no rewrite for formatting alone
        return {self.path: text}

    def _shadowing(self, files: dict) -> list:
        """Another directory's file of our file's name: netplan reads one file of a name (/run/netplan's, else
        /etc/netplan's, else /lib/netplan's), so one of the two would be ignored whole."""
        dirs = directories(os.path.dirname(self.path))
        rank = {d: i for i, d in enumerate(dirs)}
        ours = rank.get(os.path.dirname(self.path), 1)
        problems = []
        for path in sorted(files):
            if path == self.path or os.path.basename(path) != os.path.basename(self.path):
                continue
            if rank.get(os.path.dirname(path), -1) > ours:
                problems.append(f"{path} shadows {self.path} whole: netplan reads one file of a name, "
                                f"{' before '.join(reversed(dirs))}, so it would never read what netsafe writes. "
                                f"Remove {path} (or set path to another file name); nothing was written")
            else:
                problems.append(f"{path} has the name of {self.path}, which would shadow it whole (netplan reads one "
                                f"file of a name, {' before '.join(reversed(dirs))}): what {path} defines would no "
                                f"longer be read. Set path to another file name; nothing was written")
        return problems

    def _default_conflicts(self, files: dict, final: HostNetwork) -> list:
        """A default route of ours that a device of another file declares too (same family, table and metric)."""
        others = _Config({p: t for p, t in files.items() if p != self.path})
        theirs = {}
        for section in SECTIONS:
            for name, definition in others.merged[section].items():
                for key in _default_keys(definition):
                    theirs.setdefault(key, (name, others.files_of(name)))
        problems = []
        for name, dev in sorted(final.devices.items()):
            mine = {(4, RT_TABLE_MAIN, None)} if dev.ip.gateway4 else set()
            mine |= {(6, RT_TABLE_MAIN, None)} if dev.ip.gateway6 else set()
            mine |= {(r.family, r.table, None if r.metric == DEFAULT_METRIC[r.family] else r.metric)
                     for r in dev.ip.routes or [] if r.is_default()}
            for key in sorted(mine & set(theirs), key=str):
                other, where = theirs[key]
                problems.append(f"{name}: its default route (IPv{key[0]}, table {key[1]}, metric "
                                f"{'default' if key[2] is None else key[2]}) is also declared by {other} in {where}; "
                                f"netplan generate reports the conflict (0.106: \"Conflicting default route declarations\") and at boot "
                                f"the kernel takes only one of the two. Remove one of them, or give one a metric")
        return problems

    def _verify(self, text: str, desired: HostNetwork, remove) -> None:
        """The parser, not hope, says our file means `desired` (what netplan cannot say is refused here)."""
        after = _Config({self.path: text})
        refuse(after.problems, None)
        problems = []
        for name, dev in desired.devices.items():
            got, dev = after.model.get(name), self.as_written(dev)
            want = as_parsed(dev, after.model.get(dev.master or ""))
            if got is None or description(got, dev) != want:
                fields = sorted(k for k, v in want.items() if got is None or description(got, dev).get(k) != v)
                problems.append(f"{name}: netplan cannot say {', '.join(fields)} as desired (format netplan)")
        problems += [f"{name}: still described after removal" for name in remove if after.model.get(name) is not None]
        if problems:
            raise ValidationError(problems)

    # -- secrets ---------------------------------------------------------------------------------------------------

    def secret_key(self, section: str, key: str) -> bool:
        return key in _SECRET_KEYS

    def secret_values(self, text: str) -> set:
        """The secret values, without the quotes YAML may put around them."""
        return {v[1:-1] if len(v) > 1 and v[0] == v[-1] and v[0] in "'\"" else v for v in super().secret_values(text)}

    def _secret_lines(self, text: str):
        """(line, match) for every `key: value` line whose key is a secret (group 4 the value)."""
        for line in text.splitlines(keepends=True):
            match = _SECRET_LINE.match(line)
            if match and match.group(4) and not line.lstrip().startswith("#") and self.secret_key("", match.group(2)):
                yield line, match
            else:
                yield line, None


def _described(model: HostNetwork) -> dict:
    return {name: dev.to_dict() for name, dev in model.devices.items()}
