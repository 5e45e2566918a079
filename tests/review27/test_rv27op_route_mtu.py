"""Review 27 (operator): jumbo frames on the LAN, 1500 toward the router (`default via GW mtu 1500`).

A common way to give storage and migration 9000 on the hypervisors' own network while the router stays at 1500:
vmbr0 at 9000, the default route with `mtu 1500`, so nothing leaves through the router larger than it takes.

- The window proves the gateway at vmbr0's MTU (path_mtu.mtu_probes reads only the device's MTU): the router's
  port at 1500 drops the 9000-byte echo, and a change that the route's own MTU makes safe is rolled back.
- With the probe turned off the window is confirmed, but the files it writes say `gateway 192.0.2.1` (ifupdown2,
  networkd, NetworkManager alike) without the route's `mtu 1500`, and nothing warns: after a reboot the host
  sends 9000-byte packets to the 1500 router, the black hole the window exists to prevent.

Fixed: the route dump reads a default route's own MTU (RTAX_MTU, RouteDump.default_mtus); the path MTU probe proves
at most that, and none when it was the limit before too; a save warns that the files do not keep it, naming the
line to add.
"""
from __future__ import annotations

import subprocess

import pytest

from nstools import iproute, settled_state, state_diff
from jumbo_lab import build, mtus, set_switch_mtu
from rv27op_lab import report_of, task, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

PROBES = [{"type": "icmp", "target": "192.0.2.1"}, {"type": "icmp", "target": "192.0.2.5", "count": 1}]


def routed_lab(namespaces) -> str:
    """The switch at 9000 with storage (192.0.2.5) on it; the router 192.0.2.1 in its own namespace at 1500;
    the host's default route via the router with mtu 1500."""
    hv, switch, _guest = build(namespaces)
    router = namespaces.new()
    set_switch_mtu(switch, 9000)
    iproute(switch, ["ip address del 192.0.2.1/24 dev swbr", "ip address add 192.0.2.5/24 dev swbr",
                     f"ip link add gw0p type veth peer name gw0 netns {router}", "ip link set gw0p mtu 9000",
                     "ip link set gw0p master swbr", "ip link set gw0p up"])
    iproute(router, ["ip link set gw0 up", "ip address add 192.0.2.1/24 dev gw0"])
    iproute(hv, ["ip route replace default via 192.0.2.1 dev vmbr0 mtu 1500"])
    return hv


def test_a_default_route_capped_at_1500_is_not_probed_at_9000(namespaces, tmp_path):
    hv = routed_lab(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root, change_window_probes=PROBES)
    report = report_of(results)
    # What happens: ROLLED BACK, "path mtu 192.0.2.1: path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do)".
    assert report["outcome"] == "confirmed", report["reason"]
    assert proc.returncode == 0 and mtus(hv)["vmbr0"] == 9000


def test_the_files_keep_the_default_routes_mtu_or_say_they_cannot(namespaces, tmp_path):
    hv = routed_lab(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root, change_window_probes=PROBES, change_window_mtu_probe=False)
    assert proc.returncode == 0 and report_of(results)["outcome"] == "confirmed", proc.stdout[-2000:]
    # The kernel keeps the route's MTU (the window did not touch the route).
    route = subprocess.run(["ip", "-n", hv, "route", "show", "default"], capture_output=True, text=True,
                           check=True).stdout
    assert "mtu 1500" in route, route
    text = (root / "etc/network/interfaces").read_text()
    vmbr0 = text[text.index("iface vmbr0 inet "):]
    confirm = task(results, "Confirm the checkpoint")["result"]
    said = [w for w in confirm.get("warnings", []) + (confirm.get("persist") or {}).get("warnings", [])
            if "mtu" in w.lower() and "route" in w.lower()]
    # What happens: `gateway 192.0.2.1`, no mtu 1500 anywhere for the route, no warning.
    assert "mtu 1500" in vmbr0 or said, (vmbr0, confirm.get("warnings"))


def test_the_lab_router_drops_9000_byte_frames(namespaces):
    """The lab is right: with vmbr0 at 9000 the storage on the switch takes 8972 bytes, the router does not."""
    hv = routed_lab(namespaces)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])
    before = settled_state(hv)

    def ping(target):
        return subprocess.run(["ip", "netns", "exec", hv, "ping", "-n", "-q", "-M", "do", "-s", "8972", "-c", "1",
                               "-W", "2", target], capture_output=True, check=False)
    assert ping("192.0.2.5").returncode == 0 and ping("192.0.2.1").returncode != 0
    assert state_diff(before, settled_state(hv)) == []
