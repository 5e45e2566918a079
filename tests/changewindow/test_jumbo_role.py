"""The change_window role takes vmbr0 to MTU 9000 over SSH and proves the path carries it (issue 27).

In the SSH lab hv's vmbr0 (on eno1) holds the default routes via the switch's router, 10.77.0.1 and
2001:db8:77::1. The window raises vmbr0 to 9000; eno1 follows, and the window adds a don't-fragment probe at 9000
to each default gateway. The switch's port hv1 at 1500 drops the large frames silently: the role rolls the change
back and its report names the size that does not pass. With hv1 and the switch at 9000 the window is confirmed.
The controller stays at 1500 all along (TCP's MSS keeps SSH's segments to its size).
"""
from __future__ import annotations

import json

import pytest

from nstools import iproute, state_diff
from test_change_window import ROLE_PLAY, report_of, window_vars

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

JUMBO = {"change_window_bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}]}


def hv_mtus(lab) -> dict:
    out = lab.exec(["ip", "-j", "link", "show"], check=True).stdout
    return {link["ifname"]: link["mtu"] for link in json.loads(out) if link["ifname"] in ("vmbr0", "eno1")}


def test_a_switch_port_at_1500_rolls_the_window_back_and_the_report_names_the_size(sshlab):
    before = sshlab.state()
    proc, results = sshlab.playbook(ROLE_PLAY, extra_vars=window_vars(sshlab, **JUMBO), timeout=300)
    assert proc.returncode != 0, proc.stdout[-5000:]
    report = report_of(results)
    assert report["outcome"] == "rolled_back", (report.get("reason"), report.get("summary"))
    assert "path MTU: 8972-byte packets to 10.77.0.1 do not pass (1472 do)" in report["reason"], report["reason"]
    assert state_diff(before, sshlab.state()) == []
    assert sshlab.ssh("true").returncode == 0


def test_a_switch_at_9000_confirms_the_window_with_vmbr0_and_eno1_at_9000(sshlab):
    iproute(sshlab.sw, ["ip link set hv1 mtu 9000", "ip link set br0 mtu 9000"])
    proc, results = sshlab.playbook(ROLE_PLAY, extra_vars=window_vars(sshlab, **JUMBO), timeout=300)
    assert proc.returncode == 0, proc.stdout[-5000:]
    report = report_of(results)
    assert report["outcome"] == "confirmed", (report.get("reason"), report.get("summary"))
    assert hv_mtus(sshlab) == {"vmbr0": 9000, "eno1": 9000}
    assert sshlab.exec(["ping", "-n", "-q", "-M", "do", "-s", "8972", "-c", "1", "-W", "2", "10.77.0.1"]).returncode == 0
