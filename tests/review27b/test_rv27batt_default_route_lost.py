"""Review 27b (attacker): net_state taking the address off a NIC that holds the default route loses the route.

The host's address and default route are on eno1; the task builds vmbr0 on eno1 with the address and gateway and
says eno1 keeps no address (`nics: [{name: eno1, addresses: []}]`, what an operator writes to be explicit). The
plan deletes eno1's last IPv4 address first, which makes the kernel drop the default route through eno1 by itself
(fib_disable_ip); the simulator only drops a device's static `routes`, not its gateway, so the plan goes on with
`route del default via 192.0.2.1 dev eno1`, which the kernel refuses (No such process).

What happens: the task fails saying "every change made before it was undone", but the undo only puts the address
back: the default route is gone, the host is cut off from everything beyond its subnet.
Expected: the plan knows the kernel drops the gateway with the last IPv4 address (no refused step), and an undo
restores everything the kernel dropped: the complete state dump equal after any failure.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import fresh_namespace, sweep

pytestmark = pytest.mark.kernel

HOST_ON_ENO1 = [
    "ip link add eno1 type veth peer name sw1", "ip link set sw1 up", "ip link set eno1 up",
    "ip address add 192.0.2.10/24 dev eno1", "ip route add default via 192.0.2.1 dev eno1",
]
MOVE = {"bridges": [{"name": "vmbr0", "ports": ["eno1"], "addresses": ["192.0.2.10/24"], "gateway4": "192.0.2.1"}],
        "nics": [{"name": "eno1", "addresses": []}]}


def test_moving_the_address_with_the_nic_emptied_keeps_or_restores_the_default_route(netns):
    fresh_namespace(netns, HOST_ON_ENO1)
    before = kernel_state(netns)
    done = run_module("net_state", dict(MOVE, namespace=netns))
    if done.get("failed"):
        # What happens: "the kernel refused '... route del default via 192.0.2.1 dev eno1': No such process;
        # every change made before it was undone", and the default route is gone.
        diff = state_diff(before, kernel_state(netns))
        assert diff == [], f"{done['msg']}\nthe undo left:\n" + "\n".join(diff)
    dump = kernel_state(netns)
    assert [r for r in dump["routes"] if r.get("dst") == "default"], "no default route left"


def test_every_step_of_the_move_with_the_nic_emptied_is_undone(netns):
    result = sweep("nic emptied", netns, HOST_ON_ENO1, "net_state", MOVE)
    # What happens: every k from 1 on: "route gone: default via 192.0.2.1 dev eno1" (and k >= 2 fail at the
    # refused route del instead of the failpoint).
    assert result.findings == [], result.report()
