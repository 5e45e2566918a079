"""Review 27b (operator): the NOT TOUCHED of a host raised by hand does not name the devices or the way back.

vmbr0 and eno1 were raised to 9000 by hand; the switch is at 1500. The window finds the host as described,
proves 9000 for the files first (issue 27, item 4), the probe fails, and the host fails NOT TOUCHED:

    hv1: NOT TOUCHED. 'Apply the change inside a checkpoint' failed: the host is already as the task describes,
    but its files would get an MTU the path does not carry (path mtu 192.0.2.1: path MTU: 8972-byte packets to
    192.0.2.1 do not pass (1472 do); ...); nothing was changed, and the files must not be written: bring the path
    (the switch port) to that MTU, or the host back (icmp 192.0.2.1: ok, 0.01 ms).

The host is black-holing every large packet right now (that is what the probe found), and the message leaves it
so. "the host back" names neither the devices at 9000 (vmbr0, eno1) nor the MTU to go back to (here no files
yet: the MTU they boot with), and "that MTU" is not given as a number; the trailing "(icmp 192.0.2.1: ok ...)" reads as if the
path were fine. Expected: the message names the devices whose MTU the path does not carry (and the MTU the files
have, if any): vmbr0 and eno1 at 9000, so the operator can lower them or fix the switch port.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nstools import iproute, settled_state, state_diff
from jumbo_lab import build

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review27"))
from rv27op_lab import report_of, window  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def test_not_touched_names_the_devices_and_the_mtu_to_go_back_to(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    proc, results = window(tmp_path, hv, root)
    report = report_of(results)
    assert proc.returncode != 0 and report["outcome"] == "not_touched", report["summary"]
    assert state_diff(before, settled_state(hv)) == [] and not (root / "etc/network/interfaces").exists()
    reason = report["reason"]
    assert "8972-byte packets to 192.0.2.1 do not pass" in reason
    # What happens: no device is named ("bring the path (the switch port) to that MTU, or the host back").
    assert "vmbr0" in reason and "eno1" in reason, reason
