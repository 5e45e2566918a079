# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""One device as a task asks for it: its options (the one spec), its checks, its planner and its view.

net_bridge, net_bond, net_vlan and net_nic are each one request; net_state
takes lists of them. Both build their argument specs from the SPEC of the
same class here (net_state as the suboptions of its `bridges`, `bonds`,
`vlans` and `nics`), so a per-device module and net_state cannot disagree on
what an option is called, what it takes or what it does.

A request is judged when it is made (names, values, options that contradict
`state`): a bad one never reaches the kernel. Its `plan()` is one device's
plan against a host; net_state (plan_state.py) may widen what the device
may take over from another master, because the whole request says what that
master becomes.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE, BRIDGE_PORT
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_ENUMS, Bond, Bridge, GuestMatcher, HostNetwork, IpConfig, Nic, Vlan, name_problem, normalize_mac,
    vlan_device_name,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bond import plan_bond, plan_bond_absent
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge, plan_bridge_absent
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_mtu import PORT_MTU_CHOICES
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_nic import plan_nic
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_vlan import plan_vlan, plan_vlan_absent
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import (
    bond_view, bridge_view, nic_view, vlan_view,
)

ROUTE_SPEC = {
    "dst": {"type": "str", "required": True},
    "via": {"type": "str"},
    "table": {"type": "raw"},
    "metric": {"type": "int"},
    "onlink": {"type": "bool"},
    "proto": {"type": "str", "choices": ["boot", "static"]},
}

# Mirrors plugins/doc_fragments/device.py. No defaults: with state=absent a
# given value is a mistake the module can only see when nothing fills it in.
DEVICE_ARGS = {
    "mtu": {"type": "int"},
    "mac": {"type": "str"},
    "addresses": {"type": "list", "elements": "str"},
    "gateway4": {"type": "str"},
    "gateway6": {"type": "str"},
    "routes": {"type": "list", "elements": "dict", "options": ROUTE_SPEC},
    "admin_state": {"type": "str", "choices": ["up", "down"]},
    "allow_default_route_loss": {"type": "bool"},
    "port_mtu": {"type": "str", "choices": list(PORT_MTU_CHOICES)},
}
STATE_ARG = {"state": {"type": "str", "choices": ["present", "absent"], "default": "present"}}


def desired_ip(params: dict) -> IpConfig:
    """The task's addresses, gateways and static routes (kinds/route.py; their problems name routes[i] and the field)."""
    routes = params.get("routes")
    return IpConfig(addresses=params["addresses"], gateway4=params["gateway4"], gateway6=params["gateway6"],
                    routes=None if routes is None else [Route.from_dict(route) for route in routes])


def desired_mac(params: dict):
    """The `mac` option normalized, or None; a bad one is a ValidationError naming it."""
    if params["mac"] is None:
        return None
    try:
        return normalize_mac(params["mac"])
    except ValueError as exc:
        raise ValidationError([f"mac: {exc}"]) from None


def admin_up(params: dict) -> bool:
    """admin_state, up when omitted."""
    return params["admin_state"] != "down"


def check_names(named: dict) -> None:
    """Hold every interface name a task gives ({option: name or list of names}) to the one rule, before any read.

    The planners let a device the kernel already has keep whatever name it
    has (a rollback must restore it); a task's own options never pass a name
    that could glob in a written file or split a shown command.
    """
    problems = []
    for param, value in named.items():
        for name in value if isinstance(value, (list, tuple)) else [value]:
            if name is not None:
                problems += [p for p in (name_problem(name, param),) if p]
    if problems:
        raise ValidationError(problems)


def refuse_present_options(params: dict, names, what: str) -> None:
    """With state=absent, options that describe the device are a mistake: fail, naming them."""
    given = [name for name in names if params.get(name) is not None and params.get(name) is not False]
    if given:
        verb, them = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise ValidationError([f"state: absent deletes the {what}; {', '.join(given)} only {verb} with state=present. "
                               f"Remove {them} from the task"])


class Request:
    """One device a task asks for. Subclasses give KIND, SPEC, and build `device` (the model) from params."""

    KIND = ""
    SPEC: dict = {}
    RULES: dict = {}

    def __init__(self, params: dict):
        self.params = params
        self.present = params.get("state", "present") == "present"
        self.name = params["name"]
        self.device = None
        self.ports = None       # bridges and bonds: the ports asked for (None: left alone)
        # Devices other entries of the same task give an MTU of their own: {name: (entry, mtu)} (plan_state).
        self.described_mtus: dict = {}

    @property
    def ip(self) -> IpConfig:
        return self.device.ip if self.device is not None else IpConfig()

    def uses(self) -> list:
        """Names of the devices this one stands on (its ports, its parent)."""
        return list(self.ports or [])

    def plan(self, host: HostNetwork, guests: GuestMatcher, take_over=()) -> Plan:
        raise NotImplementedError

    def view(self, host: HostNetwork, guests: GuestMatcher) -> dict:
        raise NotImplementedError


class BridgeRequest(Request):
    KIND = "bridge"
    SPEC = dict(
        name=dict(type="str", required=True),
        **STATE_ARG,
        ports=dict(type="list", elements="str"),
        stp=dict(type="bool"),
        forward_delay=dict(type="float"),
        vlan_filtering=dict(type="bool"),
        ageing_time=dict(type="float"),
        mcast_snooping=dict(type="bool"),
        hello_time=dict(type="float"),
        max_age=dict(type="float"),
        priority=dict(type="int"),
        port_options=dict(type="list", elements="dict", options=dict(
            port=dict(type="str", required=True),
            cost=dict(type="int"),
            priority=dict(type="int"),
        )),
        port_vlans=dict(type="list", elements="dict", options=dict(
            port=dict(type="str", required=True),
            pvid=dict(type="int"),
            untagged=dict(type="list", elements="str", default=[]),
            tagged=dict(type="list", elements="str", default=[]),
        )),
        detach_guests=dict(type="bool", default=False),
        **DEVICE_ARGS,
    )
    # What describes a bridge that is to exist; refused with state=absent.
    PRESENT_OPTIONS = ("ports", "port_vlans", "port_options") + BRIDGE.names + tuple(DEVICE_ARGS)

    def __init__(self, params: dict):
        super().__init__(params)
        check_names({"name": self.name, "ports": params["ports"],
                     "port_vlans.port": [entry["port"] for entry in params["port_vlans"] or []],
                     "port_options.port": [entry["port"] for entry in params["port_options"] or []]})
        if not self.present:
            refuse_present_options(params, self.PRESENT_OPTIONS, "bridge")
            return
        if params["detach_guests"]:
            raise ValidationError(["detach_guests: only applies to state=absent (accepting that deleting the bridge "
                                   "cuts its guests off); remove it from this task"])
        self.device = Bridge(name=self.name, mtu=params["mtu"], mac=desired_mac(params), ip=desired_ip(params),
                             **{key: params[key] for key in BRIDGE.names}).validate()
        self.ports = params["ports"]
        self.port_vlans = vlans.memberships(params["port_vlans"])
        self.port_options = self._port_options(params["port_options"])
        self.up = admin_up(params)

    @staticmethod
    def _port_options(entries) -> dict:
        """{port: {port_cost, port_priority}} from the `port_options` entries; a port listed twice is refused."""
        out: dict = {}
        for entry in entries or []:
            if entry["port"] in out:
                raise ValidationError([f"port_options: {entry['port']!r} is listed twice"])
            out[entry["port"]] = {attr.name: entry[attr.word] for attr in BRIDGE_PORT.attrs}
        return out

    def plan(self, host, guests, take_over=()) -> Plan:
        if not self.present:
            return plan_bridge_absent(host, self.name, guests, self.params["detach_guests"])
        return plan_bridge(host, self.device, self.ports, self.up, guests, self.port_vlans,
                           take_over=take_over, port_options=self.port_options or None,
                           port_mtu=self.params["port_mtu"] or "follow", described_mtus=self.described_mtus)

    def view(self, host, guests) -> dict:
        return bridge_view(host, self.name, guests)


BOND_OPTION_ARGS = dict(
    mode=dict(type="str", choices=list(BOND_ENUMS["mode"])),
    miimon=dict(type="int"),
    updelay=dict(type="int"),
    downdelay=dict(type="int"),
    lacp_rate=dict(type="str", choices=list(BOND_ENUMS["lacp_rate"])),
    xmit_hash_policy=dict(type="str", choices=list(BOND_ENUMS["xmit_hash_policy"])),
    primary=dict(type="str"),
    ad_select=dict(type="str", choices=list(BOND_ENUMS["ad_select"])),
    arp_interval=dict(type="int"),
    arp_ip_target=dict(type="list", elements="str"),
    min_links=dict(type="int"),
)


class BondRequest(Request):
    KIND = "bond"
    SPEC = dict(
        name=dict(type="str", required=True),
        **STATE_ARG,
        ports=dict(type="list", elements="str", aliases=["slaves"]),
        take_over_ports=dict(type="bool", default=False, aliases=["take_over_slaves"]),
        **BOND_OPTION_ARGS,
        **DEVICE_ARGS,
    )
    PRESENT_OPTIONS = ("ports", "take_over_ports") + tuple(BOND_OPTION_ARGS) + tuple(DEVICE_ARGS)

    def __init__(self, params: dict):
        super().__init__(params)
        check_names({"name": self.name, "ports": params["ports"], "primary": params["primary"]})
        if not self.present:
            refuse_present_options(params, self.PRESENT_OPTIONS, "bond")
            return
        options = {key: params[key] for key in BOND_OPTION_ARGS}
        self.device = Bond(name=self.name, mtu=params["mtu"], mac=desired_mac(params), ip=desired_ip(params),
                           **options).validate()
        self.ports = params["ports"]
        self.up = admin_up(params)

    def plan(self, host, guests, take_over=()) -> Plan:
        if not self.present:
            return plan_bond_absent(host, self.name)
        allowed = self.params["take_over_ports"] or bool(self.ports) and set(self.ports) <= set(take_over)
        return plan_bond(host, self.device, self.ports, self.up, allowed)

    def view(self, host, guests) -> dict:
        return bond_view(host, self.name)


class VlanRequest(Request):
    KIND = "vlan"
    SPEC = dict(
        name=dict(type="str"),
        parent=dict(type="str"),
        vlan_id=dict(type="int"),
        protocol=dict(type="str", choices=["802.1Q", "802.1ad"]),
        **STATE_ARG,
        **DEVICE_ARGS,
    )
    RULES = dict(
        required_if=[("state", "present", ("parent", "vlan_id")), ("state", "absent", ("name", "parent"), True)],
        required_together=[("parent", "vlan_id")],
    )

    def __init__(self, params: dict):
        check_names({"name": params["name"], "parent": params["parent"]})
        super().__init__(dict(params, name=params["name"] or vlan_device_name(params["parent"], params["vlan_id"])))
        self.parent = params["parent"]
        if not self.present:
            refuse_present_options(params, DEVICE_ARGS, "VLAN device")
            self.expected = Vlan(name=self.name, parent=params["parent"], vlan_id=params["vlan_id"],
                                 protocol=params["protocol"])
            return
        self.device = Vlan(name=self.name, parent=params["parent"], vlan_id=params["vlan_id"],
                           protocol=params["protocol"] or "802.1Q", mtu=params["mtu"], mac=desired_mac(params),
                           ip=desired_ip(params)).validate()
        self.up = admin_up(params)

    def uses(self) -> list:
        return [self.parent] if self.present and self.parent else []

    def plan(self, host, guests, take_over=()) -> Plan:
        if not self.present:
            return plan_vlan_absent(host, self.name, self.expected)
        return plan_vlan(host, self.device, self.up)

    def view(self, host, guests) -> dict:
        return vlan_view(host, self.name)


class NicRequest(Request):
    KIND = "nic"
    SPEC = dict(
        name=dict(type="str", required=True),
        **DEVICE_ARGS,
    )

    def __init__(self, params: dict):
        super().__init__(params)
        check_names({"name": self.name})
        self.device = Nic(name=self.name, mtu=params["mtu"], mac=desired_mac(params), ip=desired_ip(params)).validate()
        self.up = admin_up(params)

    def plan(self, host, guests, take_over=()) -> Plan:
        return plan_nic(host, self.device, self.up, guests, bool(self.params["allow_default_route_loss"]))

    def view(self, host, guests) -> dict:
        return nic_view(host, self.name)


REQUESTS = {cls.KIND: cls for cls in (BridgeRequest, BondRequest, VlanRequest, NicRequest)}
