"""A probed namespace and its peer, joined by a veth pair, and servers started in the peer.

    probed: p0 10.77.0.2/24 fd77::2/64 fe80::2/64        peer: q0 10.77.0.1/24 fd77::1/64 fe80::1/64

Every IPv6 address is added with `nodad` (usable at once). The peer does not
forward (set in its own namespace), so an address routed through it is
silent: no host, no ICMP error. Default routes are up to each test.
Namespaces and server processes go away after each test, failed or not.
"""
from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from nstools import ip, wait_carrier

SERVERS = Path(__file__).with_name("servers.py")


@dataclass
class Lab:
    ns: str
    peer: str
    peer_mac: str


@pytest.fixture
def lab(namespaces):
    ns, peer = namespaces.new(), namespaces.new()
    ip("link", "add", "p0", "type", "veth", "peer", "name", "q0", "netns", peer, ns=ns)
    for name, dev, last in ((ns, "p0", 2), (peer, "q0", 1)):
        ip("addr", "add", f"10.77.0.{last}/24", "dev", dev, ns=name)
        ip("addr", "add", f"fd77::{last}/64", "dev", dev, "nodad", ns=name)
        ip("addr", "add", f"fe80::{last}/64", "dev", dev, "nodad", ns=name)
        ip("link", "set", dev, "up", ns=name)
    subprocess.run(["ip", "netns", "exec", peer, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=0",
                    "net.ipv6.conf.all.forwarding=0"], check=True, capture_output=True)
    wait_carrier(ns, ["p0"])
    wait_carrier(peer, ["q0"])
    mac = json.loads(ip("-j", "link", "show", "q0", ns=peer).stdout)[0]["address"]
    return Lab(ns, peer, mac)


class Servers:
    """Processes started inside a namespace; each stopped by its own pid at the end."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, ns: str, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(SERVERS), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        # unbuffered: select() on the pipe then sees every line not yet read
        self.procs.append(proc)
        line = proc.stdout.readline().decode()
        if line.strip() != "ready":
            proc.kill()
            raise RuntimeError(f"server {args} did not start: {line}{proc.stderr.read().decode()}")
        return proc

    def lines(self, proc: subprocess.Popen, expect: int = 0, wait: float = 5.0) -> list:
        """What `proc` printed after `ready`: once `expect` lines came (at most `wait` s), or after 0.3 s
        when none are expected (a connection is accepted after the client's connect() returned); then it stops."""
        got = []
        end = time.monotonic() + (wait if expect else 0.3)
        while len(got) < expect or not expect:
            left = end - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                break
            line = proc.stdout.readline()
            if not line:
                break
            got.append(line.decode().rstrip("\n"))
        proc.terminate()
        out, _err = proc.communicate(timeout=10)
        return got + out.decode().splitlines()

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


@pytest.fixture
def servers():
    started = Servers()
    try:
        yield started
    finally:
        started.stop_all()
