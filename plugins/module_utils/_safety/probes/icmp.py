# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""icmp: does this address answer echo requests, and, with don't-fragment, does the path carry a packet size?

A raw socket, IPv4 and IPv6; replies are matched by identifier, sequence,
payload and source. `count` echo requests are sent and any reply passes.

Path MTU: with `dont_fragment` (or `mtu: N`, which sends N-byte packets with
it) a packet larger than the path carries fails as "too big", told apart
from "no reply": the kernel refuses to send it (EMSGSIZE: larger than the
local MTU or a path MTU it has learned), or a router answers with ICMP
"fragmentation needed" (IPv4 type 3 code 4) or ICMPv6 "packet too big"
(type 2), each carrying the MTU that does pass. After such a failure, or no
reply, one echo request at the size of the known path MTU (else 1500) says
what does pass: "path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do)".
"""
from __future__ import annotations

import errno
import ipaddress
import os
import random
import select
import socket
import struct
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.common import (
    Kind, ProbeFailure, address_problem, is_v6, open_socket, os_text, seconds, sockaddr, split_scope,
)

ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED = 3, 4
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129
ICMP6_PACKET_TOO_BIG = 2
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
# linux/in.h and linux/in6.h (Python's socket module lacks most of them)
IP_MTU_DISCOVER, IP_MTU = 10, 14
# PMTUDISC_PROBE: don't-fragment set, and the size judged against the device's MTU only, never against a path MTU
# the kernel cached from an earlier "too big" (kept 10 minutes, and forgeable): the probe tests the path as it is
# now (review 27: a router fixed since, a forged fragmentation-needed).
IP_PMTUDISC_DONT, IP_PMTUDISC_PROBE = 0, 3
IPV6_MTU_DISCOVER, IPV6_MTU, IPV6_DONTFRAG = 23, 24, 62
IPV6_PMTUDISC_PROBE = 3
_ICMP_HEADER = struct.Struct("!BBHHH")

# Payload bytes of an echo request: ping's default, and the least that holds our marker (token, n, seq, tag).
DEFAULT_SIZE = 56
MIN_SIZE = 24
# IP + ICMP header bytes in front of the payload: mtu N sends N - HEADERS payload bytes.
HEADERS = {4: 28, 6: 48}
MIN_MTU = {4: 68, 6: 1280}
MAX_MTU = 65535
MAX_SIZE = {4: 65535 - 28, 6: 65535 - 8}   # an IPv4 packet's total length; an IPv6 payload length
FALLBACK_MTU = 1500
TOLD_WAIT = 0.05   # seconds to wait for the ICMP error itself once the kernel said "too big"
_RECEIVE = 65536 + 512


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _version(target: str) -> int:
    return 6 if is_v6(target) else 4


def packet(probe: dict) -> tuple:
    """(payload bytes, don't fragment) the probe sends: `mtu` decides both, else `size` and `dont_fragment`."""
    if probe.get("mtu") is not None:
        return probe["mtu"] - HEADERS[_version(probe["target"])], True
    size = probe.get("size")
    return (DEFAULT_SIZE if size is None else size), bool(probe.get("dont_fragment"))


def _icmp_socket(namespace, address: str, scope, dont_fragment: bool) -> tuple:
    """A raw ICMP socket that lets echo replies (and the too-big errors) through, DF set or cleared."""
    if is_v6(address):
        sock, index = open_socket(namespace, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6, scope)
        blocked = [0xFFFFFFFF] * 8
        for kind in (ICMP6_ECHO_REPLY, ICMP6_PACKET_TOO_BIG):
            blocked[kind >> 5] &= ~(1 << (kind & 31))
        try:
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("=8I", *blocked))
        except OSError:
            pass  # the reply check below does the same, only later
        if dont_fragment:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_DONTFRAG, 1)
    else:
        sock, index = open_socket(namespace, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, scope)
        passed = (1 << ICMP_ECHO_REPLY) | (1 << ICMP_DEST_UNREACH)
        try:
            sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", ~passed & 0xFFFFFFFF))
        except OSError:
            pass
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE if dont_fragment else IP_PMTUDISC_DONT)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * _RECEIVE)
    return sock, index


def _path_mtu(namespace, address: str, scope) -> int | None:
    """The kernel's MTU toward `address` now (the route's, or the path MTU it learned), or None."""
    v6 = is_v6(address)
    try:
        sock, index = open_socket(namespace, socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM, 0, scope)
    except (OSError, ProbeFailure):
        return None
    try:
        sock.connect(sockaddr(address, 9, index))
        if v6:
            return sock.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU)
        return sock.getsockopt(socket.IPPROTO_IP, IP_MTU)
    except OSError:
        return None
    finally:
        sock.close()


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


def _too_big_mtu(v6: bool, data: bytes, target, ident: int, sent) -> int | None:
    """The MTU a "fragmentation needed" / "packet too big" about one of our echo requests carries (0 when the
    router left it out); None when `data` is no such message."""
    if v6:
        if len(data) < 8 + 40 + _ICMP_HEADER.size or data[0] != ICMP6_PACKET_TOO_BIG or data[1] != 0:
            return None
        mtu = struct.unpack_from("!I", data, 4)[0]
        inner = data[8:]
        if inner[0] >> 4 != 6 or inner[6] != socket.IPPROTO_ICMPV6 or ipaddress.ip_address(inner[24:40]) != target:
            return None
        echo = inner[40:]
        request = ICMP6_ECHO_REQUEST
    else:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        icmp = data[(data[0] & 0x0F) * 4:]
        if len(icmp) < 8 + 20 + _ICMP_HEADER.size or icmp[0] != ICMP_DEST_UNREACH or icmp[1] != ICMP_FRAG_NEEDED:
            return None
        mtu = struct.unpack_from("!H", icmp, 6)[0]
        inner = icmp[8:]
        if inner[0] >> 4 != 4 or inner[9] != socket.IPPROTO_ICMP or ipaddress.ip_address(inner[16:20]) != target:
            return None
        echo = inner[(inner[0] & 0x0F) * 4:]
        request = ICMP_ECHO_REQUEST
    if len(echo) < _ICMP_HEADER.size:
        return None
    kind, _code, _sum, rid, seq = _ICMP_HEADER.unpack_from(echo)
    if kind != request or rid != ident or seq not in sent:
        return None
    return mtu


def _payload(token: bytes, n: int, seq: int, size: int) -> bytes:
    marker = token + struct.pack("!II", n, seq) + b"netsafe\0"
    return marker + b"\xa5" * (size - len(marker))


def echo(namespace, target_text: str, size: int, dont_fragment: bool, count: int, timeout: float, deadline) -> dict:
    """Send up to `count` echo requests of `size` payload bytes; what came of them.

    {attempts, sent, rtts [s], send_error, too_big, path_mtu, router, stopped}. It
    stops at the first sign of "too big" (the path MTU is then known, or read
    from the kernel). ProbeFailure when the socket cannot be made.
    """
    address, scope = split_scope(target_text)
    target = ipaddress.ip_address(address)
    v6 = target.version == 6
    out = {"attempts": 0, "rtts": [], "send_error": None, "too_big": False, "path_mtu": None, "router": None,
           "stopped": False}
    sock, index = _icmp_socket(namespace, address, scope, dont_fragment)
    ident = random.getrandbits(16)
    first = random.getrandbits(16)
    token = os.urandom(8)
    sent, payloads, rtts = {}, {}, {}

    def too_big(mtu=None, router=None):
        out["too_big"] = True
        out["router"] = router
        out["path_mtu"] = mtu or _path_mtu(namespace, address, scope)

    try:
        for n in range(count):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                out["stopped"] = True
                break
            seq = (first + n) & 0xFFFF
            payloads[seq] = _payload(token, n, seq, size)
            out["attempts"] = n + 1
            try:
                sock.sendto(_echo_request(v6, ident, seq, payloads[seq]), sockaddr(address, 0, index))
                sent[seq] = time.monotonic()
            except OSError as exc:
                if dont_fragment and exc.errno == errno.EMSGSIZE:
                    too_big()
                    break
                out["send_error"] = os_text(exc)
            end = now + timeout if deadline is None else min(now + timeout, deadline)
            told = False   # the kernel passed on a too-big error (the socket's pending error): the ICMP follows
            while seq not in rtts and not out["too_big"]:
                left = end - time.monotonic()
                if left <= 0:
                    break
                ready, _w, _x = select.select([sock], [], [], left)
                if not ready:
                    break
                try:
                    data, source = sock.recvfrom(_RECEIVE)
                except OSError as exc:
                    if dont_fragment and exc.errno == errno.EMSGSIZE and not told:
                        told = True   # read on briefly for the router's message itself (who said it, the MTU)
                        end = min(end, time.monotonic() + TOLD_WAIT)
                    continue
                arrived = time.monotonic()
                got = _echo_reply_seq(v6, data, source[0], target, ident, payloads)
                if got is not None and got in sent and got not in rtts:
                    rtts[got] = arrived - sent[got]
                elif dont_fragment:
                    mtu = _too_big_mtu(v6, data, target, ident, sent)
                    if mtu is not None:
                        too_big(mtu, split_scope(source[0])[0])
            if told and not out["too_big"]:
                too_big()
            if out["too_big"]:
                break
    finally:
        sock.close()
    out["sent"] = len(sent)
    out["rtts"] = list(rtts.values())
    return out


def _smaller_size(v: int, size: int, path_mtu) -> int | None:
    """The size tried after `size` failed: the known path MTU's, else 1500's, else the default; None when none
    is smaller."""
    for mtu in (path_mtu, FALLBACK_MTU):
        if mtu and MIN_SIZE <= mtu - HEADERS[v] < size:
            return mtu - HEADERS[v]
    return DEFAULT_SIZE if DEFAULT_SIZE < size else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class Icmp(Kind):
    name = "icmp"
    keys = {"size": None, "dont_fragment": None, "mtu": None}
    retries = False

    def problems(self, spec: dict, where: str) -> list:
        target = spec.get("target")
        if target is None:
            return [f"{where}.target: required for type icmp (an IPv4 or IPv6 address)"]
        if address_problem(target):
            return [f"{where}.target: {address_problem(target)} (type icmp takes an address; check a name with "
                    f"type dns)"]
        v = _version(target.strip())
        family = f"IPv{v}"
        problems = []
        size, dont_fragment, mtu = spec.get("size"), spec.get("dont_fragment"), spec.get("mtu")
        if mtu is not None:
            if isinstance(mtu, bool) or not isinstance(mtu, int) or not MIN_MTU[v] <= mtu <= MAX_MTU:
                problems.append(f"{where}.mtu: must be a packet size in bytes from {MIN_MTU[v]} to {MAX_MTU} for an "
                                f"{family} target, got {mtu!r}")
            for key in ("size", "dont_fragment"):
                if spec.get(key) is not None:
                    problems.append(f"{where}.{key}: not with mtu (mtu N sends N-byte packets, N - {HEADERS[v]} "
                                    f"payload bytes over {family}, with don't-fragment); remove {key} or mtu")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or not MIN_SIZE <= size <= MAX_SIZE[v]):
            problems.append(f"{where}.size: must be a payload size in bytes from {MIN_SIZE} to {MAX_SIZE[v]} for an "
                            f"{family} target, got {size!r}")
        if dont_fragment is not None and not isinstance(dont_fragment, bool):
            problems.append(f"{where}.dont_fragment: must be true or false, got {dont_fragment!r}")
        return problems

    def fill(self, spec: dict) -> dict:
        if spec.get("mtu") is not None:
            return {"size": None, "dont_fragment": None, "mtu": spec["mtu"]}
        return {"size": DEFAULT_SIZE if spec.get("size") is None else spec["size"],
                "dont_fragment": bool(spec.get("dont_fragment")), "mtu": None}

    def default_name(self, probe: dict) -> str:
        if probe.get("mtu") is not None:
            return f"icmp {probe['target']} mtu {probe['mtu']}"
        return f"icmp {probe['target']}"

    def waits(self, count: int) -> float:
        return 0.0   # echo requests go out one after the other, each waiting its timeout

    def extra_attempts(self, probe: dict) -> int:
        return 1 if probe.get("mtu") is not None or probe.get("dont_fragment") else 0

    def run(self, probe: dict, namespace, deadline, result: dict, index) -> None:
        size, dont_fragment = packet(probe)
        timeout = probe["timeout"]
        result["detail"] = {"size": size, "dont_fragment": dont_fragment, "too_big": False, "path_mtu": None,
                            "refused_locally": False}
        try:
            sent = echo(namespace, probe["target"], size, dont_fragment, probe["count"], timeout, deadline)
        except ProbeFailure as exc:
            result["error"] = str(exc)
            return
        result["attempts"] = sent["attempts"]
        result["replies"] = len(sent["rtts"])
        # Refused by the host itself: its own MTU (or the path MTU it learnt) is below the size. Before a change that
        # raises that MTU this is expected (guarded.py does not count it in a window's preflight).
        result["detail"].update(too_big=sent["too_big"], path_mtu=sent["path_mtu"],
                                refused_locally=bool(sent["too_big"] and not sent["router"]))
        if sent["rtts"]:
            result["ok"] = True
            result["latency_ms"] = round(min(sent["rtts"]) * 1000, 3)
            return
        if not sent["sent"] and sent["send_error"] and not sent["too_big"]:
            # nothing left the host: no route, no device; not a question of size
            result["error"] = f"cannot send echo requests to {probe['target']}: {sent['send_error']}"
            if sent["stopped"]:
                result["error"] += "; stopped at the deadline"
            return
        reason = self._reason(sent, timeout)
        if dont_fragment:
            reason = self._path_mtu_text(probe, namespace, deadline, result, size, sent) + "; " + reason
        result["error"] = reason

    @staticmethod
    def _reason(sent: dict, timeout: float) -> str:
        if sent["too_big"]:
            where = f"{sent['router']} answered" if sent["router"] else "the host refused to send it"
            mtu = f", path MTU {sent['path_mtu']}" if sent["path_mtu"] else ""
            text = f"too big ({where}{mtu})"
        else:
            echoes = sent["attempts"]
            text = f"no reply to {_plural(echoes, 'echo request')} within {seconds(timeout)} each"
            if sent["send_error"]:
                text += f" (a send failed: {sent['send_error']})"
        if sent["stopped"]:
            text += "; stopped at the deadline"
        return text

    @staticmethod
    def _path_mtu_text(probe: dict, namespace, deadline, result: dict, size: int, sent: dict) -> str:
        """`path MTU: 8972-byte packets to T do not pass (1472 do)`, one echo request at a smaller size told."""
        v = _version(probe["target"])
        smaller = _smaller_size(v, size, sent["path_mtu"])
        head = f"path MTU: {size}-byte packets to {probe['target']} do not pass"
        if smaller is None or (deadline is not None and time.monotonic() >= deadline):
            return head
        try:
            again = echo(namespace, probe["target"], smaller, True, 1, probe["timeout"], deadline)
        except ProbeFailure:
            return head
        passed = bool(again["rtts"])
        result["detail"].update(smaller_size=smaller, smaller_ok=passed)
        if not sent["path_mtu"] and again["path_mtu"]:
            result["detail"]["path_mtu"] = again["path_mtu"]
        return f"{head} ({smaller if passed else 'none'} do)"

    def ok_parts(self, result: dict) -> list:
        parts = []
        if result["replies"] < result["attempts"]:
            parts.append(f"{result['replies']}/{result['attempts']} replies")
        detail = result.get("detail") or {}
        if detail.get("dont_fragment"):
            parts.append(f"{detail['size']}-byte packets pass unfragmented")
        return parts
