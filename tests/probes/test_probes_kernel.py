"""The probe core against the real kernel: a probed namespace, a peer namespace, real sockets."""
from __future__ import annotations

import os
import re
import time

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import NamespaceNotFound
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import (
    failed_required, run_probes, summary_line,
)

from nstools import ip

pytestmark = pytest.mark.kernel

RESULT_KEYS = {"name", "type", "target", "port", "server", "record", "required", "ok", "attempts", "replies",
               "latency_ms", "error", "elapsed_ms", "detail"}


def own_namespace() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def only(results):
    assert len(results) == 1, results
    assert set(results[0]) == RESULT_KEYS
    return results[0]


def test_icmp_answers_over_ipv4_ipv6_and_a_link_local(lab):
    before = own_namespace()
    results = run_probes([{"type": "icmp", "target": "10.77.0.1"},
                          {"type": "icmp", "target": "fd77::1", "count": 2},
                          {"type": "icmp", "target": "fe80::1%p0", "count": 1}], namespace=lab.ns)
    assert own_namespace() == before, "the thread did not come back to its own namespace"
    v4, v6, local = results
    for result, sent in ((v4, 3), (v6, 2), (local, 1)):
        assert result["ok"] and result["error"] is None, result
        assert result["attempts"] == sent and result["replies"] == sent
        assert 0 < result["latency_ms"] < 1000
    assert v4["name"] == "icmp 10.77.0.1" and v6["name"] == "icmp fd77::1"
    assert re.fullmatch(r"icmp 10\.77\.0\.1: ok, \d+\.\d\d ms", summary_line(v4))
    assert failed_required(results) == []


def test_icmp_to_an_address_with_no_host_fails_and_says_why(lab):
    started = time.monotonic()
    result = only(run_probes([{"type": "icmp", "target": "10.77.0.99", "count": 2, "timeout": 0.3},
                              ], namespace=lab.ns))
    assert not result["ok"] and result["replies"] == 0 and result["attempts"] == 2
    assert result["error"] == "no reply to 2 echo requests within 0.3 s each"
    assert result["latency_ms"] is None
    assert time.monotonic() - started < 2
    assert failed_required([result]) == [result]
    assert summary_line(result) == "icmp 10.77.0.99: FAILED, no reply to 2 echo requests within 0.3 s each"


def test_icmp_behind_a_router_that_drops_it(lab):
    """The peer neither holds nor forwards 198.51.100.7: nothing answers (reply matching: tests/unit/test_probes.py)."""
    ip("route", "add", "198.51.100.0/24", "via", "10.77.0.1", ns=lab.ns)
    result = only(run_probes([{"type": "icmp", "target": "198.51.100.7", "count": 1, "timeout": 0.3}],
                             namespace=lab.ns))
    assert not result["ok"] and result["error"].startswith("no reply to 1 echo request within")


def test_icmp_without_a_route_reports_the_send_error(lab):
    result = only(run_probes([{"type": "icmp", "target": "203.0.113.5", "count": 1, "timeout": 0.2}],
                             namespace=lab.ns))
    assert not result["ok"]
    assert result["error"] == "cannot send echo requests to 203.0.113.5: network is unreachable"


def test_tcp_to_a_listener_a_closed_port_and_a_silent_address(lab, servers):
    listener = servers.start(lab.peer, "tcp", "2222")
    ip("route", "add", "default", "via", "10.77.0.1", ns=lab.ns)
    started = time.monotonic()
    ok4, ok6, refused, silent = run_probes([
        {"type": "tcp", "target": "10.77.0.1", "port": 2222},
        {"type": "tcp", "target": "fd77::1", "port": 2222, "name": "ssh over v6"},
        {"type": "tcp", "target": "10.77.0.1", "port": 2223},
        {"type": "tcp", "target": "198.51.100.7", "port": 22, "count": 2, "timeout": 0.3},
    ], namespace=lab.ns)
    assert ok4["ok"] and ok4["attempts"] == 1 and ok4["latency_ms"] > 0, ok4
    assert ok4["detail"] == {"address": "10.77.0.1"}
    assert ok6["ok"] and ok6["name"] == "ssh over v6" and ok6["port"] == 2222
    assert not refused["ok"] and refused["error"] == "connection refused" and refused["attempts"] == 3
    assert summary_line(refused) == "tcp 10.77.0.1:2223: FAILED, connection refused after 3 attempts"
    assert not silent["ok"] and silent["attempts"] == 2
    assert silent["error"] == "timed out (no answer within 0.3 s)"
    # refused: 3 attempts with 0.2 s and 0.4 s between; silent: 2 x 0.3 s with 0.2 s between
    assert time.monotonic() - started < 4
    assert [r["name"] for r in failed_required([ok4, ok6, refused, silent])] == [
        "tcp 10.77.0.1:2223", "tcp 198.51.100.7:22"]
    accepted = servers.lines(listener, expect=2)
    assert accepted == ["accepted 10.77.0.2", "accepted fd77::2"]


def test_tcp_to_a_host_name_from_etc_hosts(lab, servers):
    """`localhost` comes from /etc/hosts; the listener runs in the probed namespace itself."""
    servers.start(lab.ns, "tcp", "2222")
    result = only(run_probes([{"type": "tcp", "target": "localhost", "port": 2222, "count": 1}], namespace=lab.ns))
    assert result["ok"], result
    assert result["detail"]["address"] in ("127.0.0.1", "::1")


def test_neighbour_of_the_default_gateways(lab):
    ip("route", "add", "default", "via", "10.77.0.1", ns=lab.ns)
    ip("-6", "route", "add", "default", "via", "fe80::1", "dev", "p0", ns=lab.ns)
    results = run_probes([{"type": "neighbour"}], namespace=lab.ns)
    assert [r["name"] for r in results] == ["neighbour gateway 10.77.0.1", "neighbour gateway fe80::1%p0"]
    for result in results:
        assert result["ok"], result
        assert result["detail"]["lladdr"] == lab.peer_mac
        assert result["detail"]["state"] in ("REACHABLE", "STALE", "DELAY", "PROBE")
        assert result["detail"]["device"] == "p0"
    line = summary_line(results[0])
    assert line.startswith("neighbour gateway 10.77.0.1: ok, ") and lab.peer_mac in line


def test_neighbour_of_a_missing_gateway_is_incomplete_or_failed(lab):
    ip("route", "add", "default", "via", "10.77.0.9", ns=lab.ns)
    result = only(run_probes([{"type": "neighbour", "count": 2, "timeout": 0.5}], namespace=lab.ns))
    assert not result["ok"] and result["attempts"] == 2
    assert re.fullmatch(r"neighbour 10\.77\.0\.9 is (INCOMPLETE|FAILED)", result["error"]), result
    assert summary_line(result).startswith("neighbour gateway 10.77.0.9: FAILED, neighbour 10.77.0.9 is ")


def test_neighbour_of_an_address_and_of_one_off_link(lab):
    ok, off_link = run_probes([{"type": "neighbour", "target": "fd77::1"},
                               {"type": "neighbour", "target": "198.51.100.7", "count": 1, "timeout": 0.2,
                                "required": False}], namespace=lab.ns)
    assert ok["ok"] and ok["detail"]["lladdr"] == lab.peer_mac
    assert not off_link["ok"] and off_link["error"].startswith("no neighbour entry for 198.51.100.7")
    assert failed_required([ok, off_link]) == []
    assert summary_line(off_link).startswith("neighbour 198.51.100.7: failed (not required), no neighbour entry")


def test_neighbour_with_no_default_gateway(lab):
    result = only(run_probes([{"type": "neighbour"}], namespace=lab.ns))
    assert not result["ok"] and "no default gateway" in result["error"]


def test_dns_against_a_responder_in_the_peer(lab, servers):
    responder = servers.start(lab.peer, "dns", "host.lab", "10.77.0.53")
    found, missing, no_aaaa, over_v6 = run_probes([
        {"type": "dns", "target": "host.lab", "server": "10.77.0.1"},
        {"type": "dns", "target": "nope.lab", "server": "10.77.0.1"},
        {"type": "dns", "target": "HOST.lab.", "server": "10.77.0.1", "record": "aaaa", "count": 1},
        {"type": "dns", "target": "host.lab", "server": "fd77::1"},
    ], namespace=lab.ns)
    assert found["ok"] and found["detail"] == {"addresses": ["10.77.0.53"], "rcode": "NOERROR"}, found
    assert found["latency_ms"] > 0 and found["record"] == "A" and found["server"] == "10.77.0.1"
    assert summary_line(found).startswith("dns host.lab A: ok, ") and summary_line(found).endswith(", 10.77.0.53")
    assert not missing["ok"] and missing["error"] == "NXDOMAIN" and missing["attempts"] == 1  # an answer: no retry
    assert summary_line(missing) == "dns nope.lab A: FAILED, NXDOMAIN after 1 attempt"
    assert not no_aaaa["ok"] and no_aaaa["error"] == "no AAAA record (NOERROR, empty answer)"
    assert over_v6["ok"] and over_v6["detail"]["addresses"] == ["10.77.0.53"]
    assert len(servers.lines(responder, expect=4)) == 4


def test_dns_without_an_answer(lab):
    """No responder: the peer says port unreachable; an address with no host says nothing."""
    refused, silent = run_probes([
        {"type": "dns", "target": "host.lab", "server": "10.77.0.1", "count": 1},
        {"type": "dns", "target": "host.lab", "server": "10.77.0.99", "count": 2, "timeout": 0.3},
    ], namespace=lab.ns)
    assert not refused["ok"] and refused["error"] == "10.77.0.1 refused the query (nothing listens on port 53)"
    assert not silent["ok"] and silent["attempts"] == 2
    assert silent["error"] == "timed out (no answer from 10.77.0.99 within 0.3 s)"


def test_default_probes_are_icmp_to_each_default_gateway(lab):
    ip("route", "add", "default", "via", "10.77.0.1", ns=lab.ns)
    ip("-6", "route", "add", "default", "via", "fd77::1", ns=lab.ns)
    results = run_probes(None, namespace=lab.ns)
    assert [(r["type"], r["target"], r["ok"]) for r in results] == [
        ("icmp", "10.77.0.1", True), ("icmp", "fd77::1", True)]
    assert run_probes([], namespace=lab.ns)[0]["name"] == "icmp 10.77.0.1"


def test_default_probes_without_a_default_route_is_a_clear_error(lab):
    with pytest.raises(NetsafeError, match=rf"no probe was given and namespace {lab.ns} has no default gateway"):
        run_probes(None, namespace=lab.ns)


def test_the_deadline_bounds_the_whole_run(lab):
    started = time.monotonic()
    stopped, not_run = run_probes([
        {"type": "icmp", "target": "10.77.0.99", "count": 5, "timeout": 1.0},
        {"type": "tcp", "target": "10.77.0.1", "port": 22},
    ], namespace=lab.ns, deadline=started + 0.5)
    assert time.monotonic() - started < 1.0
    assert not stopped["ok"] and stopped["error"].endswith("; stopped at the deadline")
    assert not not_run["ok"] and not_run["attempts"] == 0 and not_run["error"].startswith("not run")


def test_a_missing_namespace_is_refused_before_anything_runs():
    with pytest.raises(NamespaceNotFound, match="does not exist"):
        run_probes([{"type": "icmp", "target": "10.77.0.1"}], namespace="netsafe-no-such-namespace")
