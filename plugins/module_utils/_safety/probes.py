# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Connectivity probes run on the host itself, or inside a named network namespace.

Four kinds, each answering one question from where the host stands:

- ``icmp``: does this address answer echo requests? (raw socket, IPv4 and IPv6,
  replies matched by identifier, sequence, payload and source);
- ``tcp``: does something accept a connection on host:port?
- ``neighbour``: does the ARP/ND entry of the default gateway (or an address)
  resolve? (the entry is triggered with a datagram, then read with an
  RTM_GETNEIGH dump through the core's netlink client);
- ``dns``: does a DNS server answer for a name? (our own small UDP client, so
  it asks the server the probe names even inside a namespace).

Every socket is created inside the namespace (setns, create, straight back:
`netlink.inside`) and keeps talking to it afterwards; no helper process.
tcp, dns and neighbour retry through the collection's backoff core
(`count` attempts); icmp sends `count` echo requests and passes on any reply.

The change-window watchdog runs this file outside Ansible, so it imports only
the standard library and the collection's own module_utils.
"""
from __future__ import annotations

import ipaddress
import math
import os
import random
import re
import select
import socket
import struct
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.backoff import (
    BackoffPolicy, RetryError, RetryRunner, Verdict,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import (
    read_default_gateways, read_neighbours,
)

__all__ = [
    "PROBE_TYPES", "build_dns_query", "failed_required", "normalize", "parse_dns_response", "probe_problems",
    "run_probes", "summary_line", "DnsFormatError", "DnsMismatch",
]

PROBE_TYPES = ("icmp", "tcp", "neighbour", "dns")
PROBE_KEYS = ("type", "target", "port", "server", "record", "required", "count", "timeout", "name")
# Keys that mean something for one type only.
ONLY_FOR = {"port": "tcp", "server": "dns", "record": "dns"}
RECORD_TYPES = {"A": 1, "AAAA": 28}
DEFAULT_COUNT = 3
DEFAULT_TIMEOUT = 1.0
# The longest a probe may take: a gate probe must not hold a watchdog past its deadline (the watchdog
# also gives its probes only the time left), and a task's probes must end in reasonable time.
MAX_COUNT = 100
MAX_PROBE_SECONDS = 300.0
# States of a neighbour entry that prove the address answered ARP/ND (or needs none).
NEIGHBOUR_OK = ("REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP")
# Waits between the attempts of a tcp, dns or neighbour probe: 0.2 s, 0.4 s, 0.8 s, then 1 s (the cap).
RETRY_BASE = 0.2
RETRY_CAP = 1.0
NEIGHBOUR_POLL = 0.02
DISCARD_PORT = 9
DNS_PORT = 53
RESOLV_CONF = "/etc/resolv.conf"
HOSTS_FILE = "/etc/hosts"

ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
_ICMP_HEADER = struct.Struct("!BBHHH")
_DNS_HEADER = struct.Struct("!HHHHHH")
_DNS_RR = struct.Struct("!HHIH")
DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


# -- validation --------------------------------------------------------------------------------

def _as_int(value):
    """An int from an int or a string of ASCII digits (Jinja makes strings); None otherwise: a regex's digit
    class also took fullwidth '１０', which int() reads as 10."""
    return ascii_int(value) if isinstance(value, (int, str)) else None


def _as_float(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _as_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def split_scope(text: str) -> tuple:
    """('fe80::1', 'eth0') from 'fe80::1%eth0'; (text, None) without a scope."""
    address, sep, scope = text.partition("%")
    return address, (scope if sep else None)


def _address_problem(text) -> str | None:
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


def _host_problem(text) -> str | None:
    """An address or a host name."""
    if not isinstance(text, str):
        return f"must be a string, got {type(text).__name__}"
    address, _scope = split_scope(text.strip())
    try:
        ipaddress.ip_address(address)
    except ValueError:
        problem = name_problem(text)
        return None if problem is None else f"{text!r} is neither an IPv4/IPv6 address nor a host name"
    return _address_problem(text)


def _given(spec: dict, key: str) -> bool:
    return spec.get(key) is not None


def _spec_problems(spec: dict, where: str) -> list:
    problems = []
    for key in spec:
        if key not in PROBE_KEYS:
            problems.append(f"{where}.{key}: unknown key; a probe takes {', '.join(PROBE_KEYS)}")
    kind = spec.get("type")
    if kind is None:
        problems.append(f"{where}.type: required, one of {', '.join(PROBE_TYPES)}")
    elif kind not in PROBE_TYPES:
        problems.append(f"{where}.type: must be one of {', '.join(PROBE_TYPES)}, got {kind!r}")
        kind = None
    for key, owner in ONLY_FOR.items():
        if kind is not None and kind != owner and _given(spec, key):
            problems.append(f"{where}.{key}: only for type {owner}, not {kind}; remove it")

    target = spec.get("target")
    if kind == "icmp":
        if target is None:
            problems.append(f"{where}.target: required for type icmp (an IPv4 or IPv6 address)")
        elif _address_problem(target):
            problems.append(f"{where}.target: {_address_problem(target)} (type icmp takes an address; "
                            f"check a name with type dns)")
    elif kind == "tcp":
        if target is None:
            problems.append(f"{where}.target: required for type tcp (an address or a host name)")
        elif _host_problem(target):
            problems.append(f"{where}.target: {_host_problem(target)}")
        port = spec.get("port")
        if port is None:
            problems.append(f"{where}.port: required for type tcp (1-65535)")
        elif _as_int(port) is None or not 1 <= _as_int(port) <= 65535:
            problems.append(f"{where}.port: must be a port number 1-65535, got {port!r}")
    elif kind == "neighbour":
        if target is not None and _address_problem(target):
            problems.append(f"{where}.target: {_address_problem(target)} (type neighbour takes an address, "
                            f"or none for every default gateway)")
    elif kind == "dns":
        if target is None:
            problems.append(f"{where}.target: required for type dns (the name to resolve)")
        elif name_problem(target):
            problems.append(f"{where}.target: {name_problem(target)}")
        server = spec.get("server")
        if server is not None and _address_problem(server):
            problems.append(f"{where}.server: {_address_problem(server)} (the DNS server to ask; "
                            f"leave it out for the first nameserver of {RESOLV_CONF})")
        record = spec.get("record")
        if record is not None and (not isinstance(record, str) or record.upper() not in RECORD_TYPES):
            problems.append(f"{where}.record: must be A or AAAA, got {record!r}")

    if _given(spec, "required") and _as_bool(spec["required"]) is None:
        problems.append(f"{where}.required: must be true or false, got {spec['required']!r}")
    count = DEFAULT_COUNT if not _given(spec, "count") else _as_int(spec["count"])
    if count is None or not 1 <= count <= MAX_COUNT:
        problems.append(f"{where}.count: must be a whole number from 1 to {MAX_COUNT}, got {spec['count']!r}")
        count = None
    timeout = DEFAULT_TIMEOUT if not _given(spec, "timeout") else _as_float(spec["timeout"])
    if timeout is None or timeout <= 0:
        problems.append(f"{where}.timeout: must be a number of seconds greater than 0, got {spec['timeout']!r}")
        timeout = None
    if count is not None and timeout is not None and longest(kind, count, timeout) > MAX_PROBE_SECONDS:
        problems.append(f"{where}.count and {where}.timeout: {count} attempts of up to {timeout:g} s"
                        f"{_waits_text(kind, count)} may take {longest(kind, count, timeout):g} s; a probe may take "
                        f"at most {MAX_PROBE_SECONDS:g} s: lower count or timeout")
    if _given(spec, "name") and (not isinstance(spec["name"], str) or not spec["name"].strip()):
        problems.append(f"{where}.name: must be a non-empty string, got {spec['name']!r}")
    return problems


def _retry_waits(kind, count: int) -> float:
    """Seconds a probe waits between its attempts: icmp sends at once, the others back off (_retrying)."""
    if kind == "icmp":
        return 0.0
    return sum(min(RETRY_BASE * 2 ** n, RETRY_CAP) for n in range(count - 1))


def _waits_text(kind, count: int) -> str:
    waits = _retry_waits(kind, count)
    return f", plus {waits:g} s between them," if waits else ""


def longest(kind, count: int, timeout: float) -> float:
    """The longest one probe (one target) can take: count attempts of timeout each, and the waits between."""
    return round(count * timeout + _retry_waits(kind, count), 3)


def probe_problems(specs, param: str = "probes") -> list:
    """Every problem with a list of probe specs, one line each, naming `param[i].key`. Pure: no I/O."""
    if specs is None:
        return []
    if not isinstance(specs, (list, tuple)):
        return [f"{param}: must be a list of probes (each a dict with a type), got {type(specs).__name__}"]
    problems = []
    for index, spec in enumerate(specs):
        where = f"{param}[{index}]"
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be a dict with a type ({', '.join(PROBE_TYPES)}), "
                            f"got {type(spec).__name__}")
            continue
        problems.extend(_spec_problems(spec, where))
    return problems


def _host_port(target: str, port) -> str:
    address, _scope = split_scope(target)
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{target}]:{port}"
    except ValueError:
        pass
    return f"{target}:{port}"


def default_name(kind: str, target, port=None, record=None) -> str:
    if kind == "tcp":
        return f"tcp {_host_port(target, port)}"
    if kind == "dns":
        return f"dns {target} {record}"
    if kind == "neighbour" and target is None:
        return "neighbour gateway"
    return f"{kind} {target}"


def normalize(specs) -> list:
    """The specs with every key filled in (defaults, types converted); ValidationError when any is invalid.

    Idempotent: a normalized list normalizes to itself. Keys that do not apply
    to a probe's type are None. Pure: no I/O (a dns probe's default server is
    looked up when it runs).
    """
    problems = probe_problems(specs)
    if problems:
        raise ValidationError(problems)
    result = []
    for spec in specs or []:
        kind = spec["type"]
        target = spec.get("target")
        target = target.strip() if isinstance(target, str) else target
        port = _as_int(spec["port"]) if kind == "tcp" else None
        record = (spec.get("record") or "A").upper() if kind == "dns" else None
        server = spec.get("server") if kind == "dns" else None
        server = server.strip() if isinstance(server, str) else server
        required = spec.get("required")
        name = spec.get("name")
        result.append({
            "type": kind,
            "target": target,
            "port": port,
            "server": server,
            "record": record,
            "required": True if required is None else _as_bool(required),
            "count": DEFAULT_COUNT if spec.get("count") is None else _as_int(spec["count"]),
            "timeout": DEFAULT_TIMEOUT if spec.get("timeout") is None else _as_float(spec["timeout"]),
            "name": name.strip() if name else default_name(kind, target, port, record),
        })
    return result


# -- reports --------------------------------------------------------------------------------------

def failed_required(results) -> list:
    """The results of required probes that failed."""
    return [result for result in results if result["required"] and not result["ok"]]


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def seconds(value: float) -> str:
    """1.0 -> '1.0 s', 0.25 -> '0.25 s'."""
    text = f"{value:.3f}".rstrip("0")
    return (text + "0" if text.endswith(".") else text) + " s"


def summary_line(result: dict) -> str:
    """One line a person reads at 02:00: `icmp 10.77.0.1: ok, 0.21 ms`, `tcp 10.77.0.1:22: FAILED, connection refused after 3 attempts`."""
    attempts = result["attempts"]
    if result["ok"]:
        parts = []
        if result["latency_ms"] is not None:
            parts.append(f"{_ms(result['latency_ms'])} ms")
        detail = result.get("detail") or {}
        if result["type"] == "icmp" and result["replies"] < attempts:
            parts.append(f"{result['replies']}/{attempts} replies")
        elif result["type"] == "neighbour" and detail.get("state"):
            parts.append(" ".join(str(x) for x in (detail["state"], detail.get("lladdr")) if x))
        elif result["type"] == "dns" and detail.get("addresses"):
            parts.append(", ".join(detail["addresses"]))
        if result["type"] != "icmp" and attempts > 1:
            parts.append(f"at attempt {attempts}")
        return f"{result['name']}: ok" + "".join(", " + part for part in parts)
    head = "FAILED" if result["required"] else "failed (not required)"
    line = f"{result['name']}: {head}, {result['error']}"
    if result["type"] != "icmp" and attempts:
        line += f" after {attempts} attempt{'' if attempts == 1 else 's'}"
    return line


# -- shared pieces ---------------------------------------------------------------------------------

class ProbeFailure(Exception):
    """One attempt failed for a reason worth reporting; `transient` says whether another attempt may help."""

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


def _os_text(exc: OSError) -> str:
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def _family(address: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def _open(namespace, family: int, kind: int, proto: int = 0, scope: str | None = None) -> tuple:
    """(socket, scope ifindex or 0) created inside `namespace`."""
    with nl.inside(namespace):
        sock = socket.socket(family, kind | socket.SOCK_CLOEXEC, proto)
        try:
            index = socket.if_nametoindex(scope) if scope else 0
        except OSError:
            sock.close()
            raise ProbeFailure(f"no device {scope!r} for the link-local address", transient=False) from None
    return sock, index


def _sockaddr(address: str, port: int, index: int) -> tuple:
    if _family(address) == socket.AF_INET6:
        return (address, port, 0, index)
    return (address, port)


def _device_name(namespace, index: int) -> str | None:
    with nl.inside(namespace):
        try:
            return socket.if_indextoname(index)
        except OSError:
            return None


def _remaining(deadline) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


def read_resolv_conf(path: str = RESOLV_CONF) -> str | None:
    """The first usable `nameserver` of resolv.conf, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = re.split(r"[#;]", line, 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver" and _address_problem(fields[1]) is None:
            return fields[1]
    return None


def _hosts_lookup(name: str, path: str = HOSTS_FILE) -> list:
    wanted = name.rstrip(".").lower()
    found = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and wanted in (n.lower() for n in fields[1:]) and _address_problem(fields[0]) is None:
            found.append(fields[0])
    return found


# -- DNS ----------------------------------------------------------------------------------------

class DnsFormatError(ValueError):
    """An answer that is not a well-formed DNS message."""


class DnsMismatch(ValueError):
    """A well-formed DNS message that is not the answer to our query (id, question)."""


def _encode_name(name: str) -> bytes:
    labels = name.rstrip(".").split(".")
    out = b""
    for label in labels:
        raw = label.encode("ascii")
        if not 1 <= len(raw) <= 63:
            raise ValueError(f"bad DNS label {label!r} in {name!r}")
        out += bytes((len(raw),)) + raw
    if len(out) + 1 > 255:
        raise ValueError(f"DNS name {name!r} is too long")
    return out + b"\0"


def build_dns_query(name: str, record: str, ident: int) -> bytes:
    """A standard query (recursion desired) for `record` (A or AAAA) of `name`, with id `ident`."""
    header = _DNS_HEADER.pack(ident & 0xFFFF, 0x0100, 1, 0, 0, 0)
    return header + _encode_name(name) + struct.pack("!HH", RECORD_TYPES[record], 1)


def _read_name(data: bytes, offset: int) -> tuple:
    """(name, offset after it) of a possibly compressed name."""
    labels = []
    end = None
    jumps = 0
    while True:
        if offset >= len(data):
            raise DnsFormatError("a name runs past the end of the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsFormatError("a compression pointer runs past the end of the message")
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > 127:
                raise DnsFormatError("a compression pointer loop")
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length & 0xC0:
            raise DnsFormatError(f"unknown label type 0x{length:02x}")
        offset += 1
        if length == 0:
            break
        if offset + length > len(data):
            raise DnsFormatError("a label runs past the end of the message")
        labels.append(data[offset:offset + length].decode("ascii", errors="replace"))
        offset += length
    return ".".join(labels), (offset if end is None else end)


def parse_dns_response(data: bytes, ident: int, name: str, record: str) -> tuple:
    """(rcode name, [addresses of type `record`]) of the answer to our query.

    DnsMismatch when the message is not that answer (another id, not a
    response, another question); DnsFormatError when it is malformed.
    Records of another type (CNAMEs) are skipped; every A/AAAA record of the
    answer section is taken, as a stub resolver does.
    """
    if len(data) < _DNS_HEADER.size:
        raise DnsFormatError(f"{len(data)} bytes, shorter than a DNS header")
    rid, flags, qdcount, ancount, _nscount, _arcount = _DNS_HEADER.unpack_from(data)
    if rid != ident & 0xFFFF:
        raise DnsMismatch(f"id {rid} is not ours ({ident})")
    if not flags & 0x8000:
        raise DnsMismatch("a query, not a response")
    if (flags >> 11) & 0xF:
        raise DnsMismatch(f"opcode {(flags >> 11) & 0xF}, not a standard query")
    if qdcount != 1:
        raise DnsMismatch(f"{qdcount} questions, we asked one")
    qtype = RECORD_TYPES[record]
    qname, offset = _read_name(data, _DNS_HEADER.size)
    if offset + 4 > len(data):
        raise DnsFormatError("the question runs past the end of the message")
    got_type, got_class = struct.unpack_from("!HH", data, offset)
    offset += 4
    if qname.lower() != name.rstrip(".").lower() or got_type != qtype or got_class != 1:
        raise DnsMismatch(f"the answer is for {qname} type {got_type}, we asked {name} {record}")
    rcode = flags & 0xF
    rcode_name = DNS_RCODES.get(rcode, f"RCODE{rcode}")
    addresses = []
    size = 4 if record == "A" else 16
    for _n in range(ancount):
        _owner, offset = _read_name(data, offset)
        if offset + _DNS_RR.size > len(data):
            raise DnsFormatError("a record runs past the end of the message")
        rtype, rclass, _ttl, rdlength = _DNS_RR.unpack_from(data, offset)
        offset += _DNS_RR.size
        if offset + rdlength > len(data):
            raise DnsFormatError("record data runs past the end of the message")
        if rtype == qtype and rclass == 1:
            if rdlength != size:
                raise DnsFormatError(f"an {record} record of {rdlength} bytes")
            addresses.append(str(ipaddress.ip_address(data[offset:offset + size])))
        offset += rdlength
    if flags & 0x0200 and not addresses and rcode == 0:
        raise DnsFormatError("truncated answer (TC) without addresses; TCP is not tried")
    return rcode_name, addresses


def dns_exchange(namespace, server: str, name: str, record: str, timeout: float) -> tuple:
    """(rcode name, addresses, seconds) of one query to `server` port 53 over UDP, from inside `namespace`."""
    address, scope = split_scope(server)
    sock, index = _open(namespace, _family(address), socket.SOCK_DGRAM, 0, scope)
    try:
        try:
            sock.connect(_sockaddr(address, DNS_PORT, index))
        except OSError as exc:
            raise ProbeFailure(f"cannot reach DNS server {server}: {_os_text(exc)}") from None
        ident = random.getrandbits(16)
        query = build_dns_query(name, record, ident)
        started = time.monotonic()
        end = started + timeout
        try:
            sock.send(query)
        except OSError as exc:
            raise ProbeFailure(f"cannot send to DNS server {server}: {_os_text(exc)}") from None
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise ProbeFailure(f"timed out (no answer from {server} within {seconds(timeout)})")
            sock.settimeout(left)
            try:
                data = sock.recv(65535)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                raise ProbeFailure(f"{server} refused the query (nothing listens on port {DNS_PORT})") from None
            except OSError as exc:
                raise ProbeFailure(f"DNS server {server}: {_os_text(exc)}") from None
            try:
                rcode, addresses = parse_dns_response(data, ident, name, record)
            except DnsMismatch:
                continue  # a late answer to an earlier query, or not ours: keep waiting
            except DnsFormatError as exc:
                raise ProbeFailure(f"bad answer from {server}: {exc}") from None
            return rcode, addresses, time.monotonic() - started
    finally:
        sock.close()


def resolve_host(namespace, name: str, end: float) -> str:
    """An address for a tcp target: the address itself, else /etc/hosts, else DNS (A, then AAAA), all of it
    before `end` (time.monotonic()): the AAAA query gets only what the A query left."""
    address, _scope = split_scope(name)
    try:
        ipaddress.ip_address(address)
        return name
    except ValueError:
        pass
    found = _hosts_lookup(name)
    if found:
        return found[0]
    server = read_resolv_conf()
    if server is None:
        raise ProbeFailure(f"cannot resolve {name}: not in {HOSTS_FILE} and {RESOLV_CONF} names no nameserver",
                           transient=False)
    for record in ("A", "AAAA"):
        left = end - time.monotonic()
        if left <= 0:
            raise ProbeFailure(f"cannot resolve {name}: no time left for its {record} query")
        rcode, addresses, _took = dns_exchange(namespace, server, name, record, left)
        if rcode == "NXDOMAIN":
            raise ProbeFailure(f"cannot resolve {name}: NXDOMAIN", transient=False)
        if rcode != "NOERROR":
            raise ProbeFailure(f"cannot resolve {name}: {rcode} from {server}")
        if addresses:
            return addresses[0]
    raise ProbeFailure(f"cannot resolve {name}: no A or AAAA record", transient=False)


# -- the probes -----------------------------------------------------------------------------------

def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _icmp_socket(namespace, address: str, scope) -> tuple:
    if _family(address) == socket.AF_INET6:
        sock, index = _open(namespace, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6, scope)
        blocked = [0xFFFFFFFF] * 8
        blocked[ICMP6_ECHO_REPLY >> 5] &= ~(1 << (ICMP6_ECHO_REPLY & 31))
        try:
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("=8I", *blocked))
        except OSError:
            pass  # the reply check below does the same, only later
    else:
        sock, index = _open(namespace, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, scope)
        try:
            sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", ~(1 << ICMP_ECHO_REPLY) & 0xFFFFFFFF))
        except OSError:
            pass
    return sock, index


def _echo_request(v6: bool, ident: int, seq: int, payload: bytes) -> bytes:
    if v6:  # the kernel fills in the ICMPv6 checksum (it covers the IPv6 pseudo-header)
        return _ICMP_HEADER.pack(ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + payload
    header = _ICMP_HEADER.pack(ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    return _ICMP_HEADER.pack(ICMP_ECHO_REQUEST, 0, _checksum(header + payload), ident, seq) + payload


def _echo_reply_seq(v6: bool, data: bytes, source: str, target, ident: int, payloads: dict):
    """The sequence number of a genuine reply to one of our echo requests, else None."""
    try:
        if ipaddress.ip_address(split_scope(source)[0]) != target:
            return None
    except ValueError:
        return None
    if not v6:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        header = (data[0] & 0x0F) * 4
        if ipaddress.ip_address(data[12:16]) != target:
            return None
        data = data[header:]
        if _checksum(data) != 0:
            return None
    if len(data) < _ICMP_HEADER.size:
        return None
    kind, code, _sum, rid, seq = _ICMP_HEADER.unpack_from(data)
    if kind != (ICMP6_ECHO_REPLY if v6 else ICMP_ECHO_REPLY) or code != 0 or rid != ident:
        return None
    if payloads.get(seq) != data[_ICMP_HEADER.size:]:
        return None
    return seq


def _probe_icmp(spec: dict, namespace, deadline, result: dict) -> None:
    address, scope = split_scope(spec["target"])
    target = ipaddress.ip_address(address)
    v6 = target.version == 6
    count, timeout = spec["count"], spec["timeout"]
    try:
        sock, index = _icmp_socket(namespace, address, scope)
    except ProbeFailure as exc:
        result["error"] = str(exc)
        return
    ident = random.getrandbits(16)
    first = random.getrandbits(16)
    token = os.urandom(8)
    sent, payloads, rtts = {}, {}, {}
    send_error = None
    stopped = False
    try:
        for n in range(count):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                stopped = True
                break
            seq = (first + n) & 0xFFFF
            payloads[seq] = token + struct.pack("!II", n, seq) + b"netsafe\0"
            try:
                sock.sendto(_echo_request(v6, ident, seq, payloads[seq]), _sockaddr(address, 0, index))
                sent[seq] = time.monotonic()
            except OSError as exc:
                send_error = _os_text(exc)
            result["attempts"] = n + 1
            end = now + timeout if deadline is None else min(now + timeout, deadline)
            while seq not in rtts:
                left = end - time.monotonic()
                if left <= 0:
                    break
                ready, _w, _x = select.select([sock], [], [], left)
                if not ready:
                    break
                try:
                    data, source = sock.recvfrom(4096)
                except OSError:
                    continue
                arrived = time.monotonic()
                got = _echo_reply_seq(v6, data, source[0], target, ident, payloads)
                if got is not None and got in sent and got not in rtts:
                    rtts[got] = arrived - sent[got]
    finally:
        sock.close()
    result["replies"] = len(rtts)
    if rtts:
        result["ok"] = True
        result["latency_ms"] = round(min(rtts.values()) * 1000, 3)
        return
    echoes = result["attempts"]
    if not sent and send_error:
        result["error"] = f"cannot send echo requests to {spec['target']}: {send_error}"
    else:
        result["error"] = (f"no reply to {echoes} echo request{'' if echoes == 1 else 's'} "
                           f"within {seconds(timeout)} each")
        if send_error:
            result["error"] += f" (a send failed: {send_error})"
    if stopped:
        result["error"] += "; stopped at the deadline"


def _connect(namespace, spec: dict, timeout: float) -> tuple:
    """One tcp attempt, name resolution included, within `timeout`: the connection gets what resolving left."""
    started = time.monotonic()
    address = resolve_host(namespace, spec["target"], started + timeout)
    plain, scope = split_scope(address)
    left = started + timeout - time.monotonic()
    if left <= 0:
        raise ProbeFailure(f"timed out (resolving {spec['target']} took the whole {seconds(timeout)})")
    sock, index = _open(namespace, _family(plain), socket.SOCK_STREAM, 0, scope)
    try:
        sock.settimeout(left)
        started = time.monotonic()
        try:
            sock.connect(_sockaddr(plain, spec["port"], index))
        except socket.timeout:
            raise ProbeFailure(f"timed out (no answer within {seconds(timeout)})") from None
        except ConnectionRefusedError:
            raise ProbeFailure("connection refused") from None
        except OSError as exc:
            raise ProbeFailure(_os_text(exc)) from None
        took = time.monotonic() - started
    finally:
        sock.close()
    return took, {"address": address}


def _resolve(namespace, spec: dict, timeout: float) -> tuple:
    server = spec["server"]
    rcode, addresses, took = dns_exchange(namespace, server, spec["target"], spec["record"], timeout)
    if rcode == "NOERROR" and addresses:
        return took, {"addresses": addresses, "rcode": rcode}
    if rcode == "NOERROR":
        raise ProbeFailure(f"no {spec['record']} record (NOERROR, empty answer)", transient=False)
    if rcode in ("NXDOMAIN", "REFUSED", "NOTIMP", "FORMERR"):
        raise ProbeFailure(rcode, transient=False)
    raise ProbeFailure(rcode)


def _neighbour(namespace, address: str, index, timeout: float) -> tuple:
    """Trigger ARP/ND for `address` (on ifindex `index`, or any device), then poll its entry."""
    target = ipaddress.ip_address(address)
    family = _family(address)
    started = time.monotonic()
    send_error = None
    sock, _index = _open(namespace, family, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"", _sockaddr(address, DISCARD_PORT, index or 0))
    except OSError as exc:
        send_error = _os_text(exc)
    finally:
        sock.close()
    end = started + timeout
    best = None
    with nl.Netlink(namespace) as link:
        while True:
            entries = [e for e in read_neighbours(link, family)
                       if ipaddress.ip_address(e["address"]) == target and (not index or e["ifindex"] == index)]
            entries.sort(key=lambda e: e["state"] not in NEIGHBOUR_OK)
            best = entries[0] if entries else None
            if best is not None and best["state"] in NEIGHBOUR_OK:
                detail = {"state": best["state"], "lladdr": best["lladdr"],
                          "device": _device_name(namespace, best["ifindex"])}
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


def _retrying(spec: dict, deadline, result: dict, attempt) -> None:
    """Run attempt(timeout) -> (seconds, detail) up to spec['count'] times with the backoff core."""
    remaining = _remaining(deadline)
    policy = BackoffPolicy(base=RETRY_BASE, cap=RETRY_CAP, factor=2.0, max_attempts=spec["count"],
                           deadline=remaining, jitter="none")
    fatal = []

    def classify(exc: BaseException) -> Verdict:
        if isinstance(exc, ProbeFailure):
            return Verdict(transient=exc.transient, category="probe", message=str(exc))
        fatal.append(exc)
        return Verdict(transient=False, category="error", message=str(exc))

    def once(left):
        timeout = spec["timeout"] if left is None else max(0.001, min(spec["timeout"], left))
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


def _new_result(spec: dict) -> dict:
    return {
        "name": spec["name"], "type": spec["type"], "target": spec["target"], "port": spec["port"],
        "server": spec["server"], "record": spec["record"], "required": spec["required"],
        "ok": False, "attempts": 0, "replies": 0, "latency_ms": None, "error": None, "elapsed_ms": 0.0,
        "detail": {},
    }


def default_gateways(namespace) -> list:
    """[(ifindex, gateway as a probe target)] of the main table's default routes; link-locals with %device."""
    with nl.Netlink(namespace) as link:
        found = read_default_gateways(link)
    gateways = []
    for index in sorted(found):
        for key in ("gateway4", "gateway6"):
            address = found[index].get(key)
            if address is None:
                continue
            if ipaddress.ip_address(address).is_link_local and key == "gateway6":
                device = _device_name(namespace, index)
                address = f"{address}%{device}" if device else address
            gateways.append((index, address))
    return gateways


def _run_one(spec: dict, namespace, deadline, gateways) -> list:
    """The result(s) of one normalized probe (a neighbour probe without target: one per default gateway)."""
    kind = spec["type"]
    if kind == "neighbour" and spec["target"] is None:
        if gateways is None:
            gateways = default_gateways(namespace)
        if not gateways:
            result = _new_result(spec)
            result["error"] = "no default gateway to check (the main table has no default route)"
            return [result]
        results = []
        for index, address in gateways:
            one = dict(spec, target=address, name=f"{spec['name']} {address}")
            results.append(_run_target(one, namespace, deadline, index))
        return results
    return [_run_target(spec, namespace, deadline, None)]


def _run_target(spec: dict, namespace, deadline, gateway_index) -> dict:
    result = _new_result(spec)
    started = time.monotonic()
    if deadline is not None and started >= deadline:
        result["error"] = "not run: the overall deadline had passed"
        return result
    kind = spec["type"]
    try:
        if kind == "icmp":
            _probe_icmp(spec, namespace, deadline, result)
        elif kind == "tcp":
            _retrying(spec, deadline, result, lambda timeout: _connect(namespace, spec, timeout))
        elif kind == "dns":
            if spec["server"] is None:
                spec = dict(spec, server=read_resolv_conf())
                result["server"] = spec["server"]
            if spec["server"] is None:
                result["error"] = f"no server given and {RESOLV_CONF} names no nameserver"
            else:
                _retrying(spec, deadline, result, lambda timeout: _resolve(namespace, spec, timeout))
        else:
            address, scope = split_scope(spec["target"])
            index = gateway_index
            if index is None and scope:
                with nl.inside(namespace):
                    try:
                        index = socket.if_nametoindex(scope)
                    except OSError:
                        index = None
                if index is None:
                    result["error"] = f"no device {scope!r} for the link-local address"
            if result["error"] is None:
                _retrying(spec, deadline, result, lambda timeout: _neighbour(namespace, address, index, timeout))
    finally:
        result["elapsed_ms"] = round((time.monotonic() - started) * 1000, 3)
    return result


def resolve(specs, namespace: str | None = None) -> list:
    """The normalized probes `run_probes` runs: `specs`, or icmp to each default gateway when there are none.

    A change window runs the same resolved list before the change, after it
    and in the host's watchdog, so "the default gateways" means the gateways
    of the host as it was before the change.
    """
    probes = normalize(specs or [])
    nl.require_namespace(namespace)
    if probes:
        return probes
    gateways = default_gateways(namespace)
    if not gateways:
        where = f"namespace {namespace}" if namespace else "the host"
        raise NetsafeError(f"no probe was given and {where} has no default gateway (no default route in the "
                           f"main table) to probe; give probes, e.g. [{{type: icmp, target: <address>}}]")
    return normalize([{"type": "icmp", "target": address} for _index, address in gateways])


def run_probes(specs, namespace: str | None = None, deadline: float | None = None) -> list:
    """Run the probes in order inside `namespace` (None: this process's own); one result dict each.

    No specs: icmp to each default gateway of the namespace (NetsafeError when
    there is none; see resolve). `deadline` is a time.monotonic() value bounding
    the whole run: attempts are cut short at it, and a probe it has passed
    reports "not run". Invalid specs raise ValidationError; a missing namespace
    NamespaceNotFound; a raw socket refused (not root) PermissionError.
    """
    probes = resolve(specs, namespace)
    results = []
    for spec in probes:
        results.extend(_run_one(spec, namespace, deadline, None))
    return results
