"""Review 25 (rvop): an IPv6 route with `metric: 0`.

The kernel stores an IPv6 route asked with metric 0 under metric 1024 (IP6_RT_PRIO_USER; pinned below). The
route model keeps 0, so check mode promises the change, the real run adds the route, reads back 1024, calls
it a mismatch, undoes everything and fails with "the kernel accepted every change but still differs", naming
no option. The same 0 read from a file (`post-up ip route add ... metric 0`) never matches the kernel either.
Fix: Route.normalized() maps an IPv6 metric 0 to 1024 (kinds/route.py), or routes[i].metric refuses it.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.routes import parse_words

from modrun import run_module
from nstools import ip
from sweep import fresh_namespace

VMBR1 = ["ip link add eth1 type veth peer name sw1", "ip link set sw1 up",
         "ip link add vmbr1 type bridge stp_state 0 forward_delay 0", "ip link set eth1 master vmbr1",
         "ip link set eth1 up", "ip link set vmbr1 up", "ip address add 2001:db8:1::10/64 dev vmbr1 nodad"]
ROUTE = {"dst": "2001:db8:20::/48", "via": "2001:db8:1::1", "metric": 0}


@pytest.mark.kernel
def test_the_kernel_stores_an_ipv6_metric_0_as_1024(netns):
    fresh_namespace(netns, VMBR1 + ["ip -6 route add 2001:db8:20::/48 via 2001:db8:1::1 dev vmbr1 metric 0"])
    assert "2001:db8:20::/48 via 2001:db8:1::1 dev vmbr1 metric 1024" in ip("-6", "route", "show", ns=netns).stdout


@pytest.mark.kernel
def test_an_ipv6_route_with_metric_0_is_made_and_a_second_run_is_quiet(netns):
    fresh_namespace(netns, VMBR1)
    task = dict(name="vmbr1", namespace=netns, routes=[ROUTE])
    preview = run_module("net_bridge", task, check=True)
    done = run_module("net_bridge", task)
    assert not done.get("failed"), done.get("msg")
    assert preview["state"]["routes"] == done["state"]["routes"]
    assert "2001:db8:20::/48" in ip("-6", "route", "show", ns=netns).stdout
    again = run_module("net_bridge", task)
    assert (again.get("failed"), again["changed"]) == (None, False), again.get("msg")


def test_an_ipv6_metric_0_line_reads_as_the_route_the_kernel_makes_of_it():
    route = parse_words(None, ["2001:db8:20::/48", "via", "2001:db8:1::1", "metric", "0"], "vmbr1")
    assert route.metric == 1024
