# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Planning a bond: options, slaves, and the mode change of a live bond.

The kernel changes a bond's mode only while the bond is down and has no
slaves (lacp_rate and ad_select only while it is down). The planner does
that dance in one plan: bond down, slaves out, options, slaves back, bond up,
and every step carries its undo.
"""
from __future__ import annotations

import copy

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_NEEDS_DOWN, BOND_OPTIONS, DEFAULT_BOND_MODE, Bond, HostNetwork, bond_options_for_mode,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_DEL, LINK_ADD, LINK_DEL, LINK_SET, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import (
    Plan, checked, deletable, device_problems, gateway_problems, member_problem, plan_delete, plan_mtu_ip_state,
    vlan_users,
)


def effective_bond(current: Bond | None, desired: Bond) -> Bond:
    """The bond's settings after the task: desired where given, current elsewhere."""
    merged = copy.deepcopy(current) if current is not None else Bond(name=desired.name, mode=DEFAULT_BOND_MODE, miimon=0)
    for key in BOND_OPTIONS:
        value = getattr(desired, key)
        if value is not None:
            setattr(merged, key, value)
    return merged


def check_bond(host: HostNetwork, desired: Bond, slaves, admin_up, take_over: bool) -> list:
    problems = device_problems(host, desired)
    current = host.get(desired.name)
    if current is not None and not isinstance(current, Bond):
        return problems + [f"name: {desired.name!r} already exists and is a {current.TYPE}, not a bond"]
    merged = effective_bond(current, desired)
    problems += merged.combination_problems({k for k in BOND_OPTIONS if getattr(desired, k) is not None})
    if slaves is not None:
        seen: set = set()
        for slave in slaves:
            problem = member_problem(host, desired.name, "ports", slave, seen, "bond")
            dev = host.get(slave)
            if problem is None and dev.TYPE != "nic":
                problem = f"ports: {slave!r} is a {dev.TYPE}; bond ports (slaves) must be NICs"
            if problem is None and dev.master and dev.master != desired.name and not take_over:
                problem = (f"ports: {slave!r} is a port of {dev.master!r}; set take_over_ports: true to move it "
                           f"into {desired.name}")
            if problem is None and dev.ip.addresses and not take_over:
                problem = (f"ports: {slave!r} carries addresses {', '.join(dev.ip.addresses)}; a bond port cannot keep "
                           f"them. Move them first, or set take_over_ports: true to remove them")
            if problem:
                problems.append(problem)
            seen.add(slave)
    final_slaves = slaves if slaves is not None else [d.name for d in host.ports_of(desired.name)]
    mtu = desired.mtu if desired.mtu is not None else getattr(current, "mtu", None)
    for slave in final_slaves if mtu else []:   # the kernel gives each port the bond's MTU, on enslaving too
        dev = host.get(slave)
        if dev is not None and dev.max_mtu and mtu > dev.max_mtu:
            problems.append(f"mtu: {slave} takes at most {dev.max_mtu} (its driver's max_mtu), and a bond gives its "
                            f"ports its own MTU ({mtu}); nothing was changed")
    if merged.primary and merged.primary not in final_slaves:
        problems.append(f"primary: {merged.primary!r} is not one of the bond's ports ({', '.join(final_slaves) or 'none'})")
    problems += gateway_problems(desired.name, desired.ip, current, admin_up)
    return problems


def _enslave(host: HostNetwork, slave: str, bond: str, take_over: bool) -> list:
    """Take `slave` into `bond`: off another master, addresses removed, down first."""
    dev = host.get(slave)
    ops = []
    if dev.master and dev.master != bond and take_over:
        ops.append(Operation.setting(slave, "master", None, dev.master))
    if take_over:
        for addr in dev.ip.addresses or []:
            ops.append(Operation.address(ADDR_DEL, slave, addr))
    if dev.up:
        ops.append(Operation.setting(slave, "up", False, True))  # the kernel refuses to enslave an up device
    ops.append(Operation.setting(slave, "master", bond, None))
    return ops


def _restore_mac_after_emptying(ops: list, name: str, have: list, mac) -> None:
    """If the plan releases every port of bond `name`, its undo ends by setting the bond's MAC back.

    The kernel gives a bond whose last port leaves a random MAC, and the bond
    takes the MAC of the first port enslaved after that. An undo re-enslaves
    newest first, so another port would come first and the bond (and its
    ports, and the bridges and VLANs on it) would end up with that port's
    MAC. The release earliest in the plan is undone last, once every port is
    back: its undo restores the MAC. Found by the failpoint sweep of a live
    mode change.
    """
    releases = [op for op in ops if op.action == LINK_SET and op.device in have and op.params == {"master": None}]
    if mac and have and {op.device for op in releases} >= set(have):
        releases[0].inverse.append(Operation(LINK_SET, name, {"mac": mac}))


def _vlans_riding(host: HostNetwork, bond: str) -> list:
    """Up VLANs on `bond` whose admin state follows it (not loosely bound): a bond going down takes them down.

    Found by the failpoint sweep of a live mode change: a VLAN taken down
    loses its IPv6 addresses and every route through it, and neither comes
    back with the bond.
    """
    return [name for name in vlan_users(host, bond) if host.get(name).up and not host.get(name).loose_binding]


def plan_bond(host: HostNetwork, desired: Bond, slaves, admin_up, take_over: bool = False) -> Plan:
    """Operations that take bond `desired.name` from `host` to the desired state."""
    problems = check_bond(host, desired, slaves, admin_up, take_over)
    if problems:
        raise ValidationError(problems)
    return _bond_plan(host, desired, slaves, admin_up, take_over)


def plan_mode_leftovers(host: HostNetwork, target: Bond) -> Plan:
    """Before bond `target.name` goes back to `target`'s mode (a rollback): the options only its current
    mode uses, set to `target`'s values while that mode still takes them.

    The kernel keeps every option across a mode change and reports it, but refuses some outside the modes
    that use them (lacp_rate outside 802.3ad): an option a change set together with a new mode can only go
    back before the mode does. The values are the kernel's own (a snapshot), so they are not held to the
    rules a task's options are. primary is left out: the mode change releases the ports, which clears it.
    """
    current = host.get(target.name)
    if not isinstance(current, Bond) or (current.mode or DEFAULT_BOND_MODE) == (target.mode or DEFAULT_BOND_MODE):
        return Plan()
    used_then = bond_options_for_mode(target)
    leftovers = {key: getattr(target, key) for key in bond_options_for_mode(current)
                 if key not in used_then and key != "primary" and getattr(target, key) is not None
                 and getattr(target, key) != getattr(current, key)}
    if not leftovers:
        return Plan()
    return _bond_plan(host, Bond(name=target.name, **leftovers), None, None, False)


def _bond_plan(host: HostNetwork, desired: Bond, slaves, admin_up, take_over: bool) -> Plan:
    """plan_bond's operations, for a desired state already checked."""
    name = desired.name
    current = host.get(name)
    ops: list = []
    warnings: list = []
    options = {k: getattr(desired, k) for k in BOND_OPTIONS if getattr(desired, k) is not None}
    wanted = list(slaves) if slaves is not None else None
    if current is None:
        create = {"type": "bond", "mac": desired.mac}
        create.update({k: v for k, v in options.items() if k != "primary"})
        ops.append(Operation(LINK_ADD, name, {k: v for k, v in create.items() if v is not None}, [Operation(LINK_DEL, name)]))
        for slave in wanted or []:
            ops += _enslave(host, slave, name, take_over)
        if options.get("primary"):
            ops.append(Operation.setting(name, "primary", options["primary"], None))
    else:
        have = [d.name for d in host.ports_of(name)]
        changes = {k: v for k, v in options.items() if v != getattr(current, k)}
        down_changes = {k: v for k, v in changes.items() if k in BOND_NEEDS_DOWN}
        live_changes = {k: v for k, v in changes.items() if k not in BOND_NEEDS_DOWN}
        if desired.mac is not None and desired.mac != current.mac:
            ops.append(Operation.setting(name, "mac", desired.mac, current.mac))
        keep = [s for s in have if wanted is None or s in wanted]
        for slave in have:
            if wanted is not None and slave not in wanted:
                ops.append(Operation.setting(slave, "master", None, name))
        if down_changes:
            if "mode" in down_changes:
                warnings.append(f"mode: {name} changes from {current.mode} to {down_changes['mode']}; the bond goes down "
                                f"and its ports {', '.join(keep) or '(none)'} are released and re-enslaved in this task")
            # While the bond is down the kernel would take the VLANs on it down too, which flushes their
            # IPv6 addresses and deletes the routes through them; loose binding keeps them up meanwhile.
            riders = _vlans_riding(host, name) if current.up and admin_up is not False else []
            ops += [Operation.setting(vlan, "loose_binding", True, False) for vlan in riders]
            if current.up:
                ops.append(Operation.setting(name, "up", False, True))
            released = keep if "mode" in down_changes else []
            for slave in released:
                ops.append(Operation.setting(slave, "master", None, name))
            ops.append(Operation(LINK_SET, name, dict(down_changes),
                                 [Operation(LINK_SET, name, {k: getattr(current, k) for k in down_changes})]))
            for slave in released:
                ops.append(Operation.setting(slave, "master", name, None))
            if current.up and admin_up is not False:
                ops.append(Operation.setting(name, "up", True, False))
            ops += [Operation.setting(vlan, "loose_binding", False, True) for vlan in riders]
        for slave in wanted or []:
            if slave not in have:
                ops += _enslave(host, slave, name, take_over)
        if live_changes:
            ops.append(Operation(LINK_SET, name, dict(live_changes),
                                 [Operation(LINK_SET, name, {k: getattr(current, k) for k in live_changes})]))
        _restore_mac_after_emptying(ops, name, have, current.mac)
    ops += plan_mtu_ip_state(host, name, current, desired.mtu, desired.ip.normalized(), admin_up)
    return checked(Plan(ops, warnings), host, [name] + (wanted or []))


def plan_bond_absent(host: HostNetwork, name: str) -> Plan:
    """Delete bond `name`; refused while it is a port of a bridge or carries VLANs."""
    if deletable(host, name, Bond) is None:
        return Plan()
    return Plan([plan_delete(host, name)])
