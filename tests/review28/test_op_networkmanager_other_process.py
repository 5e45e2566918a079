"""Operator review of issue 28: nm_hands decides "NetworkManager runs" from any process named NetworkManager.

nm_hands.running() scans /proc for a process whose comm is NetworkManager. On a hypervisor, /proc also lists the
processes of its system containers (LXC/LXD guests, podman): a guest running its own NetworkManager makes the host
look like a NetworkManager host. Where nmcli is installed but the host's NetworkManager is not running (a Debian or
Ubuntu host moved to ifupdown2 or networkd with network-manager left installed), every change is then refused:
"nmcli connection show failed (rc 8): Error: NetworkManager is not running." The stand-in here is a process of
that name that is not the host's NetworkManager (the unit is inactive).
"""
from __future__ import annotations

import pytest

from op28lab import run, task
from realhost.conftest import systemd_host, systemd_host_factory  # noqa: F401  pylint: disable=unused-import

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

CHANGE = """
- name: A change on a host whose NetworkManager does not run
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Change
      netsafe.hypervisor.net_bridge:
        name: vmbr1
        ports: [eno3]
"""


def test_op_a_guests_networkmanager_does_not_block_changes(systemd_host):
    host = systemd_host
    assert host.exec("systemctl is-active NetworkManager.service").stdout.strip() == "inactive"
    host.exec("cp /bin/sleep /usr/local/bin/NetworkManager && (setsid /usr/local/bin/NetworkManager 600 "
              ">/dev/null 2>&1 &)", check=True)
    results = run(host, CHANGE, check=False)
    change = task(results, "Change")
    assert change["status"] == "changed", change["result"].get("msg")
