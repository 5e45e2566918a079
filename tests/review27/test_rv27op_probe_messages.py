"""Review 27 (operator): net_probe's path MTU messages through ansible-playbook, as docs/net_probe.md shows them.

A router between the host (9000) and a far network (1500) answers "fragmentation needed": the first run names
the router and the path MTU, the second (the kernel has learnt the path MTU) is refused by the host; both name
the size that passes. The docs' example task runs as written.
"""
from __future__ import annotations

import subprocess

import pytest

from nstools import iproute
from jumbo_lab import build, set_switch_mtu

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: Does the path to the storage network carry 9000-byte packets?
      netsafe.hypervisor.net_probe:
        namespace: "{{ ns }}"
        probes:
          - {type: icmp, target: 198.51.100.5, mtu: 9000, name: jumbo to storage}
      register: probed
      ignore_errors: true
"""
TASK = "Does the path to the storage network carry 9000-byte packets?"


def test_a_router_at_1500_is_named_and_the_size_that_passes_too(namespaces, run_playbook):
    hv, switch, _guest = build(namespaces)
    far = namespaces.new()
    set_switch_mtu(switch, 9000)
    iproute(hv, ["ip link set eno1 mtu 9000", "ip link set vmbr0 mtu 9000"])
    subprocess.run(["ip", "netns", "exec", switch, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
    iproute(switch, [f"ip link add far0 type veth peer name eth0 netns {far}", "ip link set far0 up",
                     "ip address add 198.51.100.1/24 dev far0"])
    iproute(far, ["ip link set eth0 up", "ip address add 198.51.100.5/24 dev eth0",
                  "ip route add default via 198.51.100.1"])
    head = "jumbo to storage: FAILED, path MTU: 8972-byte packets to 198.51.100.5 do not pass (1472 do); too big "
    first = run_playbook(PLAY, extra_vars={"ns": hv}).task(TASK)["result"]
    assert first["summary"] == [head + "(192.0.2.1 answered, path MTU 1500)"], first["summary"]
    detail = first["probes"][0]["detail"]
    found = (detail["too_big"], detail["path_mtu"], detail["smaller_size"], detail["smaller_ok"])
    assert found == (True, 1500, 1472, True), detail
    second = run_playbook(PLAY, extra_vars={"ns": hv}).task(TASK)["result"]
    # The kernel's cached path MTU is ignored (PMTUDISC_PROBE): the second run tests the path again and the router
    # answers again, rather than the host refusing from its cache.
    assert second["summary"] == [head + "(192.0.2.1 answered, path MTU 1500)"], second["summary"]
