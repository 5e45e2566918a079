# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Tell the switches where the host is now: gratuitous ARP and unsolicited neighbour advertisements.

When a bridge moves to another uplink while it keeps carrier (its running
guests keep it up), the switch still sends the host's frames to the old
port until the host sends something itself, or the switch's MAC table ages
out (300 s by default): a rollback that restored the old uplink would leave
the controller cut off for minutes. After a rollback the watchdog announces
every address of the host, as a VM migration or VRRP failover does.
"""
from __future__ import annotations

import ipaddress
import socket
import struct

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import HostNetwork, is_loopback

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
ALL_NODES = "ff02::1"
ICMPV6_NEIGHBOR_ADVERT = 136
NA_OVERRIDE = 0x20000000
OPT_TARGET_LLADDR = 2


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def garp_frame(mac: str, address: str) -> bytes:
    """An Ethernet broadcast ARP request for `address` from itself (RFC 5227 announcement)."""
    hw, ip = _mac(mac), ipaddress.IPv4Address(address).packed
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + hw + ip + b"\x00" * 6 + ip
    return BROADCAST + hw + struct.pack("!H", ETH_P_ARP) + arp


def unsolicited_na(mac: str, address: str) -> bytes:
    """ICMPv6 neighbour advertisement (override) of `address` with its link-layer address; the kernel sums it."""
    return (struct.pack("!BBHI", ICMPV6_NEIGHBOR_ADVERT, 0, 0, NA_OVERRIDE) + ipaddress.IPv6Address(address).packed
            + struct.pack("!BB", OPT_TARGET_LLADDR, 1) + _mac(mac))


def _send_garp(namespace, device: str, mac: str, address: str) -> None:
    with nl.inside(namespace):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    with sock:
        sock.bind((device, ETH_P_ARP))
        sock.send(garp_frame(mac, address))


def _send_na(namespace, index: int, mac: str, address: str) -> None:
    with nl.inside(namespace):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    with sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.bind((address, 0, 0, 0))
        sock.sendto(unsolicited_na(mac, address), (ALL_NODES, 0, 0, index))


def announce(namespace, host: HostNetwork, index_of: dict, names=None) -> list:
    """Announce every static address of the up devices in `names` (None: all); returns the errors, as text.

    Best effort by design: an address that cannot be announced (a device
    without a MAC, an IPv6 address still tentative) costs nothing but the
    switch's relearning time, so it is reported, never raised.
    """
    errors = []
    for dev in sorted(host.devices.values(), key=lambda d: d.name):
        if (names is not None and dev.name not in names) or not dev.up or not dev.mac or dev.name not in index_of \
                or is_loopback(dev):
            continue   # loopback: no switch to tell, and ::1 cannot be sent from
        for text in dev.ip.addresses or []:
            address = ipaddress.ip_interface(text).ip
            try:
                if address.version == 4:
                    _send_garp(namespace, dev.name, dev.mac, str(address))
                elif not address.is_link_local:
                    _send_na(namespace, index_of[dev.name], dev.mac, str(address))
            except OSError as exc:
                errors.append(f"{dev.name} {address}: {exc.strerror or exc}")
    return errors
