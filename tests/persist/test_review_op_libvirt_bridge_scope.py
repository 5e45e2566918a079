"""libvirt's network bridges are libvirt's: the default persistence scope leaves virbrN out, and naming one fails.

Found by the operator review: on a Debian KVM host with libvirt's default NAT network running (virbr0 with a
guest's vnet0), the README's first net_persist example (no `devices`), and `change_window_persist_devices: []`
(which leaves `devices` out), wrote `auto virbr0` with libvirt's address into the host's file. libvirt creates
virbrN from /etc/libvirt/qemu/networks when it starts the network; at boot ifupdown2 would make it first. Now
virbrN is guest plumbing for the files as it already was for a rollback (model.HYPERVISOR_BRIDGES).
"""
from __future__ import annotations

import pytest

import persist_lab
from persist_lab import persist, snapshot_files
from nstools import iproute

pytestmark = pytest.mark.kernel


def test_the_default_scope_leaves_out_libvirts_network_bridge_and_naming_it_fails(namespaces, tmp_path):
    ns, peer = namespaces.new(), namespaces.new()
    persist_lab.nics(ns, peer, ("eno1",))
    iproute(ns, ["ip link add vmbr0 type bridge stp_state 0 forward_delay 0", "ip link set eno1 master vmbr0",
                 "ip link set eno1 up", "ip link set vmbr0 up",
                 "ip link add virbr0 type bridge stp_state 1", "ip link set virbr0 up",
                 "ip address add 192.168.122.1/24 dev virbr0",
                 "ip tuntap add vnet0 mode tap", "ip link set vnet0 master virbr0", "ip link set vnet0 up"])
    (tmp_path / "etc/network").mkdir(parents=True)
    (tmp_path / "etc/network/interfaces").write_text("auto lo\niface lo inet loopback\n")
    saved = persist(ns, tmp_path, "ifupdown2")
    assert not saved.get("failed") and saved["devices"] == ["eno1", "vmbr0"], saved
    text = (tmp_path / "etc/network/interfaces").read_text()
    assert "virbr0" not in text and "192.168.122.1" not in text, text
    files = snapshot_files(tmp_path)
    named = persist(ns, tmp_path, "ifupdown2", devices=["vmbr0", "virbr0"])
    assert named["failed"] and named["msg"].startswith("devices: 'virbr0' is guest plumbing"), named
    assert "libvirt's virbrN network bridges" in named["msg"]
    assert snapshot_files(tmp_path) == files
