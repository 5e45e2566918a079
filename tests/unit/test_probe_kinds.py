"""The probe types through their table (kinds.KINDS), and the path MTU rules of icmp, without a kernel."""
from __future__ import annotations

import ipaddress
import struct

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes as p
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import icmp, kinds, runner

VALID = {
    "icmp": {"type": "icmp", "target": "192.0.2.1"},
    "tcp": {"type": "tcp", "target": "192.0.2.1", "port": 22},
    "neighbour": {"type": "neighbour", "target": "192.0.2.1"},
    "dns": {"type": "dns", "target": "host.example", "server": "192.0.2.53"},
}


def test_the_table_holds_every_type_and_each_types_own_keys():
    assert tuple(kinds.KINDS) == p.PROBE_TYPES == ("icmp", "tcp", "neighbour", "dns")
    assert {kind.name: sorted(kind.keys) for kind in kinds.KINDS.values()} == {
        "icmp": ["dont_fragment", "mtu", "size"], "tcp": ["port"], "neighbour": [], "dns": ["record", "server"]}
    own = [key for kind in kinds.KINDS.values() for key in kind.keys]
    assert set(own) <= set(p.PROBE_OPTIONS) and set(p.PROBE_OPTIONS) == set(p.normalize([VALID["icmp"]])[0])
    assert p.PROBE_OPTIONS["type"]["choices"] == list(kinds.KINDS)


@pytest.mark.parametrize("kind", list(VALID))
def test_each_type_normalises_and_is_refused_the_other_types_keys(kind):
    probe = p.normalize([VALID[kind]])[0]
    assert probe["type"] == kind and probe["required"] is True and probe["count"] == 3
    for key, owner in (("port", "tcp"), ("record", "dns"), ("mtu", "icmp"), ("size", "icmp"),
                       ("dont_fragment", "icmp")):
        if owner != kind:
            assert probe[key] is None
            value = True if key == "dont_fragment" else ("A" if key == "record" else 1500)
            assert p.probe_problems([dict(VALID[kind], **{key: value})]) == [
                f"probes[0].{key}: only for type {owner}, not {kind}; remove it"]


@pytest.mark.parametrize("kind, ok, error, detail, line", [
    ("icmp", True, None, {"size": 56}, "fake: ok, 1.00 ms, 1/2 replies"),
    ("tcp", False, "connection refused", {}, "fake: FAILED, connection refused after 2 attempts"),
    ("neighbour", True, None, {"state": "STALE", "lladdr": "52:54:00:00:00:01"},
     "fake: ok, 1.00 ms, STALE 52:54:00:00:00:01, at attempt 2"),
    ("dns", True, None, {"addresses": ["192.0.2.7"]}, "fake: ok, 1.00 ms, 192.0.2.7, at attempt 2"),
])
def test_the_runner_calls_the_types_runner_from_the_table(monkeypatch, kind, ok, error, detail, line):
    """A fake kind registered in the table for one type: the runner asks it, and the report asks it what to add."""
    calls = []

    class Fake(type(kinds.KINDS[kind])):
        def run(self, probe, namespace, deadline, result, index):
            calls.append((probe["name"], namespace, deadline, index))
            result.update(ok=ok, error=error, attempts=2, replies=int(ok), latency_ms=1.0 if ok else None,
                          detail=detail)

    monkeypatch.setattr(runner, "KINDS", dict(kinds.KINDS, **{kind: Fake()}))
    monkeypatch.setattr(runner.nl, "require_namespace", lambda namespace: None)
    [result] = p.run_probes([dict(VALID[kind], name="fake")], namespace="ns1", deadline=None)
    assert calls == [("fake", "ns1", None, None)]
    assert result["ok"] is ok and result["error"] == error and result["type"] == kind
    assert p.summary_line(result) == line


def test_a_neighbour_probe_without_target_runs_once_per_gateway(monkeypatch):
    ran = []

    class Fake(type(kinds.KINDS["neighbour"])):
        def run(self, probe, namespace, deadline, result, index):
            ran.append((probe["target"], probe["name"], index))
            result.update(ok=True, attempts=1, replies=1, latency_ms=0.5)

    monkeypatch.setattr(runner, "KINDS", dict(kinds.KINDS, neighbour=Fake()))
    probe = p.normalize([{"type": "neighbour"}])[0]
    results = runner.run_one(probe, None, None, gateways=[(2, "192.0.2.1"), (3, "fe80::1%eth1")])
    assert ran == [("192.0.2.1", "neighbour gateway 192.0.2.1", 2), ("fe80::1%eth1", "neighbour gateway fe80::1%eth1", 3)]
    assert [r["name"] for r in results] == ["neighbour gateway 192.0.2.1", "neighbour gateway fe80::1%eth1"]


def test_a_neighbour_probe_without_a_gateway_fails_saying_so():
    [none] = runner.run_one(p.normalize([{"type": "neighbour"}])[0], None, None, gateways=[])
    assert not none["ok"] and none["error"] == "no default gateway to check (the main table has no default route)"


# -- icmp's size, don't-fragment and mtu ---------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ({"mtu": 67}, "probes[0].mtu: must be a packet size in bytes from 68 to 65535 for an IPv4 target, got 67"),
    ({"mtu": 65536}, "probes[0].mtu: must be a packet size in bytes from 68 to 65535 for an IPv4 target, got 65536"),
    ({"target": "2001:db8::1", "mtu": 1279},
     "probes[0].mtu: must be a packet size in bytes from 1280 to 65535 for an IPv6 target, got 1279"),
    ({"mtu": True}, "probes[0].mtu: must be a packet size in bytes from 68 to 65535 for an IPv4 target, got True"),
    ({"mtu": 9000, "size": 8972},
     "probes[0].size: not with mtu (mtu N sends N-byte packets, N - 28 payload bytes over IPv4, with don't-fragment); "
     "remove size or mtu"),
    ({"target": "2001:db8::1", "mtu": 9000, "dont_fragment": False},
     "probes[0].dont_fragment: not with mtu (mtu N sends N-byte packets, N - 48 payload bytes over IPv6, with "
     "don't-fragment); remove dont_fragment or mtu"),
    ({"size": 23}, "probes[0].size: must be a payload size in bytes from 24 to 65507 for an IPv4 target, got 23"),
    ({"size": 65508}, "probes[0].size: must be a payload size in bytes from 24 to 65507 for an IPv4 target, got 65508"),
    ({"target": "2001:db8::1", "size": 65528},
     "probes[0].size: must be a payload size in bytes from 24 to 65527 for an IPv6 target, got 65528"),
    ({"dont_fragment": "yes"}, "probes[0].dont_fragment: must be true or false, got 'yes'"),
    ({"mtu": 9000, "count": 100, "timeout": 3},
     "probes[0].count and probes[0].timeout: 100 attempts of up to 3 s, and 1 at a smaller size, may take 303 s; "
     "a probe may take at most 300 s: lower count or timeout"),
])
def test_icmp_size_problems_name_the_key_and_what_is_allowed(spec, message):
    assert p.probe_problems([dict(VALID["icmp"], **spec)]) == [message]


@pytest.mark.parametrize("spec, packet", [
    ({}, (56, False)),
    ({"mtu": 9000}, (8972, True)),
    ({"target": "fd00::1", "mtu": 9000}, (8952, True)),
    ({"target": "fd00::1", "mtu": 1280}, (1232, True)),
    ({"mtu": 68}, (40, True)),
    ({"size": 1000}, (1000, False)),
    ({"size": 1472, "dont_fragment": True}, (1472, True)),
])
def test_what_an_icmp_probe_sends(spec, packet):
    probe = p.normalize([dict(VALID["icmp"], **spec)])[0]
    assert icmp.packet(probe) == packet
    assert p.longest("icmp", probe["count"], probe["timeout"], kinds.KINDS["icmp"].extra_attempts(probe)) == \
        (4.0 if packet[1] else 3.0)


@pytest.mark.parametrize("version, size, path_mtu, smaller", [
    (4, 8972, 1500, 1472), (4, 8972, None, 1472), (4, 8972, 4000, 3972), (6, 8952, None, 1452),
    (6, 8952, 1280, 1232), (4, 1472, None, 56), (4, 1472, 1500, 56), (4, 56, None, None), (4, 1000, 576, 548),
])
def test_the_smaller_size_tried_after_a_failure(version, size, path_mtu, smaller):
    assert icmp._smaller_size(version, size, path_mtu) == smaller  # pylint: disable=protected-access


def _ipv4(source: str, destination: str, protocol: int, body: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0x4000, 64, protocol, 0,
                       ipaddress.ip_address(source).packed, ipaddress.ip_address(destination).packed) + body


def _frag_needed(router: str, target: str, ident: int, seq: int, mtu: int, code: int = 4) -> bytes:
    inner = _ipv4("192.0.2.2", target, 1, struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"x" * 8)
    body = struct.pack("!BBHHH", 3, code, 0, 0, mtu) + inner
    body = body[:2] + struct.pack("!H", icmp._checksum(body)) + body[4:]  # pylint: disable=protected-access
    return _ipv4(router, "192.0.2.2", 1, body)


def _packet_too_big(target: str, ident: int, seq: int, mtu: int, next_header: int = 58) -> bytes:
    inner = struct.pack("!IHBB16s16s", 0x60000000, 16, next_header, 64, ipaddress.ip_address("2001:db8::2").packed,
                        ipaddress.ip_address(target).packed)
    return struct.pack("!BBHI", 2, 0, 0, mtu) + inner + struct.pack("!BBHHH", 128, 0, 0, ident, seq) + b"x" * 8


def test_a_too_big_error_counts_only_about_our_own_echo_request():
    too_big = icmp._too_big_mtu  # pylint: disable=protected-access
    v4 = ipaddress.ip_address("198.51.100.7")
    assert too_big(False, _frag_needed("192.0.2.1", "198.51.100.7", 77, 5, 1500), v4, 77, {5}) == 1500
    assert too_big(False, _frag_needed("192.0.2.1", "198.51.100.7", 77, 5, 0), v4, 77, {5}) == 0  # no MTU given
    assert too_big(False, _frag_needed("192.0.2.1", "198.51.100.7", 78, 5, 1500), v4, 77, {5}) is None  # not ours
    assert too_big(False, _frag_needed("192.0.2.1", "198.51.100.7", 77, 6, 1500), v4, 77, {5}) is None  # not sent
    assert too_big(False, _frag_needed("192.0.2.1", "198.51.100.8", 77, 5, 1500), v4, 77, {5}) is None  # elsewhere
    assert too_big(False, _frag_needed("192.0.2.1", "198.51.100.7", 77, 5, 1500, code=1), v4, 77, {5}) is None
    assert too_big(False, _frag_needed("192.0.2.1", "198.51.100.7", 77, 5, 1500)[:40], v4, 77, {5}) is None
    v6 = ipaddress.ip_address("2001:db8::7")
    assert too_big(True, _packet_too_big("2001:db8::7", 77, 5, 1280), v6, 77, {5}) == 1280
    assert too_big(True, _packet_too_big("2001:db8::8", 77, 5, 1280), v6, 77, {5}) is None
    assert too_big(True, _packet_too_big("2001:db8::7", 77, 5, 1280, next_header=17), v6, 77, {5}) is None
    assert too_big(True, _packet_too_big("2001:db8::7", 77, 9, 1280), v6, 77, {5}) is None


def _icmp_result(**kw):
    base = {"name": "path mtu 192.0.2.1", "type": "icmp", "target": "192.0.2.1", "port": None, "server": None,
            "record": None, "required": True, "ok": True, "attempts": 3, "replies": 3, "latency_ms": 0.5,
            "error": None, "elapsed_ms": 1.0, "detail": {"size": 8972, "dont_fragment": True, "too_big": False,
                                                         "path_mtu": None}}
    base.update(kw)
    return base


def test_icmp_summary_lines_say_the_size():
    assert p.summary_line(_icmp_result()) == "path mtu 192.0.2.1: ok, 0.50 ms, 8972-byte packets pass unfragmented"
    assert p.summary_line(_icmp_result(replies=1)) == \
        "path mtu 192.0.2.1: ok, 0.50 ms, 1/3 replies, 8972-byte packets pass unfragmented"
    error = "path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do); too big (192.0.2.254 answered, path MTU 1500)"
    assert p.summary_line(_icmp_result(ok=False, replies=0, latency_ms=None, error=error)) == \
        f"path mtu 192.0.2.1: FAILED, {error}"
