"""Review 27 (operator): a host already at 9000 (raised by hand, or by net_bridge outside a window) is persisted
at 9000 by the window without any path MTU probe.

vmbr0 and eno1 were raised to 9000 before the window; the switch is still at 1500, so every large packet is
already black-holed. The window finds the host "already in the wanted state", runs only the small preflight
probes, says UNCHANGED and writes 9000 into /etc/network/interfaces: the black hole now survives a reboot, and the
report reads like a proven change. Expected: what the window writes is proven like what it sets - the path MTU
probe runs for an MTU the files did not have - and a failure keeps the files as they were, naming the size.

Fixed: net_state's unchanged path with checkpoint.persist proves an MTU the files would get (guarded._files_proven);
a path that carries it lets the files be written, with the probe in the report; files that already say it need no
probe.
"""
from __future__ import annotations

import pytest

from nstools import iproute
from jumbo_lab import build, set_switch_mtu
from rv27op_lab import report_of, task, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def test_an_unproven_9000_is_not_written_to_the_files(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root)
    report = report_of(results)
    files = root / "etc/network/interfaces"
    written = files.read_text() if files.exists() else ""
    # What happens: rc 0, "hv1: UNCHANGED. ... probes: icmp 192.0.2.1: ok ...; files written: 1", eno1 `mtu 9000`.
    assert "\tmtu 9000" not in written, (report["outcome"], report["reason"], written)
    assert proc.returncode != 0 and "8972-byte packets to 192.0.2.1 do not pass" in proc.stdout


def test_a_proven_9000_is_written_and_the_report_shows_the_probe(namespaces, tmp_path):
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, 9000)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root)
    report = report_of(results)
    assert proc.returncode == 0 and report["outcome"] == "unchanged", report["summary"]
    assert "path mtu 192.0.2.1: ok" in report["summary"], report["summary"]
    assert "\tmtu 9000" in (root / "etc/network/interfaces").read_text()
    # Files that already say 9000: nothing to prove, no probe at 9000 runs again.
    proc, results = window(tmp_path, hv, root)
    state = task(results, "Apply the change inside a checkpoint")["result"]
    assert proc.returncode == 0 and state["outcome"] == "unchanged"
    assert not [p for p in state["probes"].get("after", []) if p["name"].startswith("path mtu")], state["probes"]
