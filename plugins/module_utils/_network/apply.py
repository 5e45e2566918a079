# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The netlink configurator: executes a plan on the running kernel, all or nothing.

Requests are pipelined (sent in chunks, acks read per chunk), which is what
keeps 1,000 enslaves close to `ip -batch`. At the first refused request no
further chunk is sent, and every operation the kernel had accepted is undone
in reverse order, so a failed task leaves the host as it found it.

Failpoints (for tests; docs/testing.md): with NETSAFE_FAIL_AT=k in the
environment, operation k of a plan (0-based, in plan order) is treated as
refused by the kernel with EPERM; with NETSAFE_FAIL_UNDO_AT=j, the j-th
inverse operation an undo runs is refused the same way; with NETSAFE_KILL_AT=k
the process kills itself (SIGKILL) once operations 0..k-1 were applied, as a
crash mid-change would (the change-window tests prove the host's watchdog
restores the checkpoint then). Unset, they cost one environment lookup per
configurator.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import signal
import socket
import struct

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds import (
    kind_of, request_params, table_of_params,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import route_message
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_ADD, ADDR_DEL, BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL, LINK_ADD, LINK_DEL, LINK_SET, ROUTE_DEL, ROUTE_REPLACE,
    STATIC_ROUTE_ADD, STATIC_ROUTE_CHANGE, STATIC_ROUTE_DEL, undo_sequence,
)

FAIL_AT_ENV = "NETSAFE_FAIL_AT"
FAIL_UNDO_AT_ENV = "NETSAFE_FAIL_UNDO_AT"
KILL_AT_ENV = "NETSAFE_KILL_AT"


def failpoint(variable: str):
    """The operation index a failpoint variable names, or None when it is unset."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise NetsafeError(f"{variable}: {raw!r} is not an operation index; allowed 0 or more (unset: no failpoint)")
    return int(raw)


def undo_text(undo_errors, namespace=None, complete: str = "every change made before it was undone") -> str:
    """How an undo went, for error messages: `complete`, or which inverse operations failed."""
    if not undo_errors:
        return complete
    return "undo was INCOMPLETE: " + "; ".join(f"'{op.command(namespace)}': {_reason(err)}" for op, err in undo_errors)


def _reason(error) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


class ApplyError(NetsafeError):
    """A plan failed part-way; says which command, why, and whether undo worked."""

    def __init__(self, failed, error, undo_errors, namespace=None):
        self.failed = failed
        self.error = error
        self.undo_errors = undo_errors
        # An undo that did not complete left the host changed.
        self.host_changed = bool(undo_errors)
        super().__init__(f"the kernel refused '{failed.command(namespace)}': {_reason(error)}; "
                         f"{undo_text(undo_errors, namespace)}")


class UnresolvedDevice(Exception):
    """An operation names a device whose ifindex is not known yet (the tap_guard watcher catches it too)."""


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


class NetlinkConfigurator:
    """Runs Operations through one Netlink socket; `index_of` maps names to ifindexes."""

    def __init__(self, netlink: nl.Netlink, index_of: dict):
        self.netlink = netlink
        self.index_of = dict(index_of)
        self.fail_at = failpoint(FAIL_AT_ENV)
        self.fail_undo_at = failpoint(FAIL_UNDO_AT_ENV)
        self.kill_at = failpoint(KILL_AT_ENV)

    def _index(self, name: str) -> int:
        index = self.index_of.get(name)
        if index is None:
            raise UnresolvedDevice(name)
        return index

    def _lookup(self, name: str) -> None:
        """Ask the kernel for the ifindex of a device made earlier in this plan."""
        payload = nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + nl.attr_str(nl.IFLA_IFNAME, name)
        body = self.netlink.query(nl.RTM_GETLINK, payload)
        self.index_of[name] = nl.IFINFOMSG.unpack_from(body)[2]

    def _type_data(self, table, p: dict) -> bytes:
        """IFLA_LINKINFO for the attributes of `table` (a kind's, or a bridge port's) in `p`; b"" for none."""
        if table is None:
            return b""
        return table.linkinfo(request_params(table, p), self._index)

    def _bridge_vlan(self, op) -> tuple:
        p = op.params
        first, last = p["vids"]
        flags = (nl.BRIDGE_VLAN_INFO_PVID if p.get("pvid") else 0) | (nl.BRIDGE_VLAN_INFO_UNTAGGED if p.get("untagged") else 0)
        spec = nl.attr(nl.IFLA_BRIDGE_FLAGS, struct.pack("=H", nl.BRIDGE_FLAGS_SELF)) if p.get("self") else b""
        if first == last:
            spec += nl.attr(nl.IFLA_BRIDGE_VLAN_INFO, struct.pack("=HH", flags, first))
        else:
            spec += nl.attr(nl.IFLA_BRIDGE_VLAN_INFO, struct.pack("=HH", flags | nl.BRIDGE_VLAN_INFO_RANGE_BEGIN, first))
            spec += nl.attr(nl.IFLA_BRIDGE_VLAN_INFO, struct.pack("=HH", flags | nl.BRIDGE_VLAN_INFO_RANGE_END, last))
        payload = nl.IFINFOMSG.pack(nl.AF_BRIDGE, 0, self._index(op.device), 0, 0) + nl.nested(nl.IFLA_AF_SPEC, spec)
        return (nl.RTM_SETLINK if op.action == BRIDGE_VLAN_ADD else nl.RTM_DELLINK), 0, payload

    def encode(self, op) -> tuple:
        """(message type, flags, payload) for one operation."""
        p = op.params
        if op.action == LINK_ADD:
            attrs = nl.attr_str(nl.IFLA_IFNAME, op.device)
            if p.get("parent"):   # a VLAN's lower device
                attrs += nl.attr_u32(nl.IFLA_LINK, self._index(p["parent"]))
            if p.get("mtu"):
                attrs += nl.attr_u32(nl.IFLA_MTU, p["mtu"])
            if p.get("mac"):
                attrs += nl.attr(nl.IFLA_ADDRESS, _mac_bytes(p["mac"]))
            kind = kind_of(p["type"])
            attrs += self._type_data(kind.table if kind is not None else None, p)
            return nl.RTM_NEWLINK, nl.NLM_F_CREATE | nl.NLM_F_EXCL, nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attrs
        if op.action in (BRIDGE_VLAN_ADD, BRIDGE_VLAN_DEL):
            return self._bridge_vlan(op)
        if op.action == LINK_SET:
            flags = change = 0
            attrs = b""
            if "up" in p:
                change = nl.IFF_UP
                flags = nl.IFF_UP if p["up"] else 0
            if "master" in p:
                attrs += nl.attr_u32(nl.IFLA_MASTER, self._index(p["master"]) if p["master"] else 0)
            if "mtu" in p:
                attrs += nl.attr_u32(nl.IFLA_MTU, p["mtu"])
            if "mac" in p:
                attrs += nl.attr(nl.IFLA_ADDRESS, _mac_bytes(p["mac"]))
            attrs += self._type_data(table_of_params(p), p)
            header = nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, self._index(op.device), flags, change)
            return nl.RTM_NEWLINK, 0, header + attrs
        if op.action == LINK_DEL:
            return nl.RTM_DELLINK, 0, nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, self._index(op.device), 0, 0)
        if op.action in (ADDR_ADD, ADDR_DEL):
            iface = ipaddress.ip_interface(p["address"])
            family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
            packed = iface.ip.packed
            payload = (nl.IFADDRMSG.pack(family, iface.network.prefixlen, 0, 0, self._index(op.device))
                       + nl.attr(nl.IFA_LOCAL, packed) + nl.attr(nl.IFA_ADDRESS, packed))
            if op.action == ADDR_ADD:
                return nl.RTM_NEWADDR, nl.NLM_F_CREATE | nl.NLM_F_EXCL, payload
            return nl.RTM_DELADDR, 0, payload
        if op.action == STATIC_ROUTE_ADD:
            return nl.RTM_NEWROUTE, nl.NLM_F_CREATE | nl.NLM_F_EXCL, route_message(op.route(), self._index(op.device))
        if op.action == STATIC_ROUTE_CHANGE:
            return nl.RTM_NEWROUTE, nl.NLM_F_CREATE | nl.NLM_F_REPLACE, route_message(op.route(), self._index(op.device))
        if op.action == STATIC_ROUTE_DEL:
            return nl.RTM_DELROUTE, 0, route_message(op.route(), self._index(op.device), delete=True)
        family = socket.AF_INET if p["family"] == 4 else socket.AF_INET6
        gateway = ipaddress.ip_address(p["gateway"]).packed
        attrs = nl.attr(nl.RTA_GATEWAY, gateway) + nl.attr_u32(nl.RTA_OIF, self._index(op.device))
        if op.action == ROUTE_REPLACE:
            header = nl.RTMSG.pack(family, 0, 0, 0, nl.RT_TABLE_MAIN, nl.RTPROT_BOOT, 0, nl.RTN_UNICAST, 0)
            return nl.RTM_NEWROUTE, nl.NLM_F_CREATE | nl.NLM_F_REPLACE, header + attrs
        if op.action == ROUTE_DEL:
            header = nl.RTMSG.pack(family, 0, 0, 0, nl.RT_TABLE_MAIN, 0, 255, nl.RTN_UNICAST, 0)
            return nl.RTM_DELROUTE, 0, header + attrs
        raise ValueError(f"unknown operation {op.action}")

    def _run(self, operations, fail_at=None, failpoint_label: str = "", kill_at=None) -> tuple:
        """Execute in order; returns (done, failed op or None, its error).

        Operation `fail_at` (an index into `operations`) is refused as the
        kernel would refuse it, after everything before it was sent; the
        refusal names the failpoint (`failpoint_label`, e.g. NETSAFE_FAIL_AT=3).
        """
        done: list = []
        batch: list = []
        encoded: list = []

        def flush():
            results = self.netlink.pipeline(encoded) if encoded else []
            first_error = None
            for op, error in zip(batch, results):
                if error is None:
                    done.append(op)
                elif first_error is None:
                    first_error = (op, error)
            batch.clear()
            encoded.clear()
            return first_error

        for position, op in enumerate(operations):
            if position == kill_at:
                flush()  # operations 0..k-1 reach the kernel, then the process dies as in a crash
                os.kill(os.getpid(), signal.SIGKILL)
            if position == fail_at:
                failure = flush()
                if failure:
                    return done, failure[0], failure[1]
                return done, op, nl.NetlinkError(errno.EPERM, f"failpoint {failpoint_label}")
            try:
                message = self.encode(op)
            except UnresolvedDevice as missing:
                failure = flush()
                if failure:
                    return done, failure[0], failure[1]
                try:
                    self._lookup(str(missing))
                    message = self.encode(op)
                except (nl.NetlinkError, UnresolvedDevice) as exc:
                    return done, op, exc
            batch.append(op)
            encoded.append(message)
            if op.action in (LINK_ADD, LINK_DEL):
                failure = flush()  # later operations may need its ifindex
                if failure:
                    return done, failure[0], failure[1]
                if op.action == LINK_DEL:
                    self.index_of.pop(op.device, None)
        failure = flush()
        if failure:
            return done, failure[0], failure[1]
        return done, None, None

    def apply(self, operations) -> None:
        """Apply all operations or, at the first refusal, undo the applied ones."""
        done, failed, error = self._run(list(operations), self.fail_at, f"{FAIL_AT_ENV}={self.fail_at}", self.kill_at)
        if failed is None:
            return
        undo_errors = self.undo(done)
        raise ApplyError(failed, error, undo_errors, self.netlink.namespace)

    def undo(self, done) -> list:
        """Run the inverses of `done` newest first; returns [(op, error)] that failed."""
        errors = []
        for position, inverse in enumerate(undo_sequence(done)):
            refuse = 0 if position == self.fail_undo_at else None
            _done, failed, error = self._run([inverse], refuse, f"{FAIL_UNDO_AT_ENV}={position}")
            if failed is not None:
                errors.append((failed, error))
        return errors
