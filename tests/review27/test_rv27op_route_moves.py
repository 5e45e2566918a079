"""Review 27 (operator): the default route moves onto a bridge that is already at 9000: no path MTU probe.

vmbr0 (1500, on eno1) holds the address and the default route; vmbr1 (storage) is at 9000 on eno2, whose switch
port is at 1500. The window moves the address and gateway4 onto vmbr1. The MTU toward the gateway rises from 1500
to 9000, but no device's MTU changes, so path_mtu.mtu_probes adds nothing (its fallback to the old holder's MTU
applies to new devices only): the window is confirmed and persisted, and the host black-holes every 9000-byte
packet to its gateway. Expected: a route holder whose MTU is above the old holder's counts as raised.
"""
from __future__ import annotations

import subprocess

import pytest

from nstools import iproute
from jumbo_lab import build
from rv27op_lab import report_of, task, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

MOVE = [{"name": "vmbr1", "ports": ["eno2"], "mtu": 9000, "addresses": ["192.0.2.10/24"], "gateway4": "192.0.2.1"},
        {"name": "vmbr0", "ports": ["eno1"], "addresses": []}]


def test_moving_the_gateway_onto_a_9000_bridge_is_proven_at_9000(namespaces, tmp_path):
    hv, switch, _guest = build(namespaces)
    iproute(switch, ["ip link set sw2 master swbr", "ip link set sw2 up"])   # sw2 (and swbr) stay at 1500
    iproute(hv, ["ip link add vmbr1 type bridge stp_state 0 forward_delay 0", "ip link set eno2 master vmbr1",
                 "ip link set eno2 mtu 9000", "ip link set vmbr1 mtu 9000", "ip link set eno2 up",
                 "ip link set vmbr1 up"])
    root = tmp_path / "root"
    root.mkdir()
    _proc, results = window(tmp_path, hv, root, "--check", change_window_bridges=MOVE)
    preview = task(results, "Preview the change in check mode")["result"]
    proc, results = window(tmp_path, hv, root, change_window_bridges=MOVE)
    report = report_of(results)
    big = subprocess.run(["ip", "netns", "exec", hv, "ping", "-n", "-q", "-M", "do", "-s", "8972", "-c", "1", "-W", "1",
                          "192.0.2.1"], capture_output=True, check=False)
    # What happens: CONFIRMED, path_mtu absent, and 8972-byte DF pings to the gateway get no answer.
    assert report["outcome"] == "rolled_back" or big.returncode == 0, (report["outcome"], preview.get("path_mtu"))
    assert proc.returncode != 0 and "8972-byte packets to 192.0.2.1 do not pass" in report["reason"]
    assert preview.get("path_mtu") == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr1"]}]
