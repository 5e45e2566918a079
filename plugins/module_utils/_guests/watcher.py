# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""tap_guard: a watcher that puts guest ports back the moment their bridge (re)appears.

It listens to rtnetlink link events (RTNLGRP_LINK) on a socket opened by the
core's netlink code (inside the namespace when one is given), decodes them
with the core's link decoder, and blocks in select() without a timeout: it
never polls. When a bridge is created (a new ifindex) or starts or stops
filtering VLANs, it puts the guest ports back in two passes: a first pass
that sends requests built before the event, then the same planner and
pipeline as the tap_reenslave module (`reenslave.restore`).

Nothing on the path from the event to the first request reads a config or
plans. The configs are re-read when they change (inotify on their
directories; the stat-keyed cache at every full pass, which also catches
changes inotify cannot see, such as Proxmox VE's cluster filesystem written
by another node). After every change of the configs or of the guest devices
the watcher plans, for every bridge a guest belongs on, the requests that
will put its ports back when it is created again (`reenslave.plan_return`),
and encodes them with a placeholder for the bridge's ifindex
(`netlink.Prepared`). When the bridge's RTM_NEWLINK arrives, only that
ifindex is written into the ready bytes before they are sent.

MTU: the first pass sets only the MTUs the configs name; the full pass gives
the NICs the first pass plugged in their hypervisor's MTU (`reenslave.mtu_rule`:
the config's, else the bridge's). Whoever re-creates a bridge sets its MTU
after creating it, so for MTU_SETTLE_SECONDS after a bridge appears a change
of its MTU runs the full pass again for those NICs.

Deleting a bridge with 1,000 ports sends listeners about 4,000 messages; the
socket's buffer overflows and the kernel reports ENOBUFS, meaning events were
lost. The watcher then replaces the socket and converges from a full read,
so a bridge created during the flood is not missed.

Run as a process: `python3 -m ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.watcher
--config /etc/netsafe/tap_guard.json` (the tap_guard role installs it as a
systemd service).
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import json
import logging
import os
import select
import signal
import socket
import sys
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import LockTimeout, Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import ConfigProblem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.reenslave import plan_guests, plan_return, restore
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import NetlinkConfigurator, UnresolvedDevice
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    DEFAULT_GUEST_PATTERNS, GuestMatcher,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import (
    RawLink, build_host, filters_vlans, read_links,
)

EVENT_BUFFER = 8 << 20
# How long after a bridge appears a change of its MTU still counts as part of its re-creation: whoever
# re-creates a bridge (ifupdown) sets its MTU after creating it, possibly after the watcher's full pass.
MTU_SETTLE_SECONDS = 60.0
LOG = logging.getLogger("tap_guard")

DEFAULTS = {
    "source": "auto",
    "proxmox_dir": "/etc/pve/local",
    "libvirt_xml_dir": "/etc/libvirt/qemu",
    "libvirt_status_dir": "/run/libvirt/qemu",
    "libvirt_read": "auto",
    "ports": None,
    "bridges": None,
    "namespace": None,
    "guest_patterns": list(DEFAULT_GUEST_PATTERNS),
    "event_buffer": EVENT_BUFFER,
    # How long a full pass waits for a change that holds the host's network lock (a change
    # window's module, a rollback); the first pass never waits.
    "lock_timeout": 300,
}


def load_settings(path: str | None, overrides: dict) -> dict:
    """Settings from a JSON file (as the role writes it), then command-line overrides."""
    settings = dict(DEFAULTS)
    if path:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        unknown = sorted(set(data) - set(DEFAULTS))
        if unknown:
            raise ConfigProblem(f"{path}: unknown settings {', '.join(unknown)}; allowed {', '.join(sorted(DEFAULTS))}")
        settings.update(data)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


# Stands in for a bridge's ifindex in requests built before the bridge exists.
# ifindexes are allocated upwards from 1; this one is never reached in practice,
# and a slot is found by the whole attribute (length and type too), not the value alone.
PLACEHOLDER = 0x7FFFFFF0
_MASTER_SLOT = nl.attr_u32(nl.IFLA_MASTER, PLACEHOLDER)

# inotify(7): what makes a config directory "changed".
_IN_CLOSE_WRITE, _IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x8, 0x40, 0x80, 0x100, 0x200
_IN_MASK = _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE


class ConfigWatch:
    """inotify on the config directories, through libc (no third-party module); `changed()` drains it.

    Directories that do not exist when the watcher starts are not watched;
    the stat-keyed re-read of every full pass covers them.
    """

    def __init__(self, directories):
        self.fd = -1
        self.watched = []
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self.fd = fd
        for directory in dict.fromkeys(d for d in directories if d and os.path.isdir(d)):
            if libc.inotify_add_watch(fd, os.fsencode(directory), _IN_MASK) >= 0:
                self.watched.append(directory)

    def fileno(self) -> int:
        return self.fd

    def changed(self) -> bool:
        """Read every queued event; whether there was any."""
        seen = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return seen
            if not data:
                return seen
            seen = True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def bridge_key(raw: RawLink):
    """What makes a bridge 'new' to the watcher: its ifindex and whether it filters VLANs."""
    return raw.index, filters_vlans(raw)


class TapGuard:
    """The event loop; `reconcile()` is one full converge of every guest port."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.namespace = settings["namespace"]
        self.guests = GuestMatcher(settings["guest_patterns"])
        self.writer = Writer(f"netsafe.hypervisor tap_guard watcher (pid {os.getpid()})",
                             float(settings.get("lock_timeout", DEFAULTS["lock_timeout"])),
                             "The next event or start runs a full pass again; the lock_timeout setting "
                             "(tap_guard_lock_timeout) is how long a pass waits")
        self.cache: dict = {}
        self.known: dict = {}        # bridge name -> bridge_key
        self.links: dict = {}        # ifindex -> latest RawLink, kept from the event stream
        self.watched: set = set()    # bridges that guest configs name
        self.current: list = []      # guest NICs from the last read of the configs
        self.read_once = False
        self.chain_names: set = set()   # every device name of their chains
        self.prepared: dict = {}        # bridge -> (netlink.Prepared, outcomes)
        self.prepared_for: dict = {}    # bridge -> the VLAN filtering the requests for it assume
        self.prepared_indexes: set = set()
        self.filtering_of: dict = {}    # bridge -> whether it filtered VLANs when last seen
        self.dirty = True               # the prepared requests must be built again
        self.configs_dirty = False      # read the configs again (a guest device no config names appeared)
        self.appeared: list = []        # (bridge, ifindex, filtering or None) since the last pass
        self.replugged: set = set()     # guest NICs the first pass plugged in: the full pass gives them their MTU
        self.settling: dict = {}        # bridge -> (monotonic deadline, NICs plugged in since it appeared)
        self.requests = None            # the netlink socket prepared requests go out on
        self.config_watch = None
        self.sock = None
        self.stopping = False
        self.overflows = 0
        self._buf = bytearray(nl.RECV_BUFFER)
        self._event_at = None        # when the datagram holding the last trigger arrived
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    # -- configs ------------------------------------------------------------------
    def read_configs(self) -> list:
        """Read the guest configs (only files whose stat changed are parsed); a change makes prepared requests stale."""
        s = self.settings
        found = discover(s["source"], s["proxmox_dir"], s["libvirt_xml_dir"], s["ports"], self.cache,
                         libvirt_status_dir=s["libvirt_status_dir"], libvirt_read=s["libvirt_read"])
        nics = found.nics
        if s["bridges"]:
            nics = [n for n in nics if n.bridge in s["bridges"]]
        if not self.read_once or [n.to_dict() for n in nics] != [n.to_dict() for n in self.current]:
            self.dirty = True
        for problem in found.problems:
            LOG.error("guest %s: config not usable: %s", problem["guest"], problem["reason"])
        for warning in found.warnings:
            LOG.warning("%s", warning)
        self.read_once = True
        self.current = nics
        self.chain_names = {link.device for n in nics for link in n.chain()} | {n.fwbr for n in nics if n.fwbr}
        self.watched = {n.bridge for n in nics} | {f"{n.bridge}v{n.vlan}" for n in nics if n.vlan is not None}
        self.configs_dirty = False
        return nics

    def nics(self) -> list:
        """The guest NICs as last read (read now only before the first read, or after a guest device nobody names)."""
        if not self.read_once or self.configs_dirty:
            return self.read_configs()
        return self.current

    def config_directories(self) -> list:
        s = self.settings
        return [os.path.join(s["proxmox_dir"], "qemu-server"), os.path.join(s["proxmox_dir"], "lxc"),
                s["libvirt_status_dir"], s["libvirt_xml_dir"]]

    # -- requests built before the event -----------------------------------------------
    def prepare(self) -> None:
        """Build, for every bridge a guest belongs on, the requests that put its ports back when it returns.

        Runs after the configs or the guest devices changed, never between a
        bridge's RTM_NEWLINK and the first request.
        """
        self.dirty = False
        self.prepared, self.prepared_for, self.prepared_indexes = {}, {}, set()
        if self.requests is None:
            return
        snapshot = build_host(list(self.links.values()), self.guests)
        for bridge in sorted(self.watched):
            filtering = self.filtering_of.get(bridge, False)
            operations, outcomes = plan_return(snapshot.host, self.current, bridge, filtering, self.guests)
            self.prepared_for[bridge] = filtering
            if not operations:
                continue
            configurator = NetlinkConfigurator(self.requests, dict(snapshot.index_of, **{bridge: PLACEHOLDER}))
            try:
                encoded = [configurator.encode(op) for op in operations]
            except UnresolvedDevice:
                del self.prepared_for[bridge]   # planned afresh when it appears
                continue
            self.prepared[bridge] = (nl.Prepared(encoded, _MASTER_SLOT, 4), outcomes)
            self.prepared_indexes.update(snapshot.index_of[op.device] for op in operations
                                         if op.device in snapshot.index_of)

    def _ready(self, appeared: list):
        """[(bridge, ifindex, (prepared, outcomes))] for the bridges that appeared, or None to plan afresh.

        Requests built before are usable when nothing they depend on changed
        since (`dirty`) and the bridge filters VLANs as they assumed. A bridge
        no guest belongs on needs nothing here (the full pass checks all).
        """
        if self.dirty or self.requests is None or not appeared:
            return None
        ready = []
        for bridge, index, filtering in appeared:
            if bridge not in self.prepared_for:
                if bridge in self.watched:
                    return None
                continue
            if filtering is None or self.prepared_for[bridge] != filtering:
                return None
            if bridge in self.prepared:
                ready.append((bridge, index, self.prepared[bridge]))
        return ready

    # -- the kernel ------------------------------------------------------------------
    def _resubscribe(self) -> None:
        """A fresh event socket, then a dump that says which bridges exist now."""
        if self.sock is not None:
            self.sock.close()
        self.sock = nl.open_event_socket(self.namespace, [nl.RTNLGRP_LINK], int(self.settings["event_buffer"]))
        with nl.Netlink(self.namespace) as netlink:
            self.links = {raw.index: raw for raw in read_links(netlink)}
        self.known = {raw.name: bridge_key(raw) for raw in self.links.values() if raw.kind == "bridge"}
        self.filtering_of.update((name, key[1]) for name, key in self.known.items())
        self.dirty = True

    def fast_pass(self, why: str) -> None:
        """The first pass, only when no other writer holds the host's network lock.

        A change in progress (a module, a rollback) is never raced: its own
        verification reads what it made. The full pass waits for it and
        plans from its result.
        """
        try:
            with Writer(self.writer.holder, 0).lock(self.namespace):
                self._fast_pass(why)
        except LockTimeout as exc:
            LOG.info("%s: first pass skipped, %s; the full pass waits for it", why,
                     str(exc).split(": ", 1)[-1].split(". Waited")[0])
        except OSError as exc:   # the lock's directory cannot be made or written
            LOG.warning("%s: first pass skipped, the network lock cannot be taken (%s); the full pass follows", why, exc)

    def _fast_pass(self, why: str) -> None:
        """Attach the detached ports right away.

        When the bridges that appeared have requests built before the event,
        only their ifindex is written in and the requests are sent.
        Otherwise the detached ports are planned from the link table the
        event stream keeps, with the NICs as last read. Either way there is no
        dump and no config read before the first request. The full pass
        (`reconcile`) that follows reads the kernel and the configs,
        converges everything else and verifies; anything refused here is
        left to it.
        """
        start = self._event_at or time.monotonic()
        appeared, self.appeared = self.appeared, []
        ready = self._ready(appeared)
        if ready is not None:
            self._send_prepared(why, start, ready)
            return
        try:
            nics = self.nics()
            # VLAN memberships are not in link events (detached ports have none).
            snapshot = build_host(list(self.links.values()), self.guests)
            # The bridge's MTU may not be set yet (whoever re-creates it sets it after creating it):
            # an MTU that follows the bridge's is the full pass's.
            plan, outcomes = plan_guests(snapshot.host, nics, self.settings["bridges"], only_detached=True,
                                         guests=self.guests, follow_bridge_mtu=False)
            if not plan:
                return
            planned = time.monotonic()
            with nl.Netlink(self.namespace) as netlink:
                NetlinkConfigurator(netlink, snapshot.index_of).apply(plan.operations)
        except (NetsafeError, OSError) as exc:
            LOG.warning("%s: first pass did not complete (%s); the full pass follows", why, exc)
            return
        done = [o.nic.device for o in outcomes if o.operations]
        self._replugged(done)
        self._log_first_pass(why, done, start, planned)

    def _send_prepared(self, why: str, start: float, ready: list) -> None:
        done, refused = [], []
        planned = time.monotonic()
        try:
            for _bridge, index, (prepared, outcomes) in ready:
                errors = self.requests.send_prepared(prepared, index)
                refused += [error for error in errors if error is not None]
                done += [o.nic.device for o in outcomes]
                self._replugged(o.nic.device for o in outcomes)
        except OSError as exc:
            LOG.warning("%s: first pass did not complete (%s); the full pass follows", why, exc)
            return
        if refused:
            # A device changed between planning and the event: the full pass sorts it out.
            LOG.warning("%s: %d prepared request(s) refused (first: %s); the full pass follows", why, len(refused),
                        refused[0])
        if done:
            self._log_first_pass(why, done, start, planned, "; requests built before the event")

    def _replugged(self, devices) -> None:
        """The first pass plugged these NICs in: the full passes while their bridges settle give them their MTU."""
        devices = set(devices)
        self.replugged |= devices
        for _deadline, plugged in self.settling.values():
            plugged |= devices

    def _settling_nics(self) -> set:
        """NICs plugged in since a bridge that still settles appeared (see MTU_SETTLE_SECONDS)."""
        now = time.monotonic()
        self.settling = {b: entry for b, entry in self.settling.items() if entry[0] > now}
        return set().union(*(plugged for _deadline, plugged in self.settling.values()))

    @staticmethod
    def _log_first_pass(why: str, done: list, start: float, planned: float, how: str = "") -> None:
        LOG.info("%s: re-attached %d guest port(s) in %.1f ms (planned in %.1f ms%s): %s", why, len(done),
                 (time.monotonic() - start) * 1000, (planned - start) * 1000, how,
                 " ".join(done[:20]) + (" ..." if len(done) > 20 else ""))

    def reconcile(self, why: str) -> dict | None:
        """Put every running guest port back; logs what it did. Never raises for one bad guest."""
        start = time.monotonic()
        replugged, self.replugged = self.replugged | self._settling_nics(), set()
        try:
            nics = self.read_configs()
            result = restore(self.namespace, self.guests, nics, self.settings["bridges"], writer=self.writer,
                             replugged=replugged)
        except (NetsafeError, OSError) as exc:
            LOG.error("%s: could not re-attach guest ports: %s", why, exc)
            return None
        took = (time.monotonic() - start) * 1000
        by_reason: dict = {}
        for failure in result["failed_guests"]:
            by_reason.setdefault(failure["reason"], []).append(failure["device"] or f"guest {failure['guest']}")
        for reason, devices in by_reason.items():
            # One line per reason: a missing bridge with 1,000 guests is one line, not 1,000.
            LOG.warning("%s: %d guest port(s) not restored: %s: %s", why, len(devices), reason,
                        " ".join(devices[:10]) + (" ..." if len(devices) > 10 else ""))
        if result["reattached"]:
            LOG.info("%s: re-attached %d guest port(s) in %.1f ms: %s", why, len(result["reattached"]), took,
                     " ".join(result["reattached"][:20]) + (" ..." if len(result["reattached"]) > 20 else ""))
        else:
            LOG.info("%s: all %d running guest port(s) in place (%.1f ms)", why, len(result["already_ok"]), took)
        return result

    def _triggers(self) -> list:
        """Read every queued event; return why a reconcile is needed (empty: not needed)."""
        reasons = []
        view = self._buf
        while True:
            try:
                size = self.sock.recv_into(view)
            except BlockingIOError:
                return reasons
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.overflows += 1
                LOG.warning("link events were lost (ENOBUFS); replacing the socket and re-reading every link")
                self._resubscribe()
                self.appeared = []
                return ["events lost (ENOBUFS), full re-read"]
            received = time.monotonic()
            for kind, _flags, _seq, body in nl.iter_messages(view, size):
                if kind in (nl.RTM_NEWLINK, nl.RTM_DELLINK):
                    # A copy: the link table keeps the message after the buffer is reused.
                    reason = self._event(kind, bytes(body))
                    if reason:
                        reasons.append(reason)
                        self._event_at = received

    def _event(self, kind: int, body) -> str | None:
        raw = RawLink(body)
        before_link = self.links.get(raw.index)
        if kind == nl.RTM_DELLINK:
            self.links.pop(raw.index, None)
            if raw.name in self.chain_names or raw.index in self.prepared_indexes:
                self.dirty = True   # a guest device went away: its ifindex must not be used again
        else:
            self.links[raw.index] = raw
            if before_link is None or before_link.name != raw.name:
                # A new device, or a renamed one: prepared requests name devices by ifindex.
                if raw.name in self.chain_names or raw.index in self.prepared_indexes or (
                        before_link is not None and before_link.name in self.chain_names):
                    self.dirty = True
                elif raw.kind != "bridge" and self.guests.is_guest(raw.name, raw.kind) \
                        and not raw.name.startswith(("fwpr", "fwln")):
                    self.configs_dirty = True   # a guest device no config we read names: read them again
        if raw.kind != "bridge":
            return None
        if kind == nl.RTM_DELLINK:
            gone = self.known.pop(raw.name, None)
            if gone is not None:
                self.filtering_of[raw.name] = gone[1]
            return None
        key = bridge_key(raw)
        before = self.known.get(raw.name)
        self.known[raw.name] = key
        self.filtering_of[raw.name] = key[1]
        if raw.name.startswith("fwbr"):
            return None  # Proxmox VE plugging a guest: not ours
        if before == key:
            if self._mtu_settles(raw, before_link):
                return f"bridge {raw.name} MTU is now {raw.mtu}"
            return None  # a port joined or left: not ours
        # Any other new bridge counts, not only those named in the configs read
        # so far: a guest may have been moved to it since.
        if before is None or before[0] != key[0]:
            self.settling[raw.name] = (time.monotonic() + MTU_SETTLE_SECONDS, set())
            self.appeared.append((raw.name, raw.index, key[1]))
            return f"bridge {raw.name} appeared"
        self.appeared.append((raw.name, raw.index, None))   # never matches prepared requests: planned afresh
        return f"bridge {raw.name} changed VLAN filtering"

    def _mtu_settles(self, raw: RawLink, before_link) -> bool:
        """A bridge that appeared a moment ago has another MTU: the guests plugged in since follow it.

        Whoever re-creates a bridge sets its MTU after creating it, and a
        bridge whose MTU was never set follows its ports' as they join; the
        full pass may have run in between. A change seen with the appearance,
        before its pass, needs no pass of its own.
        """
        if raw.name not in self.settling or before_link is None or before_link.mtu == raw.mtu:
            return False
        if any(name == raw.name for name, _index, _filtering in self.appeared):
            return False
        return self.settling[raw.name][0] > time.monotonic()

    # -- the loop ------------------------------------------------------------------------
    def stop(self, *_args) -> None:
        self.stopping = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def run(self) -> int:
        self._resubscribe()
        self.requests = nl.Netlink(self.namespace)
        try:
            self.config_watch = ConfigWatch(self.config_directories())
        except (OSError, AttributeError) as exc:
            LOG.warning("cannot watch the config directories (%s); configs are re-read at every full pass", exc)
        self.reconcile("start")
        self.appeared = []
        pending = self._triggers()   # our own changes; a bridge that appeared meanwhile is a round of its own
        if not pending:
            self.prepare()
        notify("READY=1")
        LOG.info("watching link events%s for bridges %s%s", f" in namespace {self.namespace}" if self.namespace else "",
                 ", ".join(sorted(self.watched)) or "(none configured yet)",
                 f"; config changes in {', '.join(self.config_watch.watched)}"
                 if self.config_watch and self.config_watch.watched else "")
        extra = [self.config_watch] if self.config_watch else []
        while not self.stopping:
            if pending:
                readable = []
            else:
                try:
                    readable, _w, _x = select.select([self.sock, self._wake_r] + extra, [], [])
                except InterruptedError:
                    continue
                if self._wake_r in readable:
                    break
            if self.config_watch is not None and self.config_watch in readable and self.config_watch.changed():
                self._reread_configs()
            reasons = pending or (self._triggers() if self.sock in readable else [])
            pending = []
            if reasons:
                why = "; ".join(sorted(set(reasons)))
                lost = any("ENOBUFS" in r for r in reasons)
                if not lost:
                    self.fast_pass(why)
                    self._triggers()  # our own port events keep the table current; the full pass reads anyway
                self.appeared = []
                self.reconcile(why + ", full pass" if not lost else why)
                self.appeared = []
                pending = self._triggers()
                if pending:
                    continue
            if self.configs_dirty:
                self._reread_configs()
            if self.dirty:
                self.prepare()
        notify("STOPPING=1")
        self.close()
        return 0

    def _reread_configs(self) -> None:
        try:
            self.read_configs()
        except (NetsafeError, OSError) as exc:
            LOG.error("could not read the guest configs: %s", exc)
            self.configs_dirty = False

    def close(self) -> None:
        for closable in (self.sock, self.requests, self.config_watch):
            if closable is not None:
                closable.close()


def notify(state: str) -> None:
    """sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET when systemd set it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError as exc:
            LOG.warning("sd_notify failed: %s", exc)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tap_guard", description=(
        "Re-attach guest tap/veth devices to their bridges as soon as a bridge (re)appears."))
    parser.add_argument("--config", help="JSON settings file (the tap_guard role writes /etc/netsafe/tap_guard.json)")
    parser.add_argument("--source", choices=["auto", "proxmox", "libvirt", "explicit"])
    parser.add_argument("--proxmox-dir", dest="proxmox_dir")
    parser.add_argument("--libvirt-xml-dir", dest="libvirt_xml_dir", help="libvirt's persistent domain definitions")
    parser.add_argument("--libvirt-status-dir", dest="libvirt_status_dir", help="libvirt's live status XML of running guests")
    parser.add_argument("--libvirt-read", dest="libvirt_read", choices=["auto", "live", "persistent"])
    parser.add_argument("--bridge", dest="bridges", action="append", help="only guests on this bridge (repeatable)")
    parser.add_argument("--namespace", help="work inside this network namespace")
    parser.add_argument("--event-buffer", dest="event_buffer", type=int, help="event socket receive buffer, bytes")
    parser.add_argument("--once", action="store_true", help="converge once and exit (no watching)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(levelname)s: %(message)s")
    overrides = {k: getattr(args, k) for k in ("source", "proxmox_dir", "libvirt_xml_dir", "libvirt_status_dir",
                                               "libvirt_read", "bridges", "namespace", "event_buffer")}
    try:
        guard = TapGuard(load_settings(args.config, overrides))
        if args.once:
            return 0 if guard.reconcile("once") is not None else 1
        signal.signal(signal.SIGTERM, guard.stop)
        signal.signal(signal.SIGINT, guard.stop)
        return guard.run()
    except (NetsafeError, LookupError, OSError, ValueError) as exc:
        LOG.error("cannot start: %s", exc)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
