"""Review 27 (attacker): net_state's checkpoint and the path MTU probe it adds (path_mtu.window_probes).

vmbr0 on eno1 holds the default routes via 192.0.2.1 and 2001:db8::1 on the switch; the switch's port sw1 stays at 1500 and
drops larger frames silently. Raising vmbr0 (and eno1 with it) to 9000 must be rolled back by the added
`mtu: 9000` probe to the gateway.

Defect: window_probes skips its own probe when the task gave "the same" one (icmp, same target and mtu), without
looking at `required`. A task that lists the gateway at mtu 9000 as `required: false` (to see the figure in the
report) turns the proof off: the probe fails, nothing is required, the 9000 change toward the 1500 switch is
kept and armed for confirmation. Expected: the window's own probe is required whatever optional probes the task
lists (or an optional one given is made required).
"""
from __future__ import annotations

import json
import subprocess

import pytest

import persist_lab
from modrun import run_module
from nstools import iproute, settled_state, state_diff
from watchdogs import kill_watchdogs

pytestmark = pytest.mark.kernel

JUMBO = {"bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}]}


@pytest.fixture
def lab(namespaces, tmp_path):
    ns, peer = persist_lab.bridges_host(namespaces)
    subprocess.run(["ip", "netns", "exec", peer, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"], check=True)
    iproute(peer, ["ip link add swbr type bridge stp_state 0 forward_delay 0", "ip link set sw1 master swbr",
                   "ip link set sw2 master swbr", "ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr",
                   "ip address add 2001:db8::1/64 dev swbr nodad"])
    root = tmp_path / "root"
    root.mkdir()
    try:
        yield ns, root
    finally:
        kill_watchdogs(root)


def state(ns, root, probes, **args) -> dict:
    checkpoint = {"root": str(root), "timeout": 60, "gate_settle": 0, "probes": probes}
    return run_module("net_state", dict(args, namespace=ns, checkpoint=checkpoint))


def mtus(ns: str) -> dict:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show"], check=True, capture_output=True, text=True).stdout
    return {link["ifname"]: link["mtu"] for link in json.loads(out) if link["ifname"] in ("vmbr0", "eno1")}


def test_the_window_rolls_a_9000_change_toward_a_1500_switch_back(lab):
    ns, root = lab
    before = settled_state(ns)
    result = state(ns, root, [{"type": "icmp", "target": "192.0.2.1", "count": 2}], **JUMBO)
    assert result.get("failed") and result["outcome"] == "rolled_back", result.get("msg")
    assert "path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do)" in result["msg"], result["msg"]
    assert "path MTU: 8952-byte packets to 2001:db8::1 do not pass (1452 do)" in result["msg"], result["msg"]
    assert state_diff(before, settled_state(ns)) == []


def test_an_optional_probe_at_the_same_mtu_does_not_turn_the_proof_off(lab):
    ns, root = lab
    before = settled_state(ns)
    given = [{"type": "icmp", "target": "192.0.2.1", "count": 2},
             {"type": "icmp", "target": "192.0.2.1", "mtu": 9000, "count": 1, "required": False},
             {"type": "icmp", "target": "2001:db8::1", "mtu": 9000, "count": 1, "required": False}]
    result = state(ns, root, given, **JUMBO)
    after = mtus(ns)
    if not result.get("failed"):
        run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})
    # fails: outcome "armed", vmbr0 and eno1 at 9000 toward the switch port at 1500
    assert result.get("failed") and result["outcome"] == "rolled_back", (result.get("outcome"), after)
    assert state_diff(before, settled_state(ns)) == []
