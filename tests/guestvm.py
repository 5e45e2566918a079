"""Guests that start while a change window is open, plugged the way their hypervisor plugs them, and the state dump
a rollback must leave: the one from before the window, except the new guests' plumbing, exactly as they left it.

MACs are fixed and above the lab NICs' (52:54:00:aa:..): a bridge without a MAC of its own takes its lowest port's,
so a port with a random, lower MAC would change the bridge it joins and every dump after it.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from nstools import iproute, kernel_state


# A small host on dummy NICs (lane: the host kernel has no dummy module): vmbr0 on eno1 with the host's address,
# eno2 free and up.
DUMMY_HOST = ["ip link add eno1 address 52:54:00:aa:00:01 type dummy",
              "ip link add eno2 address 52:54:00:aa:00:02 type dummy",
              "ip link add vmbr0 type bridge stp_state 0 forward_delay 0", "ip link set eno1 master vmbr0",
              "ip link set eno1 up", "ip link set eno2 up", "ip link set vmbr0 up",
              "ip address add 192.0.2.10/24 dev vmbr0"]


def _mac(vmid: int, index: int) -> str:
    return f"52:54:00:cc:{vmid % 256:02x}:{index:02x}"


def firewalled_vm(vmid: int, bridge: str) -> tuple:
    """(iproute2 lines, device names) of a VM NIC under the Proxmox VE firewall, as pve-firewall plugs it.

    tap<vmid>i0 and fwln<vmid>i0 on the firewall bridge fwbr<vmid>i0 (STP off, forward delay 0), joined to
    `bridge` by the veth pair's other end fwpr<vmid>p0.
    """
    tap, fwbr, fwln, fwpr = f"tap{vmid}i0", f"fwbr{vmid}i0", f"fwln{vmid}i0", f"fwpr{vmid}p0"
    lines = [f"ip tuntap add {tap} mode tap", f"ip link set {tap} address {_mac(vmid, 1)}",
             f"ip link add {fwbr} type bridge stp_state 0 forward_delay 0",
             f"ip link add {fwpr} address {_mac(vmid, 2)} type veth peer name {fwln} address {_mac(vmid, 3)}",
             f"ip link set {fwpr} master {bridge}", f"ip link set {fwln} master {fwbr}",
             f"ip link set {tap} master {fwbr}"]
    lines += [f"ip link set {dev} up" for dev in (fwbr, fwpr, fwln, tap)]
    return lines, [tap, fwbr, fwln, fwpr]


def vm_on(vmid: int, bridge: str, create_bridge: bool = False) -> tuple:
    """(lines, names) of a VM tap on `bridge`; with `create_bridge` the bridge is made first (STP off)."""
    tap = f"tap{vmid}i0"
    lines = [f"ip link add {bridge} type bridge stp_state 0 forward_delay 0", f"ip link set {bridge} up"] \
        if create_bridge else []
    lines += [f"ip tuntap add {tap} mode tap", f"ip link set {tap} address {_mac(vmid, 1)}",
              f"ip link set {tap} master {bridge}", f"ip link set {tap} up"]
    return lines, [tap] + ([bridge] if create_bridge else [])


def container_on(vmid: int, bridge: str) -> tuple:
    """(lines, names) of a running container's NIC on `bridge`: veth<vmid>i0 there, its peer ct<vmid> up (carrier)."""
    veth, peer = f"veth{vmid}i0", f"ct{vmid}"
    lines = [f"ip link add {veth} address {_mac(vmid, 1)} type veth peer name {peer} address {_mac(vmid, 2)}",
             f"ip link set {veth} master {bridge}", f"ip link set {veth} up", f"ip link set {peer} up"]
    return lines, [veth, peer]


def libvirt_network(bridge: str, tap: str, index: int) -> tuple:
    """(lines, names) of a libvirt network started with one guest: its bridge and the guest's vnet tap."""
    lines = [f"ip link add {bridge} type bridge stp_state 0 forward_delay 0", f"ip link set {bridge} up",
             f"ip tuntap add {tap} mode tap", f"ip link set {tap} address {_mac(200, index)}",
             f"ip link set {tap} master {bridge}", f"ip link set {tap} up"]
    return lines, [bridge, tap]


def start(ns: str, *guests: tuple) -> list:
    """Plug `guests` (each (lines, names) as above) into `ns` in one batch; returns every device name."""
    lines, names = [], []
    for guest_lines, guest_names in guests:
        lines += guest_lines
        names += guest_names
    iproute(ns, lines)
    return names


class StartWhenArmed(threading.Thread):
    """Plugs guests into `ns` as soon as a checkpoint record appears at `record` (the window is open).

    `names`: their devices; `during`: the dump taken right after, their devices as the guests left them.
    """

    def __init__(self, record: Path, ns: str, *guests: tuple, limit: float = 240.0):
        super().__init__(daemon=True)
        self.record, self.ns, self.guests, self.limit = record, ns, guests, limit
        self.names: list = []
        self.during = None
        self.error = None

    def run(self) -> None:
        give_up = time.monotonic() + self.limit
        while not self.record.exists():
            if time.monotonic() > give_up:
                self.error = f"no checkpoint record at {self.record} within {self.limit} s"
                return
            time.sleep(0.01)
        try:
            self.names = start(self.ns, *self.guests)
            self.during = kernel_state(self.ns)
        except RuntimeError as exc:
            self.error = str(exc)


def left_as_they_were(before: dict, during: dict, names) -> dict:
    """The dump `before` (a kernel_state), with the devices `names` (and their routes) as `during` has them."""
    names = set(names)
    expected = {
        "links": sorted([l for l in before["links"] if l["ifname"] not in names]
                        + [l for l in during["links"] if l["ifname"] in names], key=lambda l: l["ifname"]),
        "routes": before["routes"] + [r for r in during["routes"] if r.get("dev") in names],
    }
    for section in ("addrs", "bridge_vlans"):
        expected[section] = {k: v for k, v in before[section].items() if k not in names}
        expected[section].update({k: v for k, v in during[section].items() if k in names})
    expected["rules"] = before["rules"]
    for section, device in (("neighbours", "dev"), ("fdb", "ifname")):
        expected[section] = ([e for e in before[section] if e.get(device) not in names]
                             + [e for e in during[section] if e.get(device) in names])
    return expected
