"""Review 27 (attacker): a host, a router and a far end whose link MTUs a test sets (as tests/probes'
path MTU lab), shared by the review's probe tests.

    host: h0 --- r0 router r1 --- f0 far
          10.79.1.2/24 fd79:1::2   10.79.1.1 fd79:1::1 | 10.79.2.1 fd79:2::1   10.79.2.2/24 fd79:2::2
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from nstools import ip, wait_carrier

# The Internet checksum, as source text for the small packet-forging scripts the tests run inside a namespace.
CHECKSUM = """
def checksum(data):
    if len(data) % 2:
        data += b"\\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
"""


@dataclass
class Path3:
    host: str
    router: str
    far: str


def _link(ns: str, dev: str, v4: str, v6: str, mtu: int) -> None:
    ip("link", "set", dev, "mtu", str(mtu), ns=ns)
    ip("addr", "add", v4, "dev", dev, ns=ns)
    ip("addr", "add", v6, "dev", dev, "nodad", ns=ns)
    ip("link", "set", dev, "up", ns=ns)


def build(namespaces, router_far: int = 1500, far: int = 1500, host: int = 9000) -> Path3:
    h, r, f = namespaces.new(), namespaces.new(), namespaces.new()
    ip("link", "add", "h0", "type", "veth", "peer", "name", "r0", "netns", r, ns=h)
    ip("link", "add", "r1", "type", "veth", "peer", "name", "f0", "netns", f, ns=r)
    _link(h, "h0", "10.79.1.2/24", "fd79:1::2/64", host)
    _link(r, "r0", "10.79.1.1/24", "fd79:1::1/64", 9000)
    _link(r, "r1", "10.79.2.1/24", "fd79:2::1/64", router_far)
    _link(f, "f0", "10.79.2.2/24", "fd79:2::2/64", far)
    subprocess.run(["ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=1",
                    "net.ipv6.conf.all.forwarding=1"], check=True, capture_output=True)
    for ns, gw4, gw6 in ((h, "10.79.1.1", "fd79:1::1"), (f, "10.79.2.1", "fd79:2::1")):
        ip("route", "add", "default", "via", gw4, ns=ns)
        ip("-6", "route", "add", "default", "via", gw6, ns=ns)
    wait_carrier(h, ["h0"])
    wait_carrier(r, ["r0", "r1"])
    wait_carrier(f, ["f0"])
    for _poll in range(300):
        if not any(ip("-6", "addr", "show", "tentative", ns=ns).stdout.strip() for ns in (h, r, f)):
            return Path3(h, r, f)
        time.sleep(0.02)
    raise AssertionError("IPv6 addresses still tentative after 6 s")
