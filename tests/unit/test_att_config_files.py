"""Review (attacker): config files that are not regular files, and names that escape their directory."""
from __future__ import annotations

import os
import threading

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.libvirt import parse_libvirt_domain


def _within(seconds: float, fn):
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    return out.get("result"), thread.is_alive()


def test_a_fifo_among_the_proxmox_configs_is_that_guests_problem_not_a_hang(tmp_path):
    node = tmp_path / "pve"
    (node / "qemu-server").mkdir(parents=True)
    (node / "qemu-server" / "100.conf").write_text("net0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n")
    os.mkfifo(node / "qemu-server" / "101.conf")
    result, hung = _within(5, lambda: discover("proxmox", proxmox_dir=str(node)))
    if hung:   # let the reader go
        with open(node / "qemu-server" / "101.conf", "w"):
            pass
    assert not hung, "discover() blocks forever on a FIFO named like a config: tap_reenslave and tap_guard hang"


def test_a_libvirt_network_name_cannot_lead_out_of_the_networks_directory(tmp_path):
    networks = tmp_path / "etc" / "networks"
    networks.mkdir(parents=True)
    (tmp_path / "evil.xml").write_text("<network><name>evil</name><bridge name='vmbr7'/></network>")
    domain = ("<domain type='kvm'><name>dom</name><devices><interface type='network'>"
              "<source network='../../evil'/><target dev='vnet9'/></interface></devices></domain>")
    found = parse_libvirt_domain(domain, "dom.xml", str(networks))
    assert [(n.device, n.bridge) for n in found.nics] == [], "read the network definition ../../evil.xml"
