"""`watchdog: systemd` on a host where systemd is PID 1 (tests/systemdhost.py): the transient unit for real.

The controller reaches the host over SSH through vmbr0; the change (a new bridge vmbr1 on eno2) leaves that
path alone, so what is tested is the watchdog and not the path. Every test ends with the complete kernel dump
of the host equal to the one before the checkpoint was armed.
"""
from __future__ import annotations

import pytest

from checkpoints import arm_and_change, link_names, step, unit_state, wait_for
from nstools import state_diff
from sshlab import _kill_namespace_processes

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def _unit_pid(host, unit: str) -> int:
    return int(host.exec(["systemctl", "show", "-P", "MainPID", unit]).stdout.strip() or 0)


def test_the_unit_outlives_the_controller_and_rolls_back_at_the_deadline(systemd_host):
    host = systemd_host
    before = host.state()
    checkpoint = arm_and_change(host, timeout=12, watchdog="systemd")
    dog = checkpoint["watchdog"]
    unit = f"netsafe-checkpoint-{checkpoint['id']}"
    assert (dog["kind"], dog["unit"], dog["fallback"]) == ("systemd", unit, None), dog
    # The controller is lost: ansible-playbook has ended and every process of the controller's namespace
    # (ssh's ControlPersist masters too) is killed, so no SSH session to the host is left.
    _kill_namespace_processes(host.ctl)
    wait_for("the SSH sessions' end", lambda: host.exec("pgrep -f '^sshd: root@' || true").stdout.strip() == "")
    assert unit_state(host, unit) == "active"
    assert _unit_pid(host, unit) == dog["pid"]
    assert "vmbr1" in link_names(host)
    wait_for("the watchdog's rollback", lambda: "vmbr1" not in link_names(host), timeout=30)
    wait_for(f"{unit} gone", lambda: unit_state(host, unit) == "inactive", timeout=15)
    assert state_diff(before, host.state()) == []
    journal = host.journal("-u", unit)
    assert f"{checkpoint['id']}: rolling back (not confirmed before its deadline" in journal, journal
    assert f"{checkpoint['id']}: rolled back in" in journal, journal
    assert "Deactivated successfully" in journal, journal
    last = step(host, state="query")["last"]
    assert (last["id"], last["outcome"], last["by"]) == (checkpoint["id"], "rolled_back", f"watchdog pid {dog['pid']}"), last


def test_systemctl_stop_rolls_back_at_once_and_query_says_so(systemd_host):
    host = systemd_host
    before = host.state()
    checkpoint = arm_and_change(host, timeout=300, watchdog="systemd")
    unit = checkpoint["watchdog"]["unit"]
    stopped = host.exec(["systemctl", "stop", unit], timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    # Not at the deadline five minutes from now: the stop itself rolled back, before the unit ended.
    assert "vmbr1" not in link_names(host)
    assert state_diff(before, host.state()) == []
    last = step(host, state="query")["last"]
    assert (last["id"], last["outcome"]) == (checkpoint["id"], "rolled_back"), last
    assert "SIGTERM received while armed" in last["reason"], last
    assert "SIGTERM received while armed" in host.journal("-u", unit)


def test_a_killed_unit_is_reported_by_query_and_nothing_is_lost(systemd_host):
    host = systemd_host
    before = host.state()
    checkpoint = arm_and_change(host, timeout=300, watchdog="systemd")
    unit = checkpoint["watchdog"]["unit"]
    killed = host.exec(["systemctl", "kill", "--signal=SIGKILL", unit])
    assert killed.returncode == 0, killed.stderr
    wait_for(f"{unit} gone", lambda: unit_state(host, unit) in ("inactive", "failed"), timeout=15)
    assert "vmbr1" in link_names(host)   # SIGKILL cannot be caught: nothing rolled back by itself
    queried = step(host, state="query")
    armed = queried["checkpoint"]
    assert armed["id"] == checkpoint["id"] and armed["orphaned"] and not armed["watchdog_alive"], armed
    assert f"its watchdog (systemd pid {checkpoint['watchdog']['pid']}) is not running" in armed["problem"], armed
    # The operator's way out that query names: roll back by hand.
    rolled = step(host, state="rolled_back")
    assert rolled["changed"], rolled
    assert state_diff(before, host.state()) == []
