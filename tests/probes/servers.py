"""Peers for the probe tests, run inside a namespace with `ip netns exec`: a TCP listener and a tiny DNS responder.

Written apart from the collection's DNS code on purpose (a probe is not
judged by its own codec). Each prints `ready` once its sockets listen, then
one line per connection or query it answered.

    servers.py tcp PORT
    servers.py dns NAME IPV4 [IPV6]   # A (and AAAA) for NAME; NOERROR without records for its other types;
                                      # NXDOMAIN for every other name
"""
from __future__ import annotations

import ipaddress
import select
import socket
import struct
import sys


def dual_stack(kind: int, port: int) -> list:
    """An IPv4 and an IPv6 socket bound to `port` (IPv6 only on the v6 one)."""
    v4 = socket.socket(socket.AF_INET, kind)
    v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    v4.bind(("0.0.0.0", port))
    v6 = socket.socket(socket.AF_INET6, kind)
    v6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    v6.bind(("::", port))
    return [v4, v6]


def serve_tcp(port: int) -> None:
    socks = dual_stack(socket.SOCK_STREAM, port)
    for sock in socks:
        sock.listen(16)
    print("ready", flush=True)
    while True:
        ready, _w, _x = select.select(socks, [], [])
        for sock in ready:
            conn, peer = sock.accept()
            print(f"accepted {peer[0]}", flush=True)
            conn.close()


def question(packet: bytes) -> tuple:
    """(name, qtype, end offset) of the first question; queries carry no compression."""
    offset, labels = 12, []
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1:offset + 1 + length].decode())
        offset += 1 + length
    qtype, _qclass = struct.unpack_from("!HH", packet, offset + 1)
    return ".".join(labels).lower(), qtype, offset + 5


def answer(packet: bytes, name: str, v4: str, v6: str | None) -> bytes:
    ident, flags = struct.unpack_from("!HH", packet)
    qname, qtype, end = question(packet)
    records = []
    rcode = 0
    if qname != name:
        rcode = 3
    elif qtype == 1:
        records.append(struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + ipaddress.ip_address(v4).packed)
    elif qtype == 28 and v6:
        records.append(struct.pack("!HHHIH", 0xC00C, 28, 1, 60, 16) + ipaddress.ip_address(v6).packed)
    header = struct.pack("!HHHHHH", ident, 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode, 1, len(records), 0, 0)
    return header + packet[12:end] + b"".join(records)


def serve_dns(name: str, v4: str, v6: str | None) -> None:
    socks = dual_stack(socket.SOCK_DGRAM, 53)
    print("ready", flush=True)
    while True:
        ready, _w, _x = select.select(socks, [], [])
        for sock in ready:
            packet, peer = sock.recvfrom(4096)
            reply = answer(packet, name.lower(), v4, v6)
            sock.sendto(reply, peer)
            print(f"answered {peer[0]} rcode {reply[3] & 0xF}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "tcp":
        serve_tcp(int(sys.argv[2]))
    else:
        serve_dns(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
