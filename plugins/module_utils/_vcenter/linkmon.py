# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Watch netlink link events and block until the required links are up (or one goes down).

Why not ``IPRoute().get_links()`` in a loop: that is a one-time dump, so a loop
over it either polls (late, and costly with many links) or never sees a change.
This monitor binds a netlink socket to the RTNLGRP_LINK group, waits on it with
select() and a timeout, and decodes messages with pyroute2's marshal (the same
calls work with pyroute2 0.7.2 on Debian 12 and 0.9.7 from PyPI).

The socket is opened by the network core (_network/netlink.py), *inside* the
named network namespace and under the core's one rule for namespaces: a name
iproute2 could have made, that exists (``IPRoute(netns=...)`` would silently
create a missing one). When the kernel reports ENOBUFS (events were
dropped), the socket is replaced and the state re-read with a fresh dump.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl

__all__ = ["LinkMonitor", "LinkMonitorError", "LinkState", "link_is_up"]

IFF_UP = nl.IFF_UP
IFF_LOWER_UP = nl.IFF_LOWER_UP
_RCVBUF = 1 << 20
_RECV_SIZE = 1 << 17
_DUMP_TIMEOUT = 10.0


class LinkMonitorError(Exception):
    """The monitor cannot start: pyroute2 missing, namespace or interface absent."""


def link_is_up(operstate: str | None, flags: int) -> bool:
    """Usable for traffic? LOWERLAYERDOWN (lost carrier) is down; UNKNOWN counts as
    up only with IFF_UP and IFF_LOWER_UP (loopback, tun and dummy report UNKNOWN)."""
    if operstate == "UP":
        return True
    if operstate == "UNKNOWN":
        return bool(flags & IFF_UP) and bool(flags & IFF_LOWER_UP)
    return False


@dataclass(frozen=True)
class LinkState:
    index: int
    name: str
    operstate: str
    flags: int

    @property
    def up(self) -> bool:
        return link_is_up(self.operstate, self.flags)


def _pyroute2():
    try:
        # pylint: disable=import-outside-toplevel
        from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR
        from pyroute2.netlink.rtnl import RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
        from pyroute2.netlink.rtnl.marshal import MarshalRtnl
    except ImportError as exc:
        raise LinkMonitorError(f"the link monitor needs pyroute2 ({exc})") from exc
    return {
        "NLM_F_DUMP": NLM_F_DUMP, "NLM_F_REQUEST": NLM_F_REQUEST, "NLMSG_DONE": NLMSG_DONE,
        "NLMSG_ERROR": NLMSG_ERROR, "RTM_DELLINK": RTM_DELLINK, "RTM_GETLINK": RTM_GETLINK,
        "RTM_NEWLINK": RTM_NEWLINK, "ifinfmsg": ifinfmsg,
        "MarshalRtnl": MarshalRtnl,
    }


class LinkMonitor:
    """Tracks the state of ``interfaces`` (in ``namespace`` if given) from link events.

    Use as a context manager. ``all_up()``/``down()`` first drain pending events
    without blocking; ``wait_up(t)`` and ``wait_down(t)`` block on the socket
    for at most ``t`` seconds. Nothing here polls the kernel on a timer.
    """

    def __init__(self, interfaces: Iterable[str], namespace: str | None = None, *,
                 rcvbuf: int = _RCVBUF, clock: Callable[[], float] = time.monotonic,
                 require_present: bool = True):
        self.interfaces = list(dict.fromkeys(interfaces))
        self.namespace = namespace or None
        self.rcvbuf = rcvbuf
        self.clock = clock
        self.require_present = require_present
        self.links: dict[int, LinkState] = {}
        self.resyncs = 0  # how many times ENOBUFS forced a fresh socket and dump
        self.events = 0  # link messages received (dump replies not counted)
        self.changed_at: float | None = None  # clock() when a required link last changed
        self.up_at: float | None = None  # clock() when all required links were last seen up
        self._sock: socket.socket | None = None
        self._seq = 0
        self._dumping = False
        self._nl = _pyroute2()
        self._marshal = self._nl["MarshalRtnl"]()

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> LinkMonitor:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> LinkMonitor:
        self._sock = self._open_socket()
        self._dump()
        if self.require_present:
            missing = [name for name in self.interfaces if self._by_name(name) is None]
            if missing:
                where = f"network namespace {self.namespace!r}" if self.namespace else "this host"
                self.close()
                raise LinkMonitorError(
                    f"required_interfaces not found in {where}: {', '.join(missing)}")
        if self._all_up():
            self.up_at = self.clock()
        return self

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def _open_socket(self) -> socket.socket:
        try:
            return nl.open_event_socket(self.namespace, [nl.RTNLGRP_LINK], self.rcvbuf)
        except NetsafeError as exc:   # no such namespace, or a name outside the rule
            raise LinkMonitorError(f"{exc}; it is not created on purpose") from None
        except OSError as exc:
            where = f"network namespace {self.namespace!r}" if self.namespace else "this host"
            raise LinkMonitorError(f"cannot open a netlink socket in {where}: {exc}") from exc

    # -- state ----------------------------------------------------------------
    def _by_name(self, name: str) -> LinkState | None:
        for link in self.links.values():
            if link.name == name:
                return link
        return None

    def state(self, name: str) -> LinkState | None:
        return self._by_name(name)

    def _all_up(self) -> bool:
        for name in self.interfaces:
            link = self._by_name(name)
            if link is None or not link.up:
                return False
        return True

    def _down(self) -> list[str]:
        out = []
        for name in self.interfaces:
            link = self._by_name(name)
            if link is None:
                out.append(f"{name} (absent)")
            elif not link.up:
                out.append(f"{name} ({link.operstate})")
        return out

    def all_up(self) -> bool:
        """Are all required links up right now (after reading pending events)?"""
        self.poll(0)
        return self._all_up()

    def down(self) -> list[str]:
        """Required links that are not up, with their operstate."""
        self.poll(0)
        return self._down()

    # -- netlink ---------------------------------------------------------------
    def _apply(self, msg) -> None:
        kind = msg["header"]["type"]
        if kind not in (self._nl["RTM_NEWLINK"], self._nl["RTM_DELLINK"]):
            return
        index = msg["index"]
        before = None if self._dumping else self._all_up()
        if kind == self._nl["RTM_DELLINK"]:
            self.links.pop(index, None)
        else:
            name = msg.get_attr("IFLA_IFNAME")
            old = self.links.get(index)
            if name is None and old is not None:
                name = old.name
            self.links[index] = LinkState(index, name or f"if{index}",
                                          msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN",
                                          int(msg["flags"]))
        if before is None:
            return  # mid-dump: _finish_dump compares whole states
        after = self._all_up()
        if before != after:
            self.changed_at = self.clock()
            if after:
                self.up_at = self.changed_at

    def _dump(self) -> None:
        """Read the full link table; events arriving meanwhile are applied in order."""
        if self._sock is None:
            raise LinkMonitorError("link monitor is not open")
        self._seq += 1
        msg = self._nl["ifinfmsg"]()
        msg["family"] = socket.AF_UNSPEC
        msg["header"]["type"] = self._nl["RTM_GETLINK"]
        msg["header"]["flags"] = self._nl["NLM_F_REQUEST"] | self._nl["NLM_F_DUMP"]
        msg["header"]["sequence_number"] = self._seq
        msg.encode()
        self._sock.send(msg.data)
        fresh: dict[int, LinkState] = {}
        saved, self.links = self.links, fresh
        end = self.clock() + _DUMP_TIMEOUT
        self._dumping = True
        try:
            while True:
                left = end - self.clock()
                if left <= 0:
                    raise LinkMonitorError("netlink link dump did not finish in time")
                ready = select.select([self._sock], [], [], left)[0]
                if not ready:
                    continue
                try:
                    data = self._sock.recv(_RECV_SIZE)
                except BlockingIOError:
                    continue
                for item in self._marshal.parse(data):
                    kind = item["header"]["type"]
                    if item["header"].get("sequence_number") == self._seq:
                        if kind == self._nl["NLMSG_DONE"]:
                            self._finish_dump(saved)
                            return
                        if kind == self._nl["NLMSG_ERROR"]:
                            raise LinkMonitorError(f"netlink dump failed: {item}")
                    self._apply(item)
        except BaseException:
            if self.links is fresh:
                self.links = saved
            raise
        finally:
            self._dumping = False

    def _finish_dump(self, saved: dict[int, LinkState]) -> None:
        # Compare with the state before the dump, so a resync also records changes.
        current = self.links
        self.links = saved
        before = self._all_up()
        self.links = current
        if before != self._all_up():
            self.changed_at = self.clock()
            if self._all_up():
                self.up_at = self.changed_at

    def _resync(self) -> None:
        """After ENOBUFS the socket missed events: replace it and dump again."""
        self.resyncs += 1
        self.close()
        self._sock = self._open_socket()
        self._dump()

    def poll(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for link messages and apply all that are queued.

        Returns True when something was read.
        """
        if self._sock is None:
            raise LinkMonitorError("link monitor is not open")
        try:
            ready = select.select([self._sock], [], [], max(0.0, timeout))[0]
        except InterruptedError:
            return False
        if not ready:
            return False
        while True:
            try:
                data = self._sock.recv(_RECV_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._resync()
                    return True
                raise
            for item in self._marshal.parse(data):
                self.events += 1
                self._apply(item)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        end = self.clock() + max(0.0, timeout)
        self.poll(0)
        while not predicate():
            left = end - self.clock()
            if left <= 0:
                return False
            self.poll(left)
        return True

    def wait_up(self, timeout: float) -> bool:
        """Block until every required link is up; False after ``timeout`` seconds."""
        return self._wait(self._all_up, timeout)

    def wait_down(self, timeout: float) -> bool:
        """Block until a required link goes down (True) or ``timeout`` passes (False).

        The retry runner sleeps through this: a link loss ends the sleep at once.
        """
        return self._wait(lambda: not self._all_up(), timeout)
