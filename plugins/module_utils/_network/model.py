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
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds import kind_of
# Re-exported: importers of the model keep finding the kinds' names here.
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bond import (  # noqa: F401 pylint: disable=unused-import
    BOND_ENUMS, BOND_INTS, BOND_MODES, BOND_NEEDS_DOWN, BOND_OPTION_MODES, BOND_OPTIONS, DEFAULT_BOND_MODE,
    bond_options_for_mode, combination_problems,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE_PORT
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route, route_problems
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.vlan import (  # noqa: F401 pylint: disable=unused-import
    DEFAULT_VLAN_PROTOCOL, VLAN_PROTOCOLS,
)

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
    """Static addresses, default gateways and static routes (kinds/route.py) of one device.

    `routes` None: not managed. A list: exactly the static routes that leave
    through this device, other than the main table's default route via a
    gateway (gateway4/gateway6).
    """

    addresses: list | None = None
    gateway4: str | None = None
    gateway6: str | None = None
    routes: list | None = None

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
        found.extend(route_problems(self.routes, f"{prefix}routes"))
        return found

    def normalized(self) -> IpConfig:
        return IpConfig(
            addresses=None if self.addresses is None else sorted({normalize_address(a) for a in self.addresses}, key=_address_key),
            gateway4=None if self.gateway4 is None else str(ipaddress.ip_address(str(self.gateway4).strip())),
            gateway6=None if self.gateway6 is None else str(ipaddress.ip_address(str(self.gateway6).strip())),
            routes=None if self.routes is None else sorted((r.normalized() for r in self.routes), key=route_order),
        )

    def clone(self) -> IpConfig:
        return IpConfig(None if self.addresses is None else list(self.addresses), self.gateway4, self.gateway6,
                        None if self.routes is None else [Route(**r.__dict__) for r in self.routes])

    def to_dict(self) -> dict:
        return {"addresses": self.addresses, "gateway4": self.gateway4, "gateway6": self.gateway6,
                "routes": None if self.routes is None else [r.to_dict() for r in self.routes]}

    @classmethod
    def from_dict(cls, data: dict) -> IpConfig:
        routes = data.get("routes")
        return cls(addresses=data.get("addresses"), gateway4=data.get("gateway4"), gateway6=data.get("gateway6"),
                   routes=None if routes is None else [Route.from_dict(r) for r in routes])


def route_order(route: Route):
    """The order a device's routes are listed in: family, table, destination, metric (normalized routes)."""
    net = ipaddress.ip_network(route.dst)
    return (net.version, route.table, net.network_address.packed, net.prefixlen, route.metric)


def _address_key(addr: str):
    iface = ipaddress.ip_interface(addr)
    return (iface.version, iface.ip.packed, iface.network.prefixlen)


# -- devices ------------------------------------------------------------------

# Device fields read from the kernel, never part of a desired state or a description (Device.to_dict); a
# checkpoint's snapshot keeps them (HostNetwork.to_dict(facts=True)), so its rollback knows them.
KERNEL_FACTS = ("max_mtu", "lower")

# Kinds that stand on a lower device named by IFLA_LINK and that the kernel lowers with it, never raises
# (macvlan_device_event, NETDEV_CHANGEMTU); a VLAN's lower device is its `parent`. (A veth's IFLA_LINK is its peer.)
STACKED_KINDS = ("macvlan", "macvtap")


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
    # Its attributes as a bridge's port (kinds/bridge.py BRIDGE_PORT); None elsewhere, or not managed.
    port_cost: int | None = None
    port_priority: int | None = None
    # Read from the kernel for reports; never part of a desired state.
    operstate: str | None = field(default=None, compare=False)
    index: int | None = field(default=None, compare=False)
    # The largest MTU the driver takes (IFLA_MAX_MTU; None: no limit reported). A fact of the hardware the planners
    # check a raise against, never part of a snapshot or a desired state (to_dict leaves it out).
    max_mtu: int | None = field(default=None, compare=False)
    # The device a macvlan or macvtap stands on (STACKED_KINDS): it goes no higher than that one's MTU, so a
    # rollback raises that one first (plan_host), and an undo raises it back after (simulate.stacked_above).
    lower: str | None = field(default=None, compare=False)

    def problems(self):
        found = [p for p in (name_problem(self.name), mtu_problem(self.mtu)) if p]
        if self.mac is not None:
            try:
                normalize_mac(self.mac)
            except ValueError as exc:
                found.append(f"mac: {exc}")
        found.extend(self.ip.problems())
        found.extend(BRIDGE_PORT.problems(self))
        return found

    # Fields holding lists or dicts, which a copy must not share (see clone).
    NESTED = ("vlans",)

    def clone(self) -> Device:
        """An independent copy, ~10x cheaper than copy.deepcopy: plans predict many times on 1,000-port hosts."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.ip = self.ip.clone()
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

    def to_dict(self, facts: bool = False) -> dict:
        out = {"type": self.TYPE}
        for f in fields(self):
            if f.name in KERNEL_FACTS and not (facts and getattr(self, f.name) is not None):
                continue
            value = getattr(self, f.name)
            if f.name == "ip":
                value = value.to_dict()
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
            values["ip"] = IpConfig.from_dict(values["ip"])
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
    """A Linux bridge (kinds/bridge.py). Durations are in seconds, as Proxmox's bridge-fd."""

    TYPE = "bridge"
    stp: bool | None = None
    forward_delay: float | None = None
    vlan_filtering: bool | None = None
    ageing_time: float | None = None
    mcast_snooping: bool | None = None
    hello_time: float | None = None
    max_age: float | None = None
    priority: int | None = None

    def problems(self):
        return super().problems() + kind_of(self.TYPE).problems(self)


@dataclass
class Bond(Device):
    """A Linux bond (kinds/bond.py); its slaves are the devices whose master it is."""

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
        found = super().problems() + kind_of(self.TYPE).problems(self)
        if self.primary is not None:
            problem = name_problem(self.primary, "primary")
            if problem:
                found.append(problem)
        return found

    def combination_problems(self, given=BOND_OPTIONS) -> list:
        """Options that contradict each other (kinds/bond.py), judged on the bond's effective settings."""
        return combination_problems(self, given)


def vlan_device_name(parent: str, vlan_id: int) -> str:
    """The name a VLAN device gets when none is given: <parent>.<id>, as ifupdown and iproute2 write it."""
    return f"{parent}.{vlan_id}"


@dataclass
class Vlan(Device):
    """An 802.1Q/802.1ad VLAN device on top of `parent` (kinds/vlan.py)."""

    TYPE = "vlan"
    parent: str | None = None
    vlan_id: int | None = None
    protocol: str | None = None
    # Loose binding: the VLAN's admin state does not follow its parent's (off by default).
    loose_binding: bool | None = None

    def problems(self):
        return super().problems() + kind_of(self.TYPE).problems(self)


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

    def shallow(self) -> HostNetwork:
        """A copy that shares every device with this host until it changes one (mutable()): a prediction of a few
        operations on a 1,000-port host copies the devices they touch, not the host (review 26: net_state planned
        500 entries in minutes when every step copied the whole host)."""
        copy_ = HostNetwork(dict(self.devices))
        copy_.__dict__["_shared"] = set(self.devices)
        return copy_

    def mutable(self, name: str) -> Device | None:
        """Device `name`, safe to change in place: on a shallow() copy, its own copy of a shared device."""
        shared = self.__dict__.get("_shared")
        if shared and name in shared:
            shared.discard(name)
            self.devices[name] = self.devices[name].clone()
        return self.devices.get(name)

    def ports_of(self, master: str) -> list:
        return sorted((d for d in self.devices.values() if d.master == master), key=lambda d: d.name)

    def to_dict(self, facts: bool = False) -> dict:
        """Every device's description; `facts`: with what was read of the kernel (KERNEL_FACTS), for a snapshot."""
        return {"devices": [self.devices[n].to_dict(facts) for n in sorted(self.devices)]}

    @classmethod
    def from_dict(cls, data: dict) -> HostNetwork:
        host = cls()
        for item in data.get("devices", []):
            host.add(Device.from_dict(item))
        return host
