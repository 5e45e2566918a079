"""The failpoints (NETSAFE_FAIL_AT, NETSAFE_FAIL_UNDO_AT) reach a module through a task's `environment:`.

The sweeps (tests/kernel/test_undo_sweep.py) call modules in-process; this
proves the same failpoints work through ansible-playbook: a refused step
fails the task, names the command, undoes everything and reports
changed: false; a refused undo step reports the undo INCOMPLETE and
changed: true.
"""
from __future__ import annotations

import re

import pytest

from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from sweep import refused

pytestmark = [pytest.mark.ansible, pytest.mark.kernel]

PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: swap the uplink
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        ports: [eth2]
        addresses: [198.51.100.10/24]
        gateway4: 198.51.100.1
        namespace: "{{ ns }}"
      environment:
        NETSAFE_FAIL_AT: "{{ fail_at }}"
        NETSAFE_FAIL_UNDO_AT: "{{ fail_undo_at | default('') }}"
"""
ARGS = {"name": "vmbr0", "ports": ["eth2"], "addresses": ["198.51.100.10/24"], "gateway4": "198.51.100.1"}


@pytest.fixture
def uplink(hv):
    iproute(hv, ["ip link add vmbr0 type bridge forward_delay 0", "ip link set eth1 master vmbr0",
                 "ip link set tap100i0 master vmbr0", "ip link set eth1 up", "ip link set vmbr0 up",
                 "ip address add 192.0.2.10/24 dev vmbr0", "ip route add default via 192.0.2.1"])
    return hv


def test_a_refused_step_through_ansible_playbook_is_undone(uplink, run_playbook):
    ns = uplink
    before = kernel_state(ns)
    commands = run_module("net_bridge", dict(ARGS, namespace=ns), check=True)["commands"]
    k = commands.index(f"ip -n {ns} route replace default via 198.51.100.1 dev vmbr0")
    run = run_playbook(PLAY, extra_vars={"ns": ns, "fail_at": k})
    assert run.rc != 0
    task = run.task("swap the uplink")
    assert task["status"] == "failed"
    assert task["result"]["msg"] == refused(commands[k], k)
    assert task["result"]["changed"] is False
    assert kernel_state(ns) == before

    # The undo's first step (the newest: eth2's address goes again) refused as well.
    run = run_playbook(PLAY, extra_vars={"ns": ns, "fail_at": k, "fail_undo_at": 0})
    task = run.task("swap the uplink")
    assert task["status"] == "failed" and task["result"]["changed"] is True
    assert (f"undo was INCOMPLETE: 'ip -n {ns} address del 198.51.100.10/24 dev vmbr0': Operation not permitted"
            in task["result"]["msg"]), task["result"]["msg"]
    # What the operator sees (the recap counts failed tasks as failed only, not as changed).
    assert re.search(r'fatal: \[lab\]: FAILED! => \{"changed": true, "msg": "the kernel refused', run.stdout), run.stdout
    assert state_diff(before, kernel_state(ns))   # left changed, as reported
