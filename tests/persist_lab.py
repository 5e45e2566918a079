"""Hypervisor-shaped namespaces for the persistence tests: built with iproute2, MACs fixed.

Fixed MACs on the "NICs" (veth ends whose peers live in a separate peer
namespace, like a switch) make two namespaces built the same way compare
equal in the complete state dump: a bridge, bond or VLAN derives its MAC
from its ports.
"""
from __future__ import annotations

import os
import subprocess

from modrun import run_module
from nstools import ip, iproute


def persist(ns, root, fmt, check=False, **args) -> dict:
    """net_persist's result, run in-process against namespace `ns` with its files under the scratch `root`."""
    return run_module("net_persist", dict(format=fmt, namespace=ns, root=str(root), **args), check=check)


def snapshot_files(root) -> dict:
    """Every file under `root` with its bytes and mtime (ns)."""
    found = {}
    for base, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                found[path] = (handle.read(), os.stat(path).st_mtime_ns)
    return found


def nic(ns: str, peer_ns: str, name: str, index: int) -> str:
    mac = f"52:54:00:aa:00:{index:02x}"
    ip("link", "add", name, "address", mac, "type", "veth", "peer", "name", f"sw{index}", "netns", peer_ns, ns=ns)
    ip("link", "set", f"sw{index}", "up", ns=peer_ns)
    return name


def nics(ns: str, peer_ns: str, names) -> None:
    for i, name in enumerate(names, start=1):
        nic(ns, peer_ns, name, i)


BRIDGES_NICS = ("eno1", "eno2", "eno3")


def bridges(ns: str) -> None:
    """What the host kernel can hold: two bridges with uplinks, addresses, gateways, STP; a NIC left alone."""
    iproute(ns, [
        "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
        "ip link set eno1 master vmbr0",
        "ip link set eno1 up",
        "ip link set vmbr0 up",
        "ip address add 192.0.2.10/24 dev vmbr0",
        "ip address add 2001:db8::10/64 dev vmbr0",
        "ip route replace default via 192.0.2.1 dev vmbr0",
        "ip route replace default via 2001:db8::1 dev vmbr0",
        "ip link add vmbr1 type bridge stp_state 1 forward_delay 400",
        "ip link set eno2 master vmbr1",
        "ip link set eno2 mtu 9000",
        "ip link set vmbr1 mtu 9000",
        "ip link set eno2 up",
        "ip link set vmbr1 up",
    ])


def guests(ns: str, bridge: str = "vmbr0") -> list:
    """A VM tap and a container veth on `bridge`, as their hypervisor would leave them."""
    iproute(ns, [
        "ip tuntap add tap100i0 mode tap",
        "ip link set tap100i0 address 52:54:00:bb:00:01",
        f"ip link set tap100i0 master {bridge}",
        "ip link set tap100i0 up",
        "ip link add veth101i0 address 52:54:00:bb:00:02 type veth peer name ct101 address 52:54:00:bb:00:03",
        f"ip link set veth101i0 master {bridge}",
        "ip link set veth101i0 up",
    ])
    return ["tap100i0", "veth101i0"]


def bridges_host(namespaces, with_guests: bool = True) -> tuple:
    """(namespace, its peer): the "bridges" host (vmbr0 on eno1, vmbr1 on eno2, eno3 on its own), with guests."""
    ns, peer = namespaces.new(), namespaces.new()
    nics(ns, peer, BRIDGES_NICS)
    bridges(ns)
    if with_guests:
        guests(ns)
    return ns, peer


PROXMOX_NICS = ("eno1", "eno2", "eno3", "eno4")


def proxmox(ns: str) -> None:
    """The issue's host (needs bonding, 802.1Q and bridge VLAN filtering): bond of two NICs, a VLAN on it,
    a bridge on the VLAN with addresses and gateways, a vlan-aware bridge with port VLANs, a NIC down."""
    iproute(ns, [
        "ip link add bond0 type bond mode 802.3ad miimon 100 updelay 200 downdelay 200 lacp_rate fast "
        "xmit_hash_policy layer3+4 min_links 1",
        "ip link set eno1 master bond0",
        "ip link set eno2 master bond0",
        "ip link set bond0 mtu 9000",
        "ip link set bond0 up",
        "ip link add link bond0 name bond0.10 type vlan id 10",
        "ip link set bond0.10 mtu 1500",
        "ip link add vmbr10 type bridge stp_state 0 forward_delay 0",
        "ip link set bond0.10 master vmbr10",
        "ip link set bond0.10 up",
        "ip link set vmbr10 up",
        "ip address add 192.0.2.10/24 dev vmbr10",
        "ip address add 2001:db8:10::10/64 dev vmbr10",
        "ip route replace default via 192.0.2.1 dev vmbr10",
        "ip route replace default via 2001:db8:10::1 dev vmbr10",
        "ip link add vmbr1 type bridge stp_state 0 forward_delay 0 vlan_filtering 1",
        "ip link set eno3 master vmbr1",
        "bridge vlan del dev eno3 vid 1",
        "bridge vlan add dev eno3 vid 2-4094",
        "bridge vlan add dev eno3 vid 30 pvid untagged",
        "ip link set eno3 up",
        "ip link set vmbr1 up",
    ])


VLAN_AWARE_NICS = ("eno1", "eno2", "eno3")
# Links with carrier once vlan_aware() is up (a bridge port's path cost follows its carrier): wait for them
# before a dump. The guests have none (nothing behind them).
VLAN_AWARE_CARRIER = ("eno1", "eno2", "bond0", "bond0.10", "vmbr0")


def vlan_aware(ns: str, switch: str) -> None:
    """Issue 24's host (needs bonding, 802.1Q and bridge VLAN filtering), behind a switch namespace.

    bond0 (active-backup, miimon 100, primary eno1; eno1 and eno2) carries VLAN bond0.10, a port of the
    vlan-aware vmbr0 (tagged 30-31; the host's 192.0.2.10/24 and its gateway) with a VM tap on VLAN 30 and a
    container veth on VLAN 31; eno3 is down, outside everything. The switch carries VLAN 10 of both bond
    ports to the gateway 192.0.2.1, so bond0.10 with another id or parent cuts the host off it.
    """
    nics(ns, switch, VLAN_AWARE_NICS)
    iproute(ns, [
        "ip link add bond0 type bond mode active-backup miimon 100",
        "ip link set eno1 master bond0",
        "ip link set eno2 master bond0",
        "ip link set bond0 type bond primary eno1",
        "ip link set bond0 up",
        "ip link add link bond0 name bond0.10 type vlan id 10",
        "ip link add vmbr0 type bridge stp_state 0 forward_delay 0 vlan_filtering 1",
        "ip link set bond0.10 master vmbr0",
        "ip link set bond0.10 up",
        "ip link set vmbr0 up",
        "ip address add 192.0.2.10/24 dev vmbr0",
        "ip route replace default via 192.0.2.1 dev vmbr0",
    ])
    guests(ns, "vmbr0")
    iproute(ns, [
        "bridge vlan add dev bond0.10 vid 30-31",
        "bridge vlan add dev tap100i0 vid 30 pvid untagged",
        "bridge vlan del dev tap100i0 vid 1",
        "bridge vlan add dev veth101i0 vid 31 pvid untagged",
        "bridge vlan del dev veth101i0 vid 1",
    ])
    lines = ["ip link add swbr type bridge stp_state 0 forward_delay 0"]
    for port in ("sw1", "sw2"):
        lines += [f"ip link add link {port} name {port}.10 type vlan id 10", f"ip link set {port}.10 master swbr",
                  f"ip link set {port}.10 up"]
    iproute(switch, lines + ["ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr"])


# One change that breaks everything a rollback of vlan_aware() must put back, as (module, arguments) in the
# order the per-device modules would run them (the change_window role hands it to net_state as one change):
# the bond's mode and options, a VLAN's id and parent (bond0.10
# re-created as id 20 on eno3, which also cuts the host off its gateway), the vlan-aware bridge's MTU and port
# VLANs (uplink and both guests on other VLANs).
VLAN_AWARE_BREAK = [
    ("net_bond", {"name": "bond0", "mode": "balance-xor", "miimon": 250, "xmit_hash_policy": "layer3+4"}),
    ("net_vlan", {"name": "bond0.10", "parent": "eno3", "vlan_id": 20}),
    ("net_bridge", {"name": "vmbr0", "mtu": 1400, "port_vlans": [
        {"port": "bond0.10", "pvid": 1, "tagged": ["40-41"]},
        {"port": "tap100i0", "pvid": 40},
        {"port": "veth101i0", "pvid": 41, "tagged": ["31"]},
    ]}),
]


def vlan_aware_broken(before: dict, after: dict) -> list:
    """What of VLAN_AWARE_BREAK the state dump `after` does not show (empty: all of it is there to roll back)."""
    was = {link["ifname"]: link for link in before["links"]}
    now = {link["ifname"]: link for link in after["links"]}
    missing = []
    for key, value in (("mode", "balance-xor"), ("miimon", 250), ("xmit_hash_policy", "layer3+4")):
        if was["bond0"]["kind_data"][key] == value or now["bond0"]["kind_data"][key] != value:
            missing.append(f"bond0 {key}: {was['bond0']['kind_data'][key]!r} -> {now['bond0']['kind_data'][key]!r}")
    for what, seen, wanted in (("bond0.10 id", now["bond0.10"]["kind_data"]["id"], 20),
                               ("bond0.10 parent", now["bond0.10"].get("link"), "eno3"),
                               ("vmbr0 mtu", now["vmbr0"]["mtu"], 1400),
                               ("tap100i0 VLANs", after["bridge_vlans"].get("tap100i0"), ["40 Egress Untagged PVID"])):
        if seen != wanted:
            missing.append(f"{what}: {seen!r}, not {wanted!r}")
    return missing


def change_window_host(namespaces, uplink3_cabled: bool = True) -> str:
    """A hypervisor namespace for change windows run with the local connection (the role's namespace option).

    vmbr0 (192.0.2.10) on eno1 with a VM tap and a container veth, vmbr1 on eno2, all behind a switch
    namespace that holds the gateway 192.0.2.1 / 2001:db8::1. eno3 is cabled to the switch only when
    `uplink3_cabled`: a bridge moved there without it has no path to the gateway, and the probes see it.
    Returns the hypervisor's namespace; both are `namespaces`' own (deleted with it).
    """
    ns, switch = namespaces.new(), namespaces.new()
    nics(ns, switch, BRIDGES_NICS)
    bridges(ns)
    guests(ns)
    subprocess.run(["ip", "netns", "exec", switch, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"], check=True)
    lines = ["ip link add swbr type bridge stp_state 0 forward_delay 0", "ip link set sw1 master swbr",
             "ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr",
             "ip address add 2001:db8::1/64 dev swbr nodad"]
    if uplink3_cabled:
        lines.insert(2, "ip link set sw3 master swbr")
    iproute(switch, lines)
    return ns


# The guests change_window_host() puts on vmbr0, as the change_window role's explicit guest source.
CHANGE_WINDOW_GUESTS = {"source": "explicit", "ports": [{"device": "tap100i0", "bridge": "vmbr0"},
                                                        {"device": "veth101i0", "bridge": "vmbr0"}]}


def failover_vm(uuid: str, host: str) -> dict:
    """A VM of failover_plan's input on `host` (1 GiB, one vCPU)."""
    return {"uuid": uuid, "hypervisor": host, "memory_mb": 1024, "vcpus": 1}


def failover_reservation(name: str, host: str, allocations: dict) -> dict:
    """A failover slot on `host` holding `allocations` ({vm uuid: its hypervisor})."""
    return {"name": name, "host": host, "memory_mb": 4096, "vcpus": 4, "allocations": allocations}


def tuned_bridges(stp: int) -> list:
    """`ip` lines of a bridge vmbr4 with non-default ageing, snooping off, STP timers and priority, ports eth1 and
    eth2 (made before) with their own cost and priority; and vmbr5, whose seconds a whole-second key cannot hold."""
    return [
        f"ip link add vmbr4 type bridge stp_state {stp} forward_delay 400 ageing_time 60000 mcast_snooping 0 "
        "hello_time 300 max_age 1200 priority 4096",
        "ip link set eth1 master vmbr4",
        "ip link set eth2 master vmbr4",
        "ip link set eth1 type bridge_slave cost 7 priority 12",
        "ip link set eth2 type bridge_slave cost 250 priority 40",
        "ip link set eth1 up",
        "ip link set eth2 up",
        "ip link set vmbr4 up",
        "ip link add vmbr5 type bridge stp_state 0 ageing_time 7000050 hello_time 250",
        "ip link set vmbr5 up",
    ]
