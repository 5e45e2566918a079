"""The change_window role's fault matrix over SSH, through the network being changed (tests/sshlab.py).

The controller (ansible-playbook in its own namespace) reaches the lab
hypervisor over SSH through vmbr0, so a change that cuts vmbr0 off really
cuts the controller off. Every row compares the complete state dump of the
hypervisor before the window and after it.

Rows that need no SSH (a module killed at every operation k, a killed
watchdog, two windows at once) are in tests/checkpoint; the power cut is in
the full-kernel lane (tests/fullkernel).
"""
from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from claims import assert_deadline_kept, stanza_options
from nstools import state_diff

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

ROLE_PLAY = """
- name: Change window
  hosts: hv1
  gather_facts: false
  roles:
    - role: netsafe.hypervisor.change_window
"""
OUTSIDE = "198.51.100.53"  # an address beyond the gateway (on the switch namespace's loopback)


def window_vars(lab, **extra) -> dict:
    values = {
        "change_window_guests": {"source": "explicit",
                                 "ports": [{"device": tap, "bridge": "vmbr0"} for tap in lab.taps]},
        "change_window_persist_format": "ifupdown2",
        "change_window_confirm_timeout": 60,
    }
    values.update(extra)
    return values


def report_of(results) -> dict:
    """change_window_report as the role left it (from the last 'Build the report' task)."""
    built = [r for r in results if r["task"].endswith("Build the report")]
    assert built, [r["task"] for r in results]
    return built[-1]["result"]["ansible_facts"]["change_window_report"]


def master_of(lab, name: str, settled: bool = True):
    return next(link for link in lab.state(settled=settled)["links"] if link["ifname"] == name)["master"]


def masters(lab, names) -> dict:
    """{link: its master} of `names`, from one settled dump."""
    links = {link["ifname"]: link for link in lab.state()["links"]}
    return {name: links[name]["master"] for name in names}


def interfaces_file(lab) -> str:
    """/etc/network/interfaces on hv as SSH reads it ('' when absent); an SSH that fails fails the test."""
    proc = lab.ssh("if [ -e /etc/network/interfaces ]; then cat /etc/network/interfaces; fi")
    assert proc.returncode == 0, f"ssh to hv failed (rc {proc.returncode}): {proc.stderr}"
    return proc.stdout


def wait_master(lab, name: str, master: str, proc, limit: float = 180) -> float:
    """time.time() once `name` has `master` in hv's kernel (the playbook `proc` made the change)."""
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        if master_of(lab, name, settled=False) == master:
            return time.time()
        assert proc.poll() is None, proc.stdout_path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{name} never got master {master}:\n" + proc.stdout_path.read_text())


def last_outcome(lab) -> dict:
    path = lab.state_dir / "checkpoint" / "host" / "last.json"
    return json.loads(path.read_text())


def outside_reachable(lab) -> None:
    """The switch namespace routes for an address beyond the gateway."""
    lab_sw = ["ip", "netns", "exec", lab.sw]
    os.spawnvp(os.P_WAIT, lab_sw[0], lab_sw + ["ip", "address", "add", f"{OUTSIDE}/32", "dev", "lo"])


def test_good_change_is_confirmed_and_persisted(sshlab):
    proc, results = sshlab.playbook(ROLE_PLAY, extra_vars=window_vars(
        sshlab, change_window_bridges=[{"name": "vmbr0", "ports": ["eno2"]}]), timeout=300)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    report = report_of(results)
    assert report["outcome"] == "confirmed", report
    assert report["summary"].startswith("hv1: CONFIRMED.")
    assert any("link set dev eno2 master vmbr0" in c for c in report["commands"])
    expected = {"eno1": None, "eno2": "vmbr0", **{tap: "vmbr0" for tap in sshlab.taps}}
    assert masters(sshlab, list(expected)) == expected
    assert last_outcome(sshlab)["outcome"] == "confirmed"
    interfaces = interfaces_file(sshlab)
    assert "bridge-ports eno2" in stanza_options(interfaces, "vmbr0"), interfaces   # the whole line
    assert not [tap for tap in sshlab.taps if tap in interfaces], interfaces   # guests are not the file's


def test_change_that_breaks_the_gateway_is_rolled_back_and_the_host_failed_with_a_report(sshlab):
    """A wrong gateway: the controller (same subnet) still reaches the host, the world beyond does not."""
    outside_reachable(sshlab)
    before = sshlab.state()
    files_before = interfaces_file(sshlab)
    proc, results = sshlab.playbook(ROLE_PLAY, extra_vars=window_vars(
        sshlab, change_window_bridges=[{"name": "vmbr0", "gateway4": "10.77.0.254"}],
        change_window_probes=[{"type": "icmp", "target": OUTSIDE, "count": 2}],
        change_window_gate_settle=600), timeout=300)
    assert proc.returncode != 0
    report = report_of(results)
    assert report["outcome"] == "rolled_back", report
    # net_state's own probes after the change failed, and it rolled back in that same run.
    assert "'Apply the change inside a checkpoint' failed: probes failed after the change" in report["reason"]
    assert OUTSIDE in report["reason"]
    assert report["rollback"]["by"] == "net_state"
    assert any("route replace default via 10.77.0.1" in c for c in report["rollback"]["commands"])
    after_rollback = report["probes"]["after_rollback"]
    assert len(after_rollback) == 1 and re.fullmatch(rf"icmp {re.escape(OUTSIDE)}: ok(, .+)?", after_rollback[0]), \
        after_rollback
    assert "ROLLED BACK" in report["summary"] and "as it was before the window" in report["summary"]
    assert state_diff(before, sshlab.state()) == []
    assert report["persisted"] == [] and interfaces_file(sshlab) == files_before


def test_change_that_cuts_the_controller_is_rolled_back_by_the_host_within_the_deadline(sshlab):
    """vmbr0 moved to a NIC with nothing behind it, the host-side gate off and a probe that cannot see the cut (the
    host's own address): net_state's probes pass and it returns, but its answer never reaches the controller. Only
    the deadline saves the host."""
    before = sshlab.state()
    timeout = 20
    armed_after = time.time()
    proc = sshlab.playbook(ROLE_PLAY, extra_vars=window_vars(
        sshlab, change_window_bridges=[{"name": "vmbr0", "ports": ["eno3"]}], change_window_gate=False,
        change_window_probes=[{"type": "icmp", "target": sshlab.address}],
        change_window_confirm_timeout=timeout, change_window_reach_timeout=120), background=True)
    armed_before = wait_master(sshlab, "eno3", "vmbr0", proc)   # armed before the change reached the kernel
    assert proc.wait(400) != 0, proc.stdout_path.read_text()[-5000:]
    results = sshlab.results(proc)
    last = last_outcome(sshlab)
    assert last["outcome"] == "rolled_back" and last["by"].startswith("watchdog pid"), last
    assert "not confirmed before its deadline" in last["reason"]
    assert_deadline_kept(last, timeout, armed_after, armed_before)   # the bound: within timeout + 2 s
    assert state_diff(before, sshlab.state()) == []
    assert sshlab.ssh("true").returncode == 0
    report = report_of(results)
    assert report["outcome"] == "rolled_back" and "cut the connection" in report["reason"], report
    assert report["rollback"]["by"].startswith("watchdog pid")
    assert "ROLLED BACK. Why:" in report["summary"] and "Restored by the host itself (watchdog pid" in report["summary"]


KILLED_PLAY = """
- name: A controller that is lost after the change
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Arm
      netsafe.hypervisor.net_checkpoint:
        state: armed
        timeout: {timeout}
    - name: Apply
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        ports: [eno2]
        mtu: 1400
    - name: The controller hangs here and is killed
      ansible.builtin.pause:
        seconds: 600
"""


def test_controller_killed_after_apply_the_host_rolls_back_by_itself(sshlab):
    before = sshlab.state()
    timeout = 10
    armed_after = time.time()
    proc = sshlab.playbook(KILLED_PLAY.format(timeout=timeout), background=True)
    armed_before = wait_master(sshlab, "eno2", "vmbr0", proc)   # armed before the change reached the kernel
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    last = None
    give_up = time.monotonic() + timeout + 30
    while time.monotonic() < give_up:
        path = sshlab.state_dir / "checkpoint" / "host" / "last.json"
        if path.exists():
            last = json.loads(path.read_text())
            break
        time.sleep(0.1)
    assert last and last["outcome"] == "rolled_back" and last["by"].startswith("watchdog pid"), last
    assert_deadline_kept(last, timeout, armed_after, armed_before)
    assert state_diff(before, sshlab.state()) == []
    assert sshlab.ssh("true").returncode == 0


def test_host_that_fails_its_probes_before_the_change_is_not_touched(sshlab):
    before = sshlab.state()
    proc, results = sshlab.playbook(ROLE_PLAY, extra_vars=window_vars(
        sshlab, change_window_bridges=[{"name": "vmbr0", "ports": ["eno2"]}],
        change_window_probes=[{"type": "icmp", "target": "10.77.0.99", "count": 1}]), timeout=300)
    assert proc.returncode != 0
    report = report_of(results)
    assert report["outcome"] == "not_touched" and "NOT TOUCHED" in report["summary"], report
    assert "10.77.0.99" in report["summary"]
    assert state_diff(before, sshlab.state()) == []
    assert not (sshlab.state_dir / "checkpoint" / "host" / "last.json").exists()  # never armed
    assert not list(sshlab.run_dir.glob("checkpoint/*/checkpoint.json"))
