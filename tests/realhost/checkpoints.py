"""Checkpoint steps run on the systemd host over SSH, as an operator's playbook runs them."""
from __future__ import annotations

import json
import time

ARM_AND_CHANGE = """
- name: Arm a checkpoint, then change the network, and never confirm
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Arm
      netsafe.hypervisor.net_checkpoint:
        state: armed
        timeout: {timeout}
        watchdog: {watchdog}
    - name: Change
      netsafe.hypervisor.net_bridge:
        name: {bridge}
        ports: [{port}]
"""

SAVE = """
- name: The host's files describe the network it runs
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Save
      netsafe.hypervisor.net_persist:
        format: {stack}
        devices: [vmbr0]
"""

ONE_STEP = """
- name: One net_checkpoint step
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Step
      netsafe.hypervisor.net_checkpoint: {args}
"""


def task(results: list, name: str) -> dict:
    found = [r for r in results if r["task"] == name]
    assert found, f"no result for {name!r}: {[r['task'] for r in results]}"
    return found[-1]


def run_play(host, play: str, **extra) -> list:
    """ansible-playbook over SSH from the controller; its recorded results (the run must succeed)."""
    proc, results = host.playbook(play, extra_vars=extra or None, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return results


def arm_and_change(host, timeout: int, watchdog: str = "auto", bridge: str = "vmbr1", port: str = "eno2") -> dict:
    """Arm (its result's `checkpoint`), create `bridge` on `port`, end the playbook without confirming."""
    results = run_play(host, ARM_AND_CHANGE.format(timeout=timeout, watchdog=watchdog, bridge=bridge, port=port))
    assert task(results, "Change")["status"] == "changed"
    return task(results, "Arm")["result"]["checkpoint"]


def step(host, **args) -> dict:
    """net_checkpoint with `args`, over SSH; its result."""
    return task(run_play(host, ONE_STEP.format(args=json.dumps(args))), "Step")["result"]


def unit_state(host, unit: str) -> str:
    """systemctl's ActiveState of `unit` ("inactive" once it is gone: transient units are collected)."""
    return host.exec(["systemctl", "show", "-P", "ActiveState", unit]).stdout.strip()


def wait_for(what, predicate, timeout: float = 30.0, every: float = 0.2):
    """Poll `predicate()` until it returns something true; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(every)


def link_names(host) -> set:
    """The names of the host's network devices (from the complete kernel dump)."""
    return {link["ifname"] for link in host.state(settled=False)["links"]}
