"""Review 27 (operator): an `mtu:` probe the window is given runs in the preflight, where the old path cannot pass.

docs/change_window.md's worked example gives `{type: icmp, target: 10.20.0.5, mtu: 9000, name: storage at 9000}`
in change_window_probes ("Storage behind another gateway: prove it too, at the same size"), and says "A probe the
window was given with the same target and `mtu` is not added twice". Followed literally on a host whose vmbr0 is
still at 1500 (the reason for the window), the preflight runs that probe, the kernel refuses 9000-byte packets
(EMSGSIZE) and the window stops NOT TOUCHED, even with the switch at 9000: the example can never succeed, and
the message does not say that an `mtu:` probe above the host's current MTU cannot pass before the change.
"""
from __future__ import annotations

import pytest

from nstools import iproute, settled_state, state_diff
from rv27op_lab import build, mtus, report_of, set_switch_mtu, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def storage_lab(namespaces) -> str:
    """The switch at 9000, with a storage address (192.0.2.5) next to the gateway."""
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, 9000)
    iproute(switch, ["ip address add 192.0.2.5/24 dev swbr"])
    return hv


@pytest.mark.xfail(strict=True, reason="review 27 op: the worked example's given mtu: 9000 probe fails the "
                                       "preflight: the window can never run")
def test_the_worked_example_with_a_storage_probe_at_9000_is_confirmed(namespaces, tmp_path):
    hv = storage_lab(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    probes = [{"type": "icmp", "target": "192.0.2.1"},
              {"type": "icmp", "target": "192.0.2.5", "mtu": 9000, "name": "storage at 9000"}]
    proc, results = window(tmp_path, hv, root, change_window_probes=probes)
    report = report_of(results)
    # What happens: NOT TOUCHED, "preflight probes failed, the host was not touched: storage at 9000: path MTU:
    # 8972-byte packets to 192.0.2.5 do not pass (1472 do); too big (the host refused to send it, path MTU 1500)".
    assert report["outcome"] == "confirmed", report["reason"]
    assert proc.returncode == 0 and mtus(hv)["vmbr0"] == 9000


@pytest.mark.xfail(strict=True, reason="review 27 op: a given mtu: 9000 probe to the gateway ('not added twice') "
                                       "fails the preflight")
def test_a_given_mtu_probe_to_the_gateway_replaces_the_added_one_and_runs_after_the_change(namespaces, tmp_path):
    hv = storage_lab(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    proc, results = window(tmp_path, hv, root,
                           change_window_probes=[{"type": "icmp", "target": "192.0.2.1", "mtu": 9000}])
    report = report_of(results)
    assert report["outcome"] == "confirmed", report["reason"]
    assert proc.returncode == 0 and state_diff(before, settled_state(hv)) != []


def test_a_refused_preflight_mtu_probe_leaves_the_host_untouched_and_names_the_size(namespaces, tmp_path):
    """What does hold today: the refusal changes nothing and names both sizes."""
    hv = storage_lab(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    proc, results = window(tmp_path, hv, root,
                           change_window_probes=[{"type": "icmp", "target": "192.0.2.5", "mtu": 9000}])
    report = report_of(results)
    assert proc.returncode != 0 and report["outcome"] == "not_touched", report
    assert "8972-byte packets to 192.0.2.5 do not pass (1472 do)" in report["reason"], report["reason"]
    assert state_diff(before, settled_state(hv)) == []
