"""Model hosts the persistence tests share: what a hypervisor's kernel holds, read into the model.

Each function returns the HostNetwork that `read_host` would give for such a
host (guest ports and loopback included), so that scope.persisted() and every
format are tested on the same shapes.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import description


def _ip(*addresses, gateway4=None, gateway6=None, routes=None) -> IpConfig:
    return IpConfig(addresses=list(addresses), gateway4=gateway4, gateway6=gateway6, routes=routes)


def as_read(host: HostNetwork) -> HostNetwork:
    """`host` as read_host gives it: a bridge reports every option (the kernel's default where none was set), a
    bridge's port its cost (100: a port whose speed the kernel does not know) and priority."""
    for dev in host.devices.values():
        if isinstance(dev, Bridge):
            for attr in BRIDGE.attrs:
                if getattr(dev, attr.name) is None:
                    setattr(dev, attr.name, attr.default)
        if isinstance(host.get(dev.master or ""), Bridge):
            dev.port_cost = 100 if dev.port_cost is None else dev.port_cost
            dev.port_priority = 32 if dev.port_priority is None else dev.port_priority
    return host


def base_host() -> HostNetwork:
    host = HostNetwork()
    host.add(Nic(name="lo", mtu=65536, mac="00:00:00:00:00:00", up=True, kind="", ip=_ip("127.0.0.1/8", "::1/128")))
    return host


def proxmox_host() -> HostNetwork:
    """The issue's host: a bond of two NICs, a VLAN on it, a bridge on that VLAN with address and gateway,
    a vlan-aware bridge with port VLANs, guests on both bridges, one NIC outside everything."""
    host = base_host()
    host.add(Nic(name="eno1", mtu=9000, mac="52:54:00:00:01:01", up=True, master="bond0", kind="", ip=_ip()))
    host.add(Nic(name="eno2", mtu=9000, mac="52:54:00:00:01:02", up=True, master="bond0", kind="", ip=_ip()))
    host.add(Bond(name="bond0", mtu=9000, mac="52:54:00:00:01:01", up=True, mode="802.3ad", miimon=100, updelay=200,
                  downdelay=200, lacp_rate="fast", xmit_hash_policy="layer3+4", ad_select="stable", arp_interval=0,
                  arp_ip_target=[], min_links=1, primary=None, ip=_ip()))
    host.add(Vlan(name="bond0.10", mtu=1500, mac="52:54:00:00:01:01", up=True, master="vmbr10", parent="bond0",
                  vlan_id=10, protocol="802.1Q", loose_binding=False, ip=_ip(), port_cost=100, port_priority=32))
    host.add(Bridge(name="vmbr10", mtu=1500, mac="52:54:00:00:01:01", up=True, stp=False, forward_delay=0.0,
                    vlan_filtering=False,
                    ip=_ip("192.0.2.10/24", "2001:db8:10::10/64", gateway4="192.0.2.1", gateway6="2001:db8:10::1")))
    host.add(Nic(name="eno3", mtu=1500, mac="52:54:00:00:01:03", up=True, master="vmbr1", kind="",
                 ip=_ip(), vlans={"pvid": 1, "untagged": [[1, 1]], "tagged": [[2, 4094]]}, port_cost=100, port_priority=32))
    host.add(Bridge(name="vmbr1", mtu=1500, mac="52:54:00:00:01:03", up=True, stp=True, forward_delay=4.0,
                    vlan_filtering=True, ip=_ip(), vlans={"pvid": 1, "untagged": [[1, 1]], "tagged": []}))
    host.add(Nic(name="eno4", mtu=1500, mac="52:54:00:00:01:04", up=False, kind="", ip=_ip()))
    host.add(GuestPort(name="tap100i0", mtu=1500, up=True, master="vmbr10", kind="tap", ip=_ip()))
    host.add(GuestPort(name="tap101i0", mtu=1500, up=True, master="vmbr1", kind="tap", ip=_ip(),
                       vlans={"pvid": 20, "untagged": [[20, 20]], "tagged": []}))
    return as_read(host)


def small_hosts() -> dict:
    """Other shapes, by name: each a corner a format must say exactly."""
    hosts = {}

    host = base_host()
    host.add(Bridge(name="br-empty", mtu=1500, up=True, stp=False, forward_delay=15.0, vlan_filtering=False, ip=_ip()))
    hosts["empty bridge, no ports"] = host

    host = base_host()
    host.add(Nic(name="eth0", mtu=1500, up=True, master="vmbr0", kind="", ip=_ip(), port_cost=100, port_priority=32))
    host.add(Bridge(name="vmbr0", mtu=1500, up=False, stp=False, forward_delay=2.5, vlan_filtering=False,
                    ip=_ip("198.51.100.2/25")))
    hosts["bridge down, fractional forward delay, address without gateway"] = host

    host = base_host()
    host.add(Nic(name="ens1", mtu=1500, up=True, master="bond1", kind="", ip=_ip()))
    host.add(Nic(name="ens2", mtu=1500, up=True, master="bond1", kind="", ip=_ip()))
    host.add(Bond(name="bond1", mtu=1500, up=True, mode="active-backup", miimon=0, updelay=0, downdelay=0,
                  lacp_rate="slow", xmit_hash_policy="layer2", ad_select="stable", arp_interval=1000,
                  arp_ip_target=["192.0.2.1", "192.0.2.2"], min_links=0, primary="ens2",
                  ip=_ip("192.0.2.50/24", gateway4="192.0.2.1")))
    hosts["active-backup bond with ARP monitoring and primary, address on the bond"] = host

    host = base_host()
    host.add(Nic(name="ens3", mtu=1500, up=True, kind="", ip=_ip()))
    host.add(Vlan(name="vlan300", mtu=1400, up=True, parent="ens3", vlan_id=300, protocol="802.1ad", ip=_ip("2001:db8::5/64")))
    host.add(Vlan(name="ens3.4094", mtu=1500, up=True, parent="ens3", vlan_id=4094, protocol="802.1Q", ip=_ip()))
    hosts["VLANs on a bare NIC: 802.1ad with its own name, parent.id name"] = host

    host = base_host()
    host.add(Nic(name="ens4", mtu=1500, up=True, kind="", ip=_ip(), master="vmbr2", port_cost=100, port_priority=32,
                 vlans={"pvid": 30, "untagged": [[30, 30]], "tagged": [[100, 200], [300, 300]]}))
    host.add(Bridge(name="vmbr2", mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=True, ip=_ip(),
                    vlans={"pvid": None, "untagged": [], "tagged": [[100, 100]]}))
    host.add(Vlan(name="vmbr2.100", mtu=1500, up=True, parent="vmbr2", vlan_id=100, protocol="802.1Q",
                  ip=_ip("203.0.113.7/24", gateway4="203.0.113.1")))
    hosts["vlan-aware bridge: port pvid and tagged ranges, VLAN device on the bridge"] = host

    host = base_host()
    host.add(Nic(name="ens5", mtu=9000, up=True, master="vmbr5", kind="", ip=_ip(), port_cost=4, port_priority=12))
    host.add(Nic(name="ens6", mtu=9000, up=True, master="vmbr5", kind="", ip=_ip(), port_cost=100, port_priority=63))
    host.add(Nic(name="ens7", mtu=4000, up=False, kind="", ip=_ip()))
    host.add(Bridge(name="vmbr5", mtu=9000, up=True, stp=True, forward_delay=4.0, vlan_filtering=False, ip=_ip(),
                    ageing_time=600.0, mcast_snooping=False, hello_time=1.0, max_age=10.0, priority=4096))
    hosts["tuned bridge: ageing, snooping off, STP timers, priority, port costs and priorities; a NIC down"] = host
    return {name: as_read(host) for name, host in hosts.items()}


def routed_hosts() -> dict:
    """Hosts with static routes, as the kernel read gives them (every device's routes a list, protocols named)."""
    host = base_host()
    host.add(Nic(name="eth5", mtu=1500, up=True, master="vmbr5", kind="", ip=_ip(routes=[])))
    host.add(Bridge(name="vmbr5", mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=False, ip=_ip(
        "192.0.2.10/24", "2001:db8:5::10/64", gateway4="192.0.2.1", gateway6="2001:db8:5::1", routes=[
            Route(dst="10.20.0.0/16", via="192.0.2.254", proto="boot"),           # main table, via a gateway
            Route(dst="10.30.0.0/16", via="192.0.2.254", table=100, proto="static"),
            Route(dst="0.0.0.0/0", via="192.0.2.253", table=100, proto="static"),  # a default, but in table 100
            Route(dst="0.0.0.0/0", via="192.0.2.252", metric=425, proto="static"),  # a second default, metric 425
            Route(dst="10.40.0.0/16", via="192.0.2.254", metric=50, proto="boot"),
            Route(dst="10.50.0.0/16", via="198.51.100.1", onlink=True, proto="boot"),
            Route(dst="203.0.113.0/24", proto="static"),                           # on the link, no gateway
            Route(dst="2001:db8:20::/48", via="2001:db8:5::fe", proto="static"),
            Route(dst="2001:db8:30::/48", via="2001:db8:5::fe", metric=200, table=100, proto="boot"),
        ])))
    return {"routed bridge: gateways, routes in main and table 100, IPv6, metric, onlink, no gateway": as_read(host)}


def described_like(model: HostNetwork, want: HostNetwork) -> dict:
    """`described(model)`, leaving open what `want` leaves open (routes None: not managed; scope.description)."""
    return {name: description(dev, want.get(name)) if want.get(name) is not None else dev.to_dict()
            for name, dev in model.devices.items()}


def applied(files: dict, changes: dict) -> dict:
    """`files` ({path: text}) after a renderer's `changes` ({path: text, or None to delete})."""
    out = dict(files)
    for path, text in changes.items():
        if text is None:
            out.pop(path, None)
        else:
            out[path] = text
    return out


def described(model: HostNetwork) -> dict:
    """A model as comparable plain data, by device name."""
    return {name: dev.to_dict() for name, dev in model.devices.items()}


# What a format cannot say, by host: (device, option) its render must refuse, naming both.
INEXPRESSIBLE = {
    "netplan": {
        "proxmox host": ("vmbr1", "vlan_filtering"),
        "VLANs on a bare NIC: 802.1ad with its own name, parent.id name": ("vlan300", "protocol: 802.1ad"),
        "vlan-aware bridge: port pvid and tagged ranges, VLAN device on the bridge": ("vmbr2", "vlan_filtering"),
        "tuned bridge: ageing, snooping off, STP timers, priority, port costs and priorities; a NIC down":
            ("vmbr5", "mcast_snooping"),
    },
}


def sayable(fmt_name: str, host: HostNetwork) -> HostNetwork:
    """`host` without what format `fmt_name` cannot say (INEXPRESSIBLE): netplan has no vlan-aware bridge, no
    multicast snooping key and no 802.1ad VLAN. The same host for every other format."""
    if fmt_name not in INEXPRESSIBLE:
        return host
    for dev in host.devices.values():
        dev.vlans = None
        if isinstance(dev, Bridge):
            dev.vlan_filtering, dev.mcast_snooping = False, True
        if isinstance(dev, Vlan):
            dev.protocol = "802.1Q"
    return host
