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
from jumbo_lab import build, mtus, set_switch_mtu
from rv27op_lab import report_of, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def storage_lab(namespaces) -> str:
    """The switch at 9000, with a storage address (192.0.2.5) next to the gateway."""
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, 9000)
    iproute(switch, ["ip address add 192.0.2.5/24 dev swbr"])
    return hv


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


def test_a_given_mtu_probe_the_host_refuses_before_the_change_is_proven_after_it(namespaces, tmp_path):
    """Fixed: the preflight does not count a path MTU probe the host's own MTU refuses (the change raises it); after
    the change it runs, and a storage host left at 1500 rolls the window back naming both sizes."""
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, 9000)
    storage, storage_ns = "192.0.2.5", namespaces.new()   # a storage host of its own, its port at 1500
    iproute(switch, [f"ip link add st0 mtu 9000 type veth peer name st1 netns {storage_ns}",
                     "ip link set st0 master swbr", "ip link set st0 up"])
    iproute(storage_ns, ["ip link set st1 mtu 1500", "ip link set st1 up", f"ip address add {storage}/24 dev st1"])
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    proc, results = window(tmp_path, hv, root,
                           change_window_probes=[{"type": "icmp", "target": storage, "mtu": 9000}])
    report = report_of(results)
    assert proc.returncode != 0 and report["outcome"] == "rolled_back", report
    assert f"8972-byte packets to {storage} do not pass (1472 do)" in report["reason"], report["reason"]
    assert state_diff(before, settled_state(hv)) == []
