"""Review 27 (attacker): the window's path MTU probe toward a link-local IPv6 default gateway, on the kernel.

vmbr0 on eno1 holds `default via fe80::1 dev vmbr0` (a router found by its link-local address) and, in the first
case, `default via 192.0.2.1`. Raising vmbr0 to 9000 adds `mtu: 9000` probes, the link-local one scoped to its
device (`fe80::1%vmbr0`). With the switch at 9000 both pass and the window arms; with the switch port at 1500 (and
only the link-local default route) the scoped probe fails and the change is rolled back, the dump equal.
"""
from __future__ import annotations

import subprocess
import time

import pytest

import persist_lab
from modrun import run_module
from nstools import ip, iproute, settled_state, state_diff
from watchdogs import kill_watchdogs

pytestmark = pytest.mark.kernel

JUMBO = {"bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}]}


@pytest.fixture
def lab(namespaces, tmp_path):
    def make(switch_mtu: int, v4_default: bool):
        ns, peer = persist_lab.bridges_host(namespaces)
        subprocess.run(["ip", "netns", "exec", peer, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"], check=True)
        iproute(peer, ["ip link add swbr type bridge stp_state 0 forward_delay 0",
                       f"ip link set sw1 mtu {switch_mtu}", "ip link set sw1 master swbr", f"ip link set swbr mtu {switch_mtu}",
                       "ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr", "ip address add fe80::1/64 dev swbr nodad"])
        iproute(ns, ["ip -6 route replace default via fe80::1 dev vmbr0"]
                + ([] if v4_default else ["ip route del default via 192.0.2.1"]))
        for _poll in range(300):   # vmbr0's own link-local address out of DAD, as on a host up for a while
            if not ip("-6", "addr", "show", "tentative", ns=ns).stdout.strip():
                return ns
            time.sleep(0.02)
        raise AssertionError("IPv6 addresses still tentative after 6 s")

    root = tmp_path / "root"
    root.mkdir()
    try:
        yield make, root
    finally:
        kill_watchdogs(root)


def window(ns, root) -> dict:
    guard = {"root": str(root), "timeout": 60, "gate_settle": 0, "probes": [{"type": "icmp", "target": "192.0.2.10"}]}
    return run_module("net_state", dict(JUMBO, namespace=ns, checkpoint=guard))


def test_a_switch_at_9000_passes_the_scoped_probe(lab):
    make, root = lab
    ns = make(9000, True)
    armed = window(ns, root)
    assert not armed.get("failed") and armed["outcome"] == "armed", armed.get("msg")
    assert {(p["target"], p["mtu"]) for p in armed["path_mtu"]} == {("192.0.2.1", 9000), ("fe80::1%vmbr0", 9000)}
    after = {p["name"]: p["ok"] for p in armed["probes"]["after"]}
    assert after == {"icmp 192.0.2.10": True, "path mtu 192.0.2.1": True, "path mtu fe80::1%vmbr0": True}, after
    run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})


def test_a_switch_port_at_1500_fails_the_scoped_probe_and_rolls_back(lab):
    make, root = lab
    ns = make(1500, False)
    before = settled_state(ns)
    result = window(ns, root)
    assert result.get("failed") and result["outcome"] == "rolled_back", result.get("msg")
    assert [p["target"] for p in result["path_mtu"]] == ["fe80::1%vmbr0"]
    assert "path MTU: 8952-byte packets to fe80::1%vmbr0 do not pass (1452 do)" in result["msg"], result["msg"]
    assert state_diff(before, settled_state(ns)) == []
