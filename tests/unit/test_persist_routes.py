"""Static routes in the three formats: what each reads, what it refuses (naming the line), what it keeps.

Pure: files are {path: text}. The real tools run the same files in tests/persist/test_routes_real.py
(ifupdown2, networkd) and tests/persist/test_networkmanager_real.py (nmcli --offline).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import engine
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile import KeyfileFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

from persist_hosts import applied, routed_hosts

GUESTS = GuestMatcher()
MAIN = "/etc/network/interfaces"
CORPUS = Path(__file__).parent.parent / "persist" / "corpus" / "interfaces"


def routed():
    want, _missing = persisted(next(iter(routed_hosts().values())), None, GUESTS)
    return want


@pytest.fixture(params=sorted(FORMATS))
def fmt(request, tmp_path):
    cls = FORMATS[request.param]
    return cls(cls.DEFAULT_PATH, root=str(tmp_path))


def test_a_kernel_read_without_routes_keeps_the_files_routes(fmt):
    """routes None (a kernel read that does not report routes): the route lines stay, nothing is rewritten."""
    want = routed()
    files = applied({}, fmt.render({}, want))
    blind = want.clone()
    for dev in blind.devices.values():
        dev.ip.routes = None
    assert fmt.render(files, blind) == {}
    assert fmt.parse(files).get("vmbr5").ip.routes == fmt.parse(applied({}, fmt.render({}, want))).get("vmbr5").ip.routes
    blind.get("vmbr5").mtu = 9000
    after = fmt.parse(applied(files, fmt.render(files, blind)))
    assert after.get("vmbr5").mtu == 9000
    assert [r.key() for r in after.get("vmbr5").ip.routes] == [r.key() for r in want.get("vmbr5").ip.routes]


def test_removing_every_route_leaves_none_in_the_files(fmt):
    want = routed()
    files = applied({}, fmt.render({}, want))
    bare = want.clone()
    bare.get("vmbr5").ip.routes = []
    after = fmt.parse(applied(files, fmt.render(files, bare)))
    assert after.get("vmbr5").ip.routes == []
    assert after.get("vmbr5").ip.gateway4 == "192.0.2.1" and after.get("vmbr5").ip.gateway6 == "2001:db8:5::1"


def test_the_drift_report_names_each_route(fmt):
    """saved in check mode and rendered: a route the kernel has and the files lack (and the reverse), by name."""
    want = routed()
    files = applied({}, fmt.render({}, want))
    kernel = next(iter(routed_hosts().values())).clone()
    routes = kernel.get("vmbr5").ip.routes
    routes[:] = [r for r in routes if r.dst != "10.40.0.0/16"] + [Route(dst="10.60.0.0/16", via="192.0.2.254",
                                                                        proto="static")]
    job = engine.plan_files(fmt, kernel, None, GUESTS, files)
    assert job["changes"]
    [message] = job["route_drift"]
    assert message.startswith("vmbr5: routes differ between the kernel and the files; ")
    assert "in the kernel only: 10.60.0.0/16 via 192.0.2.254 dev vmbr5 metric 0 proto static" in message
    assert "in the files only: 10.40.0.0/16 via 192.0.2.254 dev vmbr5 metric 50" in message
    assert engine.plan_files(fmt, next(iter(routed_hosts().values())), None, GUESTS, files)["route_drift"] == []


# -- ifupdown2 ---------------------------------------------------------------------------------------------

def stanza(*lines) -> str:
    return ("auto lo\niface lo inet loopback\n\nauto vmbr5\niface vmbr5 inet static\n\taddress 192.0.2.10/24\n"
            "\tbridge-ports none\n" + "".join(f"\t{line}\n" for line in lines) + "\nauto vmbr6\niface vmbr6 inet manual\n"
            "\tbridge-ports none\n")


@pytest.mark.parametrize("line, why", [
    ("post-up ip route add 10.9.0.0/16 via 192.0.2.254 src 192.0.2.10", "'src' is not a word netsafe reads"),
    ("post-up ip route add vrf vrf1 unreachable default metric 4278198272", "'vrf' is not a word netsafe reads"),
    ("post-up ip route add unreachable 10.9.0.0/16", "a unreachable route is not a unicast route"),
    ("post-up ip route add 10.9.0.0/16 via 192.0.2.254 table mgmt", "table 'mgmt' is not one netsafe writes"),
    ("post-up ip route add 10.9.0.0/16 via 192.0.2.254 proto bird", "proto 'bird' is not one netsafe manages"),
    ("post-up ip route add 10.9.0.0/16 via 192.0.2.254 || true", "'||' is not a word netsafe reads"),
    ("post-up ip route add 10.9.0.0/16 via 192.0.2.254 dev vmbr6", "leaves through vmbr6, not vmbr5"),
    ("post-up ip route add default via 192.0.2.1", "write it as `gateway`"),
    ("post-up ip -6 route add 10.9.0.0/16 via 192.0.2.254", "`ip -6` but 10.9.0.0/16 is IPv4"),
    ("post-up ip route append 10.9.0.0/16 via 192.0.2.254", "only add and replace lines are read"),
    ("post-up ip -n other route add 10.9.0.0/16 via 192.0.2.254", "ip option -n is not one netsafe reads"),
    ("up ip route add 10.9.0.0/16 via 192.0.2.254", None),   # the same, but readable: the control
])
def test_a_route_line_it_cannot_read_is_a_problem_naming_the_line(line, why):
    fmt = Ifupdown2Format(MAIN, root="/nonexistent")
    files = {MAIN: stanza(line)}
    model, problems = fmt.parse_lenient(files)
    if why is None:
        assert problems == [] and model.get("vmbr5").ip.routes[0].dst == "10.9.0.0/16"
        return
    [problem] = problems
    assert problem.message.startswith(f"{MAIN} line 8: '{line}' of vmbr5: ") and why in problem.message
    assert problem.concerns("vmbr5") and not problem.concerns("vmbr6")
    # Saving vmbr5 is refused, naming the line; saving vmbr6 goes on and leaves the line as it is.
    desired = HostNetwork()
    desired.add(model.get("vmbr6").clone())
    desired.get("vmbr6").mtu = 9000
    assert line in fmt.render(files, desired)[MAIN]
    vmbr5 = desired.get("vmbr6").clone()
    vmbr5.name = "vmbr5"
    with pytest.raises(ValidationError, match="line 8"):
        fmt.render(files, HostNetwork(devices={"vmbr5": vmbr5}))


def test_other_command_lines_stay_byte_for_byte_when_the_routes_change():
    fmt = Ifupdown2Format(MAIN, root="/nonexistent")
    kept = ["post-up iptables -t nat -A POSTROUTING -s '10.0.0.0/24' -o vmbr0 -j MASQUERADE",
            "post-up ip route del vrf vrf1 unreachable default metric 4278198272",
            "up route add -net 10.8.0.0 netmask 255.255.0.0 gw 192.0.2.254",
            "pre-down ip route del table 100 10.7.0.0/16 via 192.0.2.254 src 192.0.2.10"]
    files = {MAIN: stanza(kept[0], "post-up ip route add 10.20.0.0/16 via 192.0.2.254", kept[1],
                          "pre-down ip route del 10.20.0.0/16 via 192.0.2.254", kept[2], kept[3])}
    want = fmt.parse(files).clone()
    want.get("vmbr5").ip.routes = [Route(dst="10.30.0.0/16", via="192.0.2.254", table=100, proto="static").normalized()]
    only = HostNetwork(devices={"vmbr5": want.get("vmbr5")})
    text = fmt.render(files, only)[MAIN]
    for line in kept:
        assert f"\t{line}\n" in text
    assert "10.20.0.0" not in text
    assert "\tpost-up ip route add 10.30.0.0/16 via 192.0.2.254 dev vmbr5 table 100 proto static\n" \
           "\tpre-down ip route del 10.30.0.0/16 dev vmbr5 table 100\n" in text


def test_the_upstream_proxmox_sdn_files_read_as_ifupdown2_runs_them():
    """pve-network's expected files: `up ip route add ... dev myvnet2` lines are myvnet2's routes (proto boot, what
    a bare `ip route add` makes); a `post-up ip route add vrf ... unreachable` line is refused for its device only."""
    fmt = Ifupdown2Format(MAIN, root="/nonexistent")
    hetzner = (CORPUS / "pve-network__simple_hetzner_expected_sdn_interfaces").read_text()
    model, problems = fmt.parse_lenient({MAIN: hetzner})
    assert problems == []
    assert [r.text("myvnet2") for r in model.get("myvnet2").ip.routes] == [
        "144.76.200.65/32 dev myvnet2 metric 0 proto boot", "144.76.200.66/32 dev myvnet2 metric 0 proto boot"]
    assert model.get("myvnet").ip.routes == []
    evpn = (CORPUS / "pve-network__evpn_ospf_fabric_expected_sdn_interfaces").read_text()
    model, problems = fmt.parse_lenient({MAIN: evpn})
    refused = [p for p in problems if "ip route add vrf" in p.message]
    assert refused and all("is not a word netsafe reads" in p.message for p in refused)
    assert all(model.get(name) is None for p in refused for name in p.names)
    assert [n for n, d in model.devices.items() if d.ip.routes] == []


# -- NetworkManager ----------------------------------------------------------------------------------------

def test_networkmanager_keeps_the_numbers_of_routes_that_did_not_change():
    fmt = KeyfileFormat(KeyfileFormat.DEFAULT_PATH, root="/nonexistent")
    want = routed()
    files = applied({}, fmt.render({}, want))
    path = f"{KeyfileFormat.DEFAULT_PATH}/vmbr5.nmconnection"
    before = files[path].splitlines()
    [line] = [l for l in before if l.startswith("route") and "=10.40.0.0/16,192.0.2.254,50" in l]
    number = line.split("=")[0]
    changed = want.clone()
    changed.get("vmbr5").ip.routes = [r for r in changed.get("vmbr5").ip.routes if r.dst != "10.40.0.0/16"] + [
        Route(dst="10.60.0.0/16", via="192.0.2.254", metric=60, proto="static")]
    changed.get("vmbr5").ip = changed.get("vmbr5").ip.normalized()
    after = fmt.render(files, HostNetwork(devices={"vmbr5": changed.get("vmbr5")}))[path].splitlines()
    # That route changed: its number goes to the new route; every other route line is the same line as before.
    assert [l for l in before if l.startswith("route") and l not in after] == [line]
    assert [l for l in after if l.startswith("route") and l not in before] == [f"{number}=10.60.0.0/16,192.0.2.254,60"]


@pytest.mark.parametrize("lines, why", [
    ("route1=10.9.0.0/16,192.0.2.254,0\nroute1_options=src=192.0.2.10\n", "netsafe reads only table=N and onlink"),
    ("route1=0.0.0.0/0,192.0.2.254,0\n", "is a default route in the main table"),
    ("route1=2001:db8::/32,2001:db8::1,0\n", "is not an IPv4 route"),
])
def test_networkmanager_route_keys_it_cannot_read_are_a_problem_of_the_profile(lines, why):
    fmt = KeyfileFormat(KeyfileFormat.DEFAULT_PATH, root="/nonexistent")
    text = ("[connection]\nid=vmbr5\nuuid=11111111-2222-3333-4444-555555555555\ntype=bridge\ninterface-name=vmbr5\n"
            "[ipv6]\nmethod=disabled\n[ipv4]\nmethod=manual\naddress1=192.0.2.10/24\n" + lines)
    model, problems = fmt.parse_lenient({f"{KeyfileFormat.DEFAULT_PATH}/vmbr5.nmconnection": text})
    assert model.get("vmbr5") is None
    [problem] = problems
    assert "[ipv4] route1" in problem.message and why in problem.message and problem.concerns("vmbr5")


def test_networkmanager_reads_a_missing_metric_as_the_device_types_default():
    fmt = KeyfileFormat(KeyfileFormat.DEFAULT_PATH, root="/nonexistent")
    text = ("[connection]\nid=x\nuuid=11111111-2222-3333-4444-555555555555\ntype={kind}\ninterface-name=x\n"
            "[ipv6]\nmethod=disabled\n[ipv4]\nmethod=manual\naddress1=192.0.2.10/24\n{extra}route1=10.9.0.0/16,192.0.2.254\n")
    for kind, extra, metric in (("bridge", "", 425), ("ethernet", "", 100), ("bridge", "route-metric=7\n", 7)):
        model = fmt.parse({f"{KeyfileFormat.DEFAULT_PATH}/x.nmconnection": text.format(kind=kind, extra=extra)})
        assert model.get("x").ip.routes[0].metric == metric


# -- networkd ----------------------------------------------------------------------------------------------

def test_networkd_route_sections_it_cannot_read_are_a_problem_naming_the_file():
    fmt = NetworkdFormat(NetworkdFormat.DEFAULT_PATH, root="/nonexistent")
    path = f"{NetworkdFormat.DEFAULT_PATH}/20-vmbr5.network"
    text = ("[Match]\nName=vmbr5\n[Network]\nAddress=192.0.2.10/24\n"
            "[Route]\nDestination=10.9.0.0/16\nGateway=192.0.2.254\nPreferredSource=192.0.2.10\n")
    model, problems = fmt.parse_lenient({path: text})
    [problem] = problems
    assert f"{path}:8: [Route] PreferredSource=192.0.2.10" in problem.message and problem.concerns("vmbr5")
    plain = fmt.parse({path: text.replace("PreferredSource=192.0.2.10\n", "Table=100\nGatewayOnlink=yes\n")})
    assert [r.text("vmbr5") for r in plain.get("vmbr5").ip.routes] == [
        "10.9.0.0/16 via 192.0.2.254 dev vmbr5 table 100 metric 0 onlink proto static"]
