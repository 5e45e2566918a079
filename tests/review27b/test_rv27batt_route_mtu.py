"""Review 27b (attacker): a default route's own MTU (RTAX_MTU), now read for the path MTU probe, is still lost or
misread elsewhere.

1. A rollback gives the default route back without its `mtu`. The route is `default via 192.0.2.1 dev vmbr0 mtu
   1500` (jumbo LAN, router at 1500); something in the window deletes it (here `ip route del default`, as a task or
   the kernel would). The checkpoint's rollback re-adds `default via 192.0.2.1 dev vmbr0` with no MTU: the route
   model has none, so the complete dump differs after a "successful" rollback, and the host now sends 9000-byte
   packets to the 1500 router (the black hole the cap exists for).
   Expected: the rollback restores the route as it was, its MTU too.
2. Two default routes via the same gateway: the one in use (metric 0, no MTU of its own) and a backup (metric 200,
   `mtu 1500`). RouteDump.default_mtus keys the cap by gateway alone, so the backup's 1500 caps the probe of the
   route the kernel uses; raising vmbr0 to 9000 with the switch at 1500 gets no path MTU probe at all
   (`path_mtu` empty), and the window would arm and confirm a 9000 path that drops every large packet.
   Expected: the cap of the route the kernel uses (the lowest metric), here none: a probe at 9000.
"""
from __future__ import annotations

import pytest

from jumbo_lab import build
from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from sweep import fresh_namespace
from watchdogs import armed_checkpoint

pytestmark = pytest.mark.kernel

CAPPED = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("sw1", "eth1", "vmbr0")),
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip route add default via 192.0.2.1 dev vmbr0 mtu 1500",
]


@pytest.mark.xfail(strict=True, reason="review 27b att: a rollback re-adds the default route without its own mtu")
def test_a_rollback_gives_the_default_route_back_its_mtu(netns, tmp_path):
    fresh_namespace(netns, CAPPED)
    before = kernel_state(netns)
    root = tmp_path / "root"
    with armed_checkpoint(netns, root) as roll_back:
        iproute(netns, ["ip route del default"])
        back = roll_back()
        assert not back.get("failed"), back.get("msg")
        # What happens: 'route gone: {... "dst": "default", ... "metrics": [{"mtu": 1500}] ...}' and
        # 'route new: {... "dst": "default", ...}' without metrics.
        assert state_diff(before, kernel_state(netns)) == []


def test_a_backup_default_routes_mtu_does_not_cap_the_probe_of_the_route_in_use(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)   # the switch at 1500
    iproute(hv, ["ip route add default via 192.0.2.1 dev vmbr0 metric 200 mtu 1500"])
    root = tmp_path / "root"
    root.mkdir()
    task = {"namespace": hv, "bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}],
            "checkpoint": {"timeout": 120, "probes": [{"type": "icmp", "target": "192.0.2.1", "count": 2}],
                           "gate_settle": 30, "root": str(root)}}
    preview = run_module("net_state", task, check=True)
    assert not preview.get("failed"), preview.get("msg")
    # What happens: no path_mtu at all (None): the window adds no probe and would confirm a black hole.
    assert preview.get("path_mtu") == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr0", "eno1"]}], preview


def test_without_the_backup_route_the_same_change_is_probed_at_9000(namespaces, tmp_path):
    """Control: the lab's change is probed when only the route in use exists."""
    hv, _switch, _guest = build(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    task = {"namespace": hv, "bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}],
            "checkpoint": {"timeout": 120, "probes": [{"type": "icmp", "target": "192.0.2.1", "count": 2}],
                           "gate_settle": 30, "root": str(root)}}
    preview = run_module("net_state", task, check=True)
    assert preview.get("path_mtu") == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr0", "eno1"]}], preview
