"""The change_window role brings back a bridge's static routes when its probes fail (issue 25, "Done when").

In the SSH lab, hv's vmbr1 (on eno2, the switch's second port) carries the storage network:
198.51.100.10/24 and two static routes through a storage host at 198.51.100.1 on the switch's segment,
10.20.0.0/16 in the main table (proto boot, as ifupdown2's `post-up ip route add` makes it) and a default route
in table 100 (proto static). The storage host answers for 10.20.0.1 and knows no other way back, so only vmbr1's
route reaches it. The window removes vmbr1's routes and address (the bridge itself stays: net_state refuses to
delete a device that still has static routes, and a window names each device once); its probe of 10.20.0.1
(what the storage route reaches: the default ICMP probe of the gateway on vmbr0 would not notice) fails, and the
role rolls back. The complete dump (routes of every table) must equal the one before.
"""
from __future__ import annotations

import subprocess

import pytest

from nstools import iproute, state_diff
from test_change_window import ROLE_PLAY, report_of, window_vars

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

STORAGE_TARGET = "10.20.0.1"


@pytest.fixture
def storage(sshlab):
    """A storage host on the switch's segment, 198.51.100.1 with 10.20.0.1 behind it, that knows no other route:
    the hypervisor reaches 10.20.0.1 through vmbr1's static route only (not via its default gateway)."""
    ns = f"{sshlab.prefix}-st"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        iproute(sshlab.sw, [f"ip link add st0 type veth peer name eth0 netns {ns}", "ip link set st0 master br0",
                            "ip link set st0 up"])
        iproute(ns, ["ip link set lo up", "ip link set eth0 up", "ip address add 198.51.100.1/24 dev eth0",
                     f"ip address add {STORAGE_TARGET}/32 dev lo"])
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_the_role_rolls_back_a_bridges_removed_routes_in_main_and_table_100(sshlab, storage):
    iproute(sshlab.hv, [
        "ip link add vmbr1 type bridge stp_state 0 forward_delay 0",
        "ip link set eno2 master vmbr1",
        "ip link set vmbr1 up",
        "ip address add 198.51.100.10/24 dev vmbr1",
        "ip route add 10.20.0.0/16 via 198.51.100.1 dev vmbr1",
        "ip route add default via 198.51.100.1 dev vmbr1 table 100 proto static",
    ])
    before = sshlab.state()
    assert sshlab.exec(["ping", "-c", "1", "-W", "2", STORAGE_TARGET]).returncode == 0
    proc, results = sshlab.playbook(ROLE_PLAY, extra_vars=window_vars(
        sshlab, change_window_bridges=[{"name": "vmbr1", "routes": [], "addresses": []}],
        change_window_probes=[{"type": "icmp", "target": STORAGE_TARGET, "count": 2}]), timeout=300)
    assert proc.returncode != 0, proc.stdout[-5000:]
    report = report_of(results)
    assert report["outcome"] == "rolled_back", (report.get("reason"), report.get("summary"))
    applied = "\n".join(report["commands"])
    for fragment in ("route del 10.20.0.0/16 via 198.51.100.1 dev vmbr1", "table 100", "address del 198.51.100.10/24"):
        assert fragment in applied, (fragment, report["commands"])
    assert state_diff(before, sshlab.state()) == []
    assert sshlab.exec(["ping", "-c", "1", "-W", "2", STORAGE_TARGET]).returncode == 0
