# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Planning a bridge: uplinks, STP, forward delay, vlan-aware ports, MTU, addresses.

Guest ports (a VM's tap, a container's veth) on the bridge are never released
because `ports` did not list them, and a bridge that still carries guests is
not deleted unless the task accepts that.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bridge, GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_DEL, Operation
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import (
    Plan, create_device, deletable, device_problems, gateway_problems, member_problem, plan_delete, plan_mtu_ip_state,
    port_settings,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE_PORT
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_mtu import follow_mtu
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_port_vlans import plan_port_vlans


def _members(host: HostNetwork, desired: Bridge, ports, current) -> set:
    """The ports the bridge will have: `ports` (or today's) plus the guest ports it carries."""
    members = set(ports) if ports is not None else {p.name for p in host.ports_of(desired.name)}
    if ports is not None and current is not None:
        members |= {p.name for p in host.ports_of(desired.name) if p.TYPE == "guest"}
    return members


def _port_options_problems(host, desired: Bridge, ports, current, port_options: dict) -> list:
    """Each port of `port_options` must be a port of the bridge; each value in the kernel's range."""
    problems = []
    members = _members(host, desired, ports, current)
    for port, wanted in sorted(port_options.items()):
        if port not in members:
            problems.append(f"port_options: {port!r} is not a port of {desired.name} "
                            f"(ports: {', '.join(sorted(members)) or 'none'})")
        for attr in BRIDGE_PORT.attrs:
            value = wanted.get(attr.name)
            problem = value is not None and attr.check.problem(f"port_options[{port}].{attr.word}", value)
            if problem:
                problems.append(problem)
    return problems


def check_bridge(host: HostNetwork, desired: Bridge, ports, admin_up, port_vlans=None, take_over=(),
                 port_options=None) -> list:
    """Problems of a desired bridge against the current host (`take_over`: ports it may take from another master)."""
    problems = device_problems(host, desired)
    current = host.get(desired.name)
    if current is not None and not isinstance(current, Bridge):
        problems.append(f"name: {desired.name!r} already exists and is a {current.TYPE} "
                        f"({getattr(current, 'kind', '') or current.TYPE}), not a bridge")
        return problems
    stp = desired.stp if desired.stp is not None else (current.stp if current is not None else False)
    fd = desired.forward_delay if desired.forward_delay is not None else (current.forward_delay if current is not None else 15)
    if stp and fd is not None and fd < 2 and desired.forward_delay is None:
        problems.append(f"stp: enabling STP needs forward_delay of 2-30 seconds; the bridge has {fd:g}: set forward_delay too")
    if ports is not None:
        seen: set = set()
        for port in ports:
            problem = member_problem(host, desired.name, "ports", port, seen, "bridge")
            dev = host.get(port)
            if problem is None and isinstance(dev, Bridge):
                problem = f"ports: {port!r} is a bridge; a bridge cannot be a port of another bridge"
            if problem is None and dev.master and dev.master != desired.name and port not in take_over:
                problem = f"ports: {port!r} is already a port of {dev.master!r}; release it there first"
            if problem:
                problems.append(problem)
            seen.add(port)
    if port_vlans:
        filtering = desired.vlan_filtering if desired.vlan_filtering is not None else bool(current and current.vlan_filtering)
        if not filtering:
            problems.append("port_vlans: needs vlan_filtering: true on the bridge")
        members = _members(host, desired, ports, current)
        for port in port_vlans:
            if port != desired.name and port not in members:
                problems.append(f"port_vlans: {port!r} is not a port of {desired.name} (ports: {', '.join(sorted(members)) or 'none'})")
    if port_options:
        problems += _port_options_problems(host, desired, ports, current, port_options)
    problems += gateway_problems(desired.name, desired.ip, current, admin_up)
    return problems


def plan_bridge(host: HostNetwork, desired: Bridge, ports, admin_up, guests: GuestMatcher,
                port_vlans: dict | None = None, port_states: dict | None = None, take_over=(),
                port_options: dict | None = None, port_mtu: str | None = None, described_mtus: dict | None = None) -> Plan:
    """Operations that take bridge `desired.name` from `host` to the desired state.

    `ports` None leaves uplinks alone; a list makes the uplinks exactly that
    list, each brought up if it is down, except a port whose admin state
    `port_states` gives: that one is decided by the port's own description
    (plan_host: a NIC the operator took down stays down), never by its
    bridge. Guest ports are never released. A port in `take_over` that
    another master holds is released there first (plan_host: that master
    is described without it, so it lets go anyway). `port_vlans` maps a port (or the
    bridge itself) to its VLAN membership on a vlan-aware bridge; `port_options`
    a port to its bridge-port attributes ({port_cost, port_priority}). Addresses
    and gateways None are left alone. `port_mtu` (follow, refuse; None: a
    plan to a described host, which gives every MTU itself) decides what a
    new MTU does to the path below the bridge (plan_mtu.py; `described_mtus`:
    the devices the task gives an MTU of their own). Order: create or set attributes,
    release unwanted uplinks (before new ones join, so two uplinks never loop
    without STP), enslave new ones, port VLANs, MTU (after the ports: a
    bridge adopts its smallest port's MTU unless set afterwards; the path
    raised before it, lowered after it), admin
    state, new addresses, default routes, old addresses (plan_mtu_ip_state).
    """
    problems = check_bridge(host, desired, ports, admin_up, port_vlans, take_over, port_options)
    if problems:
        raise ValidationError(problems)
    name = desired.name
    ops: list = []
    warnings: list = []
    current = host.get(name)
    if current is None:
        ops.append(create_device(desired, [Operation(LINK_DEL, name)]))
        before_ports: list = []
    else:
        # STP off goes before a short forward_delay (refused while STP runs);
        # STP on goes after a valid one.
        order = ("stp", "forward_delay") if desired.stp is False else ("forward_delay", "stp")
        for key in order + tuple(k for k in BRIDGE.names if k not in order):
            new, old = getattr(desired, key), getattr(current, key)
            if key == "vlan_filtering" and old is None:
                old = False  # a kernel without bridge VLAN filtering does not report it: it is off
            if new is not None and new != old:
                ops.append(Operation.setting(name, key, new, old))
        if desired.mac is not None and desired.mac != current.mac:
            ops.append(Operation.setting(name, "mac", desired.mac, current.mac))
        before_ports = host.ports_of(name)

    if ports is not None:
        wanted = set(ports)
        for port in before_ports:
            if port.name not in wanted and not guests.is_guest_device(port):
                ops.append(Operation.setting(port.name, "master", None, name))
        for port in ports:
            dev = host.get(port)
            if dev.master != name:
                if dev.master:   # in take_over (check_bridge): released there first
                    ops.append(Operation.setting(port, "master", None, dev.master))
                ops.append(Operation.setting(port, "master", name, None))
            if not dev.up and port not in (port_states or {}):
                ops.append(Operation.setting(port, "up", True, False))
    if port_options:
        future = Plan(ops).predict(host)
        for port in sorted(port_options):
            ops += port_settings(port, future.get(port), port_options[port])
    if port_vlans:
        future = Plan(ops).predict(host)
        for port in sorted(port_vlans):
            ops += plan_port_vlans(port, future.get(port).vlans, port_vlans[port], self_entry=port == name)
    raise_path, lower_path = [], []
    if desired.mtu is not None and port_mtu is not None:
        raise_path, lower_path, problems = follow_mtu(Plan(ops).predict(host), name, desired.mtu, guests, port_mtu,
                                                      described_mtus)
        if problems:
            raise ValidationError(problems)
    elif desired.mtu is not None:
        uplinks = ports if ports is not None else [p.name for p in before_ports if not guests.is_guest_device(p)]
        for port in uplinks:
            dev = host.get(port)
            if dev is not None and dev.mtu is not None and dev.mtu < desired.mtu:
                warnings.append(f"mtu: {name} gets mtu {desired.mtu} but its port {port} has mtu {dev.mtu}; "
                                f"frames larger than {dev.mtu} will not leave through {port}"
                                + ("; raise it with netsafe.hypervisor.net_nic" if dev.TYPE == "nic" else ""))
    if desired.mtu is not None and current is not None and desired.mtu < (current.mtu or 1500):
        above = [f"{p.name} ({p.mtu})" for p in host.ports_of(name) if guests.is_guest_device(p) and (p.mtu or 0) > desired.mtu]
        if above:
            warnings.append(f"mtu: guest ports {', '.join(above)} stay above {name}'s new mtu {desired.mtu}: the bridge "
                            f"drops their larger frames. Give them the bridge's MTU with netsafe.hypervisor.tap_reenslave "
                            f"(sync_mtu: true), or restart those guests")
    own = plan_mtu_ip_state(host, name, current, desired.mtu, desired.ip.normalized(), admin_up)
    at = next((i + 1 for i, op in enumerate(own) if op.device == name and "mtu" in op.params), 0)
    # The bridge's own MTU goes first, also when raising: a bridge nobody set follows its smallest port
    # (br_mtu_auto_adjust), so an uplink raised (or joining at the new MTU) before it would raise it too, the set
    # after would change nothing (an equal MTU never reaches br_change_mtu), and the first guest port at 1500 to
    # join would take it back down. Set first, it is the bridge's own and holds; the kernel takes a bridge above
    # its ports. Raising, that is before any port joins (right after a new bridge's `link add`).
    if at and desired.mtu > (current.mtu if current is not None and current.mtu else 1500):
        first = 1 if current is None else 0
        ops = ops[:first] + own[:at] + ops[first:] + raise_path + lower_path + own[at:]
    else:
        ops += own[:at] + raise_path + lower_path + own[at:]
    return Plan(ops, warnings)


def plan_bridge_absent(host: HostNetwork, name: str, guests: GuestMatcher, detach_guests: bool) -> Plan:
    """Delete bridge `name`; refused while guest ports hang on it unless accepted."""
    if deletable(host, name, Bridge) is None:
        return Plan()
    guest_ports = [p.name for p in host.ports_of(name) if guests.is_guest_device(p)]
    warnings = []
    if guest_ports:
        if not detach_guests:
            raise ValidationError([
                f"state: bridge {name!r} still carries guest ports {', '.join(guest_ports)}; deleting it would cut "
                f"those guests off. Move them first, or set detach_guests: true to accept that"])
        warnings.append(f"detach_guests: guest ports {', '.join(guest_ports)} lose their bridge {name}")
    return Plan([plan_delete(host, name)], warnings)
