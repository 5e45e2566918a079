"""The SSH lab is what it claims: the controller reaches hv over SSH through vmbr0, and only through it."""
from __future__ import annotations

import os
import shlex
import subprocess
import time

import pytest

from sshlab import LOCK_DIR, ROOT, SshLab

pytestmark = [pytest.mark.kernel, pytest.mark.ansible]

PLAY = """
- name: Reach the lab hypervisor over SSH
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:

    - name: Read vmbr0 in check mode
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        ports: [eno1]
      check_mode: true
"""


def _alive(pid: int) -> bool:
    """A process that runs (a zombie waiting for this machine's init to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _task(results, name):
    found = [r for r in results if r["task"] == name]
    assert found, f"no result for {name!r}: {[r['task'] for r in results]}"
    return found[-1]


def test_playbook_reaches_hv_over_ssh(sshlab):
    before = sshlab.state()
    proc, results = sshlab.playbook(PLAY, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _task(results, "Ping")["status"] == "ok"
    bridge = _task(results, "Read vmbr0 in check mode")
    assert bridge["status"] == "ok", bridge
    state = bridge["result"]["state"]
    assert state["ports"] == ["eno1"]
    assert sorted(state["guest_ports"]) == ["tap100i0", "tap101i0"]
    assert "10.77.0.2/24" in state["addresses"]
    assert sshlab.state() == before
    # It went over SSH, to sshd in hv: sshd logged the controller's connections.
    assert "Accepted publickey for root from 10.77.0.10" in sshlab.sshd_log.read_text()


def _move_port(lab, old, new):
    lab.exec(f"ip link set {old} nomaster && ip link set {new} master vmbr0", check=True)


def test_ssh_path_goes_through_vmbr0(sshlab):
    assert sshlab.ssh("true").returncode == 0
    # vmbr0 on eno3: no path to the switch, so none to the controller.
    _move_port(sshlab, "eno1", "eno3")
    cut = sshlab.ssh("true", timeout=8)
    assert cut.returncode != 0, cut
    # back on eno1: reachable again.
    _move_port(sshlab, "eno3", "eno1")
    assert sshlab.ssh("true", timeout=15).returncode == 0
    # on eno2, the second good uplink: reachable once the switch has seen vmbr0's MAC there (one frame from hv).
    _move_port(sshlab, "eno1", "eno2")
    sshlab.exec("ping -c1 -W2 10.77.0.1")
    ok = sshlab.ssh("ip -j link show vmbr0 >/dev/null && cat /sys/class/net/eno2/master/uevent", timeout=15)
    assert ok.returncode == 0, ok
    assert "INTERFACE=vmbr0" in ok.stdout


def test_switch_keeps_a_stale_entry_while_vmbr0_keeps_carrier(sshlab):
    """Like a real switch: an uplink swap that vmbr0 rides through with carrier (eno3 stands in for a
    running guest's tap) leaves the switch sending vmbr0's frames to the old port until hv speaks."""
    sshlab.exec("ip link set eno3 master vmbr0", check=True)      # carrier stays up through the swap
    assert sshlab.ssh("true", timeout=15).returncode == 0
    # hv's own unsolicited IPv6 reports (sent up to ~2 s after vmbr0 came up) would teach the switch too.
    time.sleep(4)
    _move_port(sshlab, "eno1", "eno2")
    assert sshlab.ssh("true", timeout=6).returncode != 0
    sshlab.exec("ping -c1 -W2 10.77.0.1")                         # hv speaks: the switch relearns
    assert sshlab.ssh("true", timeout=15).returncode == 0


def test_detached_process_outlives_the_session_and_sees_the_lab_dirs(sshlab):
    marker = "detached.txt"
    script = ("sleep 2; readlink /proc/self/ns/net /proc/self/ns/mnt > /run/netsafe/{m}.tmp;"
              " cat /proc/self/mountinfo | grep -c ' /var/lib/netsafe ' >> /run/netsafe/{m}.tmp;"
              " mv /run/netsafe/{m}.tmp /run/netsafe/{m}; sleep 300").format(m=marker)
    started = time.monotonic()
    proc = sshlab.ssh(f"setsid nohup sh -c {shlex.quote(script)} </dev/null >/dev/null 2>&1 & echo $!", timeout=15)
    assert proc.returncode == 0, proc
    assert time.monotonic() - started < 5, "the SSH session waited for the detached process"
    pid = int(proc.stdout.strip())
    sshd_pid = int(sshlab.sshd_pid_file.read_text())
    # The session is over; the process lives on, in hv's network namespace and sshd's mount namespace.
    target = sshlab.run_dir / marker
    for _poll in range(100):
        if target.exists():
            break
        time.sleep(0.1)
    assert target.exists(), "the detached process did not write into lab.run_dir through /run/netsafe"
    net_ns, mnt_ns, state_mounts = target.read_text().split()
    assert net_ns == os.readlink(f"/proc/{sshd_pid}/ns/net")
    assert mnt_ns == os.readlink(f"/proc/{sshd_pid}/ns/mnt")
    assert mnt_ns != os.readlink("/proc/self/ns/mnt")
    assert state_mounts == "1"
    assert _alive(pid) and pid in sshlab.pids()[sshlab.hv]
    assert os.getsid(pid) == pid, "not in its own session"
    # /var/lib/netsafe lands in lab.state_dir the same way.
    assert sshlab.ssh("echo s > /var/lib/netsafe/x").returncode == 0
    assert (sshlab.state_dir / "x").read_text() == "s\n"
    # And nothing of it reached this machine's own /run or /var/lib.
    assert not os.path.exists(f"/run/netsafe/{marker}")
    assert not os.path.exists("/var/lib/netsafe/x")


def _mounts_mentioning(text):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/mountinfo", encoding="utf-8") as handle:
                if text in handle.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def test_cleanup_leaves_nothing(sshlab_factory):
    lab = sshlab_factory(guests=3)
    assert list(lab.taps) == ["tap100i0", "tap101i0", "tap102i0"]
    detached = lab.ssh("setsid nohup sleep 600 </dev/null >/dev/null 2>&1 & echo $!").stdout.strip()
    sshd_pid = int(lab.sshd_pid_file.read_text())
    prefix, lab_dir = lab.prefix, lab.dir
    assert _mounts_mentioning(str(lab_dir))
    lab.close()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in names.splitlines() if line.startswith(f"{prefix}-")]
    for pid in (sshd_pid, int(detached)):
        assert not _alive(pid), f"process {pid} survived"
    assert not _mounts_mentioning(str(lab_dir)), "a mount of the lab is left"
    assert not lab_dir.exists()


def test_leftover_of_a_crashed_run_is_removed():
    """A lab whose owner died (SIGKILL: no cleanup ran) is removed when its number is taken again."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    code = ("import sys, os, signal; sys.path.insert(0, 'tests'); from sshlab import SshLab; "
            "lab = SshLab(prefix='slcrash').start(); "
            "print(lab.ssh('setsid nohup sleep 600 </dev/null >/dev/null 2>&1 & echo $!').stdout.strip(), flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    crashed = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code],
                             capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert crashed.returncode == -9, crashed.stderr
    orphan = int(crashed.stdout.split()[-1])
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "slcrash-hv" in names and _alive(orphan)
    lab = SshLab(prefix="slcrash")
    try:
        lab.start()
        assert not _alive(orphan), "the crashed lab's process survived"
        assert lab.ssh("true").returncode == 0
    finally:
        lab.close()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "slcrash-" not in names
    assert (LOCK_DIR / "slcrash.lock").read_text() == ""
