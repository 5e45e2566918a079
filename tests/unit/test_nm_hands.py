"""nm_hands' pure parts: which devices a plan touches, and that labs' namespaces are never NetworkManager's.

What NetworkManager does with it runs on the systemd test host (tests/realhost/test_networkmanager_running.py).
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import nm_hands
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_ADD, LINK_SET, Operation


def test_a_plan_touches_its_devices_and_the_masters_it_names():
    ops = [Operation(LINK_SET, "eno1", {"master": None}), Operation(LINK_SET, "eno2", {"master": "vmbr0"}),
           Operation(LINK_ADD, "vmbr1", {"kind": "bridge"})]
    assert nm_hands.touched_devices(ops) == {"eno1", "eno2", "vmbr0", "vmbr1"}


def test_nothing_is_held_or_loaded_for_a_namespace(monkeypatch):
    def no_nmcli(*args):
        raise AssertionError(f"nmcli {args} run for a namespace")

    monkeypatch.setattr(nm_hands, "_nmcli", no_nmcli)
    assert nm_hands.running("lab1") is False
    assert nm_hands.hold({"vmbr0"}, "lab1") == []
    assert nm_hands.give_back("lab1", load=["/etc/NetworkManager/system-connections/vmbr0.nmconnection"]) == []
