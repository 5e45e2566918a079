# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""A lean rtnetlink client: one socket per namespace, dumps, pipelined requests.

Why not pyroute2 here: a full pyroute2 decode costs about 240 us per link and
importing it about 250 ms (docs/performance.md), so a no-op run on a host with
1,000 guest ports would spend most of a second before doing anything. This file
speaks the few rtnetlink messages the collection needs with ``struct`` and
decodes only the attributes the model reads. The tap_guard watcher reads its
link events with the same code. pyroute2 stays the reference decoder that the
kernel tests compare against, and the vCenter link monitor decodes with it.

Namespaces have one rule, `namespace_path`: a name that passes
hostlock.namespace_problem (iproute2's rule narrowed to safe characters),
under /run/netns, that exists. Nothing here ever creates a namespace.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import struct

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import namespace_problem

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_EXT_MASK = 29
IFLA_LINK_NETNSID = 37   # IFLA_LINK is an ifindex in another network namespace
IFLA_MAX_MTU = 51   # the largest MTU the driver takes (0 or absent: no limit reported)
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_INFO_SLAVE_KIND = 4
IFLA_INFO_SLAVE_DATA = 5
IFLA_AF_SPEC = 26
RTEXT_FILTER_BRVLAN_COMPRESSED = 1 << 2
RTEXT_FILTER_SKIP_STATS = 1 << 3
AF_BRIDGE = 7
IFLA_BRIDGE_FLAGS = 0
IFLA_BRIDGE_VLAN_INFO = 2
BRIDGE_FLAGS_SELF = 2
BRIDGE_VLAN_INFO_PVID = 0x2
BRIDGE_VLAN_INFO_UNTAGGED = 0x4
BRIDGE_VLAN_INFO_RANGE_BEGIN = 0x8
BRIDGE_VLAN_INFO_RANGE_END = 0x10

IFLA_TUN_TYPE = 3
IFF_TAP = 2

IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_PERMANENT = 0x80

RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_METRICS = 8   # nested RTAX_* (RTAX_MTU: a route's own MTU, `ip route ... mtu N`)
RTAX_MTU = 2
RTA_MULTIPATH = 9
RTA_TABLE = 15
RTA_VIA = 18
RTA_ENCAP = 22
RTA_NH_ID = 30
RT_TABLE_UNSPEC = 0
RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255
RTPROT_KERNEL = 2
RTPROT_BOOT = 3
RTN_UNICAST = 1
RTNH_F_ONLINK = 4
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RTNH = struct.Struct("=HBBi")   # one nexthop of RTA_MULTIPATH: length, flags, hops, ifindex

NDA_DST = 1
NDA_LLADDR = 2
# Neighbour (ARP/ND) states, ndm_state bits.
NUD_STATES = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY", 0x10: "PROBE",
              0x20: "FAILED", 0x40: "NOARP", 0x80: "PERMANENT", 0x00: "NONE"}

OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_NLMSGHDR = struct.Struct("=IHHII")
_U32 = struct.Struct("=I")
_RTATTR = struct.Struct("=HH")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
NDMSG = struct.Struct("=BxxxiHBB")

# Requests in flight before their acks are read; keeps acks inside the
# receive buffer (a 1,000-request burst sent at once overflowed it when measured).
PIPELINE_CHUNK = 256
# Bytes read per recv(): a dump datagram of the kernel's is at most 32 KiB,
# a burst of link events more; one buffer per socket, reused.
RECV_BUFFER = 1 << 20
SO_RCVBUFFORCE = 33
NETLINK_ADD_MEMBERSHIP = 1
RTNLGRP_LINK = 1
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


class NetlinkError(OSError):
    """The kernel refused a request; carries its errno and extended-ack text."""

    def __init__(self, code: int, message: str = ""):
        text = os.strerror(code)
        if message:
            text = f"{text} ({message})"
        super().__init__(code, text)


class NamespaceNotFound(NetsafeError, LookupError):
    """A named network namespace does not exist (we never create one by accident)."""


# -- encoding --------------------------------------------------------------

def _align(length: int) -> int:
    return (length + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    length = _RTATTR.size + len(payload)
    return _RTATTR.pack(length, kind) + payload + b"\0" * (_align(length) - length)


def attr_u8(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=B", value))


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attr_str(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def nested(kind: int, *children: bytes) -> bytes:
    return attr(kind | 0x8000, b"".join(children))


def message(kind: int, flags: int, seq: int, payload: bytes) -> bytes:
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), kind, flags, seq, 0) + payload


# -- decoding --------------------------------------------------------------

def parse_attrs(data, offset: int, end: int, wanted=None) -> dict:
    """Attribute type -> raw payload; nested flag stripped.

    With `wanted` (a set of types) only those are sliced out, and the walk
    stops once each was found (an attribute appears once per level): a link
    message carries about 50 attributes, a bridge port's data about 40
    (cost and priority come third and second), and the model needs a handful.
    """
    found = {}
    unpack = _RTATTR.unpack_from
    left = len(wanted) if wanted is not None else -1
    while offset + 4 <= end:
        length, kind = unpack(data, offset)
        if length < 4:
            break
        kind &= 0x3FFF
        if wanted is None or kind in wanted:
            found[kind] = data[offset + 4:offset + length]
            left -= 1
            if not left:
                break
        offset += (length + 3) & ~3
    return found


def iter_attrs(data, offset: int, end: int):
    """(type, payload) of every attribute, repeats included (VLAN lists repeat)."""
    unpack = _RTATTR.unpack_from
    while offset + 4 <= end:
        length, kind = unpack(data, offset)
        if length < 4:
            break
        yield kind & 0x3FFF, data[offset + 4:offset + length]
        offset += (length + 3) & ~3


def as_str(raw) -> str:
    return bytes(raw).split(b"\0", 1)[0].decode(errors="replace")


def as_u32(raw) -> int:
    return struct.unpack_from("=I", raw)[0]


def as_u16(raw) -> int:
    return struct.unpack_from("=H", raw)[0]


def as_u8(raw) -> int:
    return raw[0]


def as_mac(raw) -> str:
    return ":".join(f"{b:02x}" for b in bytes(raw))


# -- namespaces --------------------------------------------------------------

_libc = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns: {os.strerror(code)}")


def namespace_path(name: str) -> str:
    """Path of a named namespace; a name outside the rule is a ValidationError, a missing one NamespaceNotFound."""
    problem = namespace_problem(name) if name is not None else "namespace: None is not a namespace name"
    if problem:
        raise ValidationError([problem])
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise NamespaceNotFound(
            f"namespace: network namespace {name!r} does not exist "
            f"(no {path}; create it with 'ip netns add {name}')")
    return path


def require_namespace(name) -> None:
    """Nothing for the host itself (None or ''); NamespaceNotFound for a namespace that does not exist.

    Called before any lock file or directory is made for a namespace, so that
    a misspelt name leaves nothing behind."""
    if name:
        namespace_path(name)


def set_receive_buffer(sock: socket.socket, size: int) -> None:
    """Size a socket's receive buffer; as root beyond the rmem_max limit."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _open_raw_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        set_receive_buffer(sock, 1 << 21)
        for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            try:
                sock.setsockopt(SOL_NETLINK, option, 1)
            except OSError:
                pass
        sock.bind((0, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def open_socket(namespace: str | None = None) -> socket.socket:
    """A NETLINK_ROUTE socket bound to `namespace` (None: this process's own).

    The socket is created after a setns() into the namespace and the thread
    returns at once; the socket keeps talking to that namespace. No helper
    process, no accidental namespace creation.
    """
    with inside(namespace):
        return _open_raw_socket()


@contextlib.contextmanager
def inside(namespace: str | None):
    """Run the block with this thread in `namespace` (None: stay where it is), then switch straight back.

    Meant for creating sockets: a socket keeps talking to the namespace it was
    created in after the thread has returned. Keep the block short (no waiting
    on the network inside it): the whole thread is in the other namespace
    until it ends.
    """
    if not namespace:
        yield
        return
    path = namespace_path(namespace)
    with open("/proc/thread-self/ns/net", "rb") as own, open(path, "rb") as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(own.fileno())


def open_event_socket(namespace: str | None, groups, buffer_bytes: int) -> socket.socket:
    """A non-blocking NETLINK_ROUTE socket in `namespace` subscribed to multicast `groups` (RTNLGRP_*)."""
    sock = open_socket(namespace)
    try:
        set_receive_buffer(sock, buffer_bytes)
        for group in groups:
            sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def iter_messages(buffer, size: int):
    """Yield (type, flags, seq, payload memoryview) of each message in buffer[:size] (one datagram)."""
    view = memoryview(buffer)[:size]
    offset = 0
    while offset + _NLMSGHDR.size <= size:
        length, kind, flags, seq, _pid = _NLMSGHDR.unpack_from(view, offset)
        if length < _NLMSGHDR.size:
            break
        yield kind, flags, seq, view[offset + _NLMSGHDR.size:offset + length]
        offset += _align(length)


# -- the client ----------------------------------------------------------------

class Netlink:
    """Dumps and pipelined requests over one rtnetlink socket."""

    def __init__(self, namespace: str | None = None):
        self.namespace = namespace
        self.sock = open_socket(namespace)
        self._seq = 0
        self._buf = bytearray(RECV_BUFFER)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _receive(self):
        """Yield (type, flags, seq, payload memoryview) for one recv()."""
        size = self.sock.recv_into(self._buf)
        return iter_messages(self._buf, size)

    def dump(self, kind: int, payload: bytes):
        """Yield (type, payload) of every message of a dump, copied out of the buffer."""
        seq = self._next_seq()
        self.sock.send(message(kind, NLM_F_REQUEST | NLM_F_DUMP, seq, payload))
        while True:
            for mtype, flags, mseq, body in self._receive():
                if mseq != seq:
                    continue
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    code, text = _error_of(body, flags)
                    if code:
                        raise NetlinkError(code, text)
                    return
                yield mtype, bytes(body)

    def query(self, kind: int, payload: bytes):
        """One non-dump GET request; returns the payload of its reply."""
        seq = self._next_seq()
        self.sock.send(message(kind, NLM_F_REQUEST, seq, payload))
        while True:
            for mtype, flags, mseq, body in self._receive():
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    code, text = _error_of(body, flags)
                    raise NetlinkError(code or errno.EPROTO, text)
                return bytes(body)

    def pipeline(self, requests) -> list:
        """Send (type, flags, payload) requests in chunks; read acks after each chunk.

        Returns one entry per request: None when the kernel accepted it, else a
        NetlinkError. The kernel handles each request in order as it is sent, so
        a refused request does not stop the ones after it; the caller decides.
        """
        results: list = [None] * len(requests)
        for start in range(0, len(requests), PIPELINE_CHUNK):
            chunk = requests[start:start + PIPELINE_CHUNK]
            first = self._seq + 1
            data = b"".join(message(kind, flags | NLM_F_REQUEST | NLM_F_ACK, self._next_seq(), payload)
                            for kind, flags, payload in chunk)
            self.sock.sendall(data)
            self._acks(first, self._seq, results, start)
        return results

    def send_prepared(self, prepared, value: int) -> list:
        """Send requests encoded ahead of time (`Prepared`), their slots filled with `value`; results as pipeline().

        The only work left between an event and the first request is writing
        sequence numbers and one 4-byte value per slot into the ready bytes.
        """
        results: list = [None] * prepared.count
        start = 0
        for data, headers, slots in prepared.chunks:
            first = self._seq + 1
            for offset in headers:
                self._seq += 1
                _U32.pack_into(data, offset + 8, self._seq)
            for offset in slots:
                _U32.pack_into(data, offset, value)
            self.sock.sendall(data)
            self._acks(first, self._seq, results, start)
            start += len(headers)
        return results

    def _acks(self, first: int, last: int, results: list, start: int) -> None:
        """Read the acks of requests first..last (sequence numbers) into results[start:]."""
        pending = last - first + 1
        while pending:
            for mtype, mflags, seq, body in self._receive():
                if mtype != NLMSG_ERROR or not first <= seq <= last:
                    continue
                code, text = _error_of(body, mflags)
                if code:
                    results[start + seq - first] = NetlinkError(code, text)
                pending -= 1


class Prepared:
    """Requests encoded ahead of time, with slots for a 4-byte value known only later (an ifindex).

    `requests` are (type, flags, payload) as for `Netlink.pipeline`. Every
    occurrence of `needle` in a payload is a slot: its 4 bytes at
    `value_offset` are overwritten by `Netlink.send_prepared`. The tap_guard
    watcher builds every re-attach request while a bridge is gone, with the
    bridge's attribute `attr_u32(IFLA_MASTER, <placeholder>)` as the needle,
    and fills in the new bridge's ifindex when its RTM_NEWLINK arrives.
    The object can be sent again (each send rewrites sequence numbers and slots).
    """

    def __init__(self, requests, needle: bytes, value_offset: int):
        self.count = len(requests)
        self.chunks = []
        for start in range(0, len(requests), PIPELINE_CHUNK):
            data, headers, slots = bytearray(), [], []
            for kind, flags, payload in requests[start:start + PIPELINE_CHUNK]:
                offset = len(data)
                headers.append(offset)
                position = payload.find(needle)
                while position != -1:
                    slots.append(offset + _NLMSGHDR.size + position + value_offset)
                    position = payload.find(needle, position + len(needle))
                data += message(kind, flags | NLM_F_REQUEST | NLM_F_ACK, 0, payload)
            self.chunks.append((data, headers, slots))


def _error_of(body, flags: int) -> tuple:
    """(errno, extended-ack message) of an NLMSG_ERROR payload; errno 0 is an ack."""
    code = -struct.unpack_from("=i", body)[0]
    text = ""
    if code and flags & NLM_F_ACK_TLVS:
        # With NETLINK_CAP_ACK only the request's header is echoed back.
        echoed_len = _NLMSGHDR.size if flags & 0x100 else struct.unpack_from("=I", body, 4)[0]
        offset = 4 + _align(echoed_len)
        text_raw = parse_attrs(body, offset, len(body)).get(NLMSGERR_ATTR_MSG)
        if text_raw is not None:
            text = as_str(text_raw)
    return code, text
