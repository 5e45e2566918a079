"""net_probe through its real entry point (tests/modrun.py): failures, check mode, invalid input."""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import ip

pytestmark = pytest.mark.kernel


def probe(ns, check=False, **args):
    return run_module("net_probe", dict(namespace=ns, **args), check=check)


def test_all_pass(lab):
    result = probe(lab.ns, probes=[{"type": "icmp", "target": "10.77.0.1"}, {"type": "neighbour", "target": "10.77.0.1"}])
    assert not result.get("failed"), result
    assert result["changed"] is False and result["ok"] is True and result["failed_required"] == []
    assert [r["ok"] for r in result["probes"]] == [True, True]
    assert result["summary"][0].startswith("icmp 10.77.0.1: ok, ")


def test_a_required_failure_fails_the_task_with_the_reason(lab, servers):
    servers.start(lab.peer, "tcp", "2222")
    result = probe(lab.ns, probes=[
        {"type": "tcp", "target": "10.77.0.1", "port": 2222},
        {"type": "tcp", "target": "10.77.0.1", "port": 2223, "count": 2, "name": "api"},
        {"type": "icmp", "target": "10.77.0.99", "count": 1, "timeout": 0.2},
    ])
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == ("2 required probes failed: api: connection refused; "
                             "icmp 10.77.0.99: no reply to 1 echo request within 0.2 s each")
    assert result["ok"] is False and result["failed_required"] == ["api", "icmp 10.77.0.99"]
    assert [r["ok"] for r in result["probes"]] == [True, False, False]
    assert result["summary"][1] == "api: FAILED, connection refused after 2 attempts"


def test_a_failure_that_is_not_required_does_not_fail_the_task(lab):
    result = probe(lab.ns, probes=[{"type": "icmp", "target": "10.77.0.1", "count": 1},
                                   {"type": "icmp", "target": "10.77.0.99", "count": 1, "timeout": 0.2,
                                    "required": "no"}])
    assert not result.get("failed"), result
    assert result["ok"] is True and result["failed_required"] == []
    assert result["probes"][1]["ok"] is False and result["probes"][1]["required"] is False
    assert result["summary"][1].startswith("icmp 10.77.0.99: failed (not required), no reply")


def test_fail_on_required_false_reports_and_warns(lab):
    result = probe(lab.ns, fail_on_required=False,
                   probes=[{"type": "icmp", "target": "10.77.0.99", "count": 1, "timeout": 0.2}])
    assert not result.get("failed"), result
    assert result["ok"] is False and result["failed_required"] == ["icmp 10.77.0.99"]
    # ansible-core 2.19 returns warnings as structured events: look for the text anywhere in them
    assert "required probe failed (fail_on_required is false): icmp 10.77.0.99" in str(result.get("warnings"))


def test_check_mode_runs_the_probes_and_reports(lab, servers):
    listener = servers.start(lab.peer, "tcp", "2222")
    result = probe(lab.ns, check=True, probes=[{"type": "tcp", "target": "10.77.0.1", "port": 2222}])
    assert not result.get("failed") and result["changed"] is False
    assert result["probes"][0]["ok"] is True
    assert servers.lines(listener, expect=1) == ["accepted 10.77.0.2"]


def test_default_probes_and_no_default_route(lab):
    failed = probe(lab.ns)
    assert failed["failed"] is True and "probes" not in failed
    assert failed["msg"].startswith(f"no probe was given and namespace {lab.ns} has no default gateway")
    ip("route", "add", "default", "via", "10.77.0.1", ns=lab.ns)
    result = probe(lab.ns)
    assert not result.get("failed"), result
    assert [(r["type"], r["target"], r["ok"]) for r in result["probes"]] == [("icmp", "10.77.0.1", True)]


def test_invalid_input_names_each_parameter_and_runs_nothing(lab, servers):
    listener = servers.start(lab.peer, "tcp", "2222")
    result = probe(lab.ns, probes=[
        {"type": "tcp", "target": "10.77.0.1", "port": 2222},  # valid, and must not run
        {"type": "tcp", "target": "10.77.0.1"},
        {"type": "icmp", "target": "gateway.example"},
        {"type": "icmp", "target": "10.77.0.1", "mtu": 9000, "size": 100},
        {"type": "dns", "target": "host.lab", "port": 53, "count": 0},
        {"type": "icmp", "target": "fd77::1", "mtu": 1000},
        {"type": "tcp", "target": "10.77.0.1", "port": 22, "dont_fragment": True},
    ])
    assert result["failed"] is True and result["changed"] is False
    assert "probes" not in result
    msg = result["msg"]
    for expected in ("probes[1].port: required for type tcp (1-65535)",
                     "probes[2].target: 'gateway.example' is not an IPv4 or IPv6 address",
                     "probes[3].size: not with mtu (mtu N sends N-byte packets, N - 28 payload bytes over IPv4, with "
                     "don't-fragment); remove size or mtu",
                     "probes[4].port: only for type tcp, not dns",
                     "probes[4].count: must be a whole number from 1 to 100, got 0",
                     "probes[5].mtu: must be a packet size in bytes from 1280 to 65535 for an IPv6 target, got 1000",
                     "probes[6].dont_fragment: only for type icmp, not tcp; remove it"):
        assert expected in msg, msg
    assert "probes[0]" not in msg
    assert servers.lines(listener) == []  # the valid probe did not run either


def test_a_missing_namespace_fails_clearly():
    result = probe("netsafe-no-such-namespace", probes=[{"type": "icmp", "target": "10.77.0.1"}])
    assert result["failed"] is True
    assert "does not exist" in result["msg"] and "ip netns add" in result["msg"]


@pytest.mark.parametrize("entry, expected", [
    ({"type": "icmp", "tagret": "10.77.0.1"}, "module: probes.tagret. Supported parameters include: count, dont_fragment, "
                                              "mtu, name, port, record, required, server, size, target, timeout, type"),
    ({"type": "ping", "target": "10.77.0.1"}, "value of type must be one of: icmp, tcp, neighbour, dns, got: ping"),
    ({"type": "icmp", "target": "10.77.0.1", "mtu": "jumbo"}, "mtu"),
])
def test_the_argument_spec_refuses_a_misspelt_key_or_a_bad_type_before_anything_runs(lab, servers, entry, expected):
    """Ansible's own validation of the probe suboptions (PROBE_OPTIONS): the valid probe beside it does not run."""
    listener = servers.start(lab.peer, "tcp", "2222")
    result = probe(lab.ns, probes=[{"type": "tcp", "target": "10.77.0.1", "port": 2222}, entry])
    assert result["failed"] is True and "probes" not in result, result
    assert expected in result["msg"], result["msg"]
    assert servers.lines(listener) == []


def test_the_argument_spec_converts_strings(lab):
    """What Jinja hands over as text (count "1", required "no", mtu "1500") arrives typed."""
    result = probe(lab.ns, probes=[{"type": "icmp", "target": "10.77.0.1", "count": "1", "mtu": "1500"},
                                   {"type": "icmp", "target": "10.77.0.99", "count": "1", "timeout": "0.2",
                                    "required": "no"}])
    assert not result.get("failed"), result
    assert result["specs"][0]["mtu"] == 1500 and result["specs"][0]["count"] == 1
    assert result["specs"][1]["required"] is False and result["specs"][1]["timeout"] == 0.2
    assert result["probes"][0]["detail"]["size"] == 1472 and result["probes"][0]["ok"]
