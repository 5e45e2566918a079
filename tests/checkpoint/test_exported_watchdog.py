"""The watchdog runs from the code its arming exported, and from nothing else (issue 25, item 5).

net_checkpoint arms a checkpoint with gate probes; the watchdog it spawned is
killed, and the same entry script (`watchdog.py` in the run directory, with
its `lib/`) is started again by the test with Debian's `/usr/bin/python3 -I -S`:
no site-packages, no Ansible, no environment, no current directory on the
path. It must start, see the change cut the gateway, roll back (complete
state dump equal) and probe after the rollback: its lazily imported probes
come from the copy too. Taking one file out of the copy makes it fail, both
one it needs to start (`_safety/window.py`: it exits at once naming the
module) and one it imports only when gated (`_safety/probes/icmp.py`, a
module of the probes package: the gate errors and nothing is rolled back):
that is how this test shows it can fail.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from nstools import iproute, state_diff
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel]

PYTHON = "/usr/bin/python3"   # the host's own interpreter, not this venv's
MU = "lib/ansible_collections/netsafe/hypervisor/plugins/module_utils"


def _start(host, log: Path) -> subprocess.Popen:
    """The exported entry script, as the watchdog's spawn runs it but isolated: `python3 -I -S`, empty environment."""
    with open(log, "ab") as out:
        return subprocess.Popen([PYTHON, "-I", "-S", str(host.run_dir / "watchdog.py"), str(host.run_dir), str(host.root)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env={}, cwd="/")


def _gone(pid: int, limit: float = 10) -> None:
    give_up = time.monotonic() + limit
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < give_up:
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{pid}"), pid


def _wait_for(predicate, what: str, limit: float, host) -> None:
    give_up = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < give_up, f"{what} within {limit} s; watchdog log:\n{host.log()}"
        time.sleep(0.05)


@pytest.mark.skipif(not os.path.exists(PYTHON), reason=f"{PYTHON} is the host's Python")
def test_the_watchdog_runs_from_its_exported_code_alone(host, tmp_path):
    # The peer is a switch with the gateway for eno1 and eno2; eno3 leads nowhere (arp_ignore=1: its peer end
    # in the same namespace does not answer for the gateway).
    subprocess.run(["ip", "netns", "exec", host.peer, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"], check=True)
    iproute(host.peer, ["ip link add swbr type bridge stp_state 0 forward_delay 0", "ip link set sw1 master swbr",
                        "ip link set sw2 master swbr", "ip link set swbr up", "ip address add 192.0.2.1/24 dev swbr"])
    before = host.state()
    armed = host.checkpoint(state="armed", timeout=120, gate_settle=0.5,
                            probes=[{"type": "icmp", "target": "192.0.2.1", "count": 2, "timeout": 0.5}])
    assert not armed.get("failed"), armed
    checkpoint = armed["checkpoint"]
    kill_watchdogs(host.root)                     # the one the module spawned: ours takes over its record
    _gone(checkpoint["watchdog"]["pid"])
    iproute(host.ns, ["ip link set eno1 nomaster", "ip link set eno3 master vmbr0", "ip link set eno3 up"])
    changed = host.state()
    assert state_diff(before, changed)
    log = tmp_path / "python.log"
    procs = []
    try:
        # Without a module it needs to start: it exits at once, naming it, and changes nothing.
        window = host.run_dir / MU / "_safety/window.py"
        window.rename(window.with_suffix(".away"))
        proc = _start(host, log)
        procs.append(proc)
        assert proc.wait(timeout=30) == 1
        assert "ImportError: cannot import name 'window' from 'ansible_collections.netsafe.hypervisor.plugins." \
               "module_utils._safety'" in log.read_text()
        window.with_suffix(".away").rename(window)

        # Without the module it imports only when gated: it starts, the gate fails on the import, no rollback.
        probes = host.run_dir / MU / "_safety/probes/icmp.py"
        probes.rename(probes.with_suffix(".away"))
        proc = _start(host, log)
        procs.append(proc)
        _wait_for(lambda: "No module named 'ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes."
                  "icmp'" in host.log(), "the gate's import error", 30, host)
        proc.kill()
        proc.wait()
        assert state_diff(changed, host.state()) == [] and not (host.state_dir / "last.json").exists()
        probes.with_suffix(".away").rename(probes)

        # The whole copy: the gate sees the gateway gone, rolls back, and the probes after it pass.
        proc = _start(host, log)
        procs.append(proc)
        last = host.wait_last_key(checkpoint["id"], "probes_after", 60)
        assert last["outcome"] == "rolled_back" and last["reason"].startswith("gate probes failed after the change"), last
        assert last["by"] == f"watchdog pid {proc.pid}"
        assert [p["ok"] for p in last["probes_after"]] == [True], last
        assert state_diff(before, host.state()) == []
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
