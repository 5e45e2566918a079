"""Review 27b (operator): a default route with `mtu 1500` turns the path MTU proof off, and nothing says so.

The hypervisor's LAN is still at 1500 (switch port sw1, swbr), and the host's default route carries its own
`mtu 1500` (`ip route replace default via 192.0.2.1 dev vmbr0 mtu 1500`, left from an earlier plan for a
router at 1500). The window raises vmbr0 and eno1 to 9000. path_mtu caps the gateway probe at the route's
MTU, and as 1500 "was the limit before too" it adds no probe at all. But 192.0.2.1 and every storage address on
the LAN are reached through the connected route, which has no MTU: after the window, 8972-byte packets to the
gateway itself and to any LAN host are black-holed by the switch.

What happens: `hv1: CONFIRMED ... probes after the change: icmp 192.0.2.1: ok ...; persisted`, no path MTU
probe in the result (`path_mtu` absent), and the only warning is the one that the files do not keep the route's
MTU. The 9000 the window set is proven nowhere, and the operator is not told.

Expected: a window that raises an MTU and proves it nowhere says so (a warning naming the MTU and asking for an
`mtu:` probe to an address on the LAN, as the warning for a gateway that does not answer echo does), or it proves
the gateway at the MTU of the route that reaches it (the connected route: 9000) and rolls back.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nstools import iproute
from jumbo_lab import build, mtus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review27"))
from rv27op_lab import report_of, task, window  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def test_a_raise_the_route_mtu_leaves_unproven_is_named(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)   # the switch stays at 1500
    iproute(hv, ["ip route replace default via 192.0.2.1 dev vmbr0 mtu 1500"])
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root)
    report = report_of(results)
    state = task(results, "Apply the change inside a checkpoint")["result"]
    jumbo = subprocess.run(["ip", "netns", "exec", hv, "ping", "-c1", "-W1", "-M", "do", "-s", "8972", "192.0.2.1"],
                           capture_output=True, text=True, check=False)
    if report["outcome"] == "confirmed":
        # The state this test is about: the host at 9000 over a switch at 1500, the gateway unreachable at 9000.
        assert mtus(hv, "vmbr0", "eno1") == {"vmbr0": 9000, "eno1": 9000} and jumbo.returncode != 0, jumbo.stdout
        warned = [w for w in [*(state.get("warnings") or []), *proc.stderr.splitlines()] if "9000" in w and "probe" in w]
        # What happens: no such warning; only the route-mtu-not-kept one, and path_mtu is absent.
        assert warned, (report["summary"], state.get("warnings"), state.get("path_mtu"))
    else:
        # A fix that proves the gateway at the connected route's 9000 (or refuses the unproven raise) names the size.
        assert "8972" in report["summary"] or "9000" in report["summary"], report["summary"]
        assert mtus(hv, "vmbr0", "eno1") == {"vmbr0": 1500, "eno1": 1500}
