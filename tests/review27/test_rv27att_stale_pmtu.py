"""Review 27 (attacker): a path MTU the kernel learned earlier answers the probe instead of the path.

The probe set IP_PMTUDISC_DO / IPV6_PMTUDISC_DO: the kernel then refused (EMSGSIZE) any packet larger than
the path MTU it has cached for the target, for up to net.ipv4.route.mtu_expires (600 s). An operator whose
first 9000 window failed on a router still at 1500 fixes the router and runs the window again: the probe
reports "too big (the host refused to send it, path MTU 1500)" without sending a packet, and the good change
is rolled back. The same cache can be poisoned by a forged "fragmentation needed" that quotes one of the
host's echo requests. Fixed: the probe uses IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE (DF set, the cache ignored;
what `tracepath` and `ping -M probe` use) and passes: the path carries 9000.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import run_probes

from nstools import ip
from rv27lab import build

pytestmark = pytest.mark.kernel


def _cached_mtu(ns: str, target: str) -> str:
    flag = "-6" if ":" in target else "-4"
    return ip(flag, "route", "get", target, ns=ns).stdout


@pytest.mark.parametrize("target", ["10.79.2.2", "fd79:2::2"])
def test_a_router_raised_to_9000_since_the_last_probe_passes(namespaces, target):
    lab = build(namespaces)
    probe = {"type": "icmp", "target": target, "mtu": 9000, "count": 2, "timeout": 0.5}
    first = run_probes([probe], namespace=lab.host)[0]
    assert not first["ok"] and first["detail"]["too_big"] and first["detail"]["path_mtu"] == 1500, first
    for ns, dev in ((lab.router, "r1"), (lab.far, "f0")):   # the operator fixes the router's far link
        ip("link", "set", dev, "mtu", "9000", ns=ns)
    assert "mtu 1500" in _cached_mtu(lab.host, target)   # the kernel remembers the old path
    again = run_probes([probe], namespace=lab.host)[0]
    # fails with "path MTU: 8972-byte packets to 10.79.2.2 do not pass (1472 do); too big (the host refused to
    # send it, path MTU 1500)"
    assert again["ok"], again
