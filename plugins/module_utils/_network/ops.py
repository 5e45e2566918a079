# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Operations: one change to one device, its undo, and its equivalent command line.

An Operation is backend-neutral: the netlink configurator (apply.py) executes
it, the model simulator (simulate.py) predicts its effect for check mode, and
`command()` renders what a person would type with iproute2. Each carries the
operations that undo it, computed from the state it was planned against.
"""
from __future__ import annotations

import copy
import shlex

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds import (
    kind_of, request_params, table_of_params,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import DEFAULT_PROTOCOL, Route

LINK_ADD, LINK_SET, LINK_DEL = "link_add", "link_set", "link_del"
ADDR_ADD, ADDR_DEL = "addr_add", "addr_del"
ROUTE_REPLACE, ROUTE_DEL = "route_replace", "route_del"   # the default route via a gateway (gateway4/gateway6)
# A static route (kinds/route.py), params {"route": Route.to_dict()}: `ip route add`, `replace`, `del`.
STATIC_ROUTE_ADD, STATIC_ROUTE_CHANGE, STATIC_ROUTE_DEL = "static_route_add", "static_route_change", "static_route_del"
STATIC_ROUTE_VERBS = {STATIC_ROUTE_ADD: "add", STATIC_ROUTE_CHANGE: "replace", STATIC_ROUTE_DEL: "del"}
BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL = "bridge_vlan_add", "bridge_vlan_del"


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
        """The iproute2 command line, each word shell-quoted: what a report shows can be pasted into a shell."""
        return _quoted([self.program] + (["-n", namespace] if namespace else []) + self.words())

    def batch_line(self) -> str:
        """The command without its program name, as `ip -batch` or `bridge -batch` reads it (same quoting)."""
        return _quoted(self.words())

    def words(self) -> list:
        """The command's words after the program name, unquoted."""
        p = self.params
        if self.action == LINK_ADD:
            words = ["link", "add"]
            if p.get("parent"):   # a VLAN's lower device
                words += ["link", p["parent"]]
            words += ["name", self.device]
            if p.get("mac"):
                words += ["address", p["mac"]]
            if p.get("mtu"):
                words += ["mtu", str(p["mtu"])]
            kind = kind_of(p["type"])
            return words + ["type", p["type"]] + (_type_words(kind.table, p) if kind is not None else [])
        if self.action == LINK_SET:
            words = ["link", "set", "dev", self.device]
            if "master" in p:
                words += ["master", p["master"]] if p["master"] else ["nomaster"]
            if "mtu" in p:
                words += ["mtu", str(p["mtu"])]
            if "mac" in p:
                words += ["address", p["mac"]]
            table = table_of_params(p)
            if table is not None:
                words += ["type", table.ip_type] + _type_words(table, p)
            if "up" in p:
                words.append("up" if p["up"] else "down")
            return words
        if self.action == LINK_DEL:
            return ["link", "del", "dev", self.device]
        if self.action in (ADDR_ADD, ADDR_DEL):
            return ["address", "add" if self.action == ADDR_ADD else "del", p["address"], "dev", self.device]
        if self.action in (BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL):
            first, last = p["vids"]
            words = ["vlan", "add" if self.action == BRIDGE_VLAN_ADD else "del", "dev", self.device,
                     "vid", str(first) if first == last else f"{first}-{last}"]
            return words + [w for w, on in (("pvid", p.get("pvid")), ("untagged", p.get("untagged")), ("self", p.get("self"))) if on]
        if self.action in STATIC_ROUTE_VERBS:
            return ["route", STATIC_ROUTE_VERBS[self.action]] + self.route().words(self.device)
        # No "-6": iproute2 takes the family from the gateway, and `ip -batch` refuses an option inside a line.
        return ["route", "replace" if self.action == ROUTE_REPLACE else "del", "default", "via", p["gateway"], "dev", self.device]

    def route(self) -> Route:
        """The static route of a STATIC_ROUTE_* operation (a protocol filled in where one is added)."""
        return Route.from_dict(self.params["route"])

    @classmethod
    def static_route(cls, action: str, device: str, route: Route, inverse=None) -> Operation:
        """`ip route add|replace|del` of `route` (normalized) on `device`; an added or replaced route without a
        protocol gets DEFAULT_PROTOCOL, so the command and the request say the same."""
        if action != STATIC_ROUTE_DEL and route.proto is None:
            route = Route(**dict(route.__dict__, proto=DEFAULT_PROTOCOL))
        return cls(action, device, {"route": route.to_dict()}, inverse)

    @classmethod
    def address(cls, action: str, device: str, address: str) -> Operation:
        """ADDR_ADD or ADDR_DEL of `address` on `device`; the undo is the other one."""
        undo = ADDR_DEL if action == ADDR_ADD else ADDR_ADD
        return cls(action, device, {"address": address}, [cls(undo, device, {"address": address})])

    @classmethod
    def gateway_removal(cls, device: str, family: int, gateway: str) -> Operation:
        """Delete `device`'s default route of `family` via `gateway`; the undo puts it back."""
        params = {"family": family, "gateway": gateway}
        return cls(ROUTE_DEL, device, params, [cls(ROUTE_REPLACE, device, params)])

    @classmethod
    def setting(cls, device: str, key: str, new, old) -> Operation:
        """Set one attribute of `device` to `new`; the undo sets it back to `old`."""
        return cls(LINK_SET, device, {key: new}, [cls(LINK_SET, device, {key: old})])


def _quoted(words) -> str:
    """One command line from words: the one place a shown `ip`/`bridge` command is quoted."""
    return " ".join(shlex.quote(str(word)) for word in words)


def undo_sequence(done) -> list:
    """The operations that undo `done` (applied in order), in the order to run them: newest first."""
    return [inverse for op in reversed(done) for inverse in op.inverse]


def _type_words(table, p: dict) -> list:
    """The words after `type <kind>` for the attributes of `table` in `p` (kinds/: one table per kind)."""
    return table.words(request_params(table, p))
