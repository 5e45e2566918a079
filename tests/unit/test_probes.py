"""The probe core without a kernel: validation, defaults, the DNS codec, echo-reply matching, report lines."""
from __future__ import annotations

import ipaddress
import struct

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes as p
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import common, dns, icmp


# -- probe_problems ------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ({"type": "tcp", "target": "10.0.0.1"}, "probes[0].port: required for type tcp (1-65535)"),
    ({"type": "tcp", "target": "10.0.0.1", "port": 0}, "probes[0].port: must be a port number 1-65535, got 0"),
    ({"type": "tcp", "target": "10.0.0.1", "port": "ssh"}, "probes[0].port: must be a port number 1-65535, got 'ssh'"),
    ({"type": "tcp", "target": "10.0.0.1", "port": True}, "probes[0].port: must be a port number 1-65535, got True"),
    ({"type": "tcp", "port": 22}, "probes[0].target: required for type tcp (an address or a host name)"),
    ({"type": "tcp", "target": "bad host", "port": 22},
     "probes[0].target: 'bad host' is neither an IPv4/IPv6 address nor a host name"),
    ({"type": "icmp"}, "probes[0].target: required for type icmp (an IPv4 or IPv6 address)"),
    ({"type": "icmp", "target": "gw.example"},
     "probes[0].target: 'gw.example' is not an IPv4 or IPv6 address (type icmp takes an address; "
     "check a name with type dns)"),
    ({"type": "icmp", "target": "fe80::1"},
     "probes[0].target: 'fe80::1' is link-local: name its device too, e.g. fe80::1%eth0 (type icmp takes an "
     "address; check a name with type dns)"),
    ({"type": "icmp", "target": "10.0.0.1%eth0"},
     "probes[0].target: '10.0.0.1%eth0': only an IPv6 link-local address takes a %device (type icmp takes an "
     "address; check a name with type dns)"),
    ({"type": "icmp", "target": 10}, "probes[0].target: must be a string, got int (type icmp takes an address; "
                                     "check a name with type dns)"),
    ({"type": "neighbour", "target": "gateway"},
     "probes[0].target: 'gateway' is not an IPv4 or IPv6 address (type neighbour takes an address, or none for "
     "every default gateway)"),
    ({"type": "dns"}, "probes[0].target: required for type dns (the name to resolve)"),
    ({"type": "dns", "target": "-bad.example"},
     "probes[0].target: '-bad.example' is not a host name (label '-bad': letters, digits, '-' and '_', "
     "1-63 characters, no '-' at either end)"),
    ({"type": "dns", "target": "a..b"},
     "probes[0].target: 'a..b' is not a host name (label '': letters, digits, '-' and '_', 1-63 characters, "
     "no '-' at either end)"),
    ({"type": "dns", "target": "bücher.example"},
     "probes[0].target: 'bücher.example' is not ASCII; give the IDNA (xn--) form"),
    ({"type": "dns", "target": "x.example", "record": "MX"}, "probes[0].record: must be A or AAAA, got 'MX'"),
    ({"type": "dns", "target": "x.example", "server": "dns.example"},
     "probes[0].server: 'dns.example' is not an IPv4 or IPv6 address (the DNS server to ask; leave it out for "
     "the first nameserver of /etc/resolv.conf)"),
    ({"type": "icmp", "target": "10.0.0.1", "port": 22}, "probes[0].port: only for type tcp, not icmp; remove it"),
    ({"type": "tcp", "target": "h", "port": 1, "record": "A"}, "probes[0].record: only for type dns, not tcp; remove it"),
    ({"type": "icmp", "target": "10.0.0.1", "count": 0},
     "probes[0].count: must be a whole number from 1 to 100, got 0"),
    ({"type": "icmp", "target": "10.0.0.1", "count": 1.5},
     "probes[0].count: must be a whole number from 1 to 100, got 1.5"),
    ({"type": "icmp", "target": "10.0.0.1", "timeout": 0},
     "probes[0].timeout: must be a number of seconds greater than 0, got 0"),
    ({"type": "icmp", "target": "10.0.0.1", "timeout": "nan"},
     "probes[0].timeout: must be a number of seconds greater than 0, got 'nan'"),
    ({"type": "icmp", "target": "10.0.0.1", "required": "maybe"},
     "probes[0].required: must be true or false, got 'maybe'"),
    ({"type": "icmp", "target": "10.0.0.1", "name": " "}, "probes[0].name: must be a non-empty string, got ' '"),
    ({"type": "icmp", "target": "10.0.0.1", "tagret": "x"},
     "probes[0].tagret: unknown key; a probe takes type, target, port, server, record, size, dont_fragment, mtu, required, "
     "count, timeout, name"),
    ({"target": "10.0.0.1"}, "probes[0].type: required, one of icmp, tcp, neighbour, dns"),
    ({"type": "udp", "target": "10.0.0.1"}, "probes[0].type: must be one of icmp, tcp, neighbour, dns, got 'udp'"),
])
def test_each_problem_names_its_parameter(spec, message):
    assert p.probe_problems([spec]) == [message]


def test_problems_of_several_probes_and_of_the_list_itself():
    assert p.probe_problems(None) == []
    assert p.probe_problems([]) == []
    assert p.probe_problems("10.0.0.1", param="change_window_probes") == [
        "change_window_probes: must be a list of probes (each a dict with a type), got str"]
    problems = p.probe_problems([{"type": "icmp", "target": "10.0.0.1"}, "icmp", {"type": "tcp", "target": "h"}],
                                param="checks")
    assert problems == ["checks[1]: must be a dict with a type (icmp, tcp, neighbour, dns), got str",
                        "checks[2].port: required for type tcp (1-65535)"]


@pytest.mark.parametrize("spec", [
    {"type": "icmp", "target": "192.0.2.1"},
    {"type": "icmp", "target": "2001:db8::1", "count": 5, "timeout": 0.5, "required": False},
    {"type": "icmp", "target": "192.0.2.1", "mtu": 9000, "name": "path mtu 192.0.2.1"},
    {"type": "icmp", "target": "192.0.2.1", "mtu": 68},
    {"type": "icmp", "target": "2001:db8::1", "mtu": 1280},
    {"type": "icmp", "target": "192.0.2.1", "size": 1472, "dont_fragment": True},
    {"type": "icmp", "target": "2001:db8::1", "size": 24, "dont_fragment": False},
    {"type": "icmp", "target": "fe80::1%vmbr0"},
    {"type": "tcp", "target": "vcenter.example.com", "port": 443},
    {"type": "tcp", "target": "2001:db8::10", "port": 22, "name": "controller"},
    {"type": "neighbour"},
    {"type": "neighbour", "target": "192.0.2.1", "port": None},
    {"type": "dns", "target": "vcenter.example.com.", "server": "192.0.2.53", "record": "aaaa"},
    {"type": "dns", "target": "_ldap._tcp.example.com"},
])
def test_valid_specs_have_no_problems(spec):
    assert p.probe_problems([spec]) == []


# -- normalize ------------------------------------------------------------------------------------

NONE = {"port": None, "server": None, "record": None, "size": None, "dont_fragment": None, "mtu": None}


def test_normalize_fills_defaults():
    specs = [{"type": "icmp", "target": " 192.0.2.1 "},
             {"type": "tcp", "target": "2001:db8::10", "port": 22, "count": 2, "timeout": 2, "required": False},
             {"type": "neighbour"},
             {"type": "dns", "target": "example.org", "record": "aaaa", "name": "resolver"},
             {"type": "icmp", "target": "192.0.2.1", "mtu": 9000},
             {"type": "icmp", "target": "fd00::1", "size": 1452, "dont_fragment": True, "name": "big"}]
    assert p.normalize(specs) == [
        dict(NONE, type="icmp", target="192.0.2.1", size=56, dont_fragment=False, required=True, count=3, timeout=1.0,
             name="icmp 192.0.2.1"),
        dict(NONE, type="tcp", target="2001:db8::10", port=22, required=False, count=2, timeout=2.0,
             name="tcp [2001:db8::10]:22"),
        dict(NONE, type="neighbour", target=None, required=True, count=3, timeout=1.0, name="neighbour gateway"),
        dict(NONE, type="dns", target="example.org", record="AAAA", required=True, count=3, timeout=1.0,
             name="resolver"),
        dict(NONE, type="icmp", target="192.0.2.1", mtu=9000, required=True, count=3, timeout=1.0,
             name="icmp 192.0.2.1 mtu 9000"),
        dict(NONE, type="icmp", target="fd00::1", size=1452, dont_fragment=True, required=True, count=3, timeout=1.0,
             name="big"),
    ]
    assert p.normalize(p.normalize(specs)) == p.normalize(specs)


@pytest.mark.parametrize("key, value", [("count", "2"), ("timeout", "0.5"), ("required", "no"), ("port", "22")])
def test_the_argument_spec_converts_types_the_normaliser_does_not(key, value):
    """Ansible converts strings through PROBE_OPTIONS; the normaliser (the watchdog's too) takes only typed values."""
    assert p.PROBE_OPTIONS[key]["type"] in ("int", "float", "bool")
    [problem] = p.probe_problems([dict({"type": "tcp", "target": "192.0.2.1", "port": 22}, **{key: value})])
    assert problem.startswith(f"probes[0].{key}: must be ") and repr(value) in problem


def test_normalize_is_idempotent_and_refuses_invalid_specs():
    once = p.normalize([{"type": "tcp", "target": "h.example", "port": 22}, {"type": "dns", "target": "x.example"}])
    assert p.normalize(once) == once
    assert once[1]["name"] == "dns x.example A"
    with pytest.raises(ValidationError) as caught:
        p.normalize([{"type": "tcp", "target": "h.example"}, {"type": "ping"}])
    assert caught.value.problems == ["probes[0].port: required for type tcp (1-65535)",
                                     "probes[1].type: must be one of icmp, tcp, neighbour, dns, got 'ping'"]


# -- DNS --------------------------------------------------------------------------------------------

def test_the_query_is_a_standard_recursive_query():
    query = dns.build_dns_query("Host.Example.", "AAAA", 0x1234)
    assert query == (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                     b"\x04Host\x07Example\x00\x00\x1c\x00\x01")
    assert dns.build_dns_query("a.b", "A", 0x10001)[:2] == b"\x00\x01"  # ids are 16 bits
    with pytest.raises(ValueError):
        dns.build_dns_query("x" * 64 + ".example", "A", 1)


def response(query: bytes, rcode: int = 0, answers=(), flags: int = 0x8180, ident: int | None = None) -> bytes:
    ident = struct.unpack_from("!H", query)[0] if ident is None else ident
    header = struct.pack("!HHHHHH", ident, flags | rcode, 1, len(answers), 0, 0)
    return header + query[12:] + b"".join(answers)


def a_record(address: str, owner: bytes = b"\xc0\x0c") -> bytes:
    data = ipaddress.ip_address(address).packed
    rtype = 1 if len(data) == 4 else 28
    return owner + struct.pack("!HHIH", rtype, 1, 300, len(data)) + data


def test_an_answer_with_a_cname_chain_gives_the_addresses():
    query = dns.build_dns_query("www.example", "A", 7)
    target = b"\x03web\x07example\x00"
    cname = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 300, len(target)) + target
    # the A records' owner points at the CNAME's target (offset of its rdata)
    target_offset = len(query) + 12
    owner = struct.pack("!H", 0xC000 | target_offset)
    data = response(query, answers=[cname, a_record("192.0.2.7", owner), a_record("192.0.2.8", owner)])
    assert dns.parse_dns_response(data, 7, "www.example.", "A") == ("NOERROR", ["192.0.2.7", "192.0.2.8"])


def test_aaaa_nxdomain_and_empty_answers():
    query = dns.build_dns_query("v6.example", "AAAA", 9)
    assert dns.parse_dns_response(response(query, answers=[a_record("2001:db8::7")]), 9, "V6.example", "AAAA") == (
        "NOERROR", ["2001:db8::7"])
    assert dns.parse_dns_response(response(query, rcode=3), 9, "v6.example", "AAAA") == ("NXDOMAIN", [])
    assert dns.parse_dns_response(response(query, rcode=2), 9, "v6.example", "AAAA") == ("SERVFAIL", [])
    assert dns.parse_dns_response(response(query), 9, "v6.example", "AAAA") == ("NOERROR", [])


def test_messages_that_are_not_our_answer_are_mismatches():
    query = dns.build_dns_query("host.example", "A", 11)
    with pytest.raises(dns.DnsMismatch, match="id"):
        dns.parse_dns_response(response(query, ident=12), 11, "host.example", "A")
    with pytest.raises(dns.DnsMismatch, match="not a response"):
        dns.parse_dns_response(query, 11, "host.example", "A")
    other = dns.build_dns_query("other.example", "A", 11)
    with pytest.raises(dns.DnsMismatch, match="the answer is for other.example"):
        dns.parse_dns_response(response(other), 11, "host.example", "A")
    with pytest.raises(dns.DnsMismatch):
        dns.parse_dns_response(response(query), 11, "host.example", "AAAA")


def test_malformed_answers_are_format_errors():
    query = dns.build_dns_query("host.example", "A", 3)
    good = response(query, answers=[a_record("192.0.2.1")])
    for cut in (5, 20, len(good) - 2):
        with pytest.raises(dns.DnsFormatError):
            dns.parse_dns_response(good[:cut], 3, "host.example", "A")
    loop = response(query, answers=[b"\xc0" + bytes((len(query),)) + struct.pack("!HHIH", 1, 1, 1, 4) + bytes(4)])
    loop = loop[:len(query)] + b"\xc0" + bytes((len(query),)) + loop[len(query) + 2:]  # a pointer to itself
    with pytest.raises(dns.DnsFormatError, match="loop"):
        dns.parse_dns_response(loop, 3, "host.example", "A")
    short_a = response(query, answers=[b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 1, 3) + bytes(3)])
    with pytest.raises(dns.DnsFormatError, match="3 bytes"):
        dns.parse_dns_response(short_a, 3, "host.example", "A")
    with pytest.raises(dns.DnsFormatError, match="truncated"):
        dns.parse_dns_response(response(query, flags=0x8380), 3, "host.example", "A")


# -- echo replies -------------------------------------------------------------------------------------

def ipv4_packet(source: str, icmp: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
                         ipaddress.ip_address(source).packed, ipaddress.ip_address("192.0.2.2").packed)
    return header + icmp


def echo_reply(ident: int, seq: int, payload: bytes, kind: int = 0, checksum: bool = True) -> bytes:
    body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload
    if checksum:
        body = body[:2] + struct.pack("!H", icmp._checksum(body)) + body[4:]  # pylint: disable=protected-access
    return body


def test_only_genuine_replies_to_our_requests_count():
    match = icmp._echo_reply_seq  # pylint: disable=protected-access
    target = ipaddress.ip_address("192.0.2.1")
    payloads = {5: b"token-5", 6: b"token-6"}
    good = ipv4_packet("192.0.2.1", echo_reply(77, 5, b"token-5"))
    assert match(False, good, "192.0.2.1", target, 77, payloads) == 5
    assert match(False, ipv4_packet("192.0.2.1", echo_reply(78, 5, b"token-5")), "192.0.2.1", target, 77,
                 payloads) is None  # another identifier (someone else's ping)
    assert match(False, ipv4_packet("192.0.2.1", echo_reply(77, 5, b"token-6")), "192.0.2.1", target, 77,
                 payloads) is None  # our identifier, not our payload for that sequence
    assert match(False, ipv4_packet("192.0.2.1", echo_reply(77, 9, b"token-5")), "192.0.2.1", target, 77,
                 payloads) is None  # a sequence we never sent
    assert match(False, ipv4_packet("192.0.2.9", echo_reply(77, 5, b"token-5")), "192.0.2.9", target, 77,
                 payloads) is None  # another source
    assert match(False, ipv4_packet("192.0.2.1", echo_reply(77, 5, b"token-5", kind=8)), "192.0.2.1", target, 77,
                 payloads) is None  # our own request, looped back
    assert match(False, ipv4_packet("192.0.2.1", echo_reply(77, 5, b"token-5", checksum=False)), "192.0.2.1",
                 target, 77, payloads) is None  # bad checksum
    v6 = ipaddress.ip_address("fe80::1")
    reply6 = struct.pack("!BBHHH", 129, 0, 0, 77, 6) + b"token-6"
    assert match(True, reply6, "fe80::1%eth0", v6, 77, payloads) == 6
    assert match(True, struct.pack("!BBHHH", 128, 0, 0, 77, 6) + b"token-6", "fe80::1%eth0", v6, 77,
                 payloads) is None


def test_echo_requests_carry_a_valid_checksum():
    request = icmp._echo_request(False, 0xBEEF, 3, b"payload!")  # pylint: disable=protected-access
    assert icmp._checksum(request) == 0  # pylint: disable=protected-access
    assert struct.unpack_from("!BBHHH", request)[0] == 8


# -- reports and files ----------------------------------------------------------------------------------

def result(**kw):
    base = {"name": "x", "type": "tcp", "target": "10.77.0.1", "port": 22, "server": None, "record": None,
            "required": True, "ok": True, "attempts": 1, "replies": 1, "latency_ms": 0.21, "error": None,
            "elapsed_ms": 1.0, "detail": {}}
    base.update(kw)
    return base


def test_summary_lines():
    assert p.summary_line(result(name="icmp 10.77.0.1", type="icmp", attempts=3, replies=3)) == \
        "icmp 10.77.0.1: ok, 0.21 ms"
    assert p.summary_line(result(name="icmp 10.77.0.1", type="icmp", attempts=3, replies=1, latency_ms=12.345)) == \
        "icmp 10.77.0.1: ok, 12.35 ms, 1/3 replies"
    assert p.summary_line(result(name="tcp 10.77.0.1:22", ok=False, attempts=3, replies=0, latency_ms=None,
                                 error="connection refused")) == \
        "tcp 10.77.0.1:22: FAILED, connection refused after 3 attempts"
    assert p.summary_line(result(name="tcp 10.77.0.1:22", attempts=2)) == "tcp 10.77.0.1:22: ok, 0.21 ms, at attempt 2"
    assert p.summary_line(result(name="dns a A", type="dns", ok=False, required=False, error="NXDOMAIN",
                                 latency_ms=None)) == "dns a A: failed (not required), NXDOMAIN after 1 attempt"
    assert p.summary_line(result(name="n", type="neighbour", latency_ms=150.2,
                                 detail={"state": "REACHABLE", "lladdr": "52:54:00:12:34:56"})) == \
        "n: ok, 150 ms, REACHABLE 52:54:00:12:34:56"
    assert p.summary_line(result(name="not run", ok=False, attempts=0, error="not run: the overall deadline had passed")) \
        == "not run: FAILED, not run: the overall deadline had passed"


def test_failed_required_and_seconds():
    results = [result(name="a"), result(name="b", ok=False), result(name="c", ok=False, required=False)]
    assert [r["name"] for r in p.failed_required(results)] == ["b"]
    assert [common.seconds(x) for x in (1, 1.0, 0.25, 0.3, 2.5, 0.001)] == [
        "1.0 s", "1.0 s", "0.25 s", "0.3 s", "2.5 s", "0.001 s"]


def test_resolv_conf_and_hosts(tmp_path, monkeypatch):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example\nnameserver not-an-address\nnameserver 192.0.2.53 # main\n"
                    "nameserver 192.0.2.54\n")
    assert dns.read_resolv_conf(str(conf)) == "192.0.2.53"
    conf.write_text("nameserver fe80::1%eth0\n")
    assert dns.read_resolv_conf(str(conf)) == "fe80::1%eth0"
    assert dns.read_resolv_conf(str(tmp_path / "missing")) is None
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n192.0.2.10 vcenter.example vcenter # ours\n#192.0.2.11 vcenter\n")
    assert dns._hosts_lookup("VCENTER", str(hosts)) == ["192.0.2.10"]  # pylint: disable=protected-access
    assert dns._hosts_lookup("nothere", str(hosts)) == []  # pylint: disable=protected-access
