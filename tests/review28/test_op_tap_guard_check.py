"""Operator review of issue 28: `--check` of the tap_guard role before its first install, on a systemd host.

An operator previews a role before running it. On a host without the unit yet, the role's last task
(ansible.builtin.systemd_service, enabled + started) fails in check mode: "Could not find the requested service
netsafe-tap-guard.service" (the unit file was only "written" in check mode). The preview of a first install fails.
"""
from __future__ import annotations

import pytest

from realhost.conftest import systemd_host, systemd_host_factory  # noqa: F401  pylint: disable=unused-import

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

ROLE = """
- name: Install tap_guard
  hosts: hv1
  gather_facts: false
  roles:
    - role: netsafe.hypervisor.tap_guard
      vars:
        tap_guard_source: explicit
        tap_guard_ports:
          - {device: tap100i0, bridge: vmbr0}
"""


def test_op_check_mode_previews_a_first_install(systemd_host):
    host = systemd_host
    proc, _results = host.playbook(ROLE, timeout=300, args=["--check", "--diff"])
    assert proc.returncode == 0, proc.stdout[-1500:]
    assert host.read("/etc/systemd/system/netsafe-tap-guard.service") is None   # a preview writes nothing
