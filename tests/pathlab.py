"""A host, a router and a far end whose link MTUs a test sets: the path MTU lab of the probe tests.

    host: h0 --- r0 router r1 --- f0 far
          10.<net>.1.2/24 fd<net>:1::2   10.<net>.1.1 fd<net>:1::1 | 10.<net>.2.1 fd<net>:2::1   10.<net>.2.2/24 fd<net>:2::2

The router forwards (IPv4 and IPv6). At 1500 on both ends of the far link it answers a 9000-byte DF packet with
"fragmentation needed" / "packet too big"; with its own end at 9000 and the far end at 1500 the far veth drops the
packet silently (a switch port still at 1500): no reply, no ICMP. tests/probes uses net 78, review 27's tests 79.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from nstools import ip, wait_carrier


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


def _wait_dad(*names: str) -> None:
    """Until no address is tentative: a router whose link-local address is still in DAD answers neither ND nor
    echo requests in time, and the first IPv6 probes went unanswered."""
    for _poll in range(300):
        if not any(ip("-6", "addr", "show", "tentative", ns=ns).stdout.strip() for ns in names):
            return
        time.sleep(0.02)
    raise AssertionError("IPv6 addresses still tentative after 6 s")


def build(namespaces, router_far: int = 1500, far: int = 1500, host: int = 9000, net: int = 78) -> Path3:
    """The three namespaces (from the `namespaces` fixture), the far link's two MTUs and the host's as given."""
    h, r, f = namespaces.new(), namespaces.new(), namespaces.new()
    ip("link", "add", "h0", "type", "veth", "peer", "name", "r0", "netns", r, ns=h)
    ip("link", "add", "r1", "type", "veth", "peer", "name", "f0", "netns", f, ns=r)
    _link(h, "h0", f"10.{net}.1.2/24", f"fd{net}:1::2/64", host)
    _link(r, "r0", f"10.{net}.1.1/24", f"fd{net}:1::1/64", 9000)
    _link(r, "r1", f"10.{net}.2.1/24", f"fd{net}:2::1/64", router_far)
    _link(f, "f0", f"10.{net}.2.2/24", f"fd{net}:2::2/64", far)
    subprocess.run(["ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=1",
                    "net.ipv6.conf.all.forwarding=1"], check=True, capture_output=True)
    for ns, gw4, gw6 in ((h, f"10.{net}.1.1", f"fd{net}:1::1"), (f, f"10.{net}.2.1", f"fd{net}:2::1")):
        ip("route", "add", "default", "via", gw4, ns=ns)
        ip("-6", "route", "add", "default", "via", gw6, ns=ns)
    wait_carrier(h, ["h0"])
    wait_carrier(r, ["r0", "r1"])
    wait_carrier(f, ["f0"])
    _wait_dad(h, r, f)
    return Path3(h, r, f)
