"""The tap_guard role on a host where systemd is PID 1: its unit installed, started and doing its job.

The unit runs as the role writes it (Type=notify, ProtectSystem=strict, RuntimeDirectory=netsafe/lock,
RestrictAddressFamilies...), under the host's own systemd; a bridge deleted and made again under running
guests gets its guest ports back, before and after `systemctl restart`, and the journal says so.
"""
from __future__ import annotations

import json

import pytest

from checkpoints import task, wait_for

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

UNIT = "netsafe-tap-guard.service"
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
          - {device: tap101i0, bridge: vmbr0}
"""


def _masters(host) -> dict:
    links = json.loads(host.exec(["ip", "-j", "link", "show"], check=True).stdout)
    return {link["ifname"]: link.get("master") for link in links}


def _recreate_vmbr0(host) -> None:
    """What an ifreload or a botched manual change does: the bridge is gone, then back, empty."""
    host.exec("ip link del vmbr0 && ip link add vmbr0 type bridge && ip link set vmbr0 up", check=True)


def _guests_back(host) -> bool:
    masters = _masters(host)
    return masters.get("tap100i0") == "vmbr0" and masters.get("tap101i0") == "vmbr0"


def _show(host, prop: str) -> str:
    return host.exec(["systemctl", "show", "-P", prop, UNIT]).stdout.strip()


def test_the_role_starts_the_unit_and_it_puts_guests_back_across_a_restart(systemd_host_factory):
    host = systemd_host_factory(guests=2)
    proc, results = host.playbook(ROLE, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert task(results, "netsafe.hypervisor.tap_guard : Enable and start the watcher")["status"] == "changed"
    assert host.exec(["systemctl", "is-enabled", UNIT]).stdout.strip() == "enabled"
    wait_for("the unit active", lambda: _show(host, "ActiveState") == "active", timeout=30)
    # The sandbox the unit asks for is in force (systemd would fail the unit, 226/NAMESPACE, if it could not be).
    assert _show(host, "ProtectSystem") == "strict" and _show(host, "Type") == "notify"
    first_pid = _show(host, "MainPID")

    _recreate_vmbr0(host)
    wait_for("tap100i0 and tap101i0 back on vmbr0", lambda: _guests_back(host), timeout=20)

    restarted = host.exec(["systemctl", "restart", UNIT], timeout=60)
    assert restarted.returncode == 0, restarted.stderr
    wait_for("the unit active again", lambda: _show(host, "ActiveState") == "active", timeout=30)
    assert _show(host, "MainPID") not in ("0", first_pid)
    _recreate_vmbr0(host)
    wait_for("the guests back after the restart", lambda: _guests_back(host), timeout=20)

    journal = host.journal("-u", UNIT)
    reattached = [line for line in journal.splitlines() if "re-attached 2 guest port(s)" in line]
    assert len(reattached) >= 2, journal   # at least once per re-creation: before and after the restart
    assert all("tap100i0" in line and "tap101i0" in line for line in reattached), reattached
    assert "Started netsafe-tap-guard.service" in journal and "Stopping netsafe-tap-guard.service" in journal, journal
    assert _show(host, "NRestarts") == "0"   # it never crashed; the one restart was ours
