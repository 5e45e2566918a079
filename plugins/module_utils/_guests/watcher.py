# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""tap_guard: a watcher that puts guest ports back the moment their bridge (re)appears.

It listens to rtnetlink link events (RTNLGRP_LINK) on a socket opened by the
core's netlink code (inside the namespace when one is given), decodes them
with the core's link decoder, and blocks in select() without a timeout: it
never polls. When a bridge is created (a new ifindex) or starts or stops
filtering VLANs, it re-reads the guest configs (only files that changed) and
runs the same planner and pipeline as the tap_reenslave module
(`reenslave.restore`).

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
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import ConfigProblem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.reenslave import plan_guests, restore
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import NetlinkConfigurator
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    DEFAULT_GUEST_PATTERNS, GuestMatcher,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import (
    RawLink, build_host, filters_vlans, read_links,
)

EVENT_BUFFER = 8 << 20
LOG = logging.getLogger("tap_guard")

DEFAULTS = {
    "source": "auto",
    "proxmox_dir": "/etc/pve/local",
    "libvirt_xml_dir": "/etc/libvirt/qemu",
    "ports": None,
    "bridges": None,
    "namespace": None,
    "guest_patterns": list(DEFAULT_GUEST_PATTERNS),
    "event_buffer": EVENT_BUFFER,
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


def bridge_key(raw: RawLink):
    """What makes a bridge 'new' to the watcher: its ifindex and whether it filters VLANs."""
    return raw.index, filters_vlans(raw)


class TapGuard:
    """The event loop; `reconcile()` is one full converge of every guest port."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.namespace = settings["namespace"]
        self.guests = GuestMatcher(settings["guest_patterns"])
        self.cache: dict = {}
        self.known: dict = {}        # bridge name -> bridge_key
        self.links: dict = {}        # ifindex -> latest RawLink, kept from the event stream
        self.watched: set = set()    # bridges that guest configs name
        self.sock = None
        self.stopping = False
        self.overflows = 0
        self._buf = bytearray(nl.RECV_BUFFER)
        self._event_at = None        # when the datagram holding the last trigger arrived
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    # -- configs ------------------------------------------------------------------
    def nics(self) -> list:
        s = self.settings
        nics, problems, warnings, _used = discover(
            s["source"], s["proxmox_dir"], s["libvirt_xml_dir"], s["ports"], self.cache)
        for problem in problems:
            LOG.error("guest %s: config not usable: %s", problem["guest"], problem["reason"])
        for warning in warnings:
            LOG.warning("%s", warning)
        if s["bridges"]:
            nics = [n for n in nics if n.bridge in s["bridges"]]
        watched = {n.bridge for n in nics} | {f"{n.bridge}v{n.vlan}" for n in nics if n.vlan is not None}
        self.watched = watched
        return nics

    # -- the kernel ------------------------------------------------------------------
    def _resubscribe(self) -> None:
        """A fresh event socket, then a dump that says which bridges exist now."""
        if self.sock is not None:
            self.sock.close()
        self.sock = nl.open_event_socket(self.namespace, [nl.RTNLGRP_LINK], int(self.settings["event_buffer"]))
        with nl.Netlink(self.namespace) as netlink:
            self.links = {raw.index: raw for raw in read_links(netlink)}
        self.known = {raw.name: bridge_key(raw) for raw in self.links.values() if raw.kind == "bridge"}

    def fast_pass(self, why: str) -> None:
        """Attach the detached ports right away, planned from the event-kept link table.

        No dump before the first request: the full pass (`reconcile`) that
        follows reads the kernel, converges everything else and verifies.
        Anything refused here is left to it.
        """
        start = self._event_at or time.monotonic()
        try:
            nics = self.nics()
            # Planned from the link table the event stream keeps, without a dump:
            # that keeps a 1,000-port bridge's outage near the kernel's own cost.
            # VLAN memberships are not in link events (detached ports have none).
            snapshot = build_host(list(self.links.values()), self.guests)
            plan, outcomes = plan_guests(snapshot.host, nics, self.settings["bridges"], only_detached=True)
            if not plan:
                return
            planned = time.monotonic()
            with nl.Netlink(self.namespace) as netlink:
                NetlinkConfigurator(netlink, snapshot.index_of).apply(plan.operations)
        except (ConfigProblem, NetsafeError, OSError) as exc:
            LOG.warning("%s: first pass did not complete (%s); the full pass follows", why, exc)
            return
        done = [o.nic.device for o in outcomes if o.operations]
        LOG.info("%s: re-attached %d guest port(s) in %.1f ms (planned in %.1f ms): %s", why, len(done),
                 (time.monotonic() - start) * 1000, (planned - start) * 1000,
                 " ".join(done[:20]) + (" ..." if len(done) > 20 else ""))

    def reconcile(self, why: str) -> dict | None:
        """Put every running guest port back; logs what it did. Never raises for one bad guest."""
        start = time.monotonic()
        try:
            nics = self.nics()
            result = restore(self.namespace, self.guests, nics, self.settings["bridges"])
        except (ConfigProblem, NetsafeError, OSError) as exc:
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
        if kind == nl.RTM_DELLINK:
            self.links.pop(raw.index, None)
        else:
            self.links[raw.index] = raw
        if raw.kind != "bridge":
            return None
        if kind == nl.RTM_DELLINK:
            self.known.pop(raw.name, None)
            return None
        key = bridge_key(raw)
        before = self.known.get(raw.name)
        self.known[raw.name] = key
        if before == key or raw.name.startswith("fwbr"):
            return None  # a port joined or left, or Proxmox VE plugging a guest: not ours
        # Any other new bridge counts, not only those named in the configs read
        # so far: a guest may have been moved to it since.
        return f"bridge {raw.name} {'appeared' if before is None or before[0] != key[0] else 'changed VLAN filtering'}"

    # -- the loop ------------------------------------------------------------------------
    def stop(self, *_args) -> None:
        self.stopping = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def run(self) -> int:
        self._resubscribe()
        self.reconcile("start")
        notify("READY=1")
        LOG.info("watching link events%s for bridges %s", f" in namespace {self.namespace}" if self.namespace else "",
                 ", ".join(sorted(self.watched)) or "(none configured yet)")
        while not self.stopping:
            try:
                readable, _w, _x = select.select([self.sock, self._wake_r], [], [])
            except InterruptedError:
                continue
            if self._wake_r in readable:
                break
            reasons = self._triggers()
            if reasons:
                why = "; ".join(sorted(set(reasons)))
                if not any("ENOBUFS" in r for r in reasons):
                    self.fast_pass(why)
                    self._triggers()  # our own port events: keep the table current
                self.reconcile(why + ", full pass" if not any("ENOBUFS" in r for r in reasons) else why)
        notify("STOPPING=1")
        self.sock.close()
        return 0


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
    parser.add_argument("--libvirt-xml-dir", dest="libvirt_xml_dir")
    parser.add_argument("--bridge", dest="bridges", action="append", help="only guests on this bridge (repeatable)")
    parser.add_argument("--namespace", help="work inside this network namespace")
    parser.add_argument("--event-buffer", dest="event_buffer", type=int, help="event socket receive buffer, bytes")
    parser.add_argument("--once", action="store_true", help="converge once and exit (no watching)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(levelname)s: %(message)s")
    overrides = {k: getattr(args, k) for k in ("source", "proxmox_dir", "libvirt_xml_dir", "bridges", "namespace",
                                               "event_buffer")}
    try:
        guard = TapGuard(load_settings(args.config, overrides))
        if args.once:
            return 0 if guard.reconcile("once") is not None else 1
        signal.signal(signal.SIGTERM, guard.stop)
        signal.signal(signal.SIGINT, guard.stop)
        return guard.run()
    except (ConfigProblem, NetsafeError, LookupError, OSError, ValueError) as exc:
        LOG.error("cannot start: %s", exc)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
