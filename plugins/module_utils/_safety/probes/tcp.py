# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""tcp: does something accept a connection on host:port? (a three-way handshake, then close)."""
from __future__ import annotations

import ipaddress
import socket
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import dns
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.common import (
    Kind, ProbeFailure, family, host_problem, open_socket, os_text, retrying, seconds, sockaddr, split_scope,
)


def host_port(target: str, port) -> str:
    address, _scope = split_scope(target)
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{target}]:{port}"
    except ValueError:
        pass
    return f"{target}:{port}"


def connect(namespace, probe: dict, timeout: float) -> tuple:
    """One tcp attempt, name resolution included, within `timeout`: the connection gets what resolving left."""
    started = time.monotonic()
    address = dns.resolve_host(namespace, probe["target"], started + timeout)
    plain, scope = split_scope(address)
    left = started + timeout - time.monotonic()
    if left <= 0:
        raise ProbeFailure(f"timed out (resolving {probe['target']} took the whole {seconds(timeout)})")
    sock, index = open_socket(namespace, family(plain), socket.SOCK_STREAM, 0, scope)
    try:
        sock.settimeout(left)
        started = time.monotonic()
        try:
            sock.connect(sockaddr(plain, probe["port"], index))
        except socket.timeout:
            raise ProbeFailure(f"timed out (no answer within {seconds(timeout)})") from None
        except ConnectionRefusedError:
            raise ProbeFailure("connection refused") from None
        except OSError as exc:
            raise ProbeFailure(os_text(exc)) from None
        took = time.monotonic() - started
    finally:
        sock.close()
    return took, {"address": address}


class Tcp(Kind):
    name = "tcp"
    keys = {"port": None}

    def problems(self, spec: dict, where: str) -> list:
        problems = []
        target = spec.get("target")
        if target is None:
            problems.append(f"{where}.target: required for type tcp (an address or a host name)")
        elif host_problem(target):
            problems.append(f"{where}.target: {host_problem(target)}")
        port = spec.get("port")
        if port is None:
            problems.append(f"{where}.port: required for type tcp (1-65535)")
        elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"{where}.port: must be a port number 1-65535, got {port!r}")
        return problems

    def default_name(self, probe: dict) -> str:
        return f"tcp {host_port(probe['target'], probe['port'])}"

    def run(self, probe: dict, namespace, deadline, result: dict, index) -> None:
        retrying(probe, deadline, result, lambda timeout: connect(namespace, probe, timeout))
