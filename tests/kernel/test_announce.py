"""After a port move that keeps the bridge's carrier, the switch has the host on the old port until it is told.

The peer namespace is the switch (a bridge learning MACs). announce() sends a
gratuitous ARP and an unsolicited NA; the switch's forwarding table must then
have vmbr0's MAC on the new port. Without it the entry stays on the old port
(checked first, so the test can fail).
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.announce import announce, garp_frame
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host

from nstools import iproute

pytestmark = pytest.mark.kernel
MAC = "02:42:00:00:00:02"


def switch_port_of(switch: str, mac: str):
    out = subprocess.run(["bridge", "-n", switch, "-j", "fdb", "show", "br", "swbr"], capture_output=True, text=True,
                         check=True).stdout
    ports = [e["ifname"] for e in json.loads(out) if e.get("mac") == mac and "permanent" not in e.get("state", "")]
    return ports[0] if ports else None


def test_announce_moves_the_switch_entry_to_the_new_port(namespaces):
    ns, switch = namespaces.new(), namespaces.new()
    iproute(ns, [f"ip link add vmbr0 address {MAC} type bridge stp_state 0 forward_delay 0",
                 "ip link add eno1 type veth peer name sw1 netns " + switch,
                 "ip link add eno2 type veth peer name sw2 netns " + switch,
                 "ip link set eno1 master vmbr0", "ip link set eno1 up", "ip link set eno2 up", "ip link set vmbr0 up",
                 "ip address add 192.0.2.10/24 dev vmbr0", "ip address add 2001:db8::10/64 dev vmbr0 nodad"])
    iproute(switch, ["ip link add swbr type bridge stp_state 0 forward_delay 0 ageing_time 30000",
                     "ip link set sw1 master swbr", "ip link set sw2 master swbr", "ip link set sw1 up",
                     "ip link set sw2 up", "ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr"])
    subprocess.run(["ip", "netns", "exec", ns, "ping", "-c1", "-W2", "192.0.2.1"], check=True, capture_output=True)
    assert switch_port_of(switch, MAC) == "sw1"
    time.sleep(4)  # the host's own start-up IPv6 traffic (MLD reports) would teach the switch by itself
    iproute(ns, ["ip link set eno2 master vmbr0", "ip link set eno1 nomaster"])  # carrier kept throughout
    time.sleep(0.5)
    assert switch_port_of(switch, MAC) == "sw1"  # stale: what the announcement is for
    with Netlink(ns) as netlink:
        snap = read_host(netlink, GuestMatcher())
    assert announce(ns, snap.host, snap.index_of, names=["vmbr0"]) == []
    deadline = time.monotonic() + 5
    while switch_port_of(switch, MAC) != "sw2" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert switch_port_of(switch, MAC) == "sw2"


def test_garp_frame_is_an_arp_announcement():
    frame = garp_frame(MAC, "192.0.2.10")
    assert frame[:6] == b"\xff" * 6 and frame[12:14] == b"\x08\x06" and len(frame) == 42
    assert frame[28:32] == frame[38:42] == bytes([192, 0, 2, 10])  # sender IP == target IP
