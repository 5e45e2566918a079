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

from ansible_collections.netsafe.hypervisor.plugins.module_utils._model import (
    Bridge, GuestMatcher, HostNetwork, IpConfig, ValidationError, name_problem,
)

LINK_ADD, LINK_SET, LINK_DEL = "link_add", "link_set", "link_del"
ADDR_ADD, ADDR_DEL = "addr_add", "addr_del"
ROUTE_REPLACE, ROUTE_DEL = "route_replace", "route_del"
BRIDGE_ATTRS = ("stp", "forward_delay")


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
        return {"action": self.action, "device": self.device, "params": dict(self.params)}

    # -- the equivalent command ------------------------------------------------
    def command(self, namespace: str | None = None) -> str:
        return ("ip -n " + namespace + " " if namespace else "ip ") + self.batch_line()

    def batch_line(self) -> str:
        """The command without its leading 'ip', as `ip -batch` reads it."""
        p = self.params
        if self.action == LINK_ADD:
            words = ["link", "add", "name", self.device]
            if p.get("mac"):
                words += ["address", p["mac"]]
            if p.get("mtu"):
                words += ["mtu", str(p["mtu"])]
            words += ["type", p["type"]] + _bridge_words(p)
            return " ".join(words)
        if self.action == LINK_SET:
            words = ["link", "set", "dev", self.device]
            if "master" in p:
                words += ["master", p["master"]] if p["master"] else ["nomaster"]
            if "mtu" in p:
                words += ["mtu", str(p["mtu"])]
            if "mac" in p:
                words += ["address", p["mac"]]
            if any(k in p for k in BRIDGE_ATTRS):
                words += ["type", "bridge"] + _bridge_words(p)
            if "up" in p:
                words.append("up" if p["up"] else "down")
            return " ".join(words)
        if self.action == LINK_DEL:
            return f"link del dev {self.device}"
        if self.action in (ADDR_ADD, ADDR_DEL):
            verb = "add" if self.action == ADDR_ADD else "del"
            return f"address {verb} {p['address']} dev {self.device}"
        family = "-6 " if p["family"] == 6 else ""
        verb = "replace" if self.action == ROUTE_REPLACE else "del"
        return f"{family}route {verb} default via {p['gateway']} dev {self.device}"

    # -- the model's view of the change (check mode) ----------------------------
    def apply_to(self, host: HostNetwork) -> None:
        p = self.params
        if self.action == LINK_ADD:
            host.add(Bridge(name=self.device, mtu=1500, mac=p.get("mac"), up=False,
                            stp=bool(p.get("stp", False)), forward_delay=p.get("forward_delay", 15),
                            vlan_filtering=False, ip=IpConfig(addresses=[])))
            return
        if self.action == LINK_DEL:
            host.devices.pop(self.device, None)
            for dev in host.devices.values():
                if dev.master == self.device:
                    dev.master = None
            return
        dev = host.get(self.device)
        if dev is None:
            return
        if self.action == LINK_SET:
            for key, value in p.items():
                setattr(dev, key, value)
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


def _bridge_words(p: dict) -> list:
    words = []
    if p.get("stp") is not None:
        words += ["stp_state", "1" if p["stp"] else "0"]
    if p.get("forward_delay") is not None:
        words += ["forward_delay", str(int(round(p["forward_delay"] * 100)))]
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

def bridge_view(host: HostNetwork, name: str, guests: GuestMatcher) -> dict:
    """What a user reads about one bridge: its settings, uplinks and guest ports."""
    dev = host.get(name)
    if not isinstance(dev, Bridge):
        return {"name": name, "present": False}
    ports = host.ports_of(name)
    return {
        "name": name,
        "present": True,
        "up": dev.up,
        "operstate": dev.operstate,
        "mtu": dev.mtu,
        "mac": dev.mac,
        "stp": dev.stp,
        "forward_delay": dev.forward_delay,
        "vlan_filtering": dev.vlan_filtering,
        "addresses": list(dev.ip.addresses or []),
        "gateway4": dev.ip.gateway4,
        "gateway6": dev.ip.gateway6,
        "ports": [p.name for p in ports if not _is_guest(p, guests)],
        "guest_ports": [p.name for p in ports if _is_guest(p, guests)],
    }


def _is_guest(dev, guests: GuestMatcher) -> bool:
    return dev.TYPE == "guest" or guests.is_guest(dev.name, getattr(dev, "kind", ""))


# -- planning a bridge --------------------------------------------------------------

def rebuild_bridge(host: HostNetwork, name: str) -> list:
    """Operations that re-create bridge `name` as it is in `host`, ports and all."""
    br = host.get(name)
    ops = [Operation(LINK_ADD, name, {"type": "bridge", "stp": br.stp, "forward_delay": br.forward_delay,
                                      "mac": br.mac})]
    ops += [Operation(LINK_SET, port.name, {"master": name}) for port in host.ports_of(name)]
    if br.mtu:
        ops.append(Operation(LINK_SET, name, {"mtu": br.mtu}))
    ops += [Operation(ADDR_ADD, name, {"address": a}) for a in br.ip.addresses or []]
    if br.up:
        ops.append(Operation(LINK_SET, name, {"up": True}))
    for family in (4, 6):
        gw = getattr(br.ip, f"gateway{family}")
        if gw:
            ops.append(Operation(ROUTE_REPLACE, name, {"family": family, "gateway": gw}))
    return ops


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


def check_bridge(host: HostNetwork, desired: Bridge, ports, admin_up, guests: GuestMatcher,
                 max_mtu: dict | None = None) -> list:
    """Problems of a desired bridge against the current host; warnings come back as ('warn', text)."""
    problems = desired.problems()
    current = host.get(desired.name)
    if current is not None and not isinstance(current, Bridge):
        problems.append(f"name: {desired.name!r} already exists and is a {current.TYPE} "
                        f"({getattr(current, 'kind', '') or current.TYPE}), not a bridge")
    stp = desired.stp if desired.stp is not None else (current.stp if isinstance(current, Bridge) else False)
    fd = desired.forward_delay if desired.forward_delay is not None else (
        current.forward_delay if isinstance(current, Bridge) else 15)
    if stp and fd is not None and fd < 2 and desired.forward_delay is None:
        problems.append(f"stp: enabling STP needs forward_delay of 2-30 seconds; the bridge has {fd}: set forward_delay too")
    if ports is not None:
        seen = set()
        for port in ports:
            problem = _port_problem(host, desired.name, port, seen)
            if problem:
                problems.append(problem)
            seen.add(port)
    addresses = desired.ip.addresses if desired.ip.addresses is not None else (
        current.ip.addresses if current is not None else [])
    networks = []
    for addr in addresses or []:
        try:
            networks.append(ipaddress.ip_interface(addr).network)
        except ValueError:
            pass
    for key in ("gateway4", "gateway6"):
        gw = getattr(desired.ip, key)
        if gw is None:
            continue
        if admin_up is False:
            problems.append(f"{key}: a default route needs the bridge up; admin_state is down")
            continue
        try:
            gw_ip = ipaddress.ip_address(gw)
        except ValueError:
            continue
        if not any(gw_ip in net for net in networks if net.version == gw_ip.version):
            have = ", ".join(a for a in addresses or [] if ipaddress.ip_interface(a).version == gw_ip.version) or "none"
            problems.append(f"{key}: {gw} is not inside any IPv{gw_ip.version} address of {desired.name} ({have}); "
                            f"the kernel could not reach it")
    return problems


def _port_problem(host: HostNetwork, bridge: str, port: str, seen: set):
    problem = name_problem(port, "ports")
    if problem:
        return problem
    if port in seen:
        return f"ports: {port!r} is listed twice"
    if port == bridge:
        return f"ports: {port!r} is the bridge itself"
    dev = host.get(port)
    if dev is None:
        return f"ports: {port!r} does not exist; create it first or remove it from ports"
    if isinstance(dev, Bridge):
        return f"ports: {port!r} is a bridge; a bridge cannot be a port of another bridge"
    if port == "lo" or (dev.mac == "00:00:00:00:00:00" and getattr(dev, "kind", None) == ""):
        return f"ports: {port!r} is a loopback device and cannot be a bridge port"
    if dev.master and dev.master != bridge:
        return f"ports: {port!r} is already a port of {dev.master!r}; release it there first"
    return None


def plan_bridge(host: HostNetwork, desired: Bridge, ports, admin_up, guests: GuestMatcher,
                max_mtu: dict | None = None) -> Plan:
    """Operations that take bridge `desired.name` from `host` to the desired state.

    `ports` None leaves uplinks alone; a list makes the uplinks exactly that
    list. Guest ports are never released. Addresses and gateways None are left
    alone. Order: create or set attributes, release unwanted uplinks (before
    new ones join, so two uplinks never loop without STP), enslave new ones,
    MTU, addresses (add before delete), admin state, default routes.
    """
    problems = check_bridge(host, desired, ports, admin_up, guests, max_mtu)
    if problems:
        raise ValidationError(problems)
    name = desired.name
    ops: list = []
    warnings: list = []
    current = host.get(name)
    ip = desired.ip.normalized()
    if current is None:
        # MTU is set after the ports join: a bridge created with one adopts
        # its smallest port's MTU unless the MTU is set on it afterwards.
        create = {"type": "bridge", "stp": desired.stp, "forward_delay": desired.forward_delay, "mac": desired.mac}
        create = {k: v for k, v in create.items() if v is not None}
        ops.append(Operation(LINK_ADD, name, create, [Operation(LINK_DEL, name)]))
        before_ports: list = []
        current_addresses: list = []
        current_up = False
        current_mtu = 1500
    else:
        attr_ops = []
        for key in ("forward_delay", "stp"):
            new, old = getattr(desired, key), getattr(current, key)
            if new is not None and new != old:
                attr_ops.append(_set(name, key, new, old))
        if desired.stp is False and len(attr_ops) == 2:
            attr_ops.reverse()  # STP off first, or a short forward_delay is refused
        ops += attr_ops
        if desired.mac is not None and desired.mac != current.mac:
            ops.append(_set(name, "mac", desired.mac, current.mac))
        before_ports = host.ports_of(name)
        current_addresses = list(current.ip.addresses or [])
        current_up = bool(current.up)
        current_mtu = current.mtu

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
    if desired.mtu is not None and desired.mtu != current_mtu:
        ops.append(_set(name, "mtu", desired.mtu, current_mtu))
    if desired.mtu is not None and max_mtu is not None:
        uplinks = ports if ports is not None else [p.name for p in before_ports if not _is_guest(p, guests)]
        for port in uplinks:
            dev = host.get(port)
            if dev is not None and dev.mtu is not None and dev.mtu < desired.mtu:
                warnings.append(f"mtu: {name} gets mtu {desired.mtu} but its port {port} has mtu {dev.mtu}; "
                                f"frames larger than {dev.mtu} will not leave through {port}")

    if ip.addresses is not None:
        for addr in ip.addresses:
            if addr not in current_addresses:
                ops.append(Operation(ADDR_ADD, name, {"address": addr}, [Operation(ADDR_DEL, name, {"address": addr})]))
        for addr in current_addresses:
            if addr not in ip.addresses:
                ops.append(Operation(ADDR_DEL, name, {"address": addr}, [Operation(ADDR_ADD, name, {"address": addr})]))
    if admin_up is not None and admin_up != current_up:
        ops.append(_set(name, "up", admin_up, current_up))
    for family in (4, 6):
        gw = getattr(ip, f"gateway{family}")
        if gw is not None:
            ops += _route_ops(host, name, family, gw)
    return Plan(ops, warnings)


def plan_bridge_absent(host: HostNetwork, name: str, guests: GuestMatcher, detach_guests: bool) -> Plan:
    """Delete bridge `name`; refused while guest ports hang on it unless accepted."""
    problem = name_problem(name)
    if problem:
        raise ValidationError([problem])
    current = host.get(name)
    if current is None:
        return Plan()
    if not isinstance(current, Bridge):
        raise ValidationError([f"name: {name!r} is a {current.TYPE}, not a bridge; refusing to delete it"])
    guest_ports = [p.name for p in host.ports_of(name) if _is_guest(p, guests)]
    warnings = []
    if guest_ports:
        if not detach_guests:
            raise ValidationError([
                f"state: bridge {name!r} still carries guest ports {', '.join(guest_ports)}; deleting it would cut "
                f"those guests off. Move them first, or set detach_guests: true to accept that"])
        warnings.append(f"detach_guests: guest ports {', '.join(guest_ports)} lose their bridge {name}")
    return Plan([Operation(LINK_DEL, name, {}, rebuild_bridge(host, name))], warnings)
