# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Operations and plans: what to change, in which order, and how to undo it.

An Operation is backend-neutral. It renders as the equivalent iproute2
command, updates a model (check mode's prediction), and carries the
operations that undo it, computed from the state it was planned against.
Configurators (netlink now, persistent renderers later) execute the same list.
"""
from __future__ import annotations

import copy
import ipaddress

from ansible_collections.netsafe.hypervisor.plugins.module_utils import _vlans as vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._model import (
    BOND_OPTION_MODES, BOND_OPTIONS, Bond, Bridge, GuestMatcher, HostNetwork, IpConfig, ValidationError, Vlan, name_problem,
)

LINK_ADD, LINK_SET, LINK_DEL = "link_add", "link_set", "link_del"
ADDR_ADD, ADDR_DEL = "addr_add", "addr_del"
ROUTE_REPLACE, ROUTE_DEL = "route_replace", "route_del"
BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL = "bridge_vlan_add", "bridge_vlan_del"
BRIDGE_ATTRS = ("stp", "forward_delay", "vlan_filtering")


def kind_of_attrs(params: dict) -> str | None:
    """Which link type's attributes a link_set carries: 'bridge', 'bond' or None."""
    if any(k in params for k in BRIDGE_ATTRS):
        return "bridge"
    if any(k in params for k in BOND_OPTIONS):
        return "bond"
    return None


class Operation:
    """One change to one device; `inverse` lists the operations that undo it."""

    __slots__ = ("action", "device", "params", "inverse")

    def __init__(self, action: str, device: str, params: dict | None = None, inverse=None):
        self.action = action
        self.device = device
        self.params = dict(params or {})
        self.inverse = list(inverse or [])

    def __repr__(self):
        return f"Operation({self.command()!r})"

    def __eq__(self, other):
        return isinstance(other, Operation) and (self.action, self.device, self.params) == (other.action, other.device, other.params)

    def to_dict(self) -> dict:
        return {"action": self.action, "device": self.device, "params": copy.deepcopy(self.params)}

    # -- the equivalent command ------------------------------------------------
    @property
    def program(self) -> str:
        return "bridge" if self.action in (BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL) else "ip"

    def command(self, namespace: str | None = None) -> str:
        return self.program + (" -n " + namespace if namespace else "") + " " + self.batch_line()

    def batch_line(self) -> str:
        """The command without its program name, as `ip -batch` or `bridge -batch` reads it."""
        p = self.params
        if self.action == LINK_ADD:
            words = ["link", "add"]
            if p["type"] == "vlan":
                words += ["link", p["parent"]]
            words += ["name", self.device]
            if p.get("mac"):
                words += ["address", p["mac"]]
            if p.get("mtu"):
                words += ["mtu", str(p["mtu"])]
            return " ".join(words + ["type", p["type"]] + _type_words(p["type"], p))
        if self.action == LINK_SET:
            words = ["link", "set", "dev", self.device]
            if "master" in p:
                words += ["master", p["master"]] if p["master"] else ["nomaster"]
            if "mtu" in p:
                words += ["mtu", str(p["mtu"])]
            if "mac" in p:
                words += ["address", p["mac"]]
            kind = kind_of_attrs(p)
            if kind:
                words += ["type", kind] + _type_words(kind, p)
            if "up" in p:
                words.append("up" if p["up"] else "down")
            return " ".join(words)
        if self.action == LINK_DEL:
            return f"link del dev {self.device}"
        if self.action in (ADDR_ADD, ADDR_DEL):
            verb = "add" if self.action == ADDR_ADD else "del"
            return f"address {verb} {p['address']} dev {self.device}"
        if self.action in (BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL):
            first, last = p["vids"]
            words = ["vlan", "add" if self.action == BRIDGE_VLAN_ADD else "del", "dev", self.device,
                     "vid", str(first) if first == last else f"{first}-{last}"]
            words += [w for w, on in (("pvid", p.get("pvid")), ("untagged", p.get("untagged")), ("self", p.get("self"))) if on]
            return " ".join(words)
        family = "-6 " if p["family"] == 6 else ""
        verb = "replace" if self.action == ROUTE_REPLACE else "del"
        return f"{family}route {verb} default via {p['gateway']} dev {self.device}"

    # -- the model's view of the change (check mode) ----------------------------
    def apply_to(self, host: HostNetwork) -> None:
        p = self.params
        if self.action == LINK_ADD:
            device = _new_device(self.device, p)
            parent = host.get(p.get("parent") or "")
            if parent is not None and not p.get("mtu"):
                device.mtu = parent.mtu  # a VLAN starts with its parent's MTU
            host.add(device)
            return
        if self.action == LINK_DEL:
            host.devices.pop(self.device, None)
            for dev in host.devices.values():
                if dev.master == self.device:
                    dev.master = None
                    dev.vlans = None
            return
        dev = host.get(self.device)
        if dev is None:
            return
        if self.action == LINK_SET:
            for key, value in p.items():
                setattr(dev, key, copy.deepcopy(value))
            master = host.get(p.get("master") or "")
            if "master" in p:
                dev.vlans = _default_port_vlans() if isinstance(master, Bridge) and master.vlan_filtering else None
            if p.get("vlan_filtering") is not None and isinstance(dev, Bridge):
                for port in [dev] + host.ports_of(dev.name):
                    port.vlans = _default_port_vlans() if p["vlan_filtering"] else None
        elif self.action == ADDR_ADD:
            dev.ip.addresses = sorted(set(dev.ip.addresses or []) | {p["address"]})
        elif self.action == ADDR_DEL:
            dev.ip.addresses = sorted(set(dev.ip.addresses or []) - {p["address"]})
        elif self.action == ROUTE_REPLACE:
            key = f"gateway{p['family']}"
            for other in host.devices.values():
                setattr(other.ip, key, None)
            setattr(dev.ip, key, p["gateway"])
        elif self.action == ROUTE_DEL:
            setattr(dev.ip, f"gateway{p['family']}", None)
        elif self.action in (BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL):
            flags = vlans.flags_by_vid(dev.vlans)
            first, last = p["vids"]
            for vid in range(first, last + 1):
                if self.action == BRIDGE_VLAN_DEL:
                    flags.pop(vid, None)
                else:
                    if p.get("pvid"):  # one pvid per port: the kernel moves it
                        flags = {v: (False, u) for v, (_pv, u) in flags.items()}
                    flags[vid] = (bool(p.get("pvid")), bool(p.get("untagged")))
            dev.vlans = vlans.from_flags(flags)


def _default_port_vlans() -> dict:
    """What the kernel gives a port joining a vlan-aware bridge: VLAN 1, pvid, untagged."""
    return {"pvid": 1, "untagged": [[1, 1]], "tagged": []}


def _new_device(name: str, p: dict):
    common = {"name": name, "mtu": p.get("mtu") or 1500, "mac": p.get("mac"), "up": False, "ip": IpConfig(addresses=[])}
    if p["type"] == "bond":
        options = {k: p.get(k) for k in BOND_OPTIONS}
        return Bond(**common, **{k: v for k, v in options.items() if v is not None})
    if p["type"] == "vlan":
        return Vlan(parent=p["parent"], vlan_id=p["vlan_id"], protocol=p.get("protocol", "802.1Q"), **common)
    return Bridge(stp=bool(p.get("stp", False)), forward_delay=p.get("forward_delay", 15),
                  vlan_filtering=bool(p.get("vlan_filtering", False)),
                  vlans=_default_port_vlans() if p.get("vlan_filtering") else None, **common)


def _type_words(kind: str, p: dict) -> list:
    words = []
    if kind == "bridge":
        if p.get("stp") is not None:
            words += ["stp_state", "1" if p["stp"] else "0"]
        if p.get("forward_delay") is not None:
            words += ["forward_delay", str(int(round(p["forward_delay"] * 100)))]
        if p.get("vlan_filtering") is not None:
            words += ["vlan_filtering", "1" if p["vlan_filtering"] else "0"]
    elif kind == "bond":
        for key in BOND_OPTIONS:
            value = p.get(key)
            if value is None:
                continue
            if key == "arp_ip_target":
                value = ",".join(value) if value else None
                if value is None:
                    continue
            words += [key, str(value)]
    elif kind == "vlan":
        words += ["protocol", p.get("protocol", "802.1Q"), "id", str(p["vlan_id"])]
    return words


class Plan:
    """Ordered operations plus the warnings found while planning."""

    def __init__(self, operations=None, warnings=None):
        self.operations = list(operations or [])
        self.warnings = list(warnings or [])

    def __bool__(self):
        return bool(self.operations)

    def commands(self, namespace: str | None = None) -> list:
        return [op.command(namespace) for op in self.operations]

    def predict(self, host: HostNetwork) -> HostNetwork:
        """The host as it would be after this plan (for check mode and --diff)."""
        future = copy.deepcopy(host)
        for op in self.operations:
            op.apply_to(future)
        return future


# -- views -------------------------------------------------------------------

def device_view(host: HostNetwork, name: str, kind) -> dict:
    """What a user reads about any managed device: state, MTU, MAC, addresses, master."""
    dev = host.get(name)
    if not isinstance(dev, kind):
        return {"name": name, "present": False}
    return {
        "name": name,
        "present": True,
        "up": dev.up,
        "operstate": dev.operstate,
        "mtu": dev.mtu,
        "mac": dev.mac,
        "addresses": list(dev.ip.addresses or []),
        "gateway4": dev.ip.gateway4,
        "gateway6": dev.ip.gateway6,
        "master": dev.master,
    }


def bridge_view(host: HostNetwork, name: str, guests: GuestMatcher) -> dict:
    """A bridge's settings, its uplinks and its guest ports."""
    view = device_view(host, name, Bridge)
    if not view["present"]:
        return view
    dev = host.get(name)
    ports = host.ports_of(name)
    del view["master"]
    view.update(
        stp=dev.stp,
        forward_delay=dev.forward_delay,
        vlan_filtering=dev.vlan_filtering,
        ports=[p.name for p in ports if not _is_guest(p, guests)],
        guest_ports=[p.name for p in ports if _is_guest(p, guests)],
        port_vlans={d.name: d.vlans for d in [dev] + ports if d.vlans is not None},
    )
    return view


def _is_guest(dev, guests: GuestMatcher) -> bool:
    return dev.TYPE == "guest" or guests.is_guest(dev.name, getattr(dev, "kind", ""))


# -- pieces every device planner uses ------------------------------------------------

def _set(device: str, key: str, new, old) -> Operation:
    return Operation(LINK_SET, device, {key: new}, [Operation(LINK_SET, device, {key: old})])


def _route_ops(host: HostNetwork, name: str, family: int, gateway: str):
    """Make the default route of `family` go via `gateway` on `name`."""
    key = f"gateway{family}"
    current = [(d.name, getattr(d.ip, key)) for d in host.devices.values() if getattr(d.ip, key)]
    if current == [(name, gateway)]:
        return []
    undo = [Operation(ROUTE_REPLACE, dev, {"family": family, "gateway": gw}) for dev, gw in current[:1]]
    if not undo:
        undo = [Operation(ROUTE_DEL, name, {"family": family, "gateway": gateway})]
    return [Operation(ROUTE_REPLACE, name, {"family": family, "gateway": gateway}, undo)]


def gateway_problems(name: str, desired_ip: IpConfig, current, admin_up) -> list:
    """A gateway must be reachable: inside one of the device's addresses, device up."""
    problems = []
    addresses = desired_ip.addresses if desired_ip.addresses is not None else (
        current.ip.addresses if current is not None else [])
    networks = []
    for addr in addresses or []:
        try:
            networks.append(ipaddress.ip_interface(addr).network)
        except ValueError:
            pass
    for key in ("gateway4", "gateway6"):
        gw = getattr(desired_ip, key)
        if gw is None:
            continue
        if admin_up is False:
            problems.append(f"{key}: a default route needs {name} up; admin_state is down")
            continue
        try:
            gw_ip = ipaddress.ip_address(gw)
        except ValueError:
            continue
        if not any(gw_ip in net for net in networks if net.version == gw_ip.version):
            have = ", ".join(a for a in addresses or [] if ipaddress.ip_interface(a).version == gw_ip.version) or "none"
            problems.append(f"{key}: {gw} is not inside any IPv{gw_ip.version} address of {name} ({have}); "
                            f"the kernel could not reach it")
    return problems


def plan_mtu_ip_state(host: HostNetwork, name: str, current, mtu, ip: IpConfig, admin_up) -> list:
    """MTU, admin state, new addresses, default routes, then old addresses go.

    The order is chosen for the undo, which runs the inverses newest first:
    old addresses go last, so they are back before a default route whose
    gateway only they make reachable is restored (the kernel refuses it
    otherwise); the admin state changes before addresses are added, so new
    addresses are deleted while the device is still up (taking it down first
    would flush its IPv6 addresses and the deletes would fail).
    """
    ops = []
    current_mtu = current.mtu if current is not None else 1500
    current_addresses = list(current.ip.addresses or []) if current is not None else []
    current_up = bool(current.up) if current is not None else False
    if mtu is not None and mtu != current_mtu:
        ops.append(_set(name, "mtu", mtu, current_mtu))
    if admin_up is not None and admin_up != current_up:
        ops.append(_set(name, "up", admin_up, current_up))
    removals = []
    if ip.addresses is not None:
        for addr in ip.addresses:
            if addr not in current_addresses:
                ops.append(Operation(ADDR_ADD, name, {"address": addr}, [Operation(ADDR_DEL, name, {"address": addr})]))
        for addr in current_addresses:
            if addr not in ip.addresses:
                removals.append(Operation(ADDR_DEL, name, {"address": addr}, [Operation(ADDR_ADD, name, {"address": addr})]))
    for family in (4, 6):
        gw = getattr(ip, f"gateway{family}")
        if gw is not None:
            ops += _route_ops(host, name, family, gw)
    return ops + removals


def rebuild_device(host: HostNetwork, name: str) -> list:
    """Operations that re-create `name` as it is in `host`: ports, VLANs, addresses and all."""
    dev = host.get(name)
    create = {"mac": dev.mac}
    if isinstance(dev, Bridge):
        # vlan_filtering only when on: off is a new bridge's default, and a kernel built without
        # bridge VLAN filtering refuses the attribute even as 0 (the rebuild would fail there).
        create.update(type="bridge", stp=dev.stp, forward_delay=dev.forward_delay, vlan_filtering=dev.vlan_filtering or None)
    elif isinstance(dev, Bond):
        # Only options the bond's mode accepts; primary once its slaves are back. updelay and
        # downdelay only with MII monitoring: without it the kernel refuses them, even as 0 (EPERM).
        mode = dev.mode or "balance-rr"
        skip = {"primary"} | ({"updelay", "downdelay"} if not dev.miimon else set())
        create.update(type="bond", **{k: v for k, v in dev.options().items() if v not in (None, [])
                                      and k not in skip and mode in BOND_OPTION_MODES.get(k, (mode,))})
    else:
        create.update(type="vlan", parent=dev.parent, vlan_id=dev.vlan_id, protocol=dev.protocol)
    ops = [Operation(LINK_ADD, name, {k: v for k, v in create.items() if v is not None})]
    members = host.ports_of(name)
    if isinstance(dev, Bond):
        ops += [Operation(LINK_SET, m.name, {"up": False}) for m in members if m.up]
    ops += [Operation(LINK_SET, m.name, {"master": name}) for m in members]
    if isinstance(dev, Bond) and dev.primary:
        ops.append(Operation(LINK_SET, name, {"primary": dev.primary}))
    if dev.master:
        ops.append(Operation(LINK_SET, name, {"master": dev.master}))
    if isinstance(dev, Bridge) and dev.vlan_filtering:
        for member in [dev] + members:
            ops += plan_port_vlans(member.name, _default_port_vlans(), member.vlans or {}, self_entry=member is dev)
    if dev.mtu:
        ops.append(Operation(LINK_SET, name, {"mtu": dev.mtu}))
    ops += [Operation(ADDR_ADD, name, {"address": a}) for a in dev.ip.addresses or []]
    if dev.up:
        ops.append(Operation(LINK_SET, name, {"up": True}))
    for family in (4, 6):
        gw = getattr(dev.ip, f"gateway{family}")
        if gw:
            ops.append(Operation(ROUTE_REPLACE, name, {"family": family, "gateway": gw}))
    return ops


def plan_delete(host: HostNetwork, name: str) -> Operation:
    """Delete `name`; its undo rebuilds it as it was."""
    return Operation(LINK_DEL, name, {}, rebuild_device(host, name))


def vlan_users(host: HostNetwork, name: str) -> list:
    """VLAN devices on top of `name`: the kernel deletes them with it."""
    return sorted(d.name for d in host.devices.values() if isinstance(d, Vlan) and d.parent == name)


def deletable(host: HostNetwork, name: str, kind):
    """The device `name` if a task may delete it (None if it is gone already).

    Refused when it is another kind of device, when VLANs sit on it (the
    kernel would delete them too) or while it is a port of a bridge or bond.
    """
    problem = name_problem(name)
    if problem:
        raise ValidationError([problem])
    current = host.get(name)
    if current is None:
        return None
    if not isinstance(current, kind):
        raise ValidationError([f"name: {name!r} is a {current.TYPE}, not a {kind.TYPE}; refusing to delete it"])
    users = [f"VLAN {v}" for v in vlan_users(host, name)] + ([f"master {current.master}"] if current.master else [])
    if users:
        raise ValidationError([f"state: {kind.TYPE} {name!r} is still used by {', '.join(users)}; deleting it would take "
                               f"them down too. Remove those first"])
    return current


def checked(plan: Plan, host: HostNetwork, names) -> Plan:
    """`plan`, once the host it would leave behind keeps the topology rules for `names`."""
    problems = topology_problems(plan.predict(host), names) if plan else []
    if problems:
        raise ValidationError(problems)
    return plan


def topology_problems(host: HostNetwork, names) -> list:
    """oVirt's combination rules, checked on the host a plan would leave behind.

    Bond slaves are NICs; a VLAN sits on a NIC, bond or bridge; a bridge's
    ports are NICs, bonds, VLANs or guest ports; a master is a bridge or bond.
    Only devices in `names` (and what they touch) are judged, so an odd but
    unrelated corner of the host does not block a task.
    """
    problems = []
    for name in sorted(set(names)):
        dev = host.get(name)
        if dev is None:
            continue
        for member in [dev] + host.ports_of(name):
            master = host.get(member.master) if member.master else None
            if member.master and master is None:
                continue
            if master is not None and not isinstance(master, (Bridge, Bond)):
                problems.append(f"{member.name} cannot be a port of {master.name}: a {master.TYPE} has no ports")
            elif isinstance(master, Bond) and member.TYPE != "nic":
                problems.append(f"{member.name} is a {member.TYPE}; only NICs can be slaves of bond {master.name}")
            elif isinstance(master, Bridge) and member.TYPE not in ("nic", "bond", "vlan", "guest"):
                problems.append(f"{member.name} is a {member.TYPE}; ports of bridge {master.name} are NICs, bonds, VLANs or guest ports")
        if isinstance(dev, Vlan):
            parent = host.get(dev.parent) if dev.parent else None
            if parent is not None and parent.TYPE not in ("nic", "bond", "bridge"):
                problems.append(f"{dev.name}: a VLAN sits on a NIC, bond or bridge; {parent.name} is a {parent.TYPE}")
    return problems


def _member_problem(host: HostNetwork, owner: str, param: str, port: str, seen: set, what: str):
    """Why `port` cannot become a member of `owner` (shared by bridge ports and bond slaves)."""
    problem = name_problem(port, param)
    if problem:
        return problem
    if port in seen:
        return f"{param}: {port!r} is listed twice"
    if port == owner:
        return f"{param}: {port!r} is the {what} itself"
    dev = host.get(port)
    if dev is None:
        return f"{param}: {port!r} does not exist; create it first or remove it from {param}"
    if port == "lo" or (dev.mac == "00:00:00:00:00:00" and getattr(dev, "kind", None) == ""):
        return f"{param}: {port!r} is a loopback device and cannot be a {what} member"
    return None


# -- bridges ------------------------------------------------------------------------------

def check_bridge(host: HostNetwork, desired: Bridge, ports, admin_up, port_vlans=None) -> list:
    """Problems of a desired bridge against the current host."""
    problems = desired.problems()
    current = host.get(desired.name)
    if current is not None and not isinstance(current, Bridge):
        problems.append(f"name: {desired.name!r} already exists and is a {current.TYPE} "
                        f"({getattr(current, 'kind', '') or current.TYPE}), not a bridge")
        return problems
    stp = desired.stp if desired.stp is not None else (current.stp if current is not None else False)
    fd = desired.forward_delay if desired.forward_delay is not None else (current.forward_delay if current is not None else 15)
    if stp and fd is not None and fd < 2 and desired.forward_delay is None:
        problems.append(f"stp: enabling STP needs forward_delay of 2-30 seconds; the bridge has {fd}: set forward_delay too")
    if ports is not None:
        seen: set = set()
        for port in ports:
            problem = _member_problem(host, desired.name, "ports", port, seen, "bridge")
            dev = host.get(port)
            if problem is None and isinstance(dev, Bridge):
                problem = f"ports: {port!r} is a bridge; a bridge cannot be a port of another bridge"
            if problem is None and dev.master and dev.master != desired.name:
                problem = f"ports: {port!r} is already a port of {dev.master!r}; release it there first"
            if problem:
                problems.append(problem)
            seen.add(port)
    if port_vlans:
        filtering = desired.vlan_filtering if desired.vlan_filtering is not None else bool(current and current.vlan_filtering)
        if not filtering:
            problems.append("port_vlans: needs vlan_filtering: true on the bridge")
        members = set(ports) if ports is not None else {p.name for p in host.ports_of(desired.name)}
        if ports is not None and current is not None:
            members |= {p.name for p in host.ports_of(desired.name) if p.TYPE == "guest"}
        for port in port_vlans:
            if port != desired.name and port not in members:
                problems.append(f"port_vlans: {port!r} is not a port of {desired.name} (ports: {', '.join(sorted(members)) or 'none'})")
    problems += gateway_problems(desired.name, desired.ip, current, admin_up)
    return problems


def plan_bridge(host: HostNetwork, desired: Bridge, ports, admin_up, guests: GuestMatcher,
                port_vlans: dict | None = None) -> Plan:
    """Operations that take bridge `desired.name` from `host` to the desired state.

    `ports` None leaves uplinks alone; a list makes the uplinks exactly that
    list. Guest ports are never released. `port_vlans` maps a port (or the
    bridge itself) to its VLAN membership on a vlan-aware bridge. Addresses
    and gateways None are left alone. Order: create or set attributes,
    release unwanted uplinks (before new ones join, so two uplinks never loop
    without STP), enslave new ones, port VLANs, MTU (after the ports: a
    bridge adopts its smallest port's MTU unless set afterwards), admin
    state, new addresses, default routes, old addresses (plan_mtu_ip_state).
    """
    problems = check_bridge(host, desired, ports, admin_up, port_vlans)
    if problems:
        raise ValidationError(problems)
    name = desired.name
    ops: list = []
    warnings: list = []
    current = host.get(name)
    if current is None:
        create = {"type": "bridge", "stp": desired.stp, "forward_delay": desired.forward_delay,
                  "vlan_filtering": desired.vlan_filtering, "mac": desired.mac}
        ops.append(Operation(LINK_ADD, name, {k: v for k, v in create.items() if v is not None}, [Operation(LINK_DEL, name)]))
        before_ports: list = []
    else:
        # STP off goes before a short forward_delay (refused while STP runs);
        # STP on goes after a valid one.
        order = ("stp", "forward_delay") if desired.stp is False else ("forward_delay", "stp")
        for key in order + ("vlan_filtering",):
            new, old = getattr(desired, key), getattr(current, key)
            if new is not None and new != old:
                ops.append(_set(name, key, new, old))
        if desired.mac is not None and desired.mac != current.mac:
            ops.append(_set(name, "mac", desired.mac, current.mac))
        before_ports = host.ports_of(name)

    if ports is not None:
        wanted = set(ports)
        for port in before_ports:
            if port.name not in wanted and not _is_guest(port, guests):
                ops.append(_set(port.name, "master", None, name))
        for port in ports:
            dev = host.get(port)
            if dev.master != name:
                ops.append(_set(port, "master", name, dev.master))
            if not dev.up:
                ops.append(_set(port, "up", True, False))
    if port_vlans:
        future = Plan(ops).predict(host)
        for port in sorted(port_vlans):
            ops += plan_port_vlans(port, future.get(port).vlans, port_vlans[port], self_entry=port == name)
    if desired.mtu is not None:
        uplinks = ports if ports is not None else [p.name for p in before_ports if not _is_guest(p, guests)]
        for port in uplinks:
            dev = host.get(port)
            if dev is not None and dev.mtu is not None and dev.mtu < desired.mtu:
                warnings.append(f"mtu: {name} gets mtu {desired.mtu} but its port {port} has mtu {dev.mtu}; "
                                f"frames larger than {dev.mtu} will not leave through {port}")
    ops += plan_mtu_ip_state(host, name, current, desired.mtu, desired.ip.normalized(), admin_up)
    return Plan(ops, warnings)


def plan_bridge_absent(host: HostNetwork, name: str, guests: GuestMatcher, detach_guests: bool) -> Plan:
    """Delete bridge `name`; refused while guest ports hang on it unless accepted."""
    if deletable(host, name, Bridge) is None:
        return Plan()
    guest_ports = [p.name for p in host.ports_of(name) if _is_guest(p, guests)]
    warnings = []
    if guest_ports:
        if not detach_guests:
            raise ValidationError([
                f"state: bridge {name!r} still carries guest ports {', '.join(guest_ports)}; deleting it would cut "
                f"those guests off. Move them first, or set detach_guests: true to accept that"])
        warnings.append(f"detach_guests: guest ports {', '.join(guest_ports)} lose their bridge {name}")
    return Plan([plan_delete(host, name)], warnings)


# -- bridge port VLANs --------------------------------------------------------------------

def plan_port_vlans(port: str, current: dict | None, desired: dict, self_entry: bool = False) -> list:
    """Operations that make `port`'s membership `desired`; each carries its undo."""
    if current == desired:
        return []
    have = vlans.flags_by_vid(current)
    want = vlans.flags_by_vid(desired)
    ops = []
    changed = sorted((vid, flags) for vid, flags in want.items() if have.get(vid) != flags)
    for first, last, (pvid, untagged) in vlans.runs(changed):
        params = {"vids": [first, last], "pvid": pvid, "untagged": untagged}
        if self_entry:
            params["self"] = True
        undo = []
        for vid in range(first, last + 1):
            old = have.get(vid)
            if old is None:
                undo.append(Operation(BRIDGE_VLAN_DEL, port, {"vids": [vid, vid], **({"self": True} if self_entry else {})}))
            else:
                undo.append(Operation(BRIDGE_VLAN_ADD, port, {"vids": [vid, vid], "pvid": old[0], "untagged": old[1],
                                                              **({"self": True} if self_entry else {})}))
        ops.append(Operation(BRIDGE_VLAN_ADD, port, params, _compact(undo)))
    gone = sorted((vid, have[vid]) for vid in have if vid not in want)
    for first, last, _flags in vlans.runs([(vid, (False, False)) for vid, _f in gone]):
        params = {"vids": [first, last], **({"self": True} if self_entry else {})}
        undo = [Operation(BRIDGE_VLAN_ADD, port, {"vids": [a, b], "pvid": f[0], "untagged": f[1],
                                                  **({"self": True} if self_entry else {})})
                for a, b, f in vlans.runs([(vid, have[vid]) for vid in range(first, last + 1)])]
        ops.append(Operation(BRIDGE_VLAN_DEL, port, params, undo))
    # Removals first: dropping the old pvid VLAN must not undo a new pvid set after it.
    return [op for op in ops if op.action == BRIDGE_VLAN_DEL] + [op for op in ops if op.action == BRIDGE_VLAN_ADD]


def _compact(ops: list) -> list:
    """Merge consecutive single-vid undo operations with equal flags into ranges."""
    out: list = []
    for op in ops:
        prev = out[-1] if out else None
        if (prev and prev.action == op.action and prev.device == op.device
                and {k: v for k, v in prev.params.items() if k != "vids"} == {k: v for k, v in op.params.items() if k != "vids"}
                and not op.params.get("pvid") and prev.params["vids"][1] + 1 == op.params["vids"][0]):
            prev.params["vids"] = [prev.params["vids"][0], op.params["vids"][1]]
            continue
        out.append(Operation(op.action, op.device, dict(op.params, vids=list(op.params["vids"]))))
    return out
