"""Review 27 (operator): the added path MTU probe has no baseline, so a gateway that never answered rolls back.

The window adds an `mtu:` probe to every default gateway on the raised path, also one the operator did not list
in change_window_probes (here the IPv6 default route's 2001:db8::99, which answers nothing: a dead second
gateway, or a router that drops echo requests). It is kept out of the preflight (the old path cannot carry 9000),
and nothing runs a small echo to that gateway before the change either: the change is made, the probe fails with
"(none do)", and a good jumbo change (the switch is at 9000, the IPv4 gateway takes 8972 bytes) is rolled back
for something that was so before the window. Expected: the window finds out before it changes anything (a small
echo to each gateway it will prove, in the preflight), and refuses with that reason, or proves only gateways that
answer.
"""
from __future__ import annotations

import pytest

from nstools import iproute, settled_state, state_diff
from jumbo_lab import build, set_switch_mtu
from rv27op_lab import report_of, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def test_a_gateway_that_never_answered_does_not_roll_back_a_good_change(namespaces, tmp_path):
    hv, switch, _guest = build(namespaces, ipv6=True)
    iproute(hv, ["ip -6 route add default via 2001:db8::99 dev vmbr0"])
    set_switch_mtu(switch, 9000)
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    _proc, results = window(tmp_path, hv, root, change_window_probes=[{"type": "icmp", "target": "192.0.2.1"}])
    report = report_of(results)
    # What happens: ROLLED BACK, "path mtu 2001:db8::99: path MTU: 8952-byte packets to 2001:db8::99 do not pass
    # (none do); no reply to 3 echo requests" - after the change was made and undone.
    assert report["outcome"] != "rolled_back", report["reason"]
    if report["outcome"] == "not_touched":
        assert "2001:db8::99" in report["reason"] and state_diff(before, settled_state(hv)) == []
