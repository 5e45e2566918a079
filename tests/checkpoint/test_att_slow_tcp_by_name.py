"""Review (attacker): a tcp gate probe whose target is a host name holds the watchdog past its deadline.

probes._retrying gives each attempt `timeout = min(spec timeout, time left)`, but a tcp attempt is
resolve_host() (a DNS query with that timeout, and a second one for AAAA when A is empty) *and then*
connect() with the same timeout again: up to 2-3x the time left. A resolver that answers just before the
timeout, with an address that never answers, is enough. The watchdog runs in a private mount namespace where
/etc/resolv.conf names a nameserver in the lab (nothing of the machine's own is touched).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import persist_lab
from checkpoint.conftest import Host
from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]

TESTS = Path(__file__).resolve().parents[1]
COLLECTIONS = TESTS.parent / ".tmp" / "collections"

SLOW_DNS = r'''
import socket, struct, sys, threading, time
listen, delay, address = sys.argv[1], float(sys.argv[2]), sys.argv[3]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((listen, 53))
def answer(data, peer):
    time.sleep(delay)
    end = 12
    while data[end] != 0:
        end += data[end] + 1
    question, qtype = data[12:end + 5], struct.unpack("!H", data[end + 1:end + 3])[0]
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(address) if qtype == 1 else b""
    sock.sendto(data[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if rr else 0, 0, 0) + question + rr, peer)
while True:
    data, peer = sock.recvfrom(4096)
    threading.Thread(target=answer, args=(data, peer), daemon=True).start()
'''

ARM = r'''
import json, sys
sys.path[:0] = [{tests!r}, {collections!r}]
from modrun import run_module
print(json.dumps(run_module("net_checkpoint", json.loads(sys.argv[1]))))
'''


def test_a_tcp_probe_by_name_does_not_hold_the_deadline(namespaces, tmp_path):
    ns = persist_lab.change_window_host(namespaces)
    switch = [n for n in namespaces.created if n != ns][0]
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0"])
    iproute(switch, ["ip address add 192.0.2.53/24 dev swbr"])
    dns = subprocess.Popen(["ip", "netns", "exec", switch, sys.executable, "-c", SLOW_DNS, "192.0.2.53", "4.8",
                            "198.51.100.7"])   # answers after 4.8 s; 198.51.100.7 is routed to the switch, dropped
    host = Host(ns, switch, tmp_path / "root")
    host.root.mkdir()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n")
    try:
        time.sleep(0.5)
        before = host.state()
        args = {"state": "armed", "namespace": ns, "root": str(host.root), "timeout": 8, "gate_settle": 0,
                "probes": [{"type": "tcp", "target": "controller.example", "port": 22, "count": 1, "timeout": 5}]}
        script = tmp_path / "arm.py"
        script.write_text(ARM.format(tests=str(TESTS), collections=str(COLLECTIONS)))
        out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                              f"mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} {script} \"$0\"",
                              json.dumps(args)], capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        assert not result.get("failed"), result
        checkpoint = result["checkpoint"]
        iproute(ns, ["ip link set vmbr1 mtu 1400"])   # the gate sees a change and probes at once
        last = host.wait_outcome(checkpoint["id"], 40)
        print(host.log())
        print({k: last.get(k) for k in ("outcome", "reason", "started_after_deadline_ms")})
        assert last["outcome"] == "rolled_back"
        assert last["started_after_deadline_ms"] <= 500, last["started_after_deadline_ms"]
        assert state_diff(before, host.state()) == []
    finally:
        from watchdogs import kill_watchdogs
        kill_watchdogs(host.root)
        dns.kill()
        dns.wait()
