"""Path MTU probes on the real kernel: a host, a router and a far end, the MTU of each link set by the test.

    host: h0 9000 --- r0 9000 router r1 (1500, or 9000 toward a far end at 1500) --- f0 far
          10.78.1.2/24 fd78:1::2/64   10.78.1.1 fd78:1::1 | 10.78.2.1 fd78:2::1   10.78.2.2/24 fd78:2::2/64

The router forwards (IPv4 and IPv6). At 1500 on both ends of the far link it
answers a 9000-byte DF packet with "fragmentation needed" / "packet too
big"; with its own end at 9000 and the far end at 1500 the far veth drops
the packet silently (a switch port still at 1500): no reply, no ICMP.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import (
    failed_required, run_probes, summary_line,
)

import pathlab
from nstools import ip

pytestmark = pytest.mark.kernel


@pytest.fixture
def path3(namespaces):
    """Builds the three namespaces (tests/pathlab.py); `make(router_far=..., far=...)` sets the far link's two MTUs."""

    def make(router_far: int = 1500, far: int = 1500, host: int = 9000) -> pathlab.Path3:
        return pathlab.build(namespaces, router_far=router_far, far=far, host=host)

    return make


def only(results):
    assert len(results) == 1, results
    return results[0]


def test_9000_through_a_router_at_1500_is_too_big_and_says_what_passes(path3):
    lab = path3()
    result = only(run_probes([{"type": "icmp", "target": "10.78.2.2", "mtu": 9000, "count": 2, "timeout": 0.5,
                               "name": "path mtu 10.78.2.2"}], namespace=lab.host))
    assert not result["ok"] and result["replies"] == 0, result
    assert result["detail"] == {"size": 8972, "dont_fragment": True, "too_big": True, "path_mtu": 1500,
                                "refused_locally": False, "smaller_size": 1472, "smaller_ok": True}
    assert result["error"] == ("path MTU: 8972-byte packets to 10.78.2.2 do not pass (1472 do); "
                               "too big (10.78.1.1 answered, path MTU 1500)")
    assert summary_line(result) == f"path mtu 10.78.2.2: FAILED, {result['error']}"
    assert failed_required([result]) == [result]


def test_1500_through_the_same_router_passes(path3):
    lab = path3()
    result = only(run_probes([{"type": "icmp", "target": "10.78.2.2", "mtu": 1500}], namespace=lab.host))
    assert result["ok"] and result["replies"] == 3, result
    assert result["detail"] == {"size": 1472, "dont_fragment": True, "too_big": False, "path_mtu": None,
                                "refused_locally": False}
    assert result["name"] == "icmp 10.78.2.2 mtu 1500"
    assert summary_line(result).endswith(" ms, 1472-byte packets pass unfragmented")


def test_without_dont_fragment_the_router_fragments_and_the_big_packet_passes(path3):
    """The same 8972 payload bytes without DF: the router fragments them, the far end answers (in fragments)."""
    lab = path3()
    result = only(run_probes([{"type": "icmp", "target": "10.78.2.2", "size": 8972, "count": 1}], namespace=lab.host))
    assert result["ok"], result
    assert result["detail"] == {"size": 8972, "dont_fragment": False, "too_big": False, "path_mtu": None,
                                "refused_locally": False}


def test_larger_than_the_hosts_own_interface_is_refused_by_the_kernel(path3):
    """h0 at 1500: the kernel will not send 9000 bytes with DF (EMSGSIZE); its own MTU is the path MTU."""
    lab = path3(host=1500)
    result = only(run_probes([{"type": "icmp", "target": "10.78.1.1", "mtu": 9000}], namespace=lab.host))
    assert not result["ok"] and result["attempts"] == 1, result
    assert result["detail"] == {"size": 8972, "dont_fragment": True, "too_big": True, "path_mtu": 1500,
                                "refused_locally": True, "smaller_size": 1472, "smaller_ok": True}
    assert result["error"] == ("path MTU: 8972-byte packets to 10.78.1.1 do not pass (1472 do); "
                               "too big (the host refused to send it, path MTU 1500)")
    v6 = only(run_probes([{"type": "icmp", "target": "fd78:1::1", "size": 2000, "dont_fragment": True}],
                         namespace=lab.host))
    assert v6["detail"]["too_big"] and v6["detail"]["path_mtu"] == 1500, v6
    assert v6["error"] == ("path MTU: 2000-byte packets to fd78:1::1 do not pass (1452 do); "
                           "too big (the host refused to send it, path MTU 1500)")


def test_ipv6_packet_too_big_from_the_router(path3):
    lab = path3()
    big, fits = run_probes([{"type": "icmp", "target": "fd78:2::2", "mtu": 9000, "count": 2, "timeout": 0.5},
                            {"type": "icmp", "target": "fd78:2::2", "mtu": 1500}], namespace=lab.host)
    assert not big["ok"] and big["detail"]["too_big"] and big["detail"]["path_mtu"] == 1500, big
    assert big["error"] == ("path MTU: 8952-byte packets to fd78:2::2 do not pass (1452 do); "
                            "too big (fd78:1::1 answered, path MTU 1500)")
    assert fits["ok"] and fits["detail"]["size"] == 1452, fits


def test_a_link_that_drops_big_packets_silently_is_no_reply_not_too_big(path3):
    """The router's end of the far link at 9000, the far end at 1500: the far veth drops 9000-byte frames
    without a word, as a switch port left at 1500 does."""
    lab = path3(router_far=9000, far=1500)
    result = only(run_probes([{"type": "icmp", "target": "10.78.2.2", "mtu": 9000, "count": 2, "timeout": 0.3}],
                             namespace=lab.host))
    assert not result["ok"] and result["attempts"] == 2, result
    assert result["detail"] == {"size": 8972, "dont_fragment": True, "too_big": False, "path_mtu": None,
                                "refused_locally": False, "smaller_size": 1472, "smaller_ok": True}
    assert result["error"] == ("path MTU: 8972-byte packets to 10.78.2.2 do not pass (1472 do); "
                               "no reply to 2 echo requests within 0.3 s each")


def test_nothing_passes_when_the_far_end_is_gone(path3):
    lab = path3()
    ip("link", "set", "f0", "down", ns=lab.far)
    result = only(run_probes([{"type": "icmp", "target": "10.78.2.2", "mtu": 9000, "count": 1, "timeout": 0.3}],
                             namespace=lab.host))
    assert not result["ok"] and result["detail"]["smaller_ok"] is False, result
    assert result["error"].startswith("path MTU: 8972-byte packets to 10.78.2.2 do not pass (none do); ")
