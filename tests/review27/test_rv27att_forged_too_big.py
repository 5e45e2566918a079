"""Review 27 (attacker): forged "fragmentation needed" messages that quote none of the probe's packets.

The host reaches the router 10.79.1.1 directly, both ends at 9000: `mtu: 9000` passes. Another machine on the
segment (here: a raw socket in the router's namespace, from a spoofed source) floods the host with ICMP
"fragmentation needed" quoting an echo request with an identifier the probe never used.

Held: the probe's own check (our identifier and sequence) rejects them, and the kernel sets no pending error on
the unconnected raw socket, so the probe running while they arrive still passes with its first reply.
Defect: while the probe's raw socket is open the kernel (raw_err -> ipv4_sk_update_pmtu) records the forged
MTU as the path MTU to 10.79.1.1, for net.ipv4.route.mtu_expires (600 s); the next probe sets
IP_PMTUDISC_DO, so the kernel refuses its 9000-byte packet without sending it and the probe reports "too big":
the watchdog's gate, run after the probe that passed, rolls a good change back. The same root cause as
test_rv27att_stale_pmtu (the probe asks the cache, not the path).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import run_probes

from rv27lab import CHECKSUM, build

pytestmark = pytest.mark.kernel

FORGER = r'''
import socket, struct, sys, time
''' + CHECKSUM + r'''
def ip_header(src, dst, proto, length):
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 0, 0x4000, 64, proto, 0, socket.inet_aton(src),
                       socket.inet_aton(dst))
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:]

spoofed, host, target, mtu, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
echo = struct.pack("!BBHHH", 8, 0, 0, 0xDEAD, 0xBEEF)   # an echo request the probe never sent
inner = ip_header(host, target, 1, 20 + 8 + 8900) + echo
icmp = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + inner
icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
packet = ip_header(spoofed, host, 1, 20 + len(icmp)) + icmp
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    sock.sendto(packet, (host, 0))
    time.sleep(0.001)
'''

PROBE = {"type": "icmp", "target": "10.79.1.1", "mtu": 9000, "count": 3, "timeout": 0.5}


def forging(ns: str, mtu: int, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", FORGER, "10.79.1.99", "10.79.1.2",
                             "10.79.1.1", str(mtu), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_forged_errors_during_the_probe_do_not_fail_it(namespaces):
    lab = build(namespaces)
    proc = forging(lab.router, 9000, 4.0)   # an MTU no smaller than the path's: the kernel records nothing
    try:
        forged = run_probes([PROBE], namespace=lab.host)[0]
    finally:
        proc.kill()
        proc.wait()
    assert forged["ok"] and forged["replies"] == 3, forged


def test_a_forged_frag_needed_does_not_fail_the_next_probe(namespaces):
    lab = build(namespaces)
    proc = forging(lab.router, 1500, 4.0)
    try:   # 50 echo requests keep the probe's socket open while forged errors arrive (one every millisecond)
        during = run_probes([dict(PROBE, count=50)], namespace=lab.host)[0]
    finally:
        proc.kill()
        proc.wait()
    assert during["ok"], during   # the first echo's reply came back before the forged MTU was recorded
    gate = run_probes([PROBE], namespace=lab.host)[0]   # the watchdog's gate, moments later: the path is unchanged
    # fails with "path MTU: 8972-byte packets to 10.79.1.1 do not pass (1472 do); too big (the host refused to
    # send it, path MTU 1500)"
    assert gate["ok"], gate
