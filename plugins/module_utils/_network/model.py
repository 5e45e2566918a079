# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The network model: plain objects for a host's devices, validated where they live.

Every object round-trips through a plain dict (``to_dict``/``from_dict``).
That dict is the snapshot, the running-config and the persistent-config
format, so it holds everything needed to rebuild a device. A field set to
None in a *desired* object means "not managed": leave the kernel's value.
"""
from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field, fields

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.names import SAFE_CHARACTERS, is_safe

MIN_MTU = 68
MAX_MTU = 65535
IFNAMSIZ = 16
# Proxmox VE and libvirt name guest devices like these; see docs/net_bridge.md.
DEFAULT_GUEST_PATTERNS = (
    r"^tap\d+i\d+$",
    r"^veth\d+i\d+$",
    r"^fwpr\d+p\d+$",
    r"^fwln\d+i\d+$",
    r"^vnet\d+$",
)


# -- checks shared by every device ------------------------------------------

# The one rule for interface names we are given (module options, guest configs, files): the
# kernel's (at most 15 bytes, no '/', ':' or whitespace, not '.' or '..') narrowed to the safe
# characters of _common/names.py.
NAME_RULE = f"{SAFE_CHARACTERS}, at most {IFNAMSIZ - 1} bytes"


def name_problem(name, param: str = "name"):
    """Why `name` cannot be an interface name we accept, or None; the message names `param` and the rule."""
    if not isinstance(name, str) or not name:
        return f"{param}: an interface name is required"
    size = len(name.encode("utf-8"))
    if size >= IFNAMSIZ:
        unit = "characters" if size == len(name) else "bytes"
        return f"{param}: {name!r} is {size} {unit} long; Linux allows at most {IFNAMSIZ - 1}"
    if not is_safe(name):
        return f"{param}: {name!r} is not a valid interface name; allowed {NAME_RULE}"
    return None


def mtu_problem(mtu, param: str = "mtu"):
    if mtu is None:
        return None
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not MIN_MTU <= mtu <= MAX_MTU:
        return f"{param}: {mtu!r} is out of range; allowed {MIN_MTU}-{MAX_MTU}"
    return None


def normalize_mac(mac):
    """Lower-case colon form of a unicast MAC; raises ValueError otherwise."""
    text = str(mac).strip().lower().replace("-", ":")
    if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", text):
        raise ValueError(f"{mac!r} is not a MAC address like 52:54:00:12:34:56")
    if int(text[:2], 16) & 1:
        raise ValueError(f"{mac!r} is a multicast address; a device needs a unicast MAC")
    if text == "00:00:00:00:00:00":
        raise ValueError("00:00:00:00:00:00 is not a usable MAC address")
    return text


def normalize_address(addr):
    """'10.0.0.1/24' in canonical form; a bare address gets /32 or /128."""
    return str(ipaddress.ip_interface(str(addr).strip()))


@dataclass
class IpConfig:
    """Static addresses and default gateways of one device."""

    addresses: list | None = None
    gateway4: str | None = None
    gateway6: str | None = None

    def problems(self, prefix: str = ""):
        found = []
        families = set()
        if self.addresses is not None:
            normalized = []
            for addr in self.addresses:
                try:
                    iface = ipaddress.ip_interface(str(addr).strip())
                except ValueError:
                    found.append(f"{prefix}addresses: {addr!r} is not an address with prefix, like 192.0.2.10/24 or 2001:db8::10/64")
                    continue
                if iface.ip.is_multicast or iface.ip.is_unspecified:
                    found.append(f"{prefix}addresses: {addr!r} cannot be assigned to an interface")
                    continue
                families.add(iface.version)
                normalized.append(str(iface))
            if len(set(normalized)) != len(normalized):
                found.append(f"{prefix}addresses: lists the same address twice")
        for param, version in (("gateway4", 4), ("gateway6", 6)):
            value = getattr(self, param)
            if value is None:
                continue
            try:
                gw = ipaddress.ip_address(str(value).strip())
            except ValueError:
                found.append(f"{prefix}{param}: {value!r} is not an IPv{version} address")
                continue
            if gw.version != version:
                found.append(f"{prefix}{param}: {value!r} is not an IPv{version} address")
        return found

    def normalized(self) -> IpConfig:
        return IpConfig(
            addresses=None if self.addresses is None else sorted({normalize_address(a) for a in self.addresses}, key=_address_key),
            gateway4=None if self.gateway4 is None else str(ipaddress.ip_address(str(self.gateway4).strip())),
            gateway6=None if self.gateway6 is None else str(ipaddress.ip_address(str(self.gateway6).strip())),
        )


def _address_key(addr: str):
    iface = ipaddress.ip_interface(addr)
    return (iface.version, iface.ip.packed, iface.network.prefixlen)


# -- devices ------------------------------------------------------------------

@dataclass
class Device:
    """What every network device has. `master` is the bridge or bond it is a port of."""

    TYPE = "device"

    name: str
    mtu: int | None = None
    mac: str | None = None
    up: bool | None = None
    master: str | None = None
    ip: IpConfig = field(default_factory=IpConfig)
    # VLAN membership on a vlan-aware bridge (see vlans.py); None elsewhere.
    vlans: dict | None = None
    # Read from the kernel for reports; never part of a desired state.
    operstate: str | None = field(default=None, compare=False)
    index: int | None = field(default=None, compare=False)

    def problems(self):
        found = [p for p in (name_problem(self.name), mtu_problem(self.mtu)) if p]
        if self.mac is not None:
            try:
                normalize_mac(self.mac)
            except ValueError as exc:
                found.append(f"mac: {exc}")
        found.extend(self.ip.problems())
        return found

    # Fields holding lists or dicts, which a copy must not share (see clone).
    NESTED = ("vlans",)

    def clone(self) -> Device:
        """An independent copy, ~10x cheaper than copy.deepcopy: plans predict many times on 1,000-port hosts."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.ip = IpConfig(None if self.ip.addresses is None else list(self.ip.addresses), self.ip.gateway4,
                          self.ip.gateway6)
        for name in self.NESTED:
            value = self.__dict__[name]
            if value is not None:
                new.__dict__[name] = copy.deepcopy(value)
        return new

    def validate(self):
        found = self.problems()
        if found:
            raise ValidationError(found)
        return self

    def to_dict(self) -> dict:
        out = {"type": self.TYPE}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "ip":
                value = {"addresses": value.addresses, "gateway4": value.gateway4, "gateway6": value.gateway6}
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Device:
        kind = data.get("type", "nic")
        target = DEVICE_TYPES.get(kind)
        if target is None:
            raise ValidationError([f"type: unknown device type {kind!r}; allowed {', '.join(sorted(DEVICE_TYPES))}"])
        if cls is not Device and cls is not target:
            raise ValidationError([f"type: expected {cls.TYPE!r}, got {kind!r}"])
        known = {f.name for f in fields(target)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("ip"), dict):
            values["ip"] = IpConfig(**values["ip"])
        return target(**values)


@dataclass
class Nic(Device):
    """A device that is none of the others: a physical NIC, or veth/dummy in a lab."""

    TYPE = "nic"
    kind: str = ""


@dataclass
class GuestPort(Device):
    """A guest's tap (VM) or veth (container) device, or a firewall-bridge link."""

    TYPE = "guest"
    kind: str = "tap"


@dataclass
class Bridge(Device):
    """A Linux bridge. forward_delay is in seconds, as Proxmox's bridge-fd."""

    TYPE = "bridge"
    stp: bool | None = None
    forward_delay: float | None = None
    vlan_filtering: bool | None = None

    def problems(self):
        found = super().problems()
        fd = self.forward_delay
        if fd is not None:
            if isinstance(fd, bool) or not isinstance(fd, (int, float)) or not 0 <= fd <= 30:
                shown = f"{fd:g}" if isinstance(fd, (int, float)) and not isinstance(fd, bool) else repr(fd)
                found.append(f"forward_delay: {shown} is out of range; allowed 0-30 seconds")
            elif self.stp and fd < 2:
                found.append(f"forward_delay: {fd:g} is too short with stp enabled; allowed 2-30 seconds (0 only without STP)")
        return found


BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")
BOND_ENUMS = {
    "mode": BOND_MODES,
    "lacp_rate": ("slow", "fast"),
    "xmit_hash_policy": ("layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"),
    "ad_select": ("stable", "bandwidth", "count"),
}
BOND_INTS = ("miimon", "updelay", "downdelay", "arp_interval", "min_links")
# Which modes an option means something in (the kernel refuses or ignores it elsewhere).
BOND_OPTION_MODES = {
    "lacp_rate": ("802.3ad",),
    "ad_select": ("802.3ad",),
    "xmit_hash_policy": ("balance-xor", "802.3ad", "balance-tlb"),
    "primary": ("active-backup", "balance-tlb", "balance-alb"),
    "arp_interval": ("balance-rr", "active-backup", "balance-xor", "broadcast"),
    "arp_ip_target": ("balance-rr", "active-backup", "balance-xor", "broadcast"),
}
# Options the kernel only changes while the bond is down (mode also needs no slaves).
BOND_NEEDS_DOWN = ("mode", "lacp_rate", "ad_select")
BOND_OPTIONS = tuple(BOND_ENUMS) + BOND_INTS + ("primary", "arp_ip_target")


@dataclass
class Bond(Device):
    """A Linux bond; its slaves are the devices whose master it is."""

    TYPE = "bond"
    mode: str | None = None
    miimon: int | None = None
    updelay: int | None = None
    downdelay: int | None = None
    lacp_rate: str | None = None
    xmit_hash_policy: str | None = None
    primary: str | None = None
    ad_select: str | None = None
    arp_interval: int | None = None
    arp_ip_target: list | None = None

    NESTED = ("vlans", "arp_ip_target")
    min_links: int | None = None

    def options(self) -> dict:
        return {name: getattr(self, name) for name in BOND_OPTIONS}

    def in_its_mode(self) -> Bond:
        """A copy that sets only the options its mode uses (bond_options_for_mode); the others None: left alone."""
        used = bond_options_for_mode(self)
        held = self.clone()
        for name in BOND_OPTIONS:
            setattr(held, name, used.get(name))
        return held

    def problems(self):
        found = super().problems()
        for name, allowed in BOND_ENUMS.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                found.append(f"{name}: {value!r} is not allowed; allowed {', '.join(allowed)}")
        for name in BOND_INTS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31 - 1):
                found.append(f"{name}: {value!r} is out of range; allowed 0 or more")
        if self.primary is not None:
            problem = name_problem(self.primary, "primary")
            if problem:
                found.append(problem)
        for target in self.arp_ip_target or []:
            try:
                if ipaddress.ip_address(str(target)).version != 4:
                    raise ValueError
            except ValueError:
                found.append(f"arp_ip_target: {target!r} is not an IPv4 address")
        if len(self.arp_ip_target or []) > 16:
            found.append("arp_ip_target: the kernel allows at most 16 targets")
        return found

    def combination_problems(self, given=BOND_OPTIONS) -> list:
        """Options that contradict each other, judged on the bond's effective settings.

        `given` names the options the task sets: the kernel reports values such
        as lacp_rate in every mode, so only options asked for are held to the mode.
        """
        found = []
        mode = self.mode or "balance-rr"
        for name, modes in BOND_OPTION_MODES.items():
            value = getattr(self, name)
            if name in given and value and mode not in modes:
                found.append(f"{name}: only applies to mode {', '.join(modes)}; the bond's mode is {mode}")
        if (self.miimon or 0) > 0 and (self.arp_interval or 0) > 0:
            found.append("arp_interval: cannot be used together with miimon; set one of them to 0")
        if "arp_ip_target" in given and self.arp_ip_target and (self.arp_interval or 0) <= 0:
            found.append("arp_ip_target: needs arp_interval above 0")
        for name in ("updelay", "downdelay"):
            value = getattr(self, name) or 0
            if value and (name in given or "miimon" in given):
                if (self.miimon or 0) <= 0:
                    found.append(f"{name}: needs miimon above 0")
                elif value % self.miimon:
                    found.append(f"{name}: {value} is not a multiple of miimon {self.miimon}; the kernel would round it down")
        return found


def bond_options_for_mode(bond: Bond) -> dict:
    """The bond's options that mean something in its mode (the kernel reports all of them in every mode).

    The one rule for holding a bond to its mode: what the files say of a bond, what the rebuild of a deleted
    bond sends, and what a rollback restores.
    """
    mode = bond.mode or "balance-rr"
    out = {}
    for key, value in bond.options().items():
        if mode not in BOND_OPTION_MODES.get(key, (mode,)):
            continue
        if key in ("updelay", "downdelay") and not bond.miimon:
            continue  # meaningless (and refused by the kernel) without MII monitoring
        if key == "arp_ip_target" and not bond.arp_interval:
            continue
        if key == "primary" and not value:
            continue
        out[key] = value
    return out


def vlan_device_name(parent: str, vlan_id: int) -> str:
    """The name a VLAN device gets when none is given: <parent>.<id>, as ifupdown and iproute2 write it."""
    return f"{parent}.{vlan_id}"


@dataclass
class Vlan(Device):
    """An 802.1Q/802.1ad VLAN device on top of `parent`."""

    TYPE = "vlan"
    parent: str | None = None
    vlan_id: int | None = None
    protocol: str | None = None
    # Loose binding: the VLAN's admin state does not follow its parent's (off by default).
    loose_binding: bool | None = None

    def problems(self):
        found = super().problems()
        if self.vlan_id is not None and (isinstance(self.vlan_id, bool) or not isinstance(self.vlan_id, int) or not 1 <= self.vlan_id <= 4094):
            found.append(f"vlan_id: {self.vlan_id!r} is out of range; allowed 1-4094")
        if self.protocol is not None and self.protocol not in ("802.1Q", "802.1ad"):
            found.append(f"protocol: {self.protocol!r} is not allowed; allowed 802.1Q, 802.1ad")
        return found


DEVICE_TYPES = {cls.TYPE: cls for cls in (Nic, GuestPort, Bridge, Bond, Vlan)}


class GuestMatcher:
    """Decides which ports are guests' (never released unless named)."""

    def __init__(self, patterns=DEFAULT_GUEST_PATTERNS):
        compiled = []
        for pattern in patterns:
            try:
                compiled.append(re.compile(pattern))
            except re.error as exc:
                raise ValidationError([f"guest_patterns: {pattern!r} is not a valid regular expression ({exc})"]) from None
        self.patterns = compiled

    def is_guest(self, name: str, link_kind: str) -> bool:
        """For a link as the kernel reports it: any tun/tap device, or a name a pattern matches."""
        return link_kind == "tun" or self.named(name)

    def named(self, name: str) -> bool:
        """Whether a pattern matches the name itself, whatever the device's kind."""
        return any(p.search(name) for p in self.patterns)

    def is_guest_device(self, dev: Device) -> bool:
        """For a device of the model: read as a guest port, or a guest by its name."""
        return dev.TYPE == "guest" or self.is_guest(dev.name, getattr(dev, "kind", ""))


def is_loopback(dev: Device) -> bool:
    """`lo`, or a device the kernel gives no link-layer address (an all-zero MAC and no kind): nothing to
    enslave, nothing to announce on."""
    return dev.name == "lo" or (dev.mac == "00:00:00:00:00:00" and getattr(dev, "kind", None) == "")


# Bridges a hypervisor makes for its guests, by the names it gives them. The name only describes a bridge
# a rollback keeps for what it carries (_safety/rollback.py): a name alone never keeps one, since a change
# may build a bridge of any name. Proxmox VE's VLAN bridges, <bridge>v<tag>, are told by their base bridge too.
HYPERVISOR_BRIDGES = (
    (re.compile(r"^fwbr[0-9]+i[0-9]+$"), "Proxmox VE's firewall bridge of a guest NIC"),
    (re.compile(r"^virbr[0-9]+$"), "a libvirt network's bridge"),
)
_VLAN_BRIDGE = re.compile(r"^(.+)v([0-9]+)$")
_FIREWALL_BRIDGE = re.compile(r"^fwbr([0-9]+)i([0-9]+)$")


def hypervisor_bridge(host, dev: Device):
    """What `dev` is when it is a bridge a hypervisor made for guests (see HYPERVISOR_BRIDGES), else None."""
    if not isinstance(dev, Bridge):
        return None
    for pattern, what in HYPERVISOR_BRIDGES:
        if pattern.match(dev.name):
            return what
    match = _VLAN_BRIDGE.match(dev.name)
    if match and isinstance(host.get(match.group(1)), Bridge):
        return f"Proxmox VE's bridge for VLAN {match.group(2)} on {match.group(1)}"
    return None


def firewall_link(bridge: str) -> str | None:
    """The firewall link (fwln<vmid>i<n>) Proxmox VE puts on its firewall bridge `bridge`, or None for another name."""
    match = _FIREWALL_BRIDGE.match(bridge)
    return f"fwln{match.group(1)}i{match.group(2)}" if match else None


def firewall_peer(bridge: str) -> str | None:
    """The other end (fwpr<vmid>p<n>) of firewall bridge `bridge`'s link, on the guest's network; or None."""
    match = _FIREWALL_BRIDGE.match(bridge)
    return f"fwpr{match.group(1)}p{match.group(2)}" if match else None


def firewalled_guest(host, bridge: str) -> str | None:
    """The guest port whose Proxmox VE firewall bridge `bridge` is in `host`, or None: told by structure.

    The bridge carries that NIC's firewall link (fwln<vmid>i<n>, a veth only
    the hypervisor makes, whose other end fwpr is on the guest's network)
    and its guest port, tap<vmid>i<n> (a VM) or veth<vmid>i<n> (a
    container). A bridge merely named fwbr<vmid>i<n> is none: a change may
    build one. Looked up by name, so a host of 1,000 guests costs nothing.
    """
    link = firewall_link(bridge)
    if link is None or getattr(host.get(link), "master", None) != bridge:
        return None
    for guest in (link.replace("fwln", "tap", 1), link.replace("fwln", "veth", 1)):
        if getattr(host.get(guest), "master", None) == bridge:
            return guest
    return None


@dataclass
class HostNetwork:
    """All devices of a host or namespace, by name."""

    devices: dict = field(default_factory=dict)

    def add(self, device: Device) -> None:
        self.devices[device.name] = device

    def get(self, name: str) -> Device | None:
        return self.devices.get(name)

    def clone(self) -> HostNetwork:
        return HostNetwork({name: dev.clone() for name, dev in self.devices.items()})

    def ports_of(self, master: str) -> list:
        return sorted((d for d in self.devices.values() if d.master == master), key=lambda d: d.name)

    def to_dict(self) -> dict:
        return {"devices": [self.devices[n].to_dict() for n in sorted(self.devices)]}

    @classmethod
    def from_dict(cls, data: dict) -> HostNetwork:
        host = cls()
        for item in data.get("devices", []):
            host.add(Device.from_dict(item))
        return host
