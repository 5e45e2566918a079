"""tap_reenslave through ansible-playbook against a Proxmox VE node in a namespace."""
from __future__ import annotations

import pytest

from conftest import PVE, guest_ports, restart_bridge
from nstools import kernel_state

pytestmark = [pytest.mark.ansible, pytest.mark.kernel]

PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: reenslave
      netsafe.hypervisor.tap_reenslave:
        source: "{{ source | default('proxmox') }}"
        proxmox_dir: "{{ pve }}"
        namespace: "{{ ns }}"
        ports: "{{ ports | default(omit) }}"
      register: guests
"""


def test_playbook_restores_guests_then_is_idempotent(pve_node, run_playbook):
    before = guest_ports(pve_node)
    restart_bridge(pve_node)
    first = run_playbook(PLAY, extra_vars={"ns": pve_node, "pve": str(PVE)})
    assert first.rc == 0, first.stdout + first.stderr
    result = first.task("reenslave")
    assert result["status"] == "changed"
    assert result["result"]["reattached"] == ["tap100i0", "tap102i0", "tap104i0", "veth101i0", "veth105i0"]
    assert result["result"]["not_running"] == ["tap103i0"]
    assert [s["device"] for s in result["result"]["skipped_guests"]] == ["tap106i0", "tap9000i0"]
    assert guest_ports(pve_node) == before
    state = kernel_state(pve_node)
    second = run_playbook(PLAY, extra_vars={"ns": pve_node, "pve": str(PVE)})
    assert second.rc == 0 and second.task("reenslave")["status"] == "ok"
    assert second.task("reenslave")["result"]["commands"] == []
    assert kernel_state(pve_node) == state


def test_playbook_check_mode_with_diff(pve_node, run_playbook):
    restart_bridge(pve_node)
    state = kernel_state(pve_node)
    run = run_playbook(PLAY, extra_vars={"ns": pve_node, "pve": str(PVE)}, check=True, diff=True)
    assert run.rc == 0, run.stdout
    result = run.task("reenslave")
    assert result["status"] == "changed"
    assert f"ip -n {pve_node} link set dev fwpr102p0 master vmbr0" in result["result"]["commands"]
    assert "fwpr102p0" in run.stdout  # the diff is printed
    assert kernel_state(pve_node) == state


def test_playbook_bad_input_fails_naming_the_option(pve_node, run_playbook):
    state = kernel_state(pve_node)
    run = run_playbook(PLAY, extra_vars={"ns": pve_node, "pve": str(PVE), "source": "explicit",
                                         "ports": [{"device": "tap100i0", "bridge": "vmbr0", "trunks": ["10-5"]}]})
    assert run.rc != 0
    result = run.task("reenslave")
    assert result["status"] == "failed"
    assert "ports[0]: trunks: '10-5' is out of range; VLAN ids are 1-4094, first <= last" in result["result"]["msg"]
    assert kernel_state(pve_node) == state
