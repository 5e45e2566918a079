"""Review 27 (operator): jumbo windows through the change_window role that behave right, checked on the host kernel.

No false positive from an IPv6 or link-local gateway, a second run that changes nothing, guests keep their MTU,
no probe when the raised bridge is not on the way to a gateway, a rolled-back IPv6 window that names the IPv6
size, lowering that takes the files back to 1500.
"""
from __future__ import annotations

import pytest

from nstools import iproute, settled_state, state_diff
from jumbo_lab import build, mtus, set_switch_mtu
from rv27op_lab import report_of, stanzas, task, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def test_a_link_local_ipv6_gateway_is_proven_at_9000_and_a_second_run_changes_nothing(namespaces, tmp_path):
    hv, switch, _guest = build(namespaces, ipv6=True)
    iproute(hv, ["ip -6 route add default via fe80::1 dev vmbr0"])
    set_switch_mtu(switch, 9000)
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root)
    report = report_of(results)
    assert proc.returncode == 0 and report["outcome"] == "confirmed", report["reason"]
    applied = task(results, "Apply the change inside a checkpoint")["result"]
    assert applied["path_mtu"] == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr0", "eno1"]},
                                   {"target": "fe80::1%vmbr0", "mtu": 9000, "raised": ["vmbr0", "eno1"]}]
    after = {(p["target"], p["detail"]["size"], p["ok"]) for p in applied["probes"]["after"]}
    assert {("192.0.2.1", 8972, True), ("fe80::1%vmbr0", 8952, True)} <= after, after
    # The guest's port is not an uplink: it keeps the MTU its guest started with.
    assert mtus(hv) == {"eno1": 9000, "eno2": 1500, "vmbr0": 9000, "veth100i0": 1500}
    files = stanzas(root)
    assert "mtu 9000" in files["eno1 inet"] and "gateway fe80::1" in files["vmbr0 inet6"], files
    done = settled_state(hv)
    proc, results = window(tmp_path, hv, root, "--check", "--diff")
    assert proc.returncode == 0 and "hv1: UNCHANGED." in proc.stdout, proc.stdout[-2000:]
    assert task(results, "Preview the change in check mode")["result"]["changed"] is False
    proc, results = window(tmp_path, hv, root)
    assert proc.returncode == 0 and report_of(results)["outcome"] == "unchanged"
    assert state_diff(done, settled_state(hv)) == []


def test_an_ipv6_only_window_toward_a_1500_switch_is_rolled_back_naming_the_ipv6_size(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces, ipv6=True)
    iproute(hv, ["ip route del default", "ip -6 route add default via fe80::1 dev vmbr0"])
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    proc, results = window(tmp_path, hv, root)
    report = report_of(results)
    assert proc.returncode != 0 and report["outcome"] == "rolled_back", report
    assert "path MTU: 8952-byte packets to fe80::1%vmbr0 do not pass (1452 do)" in report["reason"], report["reason"]
    assert state_diff(before, settled_state(hv)) == []
    assert not (root / "etc/network/interfaces").exists()


def test_a_bridge_off_the_gateways_path_gets_no_probe(namespaces, tmp_path):
    """vmbr1 (storage, on eno2) goes to 9000; the default route is on vmbr0: nothing to prove toward a gateway."""
    hv, switch, _guest = build(namespaces)
    iproute(switch, ["ip link set sw2 mtu 9000", "ip link set sw2 up"])
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root, change_window_bridges=[{"name": "vmbr1", "ports": ["eno2"], "mtu": 9000}])
    assert proc.returncode == 0 and report_of(results)["outcome"] == "confirmed"
    applied = task(results, "Apply the change inside a checkpoint")["result"]
    assert "path_mtu" not in applied and len(applied["probes"]["after"]) == 1
    assert mtus(hv) == {"eno1": 1500, "eno2": 9000, "vmbr0": 1500, "veth100i0": 1500, "vmbr1": 9000}
    assert "mtu 9000" in stanzas(root)["eno2 inet"]


def test_lowering_through_the_role_takes_the_files_back_to_1500(namespaces, tmp_path):
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, 9000)
    root = tmp_path / "root"
    root.mkdir()
    proc, _results = window(tmp_path, hv, root)
    assert proc.returncode == 0
    low = [{"name": "vmbr0", "ports": ["eno1"], "mtu": 1500}]
    proc, results = window(tmp_path, hv, root, change_window_bridges=low)
    assert proc.returncode == 0 and report_of(results)["outcome"] == "confirmed"
    applied = task(results, "Apply the change inside a checkpoint")["result"]
    assert "path_mtu" not in applied
    assert [c.split(" dev ")[1].split()[0] for c in applied["commands"]] == ["vmbr0", "eno1"]
    assert mtus(hv) == {"eno1": 1500, "eno2": 1500, "vmbr0": 1500, "veth100i0": 1500}
    files = stanzas(root)
    assert "mtu 1500" in files["eno1 inet"] and not any("mtu" in line for line in files["vmbr0 inet"]), files


def test_the_roles_mtu_probe_switch_turns_the_probe_off_and_the_switch_at_1500_is_not_noticed(namespaces, tmp_path):
    """change_window_mtu_probe: false (docs/change_window.md) reaches net_state: no probe added, the window is
    confirmed although the switch drops 9000-byte frames (what the probe exists for)."""
    hv, _switch, _guest = build(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root, change_window_mtu_probe=False)
    assert proc.returncode == 0 and report_of(results)["outcome"] == "confirmed"
    applied = task(results, "Apply the change inside a checkpoint")["result"]
    assert "path_mtu" not in applied and len(applied["probes"]["after"]) == 1
    assert mtus(hv)["vmbr0"] == 9000
