# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""One device as Debian's ifupdown2 3.0 brings it up from its stanzas.

A key the stanzas leave out means what ifupdown2 does without it (no STP,
forward delay 15 s, no VLAN filtering, the kernel's bond defaults, 802.1Q,
a bridge's MTU 1500); ports of a vlan-aware bridge get the VLANs of their own
keys, else the bridge's (tests/persist/test_ifupdown2_real.py checks each rule
against the real ifupdown2).
"""
from __future__ import annotations

import ipaddress

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import parse_ranges, vids_of
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_MODES, Bond, Bridge, IpConfig, Nic, Vlan, route_order,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.vlans import add_vids, del_vids, from_flags
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.keywords import (
    BOND_BY_COMMAND, BOND_MODE_NUMBERS, BOND_NATIVE, FLAG_WORDS, IFUPDOWN2_DEFAULT_MTU, IFUPDOWN2_WORDS, LACP_NUMBERS,
    METHODS_WITHOUT_STATIC, RE_BOND_CMD, RE_BR_FD, RE_BR_MTU, RE_BR_SECONDS, RE_SELF_VLAN,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import (
    BRIDGE_OPTIONS, PORT_OPTIONS, is_flag, is_seconds, out_of_range,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.routes import stanza_routes
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import (
    BOND_DEFAULTS, DEFAULT_VLAN_PROTOCOL, VLAN_PROTOCOLS, options_in_mode, vlan_protocol,
)


def _int(st, opt, low=0, high=2**31 - 1) -> int:
    """A number option in ASCII digits (ifupdown2 hands it to iproute2 or the kernel, which read nothing else)."""
    number = ascii_int(opt.value)
    if number is None or not low <= number <= high:
        raise ValidationError([f"{st.where(opt)}: {opt.key} {opt.value!r} is not a number in {low}-{high} "
                               f"(ASCII digits)"])
    return number


def yes_no(st, opt) -> bool:
    value = opt.value.strip().lower()
    if value in ("yes", "on", "1"):
        return True
    if value in ("no", "off", "0"):
        return False
    raise ValidationError([f"{st.where(opt)}: {opt.key} {opt.value!r} is not yes/no (or on/off)"])


def kind_of(host, name: str) -> str:
    keys = {opt.key for _st, opt in host.options(name)}
    if keys & {"bridge-ports", "bridge-vlan-aware"}:   # ifupdown2's own test (addons/bridge.py, _is_bridge)
        return "bridge"
    if keys & {"bond-slaves", "bond-ports"}:
        return "bond"
    if "vlan-raw-device" in keys or "." in name:
        return "vlan"
    return "nic"


def vlan_from_name(name: str):
    """(raw device, id) as ifupdown2 derives them from a name: eth0.100 -> eth0, 100; vlan100 -> None, 100."""
    if "." in name:
        parts = name.split(".", 2)
        raw, vid = ".".join(parts[:-1]), parts[-1]
    elif name.startswith("vlan"):
        raw, vid = None, name[4:]
    else:
        return None, None
    return raw, ascii_int(vid)


def _addresses(host, name: str):
    """(addresses, gateway4, gateway6), or None for a device whose addresses come from elsewhere (DHCP...)."""
    if any(st.method in METHODS_WITHOUT_STATIC for st in host.stanzas.get(name, [])):
        return None
    addresses, gateways = [], {4: [], 6: []}
    for st in host.stanzas.get(name, []):
        pending = []
        for opt in st.options:
            if opt.key == "address":
                for word in opt.value.split():
                    pending.append([word, None, opt])
            elif opt.key == "netmask" and pending:
                pending[-1][1] = opt.value.strip()
            elif opt.key == "gateway":
                for word in opt.value.split():
                    try:
                        gw = ipaddress.ip_address(word)
                    except ValueError:
                        raise ValidationError([f"{st.where(opt)}: gateway {word!r} is not an IP address"]) from None
                    gateways[gw.version].append((str(gw), st, opt))
        for word, mask, opt in pending:
            try:
                text = word if "/" in word or not mask else f"{word}/{mask}"
                addresses.append(str(ipaddress.ip_interface(text)))
            except ValueError:
                raise ValidationError([f"{st.where(opt)}: address {word!r} (netmask {mask!r}) is not an address "
                                       f"with prefix"]) from None
    for version, found in gateways.items():
        if len({g for g, _s, _o in found}) > 1:
            _g, st, opt = found[1]
            raise ValidationError([f"{st.where(opt)}: {name} has a second IPv{version} gateway; net_persist keeps "
                                   f"one default gateway per family"])
    return IpConfig(addresses=addresses, gateway4=gateways[4][0][0] if gateways[4] else None,
                    gateway6=gateways[6][0][0] if gateways[6] else None).normalized()


def _bond(host, name: str, common: dict) -> Bond:
    values = dict(BOND_DEFAULTS)
    st, opt = host.last(name, "bond-mode")
    if opt is not None:
        mode = BOND_MODE_NUMBERS.get(opt.value.strip(), opt.value.strip().lower())
        if mode not in BOND_MODES:
            raise ValidationError([f"{st.where(opt)}: bond-mode {opt.value!r} is not one of {', '.join(BOND_MODES)}"])
        values["mode"] = mode
    for field, key in BOND_NATIVE.items():
        st, opt = host.last(name, key)
        if opt is None:
            continue
        if field == "lacp_rate":
            values[field] = LACP_NUMBERS.get(opt.value.strip(), opt.value.strip().lower())
        elif field in ("xmit_hash_policy", "primary"):
            values[field] = opt.value.strip()
        else:
            values[field] = _int(st, opt)
    for field in BOND_BY_COMMAND:
        st, opt = host.last(name, f"#bond-{field}")
        if opt is None:
            continue
        value = RE_BOND_CMD.match(f"pre-up {' '.join(opt.value.split())}").group(3)
        if field == "arp_ip_target":
            values[field] = [] if value == "0" else value.split(",")
        elif field == "arp_interval":
            number = ascii_int(value)
            values[field] = -1 if number is None else number
        else:
            values[field] = value
    return Bond(**options_in_mode(Bond(**values, **common)), **common)


def _bridge(host, name: str, common: dict) -> Bridge:
    st, opt = host.last(name, "bridge-stp")
    stp = yes_no(st, opt) if opt is not None else False
    st, opt = host.last(name, "bridge-fd")
    fd = 15.0
    if opt is not None:
        fd = float(_int(st, opt, 0, 255))
    st, opt = host.last(name, "#bridge-fd")
    if opt is not None:
        fd = int(RE_BR_FD.match(f"post-up {' '.join(opt.value.split())}").group(2)) / 100
    st, opt = host.last(name, "bridge-vlan-aware")
    aware = yes_no(st, opt) if opt is not None else False
    return Bridge(stp=stp, forward_delay=fd, vlan_filtering=aware, **bridge_options(host, name), **common)


def _option_value(st, opt, attr, text: str, per_second: int = 1):
    """`text` of a bridge option's or port attribute's key (keywords.IFUPDOWN2_WORDS; seconds in `per_second`ths)
    as the model's value, in the kernel's range (kinds/bridge.py): else an error naming the file and line."""
    if is_flag(attr):
        value = FLAG_WORDS.get(text.strip())
        if value is None:
            raise ValidationError([f"{st.where(opt)}: {opt.line.text.strip()!r}: {text!r} is not one of "
                                   f"{', '.join(FLAG_WORDS)} (ifupdown2 reads any other word as no)"])
        return value
    number = ascii_int(text)
    if number is None:
        raise ValidationError([f"{st.where(opt)}: {opt.line.text.strip()!r}: {text!r} is not a whole number "
                               f"(ASCII digits)"])
    value = number / per_second if is_seconds(attr) else number
    problem = out_of_range(attr, value)
    if problem:
        raise ValidationError([f"{st.where(opt)}: {opt.line.text.strip()!r}: {problem} (the kernel refuses it)"])
    return value


def bridge_options(host, name: str) -> dict:
    """The bridge's options (options.BRIDGE_OPTIONS): its key, or our post-up line (hundredths of a second: it
    runs last, so it wins), else the kernel's default (ifupdown2 leaves a new bridge's, resets a running one's)."""
    values = {}
    for attr in BRIDGE_OPTIONS:
        values[attr.name] = attr.default
        key = IFUPDOWN2_WORDS.get(attr.name)
        if key is None:
            continue
        st, opt = host.last(name, f"#{key}")
        if opt is not None:
            hundredths = RE_BR_SECONDS.match(f"post-up {' '.join(opt.value.split())}").group(3)
            values[attr.name] = _option_value(st, opt, attr, hundredths, 100)
            continue
        st, opt = host.last(name, key)
        if opt is not None:
            values[attr.name] = _option_value(st, opt, attr, opt.value)
    return values


def port_options(host, name: str, bridge: str) -> dict:
    """A bridge port's attributes (options.PORT_OPTIONS): the key on its own stanza, else its entry in the bridge's
    `port=value` list (or the bridge's single value, which ifupdown2 gives every port); None where neither says."""
    values = {}
    for attr in PORT_OPTIONS:
        key = IFUPDOWN2_WORDS.get(attr.name)
        values[attr.name] = None
        st, opt = host.last(name, key) if key else (None, None)
        if opt is not None:
            values[attr.name] = _option_value(st, opt, attr, opt.value)
            continue
        st, opt = host.last(bridge, key) if key else (None, None)
        if opt is None:
            continue
        text = opt.value
        if "=" in opt.value:
            entries = [word.partition("=") for word in opt.value.split()]
            if any(not port or not sep for port, sep, _v in entries):
                raise ValidationError([f"{st.where(opt)}: {opt.line.text.strip()!r} is not a list of port=value "
                                       f"(ifupdown2 then applies none of it)"])
            text = {port: value for port, _sep, value in entries}.get(name)
        if text is not None:
            values[attr.name] = _option_value(st, opt, attr, text)
    return values


def vlan_of(host, name: str, common: dict) -> Vlan:
    raw, vid = vlan_from_name(name)
    st, opt = host.last(name, "vlan-raw-device")
    if opt is not None:
        raw = opt.value.strip()
    st, opt = host.last(name, "vlan-id")
    if opt is not None:
        vid = _int(st, opt, 1, 4094)
    if raw is None or vid is None:
        first = host.stanzas[name][0]
        raise ValidationError([f"{first.where()}: {name} looks like a VLAN but its raw device and id cannot be told; "
                               f"give vlan-raw-device and vlan-id"])
    st, opt = host.last(name, "vlan-protocol")
    protocol = DEFAULT_VLAN_PROTOCOL
    if opt is not None:
        protocol = vlan_protocol(opt.value)
        if protocol is None:
            raise ValidationError([f"{st.where(opt)}: vlan-protocol {opt.value!r} is not "
                                   f"{' or '.join(p.lower() for p in VLAN_PROTOCOLS)}"])
    return Vlan(parent=raw, vlan_id=vid, protocol=protocol, **common)


def _vids(st, opt) -> tuple:
    """Every VLAN id of a bridge-vids/bridge-trunk line ('10 20-30'; commas read too, as before)."""
    return vids_of(parse_ranges(opt.value, f"{st.where(opt)}: {opt.key}", separators=r",\s", strict=True))


def port_membership(host, name: str, bridge: str) -> dict:
    """What ifupdown2 gives a port of a vlan-aware bridge: its own keys, else the bridge's, pvid 1 by default."""
    st, access = host.last(name, "bridge-access")
    if access is not None:
        vid = _int(st, access, 1, 4094)
        return from_flags({vid: (True, True)})
    vids = None
    for key in ("bridge-vids", "bridge-trunk"):
        st, opt = host.last(name, key)
        if opt is not None:
            vids = _vids(st, opt)
            break
    bridge_vids, bridge_pvid = host.bridge_level.get(bridge, (None, None))
    if vids is None:
        vids = bridge_vids or []
    st, opt = host.last(name, "bridge-allow-untagged")
    allow_untagged = yes_no(st, opt) if opt is not None else True
    pvid = None
    if allow_untagged:
        st, opt = host.last(name, "bridge-pvid")
        pvid = _int(st, opt, 1, 4094) if opt is not None else (bridge_pvid or 1)
    flags = {vid: (False, False) for vid in vids}
    if pvid:
        flags[pvid] = (True, True)
    return from_flags(flags)


def self_membership(host, bridge: str, svi_vids) -> dict:
    """The bridge's own entry: the kernel's VLAN 1 (pvid, untagged), our post-up lines, then its VLAN devices' ids."""
    flags = {1: (True, True)}
    for _st, opt in host.values(bridge, "#self-vlan"):
        found = RE_SELF_VLAN.match(f"post-up {' '.join(opt.value.split())}")
        action, first, last, words = found.group(1), int(found.group(3)), int(found.group(4) or found.group(3)), found.group(5).split()
        if action == "del":
            del_vids(flags, range(first, last + 1))
        else:
            add_vids(flags, range(first, last + 1), "pvid" in words, "untagged" in words)
    add_vids(flags, svi_vids)   # ifupdown2 adds a VLAN device's id to a vlan-aware bridge, without flags
    return from_flags(flags)


def bridge_level_vlans(host, name: str) -> tuple:
    """(vids, pvid) a bridge's own stanza gives its ports (bridge-vids/bridge-trunk, bridge-pvid)."""
    vids = pvid = None
    st, opt = host.last(name, "bridge-vids")
    if opt is None:
        st, opt = host.last(name, "bridge-trunk")
    if opt is not None:
        vids = _vids(st, opt)
    st, opt = host.last(name, "bridge-pvid")
    if opt is not None:
        pvid = _int(st, opt, 1, 4094)
    return vids, pvid


def device(host, name: str, kind: str, reached: bool, master):
    """One device of the model, as ifupdown2 would bring it up at boot."""
    st, opt = host.last(name, "link-down")
    down = opt is not None and yes_no(st, opt)
    if reached:
        up = not down
    else:
        up = False if kind == "nic" else None   # a bridge/bond/VLAN nothing brings up is not even created
    common = {"name": name, "mtu": _mtu(host, name, kind), "up": up, "master": master,
              "ip": _addresses(host, name) if name in host.stanzas else IpConfig()}
    if common["ip"] is None:
        common["ip"] = IpConfig()
    if common["ip"].addresses is not None:   # static: the stanzas say every route too (routes.py)
        common["ip"].routes = sorted(stanza_routes(host, name), key=route_order)
    if kind == "bridge":
        return _bridge(host, name, common)
    if kind == "bond":
        return _bond(host, name, common)
    if kind == "vlan":
        return vlan_of(host, name, common)
    return Nic(**common)


def _mtu(host, name: str, kind: str):
    """The `mtu` key; for a bridge also our post-up line, and without either ifupdown2's default (it sets a bridge
    that has no `mtu` to it, whatever its ports have: addons/address.py, checked on Debian's 3.0)."""
    st, opt = host.last(name, "mtu")
    if opt is not None:
        return _int(st, opt, 68, 65535)
    if kind != "bridge":
        return None
    st, opt = host.last(name, "#bridge-mtu")
    if opt is not None:
        return int(RE_BR_MTU.match(f"post-up {' '.join(opt.value.split())}").group(2))
    return IFUPDOWN2_DEFAULT_MTU
