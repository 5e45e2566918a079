"""Review 27 (operator): a default route with a metric is not a "default gateway" for the jumbo window.

Since issue 26 a default route at a metric other than the family's default (dhclient's 100, NetworkManager's
425) is a route of its device, not its gateway4 (tests/review25/test_rvatt_default_metric.py). The path MTU probe
(path_mtu.mtu_probes) and the default probes (neighbour.default_gateways) only look at gateway4/gateway6: on such
a host the window that raises vmbr0 to 9000 toward a switch at 1500 adds no `mtu:` probe, is confirmed and
persisted, and the first large packet is black-holed hours later; with no probes given the role says the host has
"no default route in the main table", which is false.
"""
from __future__ import annotations

import subprocess

import pytest

from nstools import iproute, settled_state
from jumbo_lab import build, mtus
from rv27op_lab import report_of, task, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

GIVEN = [{"type": "icmp", "target": "192.0.2.1", "count": 2}]


def metric_host(namespaces) -> str:
    hv, _switch, _guest = build(namespaces)
    iproute(hv, ["ip route del default", "ip route add default via 192.0.2.1 dev vmbr0 metric 100"])
    return hv


def test_the_lab_black_holes_9000_when_the_switch_is_at_1500(namespaces):
    """The lab is right: at 9000 toward a switch at 1500, small pings pass and 8972-byte DF pings do not."""
    hv = metric_host(namespaces)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])
    small = subprocess.run(["ip", "netns", "exec", hv, "ping", "-n", "-q", "-c", "3", "-W", "1", "192.0.2.1"],
                           capture_output=True, check=False)
    big = subprocess.run(["ip", "netns", "exec", hv, "ping", "-n", "-q", "-M", "do", "-s", "8972", "-c", "1", "-W", "1",
                          "192.0.2.1"], check=False, capture_output=True)
    assert small.returncode == 0 and big.returncode != 0


def test_a_default_route_with_a_metric_still_gets_the_path_mtu_probe(namespaces, tmp_path):
    hv = metric_host(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    _proc, results = window(tmp_path, hv, root, "--check", change_window_probes=GIVEN)
    preview = task(results, "Preview the change in check mode")["result"]
    proc, results = window(tmp_path, hv, root, change_window_probes=GIVEN)
    report = report_of(results)
    # What happens: path_mtu is absent, the window is CONFIRMED with vmbr0 and eno1 at 9000 and the file says 9000.
    assert proc.returncode != 0 and report["outcome"] == "rolled_back", (report["outcome"], mtus(hv))
    assert preview.get("path_mtu") == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr0", "eno1"]}], preview
    assert "path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do)" in report["reason"]
    assert settled_state(hv) == before


def test_without_probes_a_default_route_with_a_metric_is_not_called_missing(namespaces, tmp_path):
    hv = metric_host(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    proc, _results = window(tmp_path, hv, root, "--check")
    # What happens: NOT TOUCHED, "namespace ... has no default gateway (no default route in the main table)".
    assert "no default route" not in proc.stdout, proc.stdout[-2000:]
    assert proc.returncode == 0, proc.stdout[-2000:]
