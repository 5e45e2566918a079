"""Static routes through the real tools: what net_persist writes is the kernel's routes once each stack ran it.

The model is persist_hosts.routed_hosts() (a bridge with addresses, both default gateways, a route via a
gateway in the main table, two in table 100 (one a default), an IPv6 route in main and one in table 100 with
a metric, one with metric 50, one onlink, one without a gateway). Each format renders it; the real tool
builds the namespace from the files alone (NIC stand-in made by hand, as a boot finds it); the kernel's own
dump (tests/nstools.kernel_state, `ip route show table all`) must hold exactly the routes meant, on the
bridge, with their table, metric, onlink flag and protocol. The differences still allowed are named in
ALLOWED and in each format's doc page:

- ifupdown2 adds a `gateway` as `proto kernel onlink` (its address module), not as the model's default route
  (the same difference test_ifupdown2_real.py allows);
- NetworkManager writes no route protocol (1.42 has no such option): its routes are proto static. Checked
  through `nmcli --offline` in test_networkmanager_real.py (no daemon runs here).
"""
from __future__ import annotations

import json

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import DEFAULT_METRIC, TABLE_NAMES
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

import realstacks
from nstools import iproute, kernel_state
from persist_hosts import routed_hosts

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
MAIN = "/etc/network/interfaces"
BRIDGE = "vmbr5"
NIC = "ip link add eth5 address 02:00:00:00:05:01 type veth peer name sw5 address 02:00:00:00:0f:05"
ALLOWED = {
    "ifupdown2": "the default gateways are proto kernel with onlink (ifupdown2's address module adds them so)",
    "networkd": "none",
}


def meant() -> tuple:
    """(the persisted model, {route identity: what the kernel must show}) of the routed host."""
    want, _missing = persisted(next(iter(routed_hosts().values())), None, GuestMatcher())
    bridge = want.get(BRIDGE)
    routes = {}
    for route in bridge.ip.routes:
        routes[(route.dst, route.table, route.metric)] = {
            "gateway": route.via, "dev": BRIDGE, "onlink": route.onlink, "protocol": route.proto}
    for gateway, dst in ((bridge.ip.gateway4, "0.0.0.0/0"), (bridge.ip.gateway6, "::/0")):
        routes[(dst, 254, DEFAULT_METRIC[4 if dst == "0.0.0.0/0" else 6])] = {
            "gateway": gateway, "dev": BRIDGE, "onlink": False, "protocol": None}
    return want, routes


def kernel_routes(ns: str) -> dict:
    """The routes a person or a tool made, as the complete dump shows them (connected prefixes left out)."""
    out = {}
    for route in kernel_state(ns)["routes"]:
        if route.get("protocol") == "kernel" and not route.get("gateway"):
            continue   # the kernel's own prefix routes of the addresses
        if route.get("type", "unicast") != "unicast" or route.get("dst") in ("ff00::/8", "fe80::/64"):
            continue
        six = ":" in (route.get("gateway") or "") or ":" in route["dst"]
        dst = route["dst"] if route["dst"] != "default" else ("::/0" if six else "0.0.0.0/0")
        if "/" not in dst:
            dst += "/128" if six else "/32"
        table = route.get("table", "main")
        table = TABLE_NAMES.get(table) or int(table)
        out[(dst, table, route.get("metric", 0))] = {"gateway": route.get("gateway"), "dev": route.get("dev"),
                                                     "onlink": "onlink" in route.get("flags", []),
                                                     "protocol": route.get("protocol")}
    return out


def without_allowed(fmt: str, routes: dict) -> dict:
    """`routes` (JSON keys) with what the model does not say of a gateway (its protocol) and ALLOWED[fmt] left out."""
    out = as_json(routes)
    for key, value in out.items():
        dst, table, metric = json.loads(key)
        if dst in ("0.0.0.0/0", "::/0") and table == 254 and value["gateway"] and \
                metric == DEFAULT_METRIC[4 if dst == "0.0.0.0/0" else 6]:
            value["protocol"] = None   # a gateway: each stack picks its protocol (ifupdown2 kernel, networkd static)
            if fmt == "ifupdown2":
                value["onlink"] = False
    return out


def as_json(routes: dict) -> dict:
    return json.loads(json.dumps({json.dumps(k): v for k, v in routes.items()}))


# -- ifupdown2 ---------------------------------------------------------------------------------------------

@pytest.fixture
def ifupdown2_root():
    try:
        return realstacks.ifupdown2_root()
    except realstacks.Ifupdown2Missing as exc:
        pytest.fail(str(exc), pytrace=False)


def test_ifupdown2_brings_up_the_routes_and_a_second_run_keeps_them(netns, tmp_path, ifupdown2_root):
    want, routes = meant()
    fmt = Ifupdown2Format(MAIN, root=str(tmp_path))
    files = fmt.render({}, want)
    text = files[MAIN]
    assert "\tpost-up ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr5\n" in text
    assert "\tpre-down ip route del 10.20.0.0/16 dev vmbr5\n" in text
    (tmp_path / "etc/network").mkdir(parents=True)
    (tmp_path / "etc/network/interfaces").write_text(text)
    ok, out = realstacks.ifquery_parses(tmp_path, netns)
    assert ok, out
    iproute(netns, [NIC])
    realstacks.ifupdown2(netns, ["ifup", "-a", "-i", MAIN], tmp_path, check=True)
    first = kernel_routes(netns)
    assert without_allowed("ifupdown2", first) == as_json(routes)
    # ifreload -a runs every post-up again: `ip route add` of a route that exists fails with "File exists",
    # which ifupdown2 3.0 ignores (no warning, exit 0). So `add` lines are safe to re-run, and nothing changes.
    proc = realstacks.ifupdown2(netns, ["ifreload", "-a", "-v"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "executing ip route add 10.20.0.0/16 via 192.0.2.254 dev vmbr5" in proc.stdout + proc.stderr
    assert not [l for l in (proc.stdout + proc.stderr).splitlines() if l.startswith(("warning: vmbr5", "error"))]
    assert kernel_routes(netns) == first
    # The flip side, said in docs/net_persist_ifupdown2.md: a gateway changed in the file by hand is not applied by
    # a reload (the `add` of the existing route is ignored); net_persist only writes what the kernel already has.
    (tmp_path / "etc/network/interfaces").write_text(text.replace("10.20.0.0/16 via 192.0.2.254", "10.20.0.0/16 via 192.0.2.252"))
    assert realstacks.ifupdown2(netns, ["ifreload", "-a"], tmp_path).returncode == 0
    assert kernel_routes(netns)[("10.20.0.0/16", 254, 0)]["gateway"] == "192.0.2.254"
    # What ifupdown2 built reads back, through the format, as the model it was written from.
    assert fmt.parse({MAIN: text}).get(BRIDGE).ip.routes == want.get(BRIDGE).ip.routes


def test_ifupdown2_takes_the_route_lines_of_a_proxmox_style_file(netns, tmp_path, ifupdown2_root):
    """Lines as an operator writes them after the Proxmox VE documentation (no dev, `up`, `ip -6`, `default`)."""
    text = ("auto lo\niface lo inet loopback\n\niface eth5 inet manual\n\nauto vmbr5\niface vmbr5 inet static\n"
            "\taddress 192.0.2.10/24\n\tgateway 192.0.2.1\n\tbridge-ports eth5\n\tbridge-stp off\n\tbridge-fd 0\n"
            "\tpost-up ip route add 10.20.0.0/16 via 192.0.2.254\n\tpre-down ip route del 10.20.0.0/16 via 192.0.2.254\n"
            "\tup ip route add default via 192.0.2.253 table 100\n"
            "\tpost-up /sbin/ip -6 route replace 2001:db8:20::/48 via 2001:db8:5::fe metric 7\n"
            "\tpost-up echo 1 > /proc/sys/net/ipv4/ip_forward\n\n"
            "iface vmbr5 inet6 static\n\taddress 2001:db8:5::10/64\n")
    fmt = Ifupdown2Format(MAIN, root=str(tmp_path))
    parsed = fmt.parse({MAIN: text}).get(BRIDGE)
    assert [r.text(BRIDGE) for r in parsed.ip.routes] == [
        "0.0.0.0/0 via 192.0.2.253 dev vmbr5 table 100 metric 0 proto boot",
        "10.20.0.0/16 via 192.0.2.254 dev vmbr5 metric 0 proto boot",
        "2001:db8:20::/48 via 2001:db8:5::fe dev vmbr5 metric 7 proto boot"]
    (tmp_path / "etc/network").mkdir(parents=True)
    (tmp_path / "etc/network/interfaces").write_text(text)
    iproute(netns, [NIC])
    realstacks.ifupdown2(netns, ["ifup", "-a", "-i", MAIN], tmp_path, check=True)
    got = kernel_routes(netns)
    for route in parsed.ip.routes:
        assert got[(route.dst, route.table, route.metric)] == {"gateway": route.via, "dev": BRIDGE, "onlink": False,
                                                               "protocol": "boot"}


# -- systemd-networkd --------------------------------------------------------------------------------------

def test_networkd_brings_up_the_routes(netns):
    if realstacks.networkd_binary() is None:
        pytest.fail("systemd-networkd is missing: run bash tests/setup.d/32-networkd.sh")
    want, routes = meant()
    fmt = NetworkdFormat(NetworkdFormat.DEFAULT_PATH, root="/nonexistent")
    files = fmt.render({}, want)
    iproute(netns, [NIC, "ip link set sw5 up"])
    run = realstacks.networkd(netns, {p.rsplit("/", 1)[1]: t for p, t in files.items()}, sorted(want.devices))
    assert not run.timed_out, f"networkd did not finish: {run.states}\n{run.log}"
    assert run.not_configured() == {}, run.log
    assert run.complaints() == [], run.log
    assert without_allowed("networkd", kernel_routes(netns)) == as_json(routes)
