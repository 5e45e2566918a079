# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""What every probe type shares: address checks, sockets opened inside a namespace, the failure, the retry loop.

Standard library and the collection's own module_utils only: the change-window
watchdog runs the probes outside Ansible.
"""
from __future__ import annotations

import ipaddress
import os
import re
import socket
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.backoff import (
    BackoffPolicy, RetryError, RetryRunner, Verdict,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl

# Waits between the attempts of a tcp, dns or neighbour probe: 0.2 s, 0.4 s, 0.8 s, then 1 s (the cap).
RETRY_BASE = 0.2
RETRY_CAP = 1.0

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


class ProbeFailure(Exception):
    """One attempt failed for a reason worth reporting; `transient` says whether another attempt may help."""

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


# -- what a target may be ---------------------------------------------------------------------------

def split_scope(text: str) -> tuple:
    """('fe80::1', 'eth0') from 'fe80::1%eth0'; (text, None) without a scope."""
    address, sep, scope = text.partition("%")
    return address, (scope if sep else None)


def address_problem(text) -> str | None:
    """Why `text` is not an IPv4/IPv6 address (a link-local IPv6 one with its %device); None when it is."""
    if not isinstance(text, str):
        return f"must be a string, got {type(text).__name__}"
    address, scope = split_scope(text.strip())
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return f"{text!r} is not an IPv4 or IPv6 address"
    if scope is not None:
        if parsed.version != 6 or not parsed.is_link_local:
            return f"{text!r}: only an IPv6 link-local address takes a %device"
        if not scope or "/" in scope or len(scope) > 15:
            return f"{text!r}: {scope!r} is not a device name"
    elif parsed.version == 6 and parsed.is_link_local:
        return f"{text!r} is link-local: name its device too, e.g. {address}%eth0"
    return None


def name_problem(text) -> str | None:
    """Why `text` is not a DNS host name (ASCII labels, at most 253 characters); None when it is."""
    if not isinstance(text, str):
        return f"must be a string, got {type(text).__name__}"
    name = text.strip()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        return "must be a host name, got an empty one"
    if not name.isascii():
        return f"{text!r} is not ASCII; give the IDNA (xn--) form"
    if len(name) > 253:
        return f"{text!r} is longer than 253 characters"
    bad = [label for label in name.split(".") if not _LABEL.match(label)]
    if bad:
        return (f"{text!r} is not a host name (label {bad[0]!r}: letters, digits, '-' and '_', 1-63 characters, "
                f"no '-' at either end)")
    return None


def host_problem(text) -> str | None:
    """An address or a host name."""
    if not isinstance(text, str):
        return f"must be a string, got {type(text).__name__}"
    address, _scope = split_scope(text.strip())
    try:
        ipaddress.ip_address(address)
    except ValueError:
        problem = name_problem(text)
        return None if problem is None else f"{text!r} is neither an IPv4/IPv6 address nor a host name"
    return address_problem(text)


def is_v6(address: str) -> bool:
    return ipaddress.ip_address(split_scope(address.strip())[0]).version == 6


# -- sockets inside a namespace -----------------------------------------------------------------------

def os_text(exc: OSError) -> str:
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def family(address: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def open_socket(namespace, fam: int, kind: int, proto: int = 0, scope: str | None = None) -> tuple:
    """(socket, scope ifindex or 0) created inside `namespace`."""
    with nl.inside(namespace):
        sock = socket.socket(fam, kind | socket.SOCK_CLOEXEC, proto)
        try:
            index = socket.if_nametoindex(scope) if scope else 0
        except OSError:
            sock.close()
            raise ProbeFailure(f"no device {scope!r} for the link-local address", transient=False) from None
    return sock, index


def sockaddr(address: str, port: int, index: int) -> tuple:
    if family(address) == socket.AF_INET6:
        return (address, port, 0, index)
    return (address, port)


def device_name(namespace, index: int) -> str | None:
    with nl.inside(namespace):
        try:
            return socket.if_indextoname(index)
        except OSError:
            return None


def seconds(value: float) -> str:
    """1.0 -> '1.0 s', 0.25 -> '0.25 s'."""
    text = f"{value:.3f}".rstrip("0")
    return (text + "0" if text.endswith(".") else text) + " s"


# -- attempts with the backoff core -------------------------------------------------------------------

def backoff_waits(count: int) -> float:
    """Seconds a retrying probe waits between its `count` attempts at most."""
    return sum(min(RETRY_BASE * 2 ** n, RETRY_CAP) for n in range(count - 1))


def retrying(probe: dict, deadline, result: dict, attempt) -> None:
    """Run attempt(timeout) -> (seconds, detail) up to probe['count'] times with the backoff core."""
    remaining = None if deadline is None else deadline - time.monotonic()
    policy = BackoffPolicy(base=RETRY_BASE, cap=RETRY_CAP, factor=2.0, max_attempts=probe["count"],
                           deadline=remaining, jitter="none")
    fatal = []

    def classify(exc: BaseException) -> Verdict:
        if isinstance(exc, ProbeFailure):
            return Verdict(transient=exc.transient, category="probe", message=str(exc))
        fatal.append(exc)
        return Verdict(transient=False, category="error", message=str(exc))

    def once(left):
        timeout = probe["timeout"] if left is None else max(0.001, min(probe["timeout"], left))
        return attempt(timeout)

    runner = RetryRunner(policy=policy, classify=classify)
    try:
        took, detail = runner.run(once)
    except RetryError as exc:
        if fatal:
            raise fatal[-1] from None
        failed = [a for a in runner.attempts if not a.ok]
        result["attempts"] = len(runner.attempts)
        result["error"] = failed[-1].message if failed else exc.message
        if exc.reason == "deadline":
            result["error"] += "; stopped at the deadline"
        return
    result["attempts"] = len(runner.attempts)
    result["replies"] = 1
    result["ok"] = True
    result["latency_ms"] = round(took * 1000, 3)
    result["detail"] = detail


# -- what a probe type is -----------------------------------------------------------------------------

class Kind:
    """One probe type: its own keys, its checks and defaults, its name, how it runs and what its report adds.

    A subclass holds everything about its type; spec, runner and report ask the
    table (kinds.KINDS) and never test the type themselves.
    """

    name = ""
    keys: dict = {}        # the keys only this type takes, and their defaults
    retries = True         # attempts with backoff, reported as "after N attempts"; False: icmp's echo requests

    def problems(self, spec: dict, where: str) -> list:
        """What is wrong with the target and this type's own keys."""
        raise NotImplementedError

    def fill(self, spec: dict) -> dict:
        """This type's own keys, defaults filled in (the spec is valid)."""
        return {key: default if spec.get(key) is None else spec[key] for key, default in self.keys.items()}

    def default_name(self, probe: dict) -> str:
        return f"{self.name} {probe['target']}"

    def waits(self, count: int) -> float:
        """Seconds between attempts, at most; with the attempts' timeouts, the longest a probe can take."""
        return backoff_waits(count)

    def extra_attempts(self, probe: dict) -> int:
        """Attempts a probe may make beyond its count (icmp's retry at a smaller size)."""
        return 0

    def targets(self, probe: dict, namespace, gateways) -> list:
        """[(probe for one target, ifindex or None)]: one, or a neighbour probe's default gateways."""
        return [(probe, None)]

    def run(self, probe: dict, namespace, deadline, result: dict, index) -> None:
        """Run one target, filling `result` in."""
        raise NotImplementedError

    def ok_parts(self, result: dict) -> list:
        """What a passed probe's summary line says after its latency."""
        return []
