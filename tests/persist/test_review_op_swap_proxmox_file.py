"""A swapped uplink, and a standalone NIC that is up, saved onto the file Proxmox VE itself writes.

Proxmox VE writes NICs as `iface eno1 inet manual` with no `auto` line (a bridge brings its ports up). Found by
the operator review: vmbr0's uplink swapped in the kernel (eno1 detached but still up, eno3 added) could not be
saved at all ("eno1: ifupdown2 stanzas cannot say up as desired", nothing written), nor could `devices: [eno2]`
for a standalone NIC that is up. The format counted a desired-up device as brought up by the `auto` line it
would get itself (_Context.reach), so it never added that line and its own check refused the result. Debian's
ifupdown2 (`ifup -a` in a fresh namespace) then builds what runs.
"""
from __future__ import annotations

import pytest

import persist_lab
import realstacks
from nstools import iproute, settled_state, state_diff
from persist_lab import persist

pytestmark = pytest.mark.kernel

NICS = ("eno1", "eno2", "eno3")
PROXMOX_FILE = """auto lo
iface lo inet loopback

iface eno1 inet manual

iface eno2 inet manual

iface eno3 inet manual

auto vmbr0
iface vmbr0 inet static
\taddress 192.0.2.10/24
\tbridge-ports eno1
\tbridge-stp off
\tbridge-fd 0

source /etc/network/interfaces.d/*
"""
# What the two saves make of it: `auto` for the NICs that must come up by themselves, the new port listed (the MTU
# of every NIC in scope is written, as on any save, and a bridge port's cost: the kernel derived 2 for the veth).
SAVED = """auto lo
iface lo inet loopback

auto eno1
iface eno1 inet manual
\tmtu 1500

auto eno2
iface eno2 inet manual
\tmtu 1500

iface eno3 inet manual
\tbridge-pathcosts 2
\tmtu 1500

auto vmbr0
iface vmbr0 inet static
\taddress 192.0.2.10/24
\tbridge-ports eno3
\tbridge-stp off
\tbridge-fd 0

source /etc/network/interfaces.d/*
"""


def test_a_swapped_uplink_and_a_standalone_nic_are_saved_onto_the_file_proxmox_wrote(namespaces, tmp_path):
    ns, peer = namespaces.new(), namespaces.new()
    persist_lab.nics(ns, peer, NICS)
    iproute(ns, ["ip link set lo up", "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
                 "ip link set eno1 master vmbr0", "ip link set eno1 up", "ip link set vmbr0 up",
                 "ip address add 192.0.2.10/24 dev vmbr0"])
    main = tmp_path / "etc/network/interfaces"
    (tmp_path / "etc/network/interfaces.d").mkdir(parents=True)
    main.write_text(PROXMOX_FILE)
    iproute(ns, ["ip link set eno1 nomaster", "ip link set eno3 master vmbr0", "ip link set eno3 up",
                 "ip link set eno2 up"])

    swap = persist(ns, tmp_path, "ifupdown2", devices=["vmbr0"])
    assert swap["changed"] and not swap.get("failed"), swap.get("msg")
    alone = persist(ns, tmp_path, "ifupdown2", devices=["eno2"])
    assert alone["changed"] and not alone.get("failed"), alone.get("msg")
    assert main.read_text() == SAVED
    assert not persist(ns, tmp_path, "ifupdown2", devices=["vmbr0", "eno2"])["changed"]

    fresh, fresh_peer = namespaces.new(), namespaces.new()
    persist_lab.nics(fresh, fresh_peer, NICS)
    realstacks.ifupdown2(fresh, ["ifup", "-a", "-i", "/etc/network/interfaces"], tmp_path, check=True)
    assert state_diff(settled_state(ns), settled_state(fresh)) == []
