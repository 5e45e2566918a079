# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""neighbour: does the ARP/ND entry of the default gateway (or an address) resolve?

The entry is triggered with a datagram, then read with an RTM_GETNEIGH dump
through the core's netlink client. Without a target, one result per default
gateway.
"""
from __future__ import annotations

import ipaddress
import socket
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import (
    read_default_gateways, read_neighbours,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.common import (
    Kind, ProbeFailure, address_problem, device_name, family, open_socket, os_text, retrying, sockaddr, split_scope,
)

# States of a neighbour entry that prove the address answered ARP/ND (or needs none).
NEIGHBOUR_OK = ("REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP")
NEIGHBOUR_POLL = 0.02
DISCARD_PORT = 9


def gateway_target(address: str, device: str | None) -> str:
    """A default gateway as a probe's target: a link-local IPv6 one is only reachable with its device."""
    ip = ipaddress.ip_address(address)
    return f"{address}%{device}" if device and ip.version == 6 and ip.is_link_local else address


def default_gateways(namespace) -> list:
    """[(ifindex, gateway as a probe target)] of the main table's default routes; link-locals with %device."""
    with nl.Netlink(namespace) as link:
        found = read_default_gateways(link)
    return [(index, gateway_target(address, device_name(namespace, index)))
            for index in sorted(found) for address in found[index]]


def resolve_entry(namespace, address: str, index, timeout: float) -> tuple:
    """Trigger ARP/ND for `address` (on ifindex `index`, or any device), then poll its entry."""
    target = ipaddress.ip_address(address)
    fam = family(address)
    started = time.monotonic()
    send_error = None
    sock, _index = open_socket(namespace, fam, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"", sockaddr(address, DISCARD_PORT, index or 0))
    except OSError as exc:
        send_error = os_text(exc)
    finally:
        sock.close()
    end = started + timeout
    best = None
    with nl.Netlink(namespace) as link:
        while True:
            entries = [e for e in read_neighbours(link, fam)
                       if ipaddress.ip_address(e["address"]) == target and (not index or e["ifindex"] == index)]
            entries.sort(key=lambda e: e["state"] not in NEIGHBOUR_OK)
            best = entries[0] if entries else None
            if best is not None and best["state"] in NEIGHBOUR_OK:
                detail = {"state": best["state"], "lladdr": best["lladdr"],
                          "device": device_name(namespace, best["ifindex"])}
                return time.monotonic() - started, detail
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(NEIGHBOUR_POLL, left))
    if best is not None:
        raise ProbeFailure(f"neighbour {address} is {best['state']}")
    if send_error:
        raise ProbeFailure(f"no neighbour entry for {address} ({send_error})")
    raise ProbeFailure(f"no neighbour entry for {address} (is it on a connected network?)")


class Neighbour(Kind):
    name = "neighbour"

    def problems(self, spec: dict, where: str) -> list:
        target = spec.get("target")
        if target is not None and address_problem(target):
            return [f"{where}.target: {address_problem(target)} (type neighbour takes an address, "
                    f"or none for every default gateway)"]
        return []

    def default_name(self, probe: dict) -> str:
        return "neighbour gateway" if probe["target"] is None else f"neighbour {probe['target']}"

    def targets(self, probe: dict, namespace, gateways) -> list:
        if probe["target"] is not None:
            return [(probe, None)]
        if gateways is None:
            gateways = default_gateways(namespace)
        return [(dict(probe, target=address, name=f"{probe['name']} {address}"), index)
                for index, address in gateways] or [(probe, None)]

    def run(self, probe: dict, namespace, deadline, result: dict, index) -> None:
        if probe["target"] is None:
            result["error"] = "no default gateway to check (the main table has no default route)"
            return
        address, scope = split_scope(probe["target"])
        if index is None and scope:
            with nl.inside(namespace):
                try:
                    index = socket.if_nametoindex(scope)
                except OSError:
                    result["error"] = f"no device {scope!r} for the link-local address"
                    return
        retrying(probe, deadline, result, lambda timeout: resolve_entry(namespace, address, index, timeout))

    def ok_parts(self, result: dict) -> list:
        detail = result.get("detail") or {}
        if not detail.get("state"):
            return []
        return [" ".join(str(x) for x in (detail["state"], detail.get("lladdr")) if x)]
