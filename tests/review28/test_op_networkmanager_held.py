"""Operator review of issue 28: profiles held for a change confirmed without persist, on a host where NetworkManager
runs from keyfiles.

docs/net_persist_networkmanager.md: "A change confirmed without persist keeps its profiles held: letting them
auto-activate would undo it." But a rollback loads *every* held profile from its file again (window.py calls
nm_hands.give_back for all of them), including those of an earlier window that was confirmed and kept: the rollback of
an unrelated later window lets NetworkManager auto-activate the old port's profile, which puts eno1 back into vmbr0
next to eno2. Two uplinks in one bridge without STP: a loop on a real switch, and the confirmed change half undone.
The same when net_persist saves the files of another device (engine.py gives back every held profile too).
"""
from __future__ import annotations

import time

import pytest

from op28lab import MOVE_VMBR0_TO_ENO2, boot_with, run, task
from realhost.conftest import systemd_host, systemd_host_factory  # noqa: F401  pylint: disable=unused-import

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


UNRELATED_ROLLED_BACK = """
- name: Another change (vmbr1 on eno3), rolled back
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Arm
      netsafe.hypervisor.net_checkpoint:
        state: armed
        timeout: 120
      register: armed
    - name: Change
      netsafe.hypervisor.net_bridge:
        name: vmbr1
        ports: [eno3]
    - name: Roll back
      netsafe.hypervisor.net_checkpoint:
        state: rolled_back
        id: "{{ armed.checkpoint.id }}"
"""


def _ports(host) -> set:
    return {line.split(":")[1].strip().split("@")[0] for line in host.exec("bridge link").stdout.splitlines()
            if "master vmbr0" in line}


def test_op_rollback_of_another_window_keeps_a_confirmed_change(systemd_host):
    host = systemd_host
    boot_with(host, "networkmanager")
    results = run(host, MOVE_VMBR0_TO_ENO2, finish="confirmed", persist="")
    assert task(results, "Finish")["result"]["changed"]
    assert _ports(host) == {"eno2"}
    assert host.read("/run/netsafe/networkmanager-held.json") is not None   # held, as documented
    results = run(host, UNRELATED_ROLLED_BACK)
    assert task(results, "Roll back")["result"]["changed"]
    for _second in range(8):   # NetworkManager auto-activates within milliseconds of the load; a few seconds' margin
        assert _ports(host) == {"eno2"}, f"vmbr0's ports after another window's rollback: {sorted(_ports(host))}"
        time.sleep(1)


SAVE_ANOTHER_DEVICE = """
- name: Save the files of another device only
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Save
      netsafe.hypervisor.net_persist:
        format: networkmanager
        devices: [eno3]
"""


def test_op_saving_another_device_keeps_a_confirmed_change(systemd_host):
    host = systemd_host
    boot_with(host, "networkmanager")
    run(host, MOVE_VMBR0_TO_ENO2, finish="confirmed", persist="")
    assert _ports(host) == {"eno2"}
    results = run(host, SAVE_ANOTHER_DEVICE)
    files = [f["path"] for f in task(results, "Save")["result"]["files"]]
    assert files == ["/etc/NetworkManager/system-connections/eno3.nmconnection"], files
    for _second in range(8):
        assert _ports(host) == {"eno2"}, f"vmbr0's ports after saving eno3's file: {sorted(_ports(host))}"
        time.sleep(1)
