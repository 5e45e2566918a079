"""Review 27b (operator): going back from 9000 to 1500 (the undo of a jumbo plan) through the change_window role.

The lab's vmbr0, eno1 and the guest's port veth100i0 are at 9000 (the guest started on the jumbo bridge, so
Proxmox VE and libvirt gave its tap 9000), and a macvlan mv0 at 9000 rides on vmbr0. The window lowers vmbr0 to
1500: the path follows (eno1), the kernel lowers mv0 with its lower device, and guest ports are left alone.

- Pinned (passes): --check --diff names every device that moves (`also_changed`: eno1 and the macvlan mv0), and
  the real run leaves the kernel exactly as that diff predicted.
- Defect (strict xfail): the guest port is left at 9000 above a bridge at 1500, and nothing says so. The bridge
  drops every frame over 1500 that the guest sends out through eno1 (a bridge forwards nothing larger than the
  egress port's MTU, silently), so a guest that uses its 9000 loses its large packets from the moment the window
  is CONFIRMED. The docs tell how to bring taps up to a raised bridge (`tap_reenslave` with `sync_mtu`), but a
  lowering gives no word. Expected: a warning naming the guest ports left above the bridge's new MTU and what
  to do (tap_reenslave sync_mtu, the guest's own NIC), in the result's warnings (so ansible prints it).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nstools import iproute
from jumbo_lab import build, mtus, set_switch_mtu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review27"))
from rv27op_lab import report_of, task, window  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

BACK = [{"name": "vmbr0", "ports": ["eno1"], "mtu": 1500}]


def jumbo_host(namespaces, tmp_path) -> tuple:
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, 9000)
    iproute(hv, ["ip link set vmbr0 mtu 9000", "ip link set eno1 mtu 9000", "ip link set veth100i0 mtu 9000",
                 "ip link add link vmbr0 name mv0 type macvlan mode bridge", "ip link set mv0 mtu 9000",
                 "ip link set mv0 up"])
    root = tmp_path / "root"
    root.mkdir()
    return hv, root


def test_lowering_diff_names_the_uplink_and_the_macvlan_and_holds(namespaces, tmp_path):
    hv, root = jumbo_host(namespaces, tmp_path)
    proc, results = window(tmp_path, hv, root, "--check", "--diff", change_window_bridges=BACK)
    preview = task(results, "Preview the change in check mode")["result"]
    state = preview["diff"][0] if isinstance(preview["diff"], list) else preview["diff"]
    assert proc.returncode == 0 and mtus(hv)["mv0"] == 9000
    assert state["before"]["also_changed"] == [{"name": "eno1", "mtu": 9000}, {"name": "mv0", "mtu": 9000}]
    assert state["after"]["also_changed"] == [{"name": "eno1", "mtu": 1500}, {"name": "mv0", "mtu": 1500}]
    assert state["after"]["bridges"]["vmbr0"]["mtu"] == 1500
    proc, results = window(tmp_path, hv, root, change_window_bridges=BACK)
    assert proc.returncode == 0 and report_of(results)["outcome"] == "confirmed", report_of(results)["summary"]
    assert mtus(hv) == {"vmbr0": 1500, "eno1": 1500, "mv0": 1500, "eno2": 1500, "veth100i0": 9000}
    proc, results = window(tmp_path, hv, root, change_window_bridges=BACK)
    assert proc.returncode == 0 and report_of(results)["outcome"] == "unchanged"


def test_lowering_names_the_guest_port_left_above_the_bridge(namespaces, tmp_path):
    hv, root = jumbo_host(namespaces, tmp_path)
    proc, results = window(tmp_path, hv, root, change_window_bridges=BACK)
    state = task(results, "Apply the change inside a checkpoint")["result"]
    assert proc.returncode == 0 and mtus(hv, "vmbr0", "veth100i0") == {"vmbr0": 1500, "veth100i0": 9000}
    warned = [w for w in [*(state.get("warnings") or []), *proc.stderr.splitlines()] if "veth100i0" in w]
    # What happens: CONFIRMED, no warning at all.
    assert warned, (report_of(results)["summary"], proc.stderr[-600:])
