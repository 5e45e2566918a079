# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""dns: does a DNS server answer for a name? Our own small UDP client, so it asks the server the probe names
even inside a namespace; also the host-name lookup of tcp targets (/etc/hosts, then DNS)."""
from __future__ import annotations

import ipaddress
import random
import re
import socket
import struct
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.common import (
    Kind, ProbeFailure, address_problem, family, name_problem, open_socket, os_text, retrying, seconds, sockaddr,
    split_scope,
)

RECORD_TYPES = {"A": 1, "AAAA": 28}
DNS_PORT = 53
RESOLV_CONF = "/etc/resolv.conf"
HOSTS_FILE = "/etc/hosts"
_DNS_HEADER = struct.Struct("!HHHHHH")
_DNS_RR = struct.Struct("!HHIH")
DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def read_resolv_conf(path: str = RESOLV_CONF) -> str | None:
    """The first usable `nameserver` of resolv.conf, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = re.split(r"[#;]", line, 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver" and address_problem(fields[1]) is None:
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
        if len(fields) >= 2 and wanted in (n.lower() for n in fields[1:]) and address_problem(fields[0]) is None:
            found.append(fields[0])
    return found


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
    sock, index = open_socket(namespace, family(address), socket.SOCK_DGRAM, 0, scope)
    try:
        try:
            sock.connect(sockaddr(address, DNS_PORT, index))
        except OSError as exc:
            raise ProbeFailure(f"cannot reach DNS server {server}: {os_text(exc)}") from None
        ident = random.getrandbits(16)
        query = build_dns_query(name, record, ident)
        started = time.monotonic()
        end = started + timeout
        try:
            sock.send(query)
        except OSError as exc:
            raise ProbeFailure(f"cannot send to DNS server {server}: {os_text(exc)}") from None
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
                raise ProbeFailure(f"DNS server {server}: {os_text(exc)}") from None
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


def query(namespace, probe: dict, timeout: float) -> tuple:
    """One dns attempt: (seconds, detail), or ProbeFailure (a definite answer is not transient)."""
    server = probe["server"]
    rcode, addresses, took = dns_exchange(namespace, server, probe["target"], probe["record"], timeout)
    if rcode == "NOERROR" and addresses:
        return took, {"addresses": addresses, "rcode": rcode}
    if rcode == "NOERROR":
        raise ProbeFailure(f"no {probe['record']} record (NOERROR, empty answer)", transient=False)
    if rcode in ("NXDOMAIN", "REFUSED", "NOTIMP", "FORMERR"):
        raise ProbeFailure(rcode, transient=False)
    raise ProbeFailure(rcode)


class Dns(Kind):
    name = "dns"
    keys = {"server": None, "record": "A"}

    def problems(self, spec: dict, where: str) -> list:
        problems = []
        target = spec.get("target")
        if target is None:
            problems.append(f"{where}.target: required for type dns (the name to resolve)")
        elif name_problem(target):
            problems.append(f"{where}.target: {name_problem(target)}")
        server = spec.get("server")
        if server is not None and address_problem(server):
            problems.append(f"{where}.server: {address_problem(server)} (the DNS server to ask; "
                            f"leave it out for the first nameserver of {RESOLV_CONF})")
        record = spec.get("record")
        if record is not None and (not isinstance(record, str) or record.upper() not in RECORD_TYPES):
            problems.append(f"{where}.record: must be A or AAAA, got {record!r}")
        return problems

    def fill(self, spec: dict) -> dict:
        server = spec.get("server")
        return {"server": server.strip() if isinstance(server, str) else server,
                "record": (spec.get("record") or "A").upper()}

    def default_name(self, probe: dict) -> str:
        return f"dns {probe['target']} {probe['record']}"

    def run(self, probe: dict, namespace, deadline, result: dict, index) -> None:
        if probe["server"] is None:
            probe = dict(probe, server=read_resolv_conf())
            result["server"] = probe["server"]
        if probe["server"] is None:
            result["error"] = f"no server given and {RESOLV_CONF} names no nameserver"
            return
        retrying(probe, deadline, result, lambda timeout: query(namespace, probe, timeout))

    def ok_parts(self, result: dict) -> list:
        addresses = (result.get("detail") or {}).get("addresses")
        return [", ".join(addresses)] if addresses else []
