"""Review 27b (operator): an IPv6 default route's own `mtu 1500` is raised to 9000 by the kernel with its device.

Issue 27 (item 5) models a default route with its own MTU as a cap: `default via GW mtu 1500` keeps what leaves
through the router at 1500 while the LAN goes to 9000; the path MTU probe is capped at it (none when 1500 was the
limit before too), and a save warns that the files do not keep it. For IPv6 the kernel does not keep it either:
a route MTU that is not locked and equals its device's MTU follows the device up (rt6_mtu_change). So with
`ip -6 route replace default via fe80::1 dev vmbr0 mtu 1500` and the window raising vmbr0 to 9000:

What happens: CONFIRMED; afterwards the route reads `default via fe80::1 dev vmbr0 ... mtu 9000`: the cap the
operator set is gone, IPv6 packets to the router now leave at 9000, and no probe proved fe80::1 at 9000 (path_mtu
names only 192.0.2.1; the IPv6 probe was planned capped at 1500). The --diff did not show the route changing, and
the save's warning then reads "the default route via fe80::1 has its own mtu 9000 ... Add the route's MTU to the
files by hand (... mtu 9000)", advice for a value the operator never set.

Expected: the window keeps the route's MTU as it found it (the kernel's `mtu lock`, or setting it back after the
device), so the cap holds and the warning names 1500; or, failing that, it proves the IPv6 gateway at the MTU the
route now has and says the route's MTU changed.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nstools import iproute
from jumbo_lab import build, mtus, set_switch_mtu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review27"))
from rv27op_lab import report_of, window  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def default6_mtu(ns: str):
    out = subprocess.run(["ip", "-n", ns, "-6", "-j", "-d", "route", "show", "default"], check=True,
                         capture_output=True, text=True).stdout
    routes = json.loads(out)
    assert len(routes) == 1, routes
    return routes[0].get("metrics", [{}])[0].get("mtu") if routes[0].get("metrics") else None


@pytest.mark.xfail(strict=True, reason="review 27b op: the kernel raises an IPv6 default route's own mtu with vmbr0")
def test_an_ipv6_default_routes_mtu_survives_the_raise(namespaces, tmp_path):
    hv, switch, _guest = build(namespaces, ipv6=True)
    set_switch_mtu(switch, 9000)
    iproute(hv, ["ip -6 route replace default via fe80::1 dev vmbr0 mtu 1500"])
    assert default6_mtu(hv) == 1500
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root)
    report = report_of(results)
    assert proc.returncode == 0 and report["outcome"] == "confirmed", report["summary"]
    assert mtus(hv, "vmbr0", "eno1") == {"vmbr0": 9000, "eno1": 9000}
    # What happens: 9000, and the warning asks to add `mtu 9000` to the files.
    assert default6_mtu(hv) == 1500, [line for line in proc.stderr.splitlines() if "fe80::1" in line]
