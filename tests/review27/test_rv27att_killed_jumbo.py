"""Review 27 (attacker): net_state's checkpoint around a path MTU change, the module SIGKILLed at every step.

One change raises vmbr0 (and its uplink eno1) to 9000 and lowers vmbr1 (and eno2) from 9000 to 1500. The
module is killed (NETSAFE_KILL_AT=k) at each of its steps; the host's watchdog rolls back at its deadline. The
complete state dump must equal the one before, and no uplink may be left at another MTU than its bridge: with
guests on vmbr0, and without (where the kernel sizes a bridge by its uplink: test_rv27att_bridge_auto_mtu).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import persist_lab
from modrun import run_module
from nstools import settled_state, state_diff
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

KILLED = ("import json, sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; from modrun import run_module; "
          "print(json.dumps(run_module('net_state', json.loads(sys.argv[3]))))")
CHANGE = {"bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}, {"name": "vmbr1", "ports": ["eno2"], "mtu": 1500}]}


def last_outcome(root: Path, ns: str) -> dict:
    path = root / "var/lib/netsafe/checkpoint" / f"netns-{ns}" / "last.json"
    for _poll in range(600):
        if path.exists():
            last = json.loads(path.read_text())
            if last["outcome"] != "armed":
                return last
        subprocess.run(["sleep", "0.1"], check=True)
    raise AssertionError(f"no outcome in {path} within 60 s")


@pytest.mark.long
@pytest.mark.parametrize("with_guests", [True, False], ids=["guests on vmbr0", "no guests"])
def test_killed_at_every_step_the_watchdog_restores_every_mtu(namespaces, tmp_path, with_guests):
    probe_ns, _peer = persist_lab.bridges_host(namespaces, with_guests)
    steps = len(run_module("net_state", dict(CHANGE, namespace=probe_ns), check=True)["commands"])
    assert steps == 4
    tests = Path(__file__).resolve().parents[1]
    labs = []
    try:
        for k in range(steps):
            ns, _peer = persist_lab.bridges_host(namespaces, with_guests)
            root = tmp_path / f"root{k}"
            root.mkdir()
            labs.append((k, ns, root, settled_state(ns)))
        procs = []
        for k, ns, root, _before in labs:
            guard = {"root": str(root), "timeout": 10, "gate_settle": 0,
                     "probes": [{"type": "icmp", "target": "127.0.0.1"}]}
            procs.append(subprocess.Popen(
                [sys.executable, "-c", KILLED, str(tests), str(tests.parent / ".tmp" / "collections"),
                 json.dumps(dict(CHANGE, namespace=ns, checkpoint=guard))],
                env=dict(os.environ, NETSAFE_KILL_AT=str(k)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outs = [proc.communicate(timeout=300) for proc in procs]
        for (k, ns, root, before), proc, (out, err) in zip(labs, procs, outs):
            assert proc.returncode == -signal.SIGKILL, (k, proc.returncode, out, err)
            assert last_outcome(root, ns)["outcome"] == "rolled_back", k
            assert state_diff(before, settled_state(ns)) == [], k
    finally:
        for _k, _ns, root, _before in labs:
            kill_watchdogs(root)
