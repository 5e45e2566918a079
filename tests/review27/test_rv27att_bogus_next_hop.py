"""Review 27 (attacker): a router that answers "fragmentation needed" with a bogus next-hop MTU.

The router forwards to the far end at 9000 on both links, but drops every forwarded packet larger than 1500
(iptables) and answers each dropped echo request with ICMP "fragmentation needed" quoting it (our identifier and
sequence) with a next-hop MTU of its choosing: 0 (an RFC 792 router that leaves it out), 68, 1500 (honest),
9000 (as large as the packet) or 65000. Whatever the figure, the probe must fail closed, as "too big", naming the
router - never pass. (What it then says passes depends on the kernel: a figure below 552 is recorded as 552.)
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import run_probes

from rv27lab import CHECKSUM, build

pytestmark = pytest.mark.kernel

ROUTER = r'''
import socket, struct, sys
''' + CHECKSUM + r'''
mtu = int(sys.argv[1])
listen = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
listen.bind(("r0", 0x0800))
send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
print("ready", flush=True)
while True:
    packet = listen.recv(65536)
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack_from("!H", packet, 2)[0]
    if packet[9] != 1 or packet[ihl] != 8 or socket.inet_ntoa(packet[16:20]) != "10.79.2.2" or total <= 1500:
        continue
    icmp = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + packet[:ihl + 8]
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    send.sendto(icmp, (socket.inet_ntoa(packet[12:16]), 0))
'''


@pytest.mark.parametrize("mtu", [0, 68, 1500, 9000, 65000])
def test_a_bogus_next_hop_mtu_fails_closed(namespaces, mtu):
    lab = build(namespaces, router_far=9000, far=9000)
    probe = {"type": "icmp", "target": "10.79.2.2", "mtu": 9000, "count": 2, "timeout": 0.5}
    assert run_probes([probe], namespace=lab.host)[0]["ok"]   # the path itself carries 9000
    subprocess.run(["ip", "netns", "exec", lab.router, "iptables", "-A", "FORWARD", "-m", "length", "--length",
                    "1501:65535", "-j", "DROP"], check=True)
    proc = subprocess.Popen(["ip", "netns", "exec", lab.router, sys.executable, "-c", ROUTER, str(mtu)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        result = run_probes([probe], namespace=lab.host)[0]
    finally:
        proc.kill()
        proc.wait()
    assert not result["ok"] and result["replies"] == 0, result
    assert result["detail"]["too_big"], result
    assert "too big (10.79.1.1 answered" in result["error"], result["error"]
    assert result["error"].startswith("path MTU: 8972-byte packets to 10.79.2.2 do not pass ("), result["error"]
