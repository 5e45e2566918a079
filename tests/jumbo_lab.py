"""The jumbo-frames lab on the host kernel (issue 27): a hypervisor, a switch whose port MTU a test sets, a guest.

    guest ns                 hv ns                                            switch ns
    eth0 192.0.2.20 -- veth100i0 -+- vmbr0 192.0.2.10/24 2001:db8::10/64     swbr 192.0.2.1/24 2001:db8::1/64
                                  +- eno1 (veth) ---------------------------- sw1      fe80::1
    eno2 (veth, down, no bridge) ------------------------------------------ sw2

Used by tests/state/test_state_jumbo.py and review 27's operator tests (tests/review27/rv27op_lab.py).
"""
from __future__ import annotations

import json
import subprocess

import persist_lab
from nstools import iproute


def build(namespaces, ipv6: bool = False) -> tuple:
    """(hv, switch, guest) namespaces of the lab above, at 1500 everywhere; IPv4 default route, IPv6 if asked."""
    hv, switch, guest = namespaces.new(), namespaces.new(), namespaces.new()
    persist_lab.nics(hv, switch, ("eno1", "eno2"))
    for ns in (hv, switch, guest):
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                        "net.ipv6.conf.default.accept_dad=0"], check=True)
    iproute(hv, [
        "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
        "ip link set eno1 master vmbr0", "ip link set eno1 up", "ip link set vmbr0 up",
        "ip address add 192.0.2.10/24 dev vmbr0", "ip route add default via 192.0.2.1 dev vmbr0",
        f"ip link add veth100i0 type veth peer name eth0 netns {guest}",
        "ip link set veth100i0 master vmbr0", "ip link set veth100i0 up",
    ])
    iproute(guest, ["ip link set eth0 up", "ip address add 192.0.2.20/24 dev eth0"])
    iproute(switch, ["ip link add swbr type bridge stp_state 0 forward_delay 0", "ip link set sw1 master swbr",
                     "ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr"])
    if ipv6:
        iproute(switch, ["ip address add 2001:db8::1/64 dev swbr nodad", "ip address add fe80::1/64 dev swbr nodad"])
        iproute(hv, ["ip address add 2001:db8::10/64 dev vmbr0 nodad"])
    return hv, switch, guest


def set_switch_mtu(switch: str, mtu: int) -> None:
    """The switch's port toward the hypervisor and the switch itself, as a switch port's MTU is configured."""
    iproute(switch, [f"ip link set sw1 mtu {mtu}", f"ip link set swbr mtu {mtu}"])


def mtus(ns: str, *names) -> dict:
    """{link: MTU} in `ns`: of `names`, or of every link but lo."""
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show"], check=True, capture_output=True, text=True).stdout
    return {link["ifname"]: link["mtu"] for link in json.loads(out)
            if (link["ifname"] in names if names else link["ifname"] != "lo")}
