"""Debian's own ifupdown2 reads what the ifupdown2 format writes, and builds the kernel it was read from.

Each test builds a host in a throwaway namespace with iproute2, reads it with
the collection's core (read_host), renders it with the format, checks that
`ifquery -a` parses the file, deletes every device (NIC stand-ins are made
again as a boot would find them: same MAC, down, default MTU), runs
`ifup -a -i FILE` and compares the complete state dump (nstools.kernel_state)
with the one taken before. ifupdown2 runs unpacked, in a private mount
namespace (tests/realstacks.py). Bridges run on the host kernel; bonds,
VLANs and vlan-aware bridges in the full-kernel lane.

The only differences allowed are listed in ROUTE_DIFFERENCES, each with the
reason (docs/net_persist_ifupdown2.md says the same).
"""
from __future__ import annotations

import json
import subprocess

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import description, persisted

from nstools import iproute, settled_state, state_diff
import persist_lab
import realstacks

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
GUESTS = GuestMatcher()
MAIN = "/etc/network/interfaces"

# ifupdown2 adds a `gateway` as `ip route add default via GW proto kernel onlink`
# (addons/address.py; no key changes either), where the collection's core and
# `ip route add` say proto boot and no onlink. Same destination, gateway, device
# and metric: the route is the same to the kernel's forwarding.
ROUTE_DIFFERENCES = "protocol kernel instead of boot, flag onlink"
# A bridge without ports gets a random MAC each time it is created (a bridge with
# ports takes its lowest port's). net_persist never writes MACs (scope.py), so a
# re-created port-less bridge has another one: the one other difference allowed.
PORTLESS_BRIDGE_MAC = "link {name} address: "


@pytest.fixture(autouse=True)
def _ifupdown2_unpacked():
    try:
        realstacks.ifupdown2_root()
    except realstacks.Ifupdown2Missing as exc:
        pytest.fail(str(exc), pytrace=False)   # never skip: the setup hook is part of the suite


def build(ns: str, nics: list, lines: list) -> None:
    """NIC stand-ins (`ip link add` lines, made again after the wipe) and then everything else."""
    iproute(ns, nics + lines)


def wipe(ns: str, nics: list) -> None:
    """Delete every device but lo, then make the NIC stand-ins again as a boot finds them."""
    for link in _links(ns):
        if link["ifname"] != "lo":
            # A veth's peer goes with it: ignore "cannot find device".
            subprocess.run(["ip", "-n", ns, "link", "del", link["ifname"]], capture_output=True, check=False)
    iproute(ns, nics)
    assert all(l["ifname"] == "lo" or "UP" not in l["flags"] for l in _links(ns))


def _links(ns: str, details: bool = False) -> list:
    return json.loads(subprocess.run(["ip", "-n", ns, "-j"] + (["-d"] if details else []) + ["link", "show"],
                                     capture_output=True, text=True, check=True).stdout)


def save_files(ns: str, root, files=None) -> dict:
    """Read the namespace with the core and render it into `files` (under `root`); write them; return the texts."""
    with Netlink(ns) as netlink:
        host = read_host(netlink, GUESTS).host
    want, _missing = persisted(host, None, GUESTS)
    fmt = Ifupdown2Format(MAIN, root=str(root))
    files = dict(files or {})
    changes = fmt.render(files, want)
    files.update(changes)
    for path, text in files.items():
        real = root / path.lstrip("/")
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_text(text)
    assert fmt.read() == files
    got = fmt.parse(files)
    assert {n: description(got.get(n), d) if got.get(n) else None for n, d in want.devices.items()} == \
        {n: d.to_dict() for n, d in want.devices.items()}
    return files


def route_key(line: str):
    """A state_diff route line with the fields ROUTE_DIFFERENCES names taken out."""
    kind, _sep, data = line.partition(": ")
    route = json.loads(data)
    route.pop("protocol", None)
    route["flags"] = [f for f in route.get("flags", []) if f != "onlink"]
    return json.dumps(route, sort_keys=True)


def assert_same_state(before: dict, after: dict) -> None:
    portless = {l["ifname"] for l in before["links"] if l["kind"] == "bridge"} - \
        {l["master"] for l in before["links"] if l["master"]}
    diff = [line for line in state_diff(before, after)
            if not any(line.startswith(PORTLESS_BRIDGE_MAC.format(name=name)) for name in portless)]
    gone = sorted(route_key(l) for l in diff if l.startswith("route gone: "))
    new = sorted(route_key(l) for l in diff if l.startswith("route new: "))
    other = [l for l in diff if not l.startswith(("route gone: ", "route new: "))]
    assert other == [], "\n".join(other)
    assert gone == new, f"routes differ beyond {ROUTE_DIFFERENCES}:\n" + "\n".join(diff)
    for line in diff:
        if line.startswith("route new: "):
            route = json.loads(line.partition(": ")[2])
            assert route.get("protocol") == "kernel" and "onlink" in route.get("flags", []), line


def ifup_all_reproduces(ns: str, root, nics: list) -> str:
    """ifquery parses the files, ifup -a rebuilds the wiped namespace as it was; returns ifup's output."""
    ok, out = realstacks.ifquery_parses(root, ns)
    assert ok, out
    before = settled_state(ns)
    wipe(ns, nics)
    proc = realstacks.ifupdown2(ns, ["ifup", "-a", "-i", MAIN], root, check=True)
    assert_same_state(before, settled_state(ns))
    return proc.stdout + proc.stderr


# -- host kernel: bridges --------------------------------------------------------------------------------------

HOST_NICS = [
    "ip link add eth1 address 02:00:00:00:01:01 type veth peer name sw1 address 02:00:00:00:0f:01",
    "ip link add eth2 address 02:00:00:00:01:02 type veth peer name sw2 address 02:00:00:00:0f:02",
]
HOST_BRIDGES = [
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set eth1 mtu 1400",
    "ip link set vmbr0 mtu 1400",
    "ip link set eth1 up",
    "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip address add 2001:db8::10/64 dev vmbr0",
    "ip route add default via 192.0.2.1",
    "ip route add default via 2001:db8::1",
    # STP on, 4 s forward delay, a port, administratively down.
    "ip link add vmbr1 type bridge stp_state 1 forward_delay 400",
    "ip link set eth2 master vmbr1",
    "ip link set eth2 up",
    # No ports at all.
    "ip link add vmbr2 type bridge stp_state 0 forward_delay 1500",
    "ip link set vmbr2 up",
]


def test_bridges_come_back_from_the_rendered_file(netns, tmp_path):
    build(netns, HOST_NICS, HOST_BRIDGES)
    files = save_files(netns, tmp_path)
    text = files[MAIN]
    assert "link-down yes" in text.split("iface vmbr1 inet manual")[1].split("\n\n")[0]
    ifup_all_reproduces(netns, tmp_path, HOST_NICS)


# -- full-kernel lane: the host ------------------------------------------------------------------------

LANE_NICS = [f"ip link add eno{n} address 02:00:00:00:0e:0{n} type dummy" for n in range(1, 5)]
PROXMOX = [
    # A bond of two NICs (802.3ad with the options the core supports), MTU 9000.
    "ip link add bond0 type bond mode 802.3ad miimon 100 updelay 200 downdelay 200 lacp_rate fast "
    "xmit_hash_policy layer3+4 min_links 1",
    "ip link set bond0 mtu 9000",
    "ip link set eno1 master bond0",
    "ip link set eno2 master bond0",
    "ip link set bond0 up",
    # A VLAN on it, a bridge on the VLAN with addresses and gateways.
    "ip link add link bond0 name bond0.10 mtu 1500 type vlan id 10",
    "ip link add vmbr10 type bridge stp_state 0 forward_delay 0",
    "ip link set bond0.10 master vmbr10",
    "ip link set bond0.10 up",
    "ip link set vmbr10 up",
    "ip address add 192.0.2.10/24 dev vmbr10",
    "ip address add 2001:db8:10::10/64 dev vmbr10",
    "ip route add default via 192.0.2.1",
    "ip route add default via 2001:db8:10::1",
    # A vlan-aware bridge with STP, its port trunking 2-4094 (pvid 1 untagged), and a port in VLAN 20 only.
    "ip link add vmbr1 type bridge stp_state 1 forward_delay 400 vlan_filtering 1",
    "ip link set eno3 master vmbr1",
    "ip link set eno4 master vmbr1",
    "bridge vlan add dev eno3 vid 2-4094",
    "bridge vlan add dev eno4 vid 20 pvid untagged",
    "bridge vlan del dev eno4 vid 1",
    "ip link set eno3 up",
    "ip link set eno4 up",
    "ip link set vmbr1 up",
]


@pytest.mark.fullkernel("bonding", "8021q", "dummy", "bridge_vlan_filtering")
def test_proxmox_host_comes_back_from_the_rendered_file(netns, tmp_path):
    build(netns, LANE_NICS, PROXMOX)
    files = save_files(netns, tmp_path)
    text = files[MAIN]
    # Proxmox VE's order: NICs, bonds (and their parent.id VLANs), bridges.
    order = [line.split()[1] for line in text.splitlines() if line.startswith("iface ") and " inet6 " not in line]
    assert order == ["eno1", "eno2", "eno3", "eno4", "bond0", "bond0.10", "vmbr1", "vmbr10"]
    assert "bridge-access 20" in text
    ifup_all_reproduces(netns, tmp_path, LANE_NICS)


OTHERS = [
    # active-backup with ARP monitoring and a primary, address and gateway on the bond.
    "ip link add bond1 type bond mode active-backup arp_interval 1000 arp_ip_target 192.0.2.1,192.0.2.2",
    "ip link set eno1 master bond1",
    "ip link set eno2 master bond1",
    "ip link set bond1 type bond primary eno2",
    "ip link set bond1 up",
    "ip address add 192.0.2.50/24 dev bond1",
    "ip route add default via 192.0.2.1",
    # 802.1ad VLAN with its own name and an IPv6 address; a parent.id VLAN; both on a bare NIC.
    "ip link set eno3 up",
    "ip link add link eno3 name vlan300 mtu 1400 type vlan protocol 802.1ad id 300",
    "ip link set vlan300 up",
    "ip address add 2001:db8::5/64 dev vlan300",
    "ip link add link eno3 name eno3.4094 type vlan id 4094",
    "ip link set eno3.4094 up",
    # vlan-aware bridge: port pvid 30 and tagged ranges; the bridge's own entry holds only its VLAN device's 100.
    "ip link add vmbr2 type bridge stp_state 0 forward_delay 0 vlan_filtering 1",
    "ip link set eno4 master vmbr2",
    "bridge vlan add dev eno4 vid 30 pvid untagged",
    "bridge vlan del dev eno4 vid 1",
    "bridge vlan add dev eno4 vid 100-200",
    "bridge vlan add dev eno4 vid 300",
    "bridge vlan add dev vmbr2 vid 100 self",
    "bridge vlan del dev vmbr2 vid 1 self",
    "ip link set eno4 up",
    "ip link set vmbr2 up",
    "ip link add link vmbr2 name vmbr2.100 type vlan id 100",
    "ip link set vmbr2.100 up",
    "ip address add 203.0.113.7/24 dev vmbr2.100",
    # A bridge that exists but is down, with a fractional forward delay and no ports.
    "ip link add vmbr3 type bridge stp_state 0 forward_delay 250",
]


@pytest.mark.fullkernel("bonding", "8021q", "8021ad", "dummy", "bridge_vlan_filtering")
def test_other_shapes_come_back_from_the_rendered_file(netns, tmp_path):
    build(netns, LANE_NICS, OTHERS)
    save_files(netns, tmp_path)
    ifup_all_reproduces(netns, tmp_path, LANE_NICS)


UNRELATED = """\
# /etc/network/interfaces -- written by hand, then by Proxmox VE
# (this comment and everything not about the devices we save must stay)

auto lo
iface lo inet loopback

iface enp9s0 inet manual
  # a NIC nobody uses yet; spaces, not tabs
  mtu 1500

allow-hotplug enp10s0
iface enp10s0 inet manual

source /etc/network/interfaces.d/*
"""
SOURCED = """\
# VLAN bridge kept by hand in a sourced file
iface vmbr99 inet manual
\tbridge_ports none
\tbridge_stp off
\tbridge_fd 0
"""


@pytest.mark.fullkernel("bonding", "8021q", "dummy", "bridge_vlan_filtering")
def test_unrelated_stanzas_and_comments_stay_byte_identical(netns, tmp_path):
    build(netns, LANE_NICS, PROXMOX)
    before = {MAIN: UNRELATED, "/etc/network/interfaces.d/vmbr99": SOURCED}
    files = save_files(netns, tmp_path, before)
    assert files["/etc/network/interfaces.d/vmbr99"] == SOURCED
    text = files[MAIN]
    head, tail = UNRELATED.split("source /etc/network/interfaces.d/*\n")
    assert text.startswith(head) and text.endswith("source /etc/network/interfaces.d/*\n")
    assert tail == ""
    ifup_all_reproduces(netns, tmp_path, LANE_NICS)


# -- host kernel: a tuned bridge (issue 25) ----------------------------------------------------------------------

# Non-default ageing, snooping off, STP (on) timers and priority; two ports with their own cost and priority; and
# seconds ifupdown2's keys cannot hold (a fraction, an ageing time past 65535 s): post-up lines.
TUNED = persist_lab.tuned_bridges(stp=1)


def test_bridge_options_and_port_costs_come_back_from_the_rendered_file(netns, tmp_path):
    build(netns, HOST_NICS, TUNED)
    files = save_files(netns, tmp_path)
    text = files[MAIN]
    vmbr4 = text.split("iface vmbr4 inet manual")[1].split("\n\n")[0]
    for line in ("bridge-ageing 600", "bridge-mcsnoop no", "bridge-hello 3", "bridge-maxage 12",
                 "bridge-bridgeprio 4096"):
        assert f"\t{line}\n" in vmbr4 + "\n", (line, vmbr4)
    eth1 = text.split("iface eth1 inet manual")[1].split("\n\n")[0]
    assert "\tbridge-pathcosts 7\n" in eth1 + "\n" and "\tbridge-portprios 12\n" in eth1 + "\n", eth1
    assert "post-up ip link set dev vmbr5 type bridge ageing_time 7000050" in text
    # ifupdown2's own syntax check takes every key, on the bridge and on the ports (its one complaint is about
    # `bridge-ports none` of the port-less vmbr5, which Proxmox VE writes and ifup reads as no ports).
    real = str(tmp_path / MAIN.lstrip("/"))
    _passed, output = realstacks.ifupdown2_syntax_checks(netns, [real], tmp_path)[real]
    complaints = [l for l in output.splitlines() if l.startswith(("warning:", "error:"))]
    assert complaints == ['warning: vmbr5: bridge-ports: invalid value "none": valid attribute values: '
                          "['<interface-list>']"], output
    # The kernel's values after `ifup -a`: the state dump holds every bridge option and each port's cost and priority.
    ifup_all_reproduces(netns, tmp_path, HOST_NICS)
    links = {l["ifname"]: l for l in _links(netns, details=True)}
    info = links["vmbr4"]["linkinfo"]["info_data"]
    assert (info["ageing_time"], info["mcast_snooping"], info["hello_time"], info["max_age"], info["priority"]) == \
        (60000, 0, 300, 1200, 4096)
    ports = {n: links[n]["linkinfo"]["info_slave_data"] for n in ("eth1", "eth2")}
    assert {n: (p["cost"], p["priority"]) for n, p in ports.items()} == {"eth1": (7, 12), "eth2": (250, 40)}


BRIDGE_LISTS = """\
auto lo
iface lo inet loopback

iface eth1 inet manual
\tmtu 1500

iface eth2 inet manual
\tbridge-portprios 5
\tmtu 1500

auto vmbr4
iface vmbr4 inet manual
\tbridge-ports eth1 eth2
\tbridge-stp off
\tbridge-fd 0
\tbridge-pathcosts eth1=7 eth2=250
\tbridge-portprios eth1=12 eth2=40
"""


def test_the_bridges_port_lists_are_read_as_ifupdown2_applies_them(netns, tmp_path):
    """Costs and priorities as `port=value` lists on the bridge (the other form ifupdown2 reads; a port's own key
    wins): what our parser reads is what `ifup -a` gives the kernel; a save of that kernel changes nothing; a changed
    cost is written on the port's own stanza, and `ifup -a` applies it."""
    iproute(netns, HOST_NICS)
    real = tmp_path / MAIN.lstrip("/")
    real.parent.mkdir(parents=True)
    real.write_text(BRIDGE_LISTS)
    realstacks.ifupdown2(netns, ["ifup", "-a", "-i", MAIN], tmp_path, check=True)
    fmt = Ifupdown2Format(MAIN, root=str(tmp_path))
    said = fmt.parse({MAIN: BRIDGE_LISTS})
    assert {n: (said.get(n).port_cost, said.get(n).port_priority) for n in ("eth1", "eth2")} == \
        {"eth1": (7, 12), "eth2": (250, 5)}
    with Netlink(netns) as netlink:
        host = read_host(netlink, GUESTS).host
    assert {n: (host.get(n).port_cost, host.get(n).port_priority) for n in ("eth1", "eth2")} == \
        {"eth1": (7, 12), "eth2": (250, 5)}
    want, _missing = persisted(host, ["vmbr4"], GUESTS)
    assert fmt.render({MAIN: BRIDGE_LISTS}, want) == {}
    want.get("eth1").port_cost = 9
    changes = fmt.render({MAIN: BRIDGE_LISTS}, want)
    assert changes[MAIN] == BRIDGE_LISTS.replace("\tmtu 1500\n", "\tmtu 1500\n\tbridge-pathcosts 9\n", 1)
    real.write_text(changes[MAIN])
    wipe(netns, HOST_NICS)
    realstacks.ifupdown2(netns, ["ifup", "-a", "-i", MAIN], tmp_path, check=True)
    with Netlink(netns) as netlink:
        host = read_host(netlink, GUESTS).host
    assert {n: (host.get(n).port_cost, host.get(n).port_priority) for n in ("eth1", "eth2")} == \
        {"eth1": (9, 12), "eth2": (250, 5)}
