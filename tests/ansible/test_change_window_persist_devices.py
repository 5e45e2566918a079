"""change_window_persist_devices does what the role's documentation says (issue 23, "docs that promise more").

null (the default): only the devices the window changes, with what they stand on. []: every bridge, bond and
VLAN of the host. A list: those devices. Run through ansible-playbook with the role's own persist step, against
a lab namespace and a scratch root.
"""
from __future__ import annotations

import pytest

import persist_lab

pytestmark = [pytest.mark.kernel, pytest.mark.ansible]

PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: Persist as a window that changed vmbr0 would
      ansible.builtin.include_role:
        name: netsafe.hypervisor.change_window
        tasks_from: persist
      vars:
        change_window_namespace: "{{ ns }}"
        change_window_root: "{{ root }}"
        change_window_persist_format: ifupdown2
        change_window_bridges: [{name: vmbr0, ports: [eno1]}]
    - name: Report
      ansible.builtin.debug:
        var: change_window__persist.devices
"""


def test_an_empty_list_writes_every_device_and_null_only_the_windows(run_playbook, namespaces, tmp_path):
    ns, _peer = persist_lab.bridges_host(namespaces, with_guests=False)
    written = {}
    for label, devices in (("null", None), ("empty", []), ("listed", ["vmbr1"])):
        root = tmp_path / label
        root.mkdir()
        run = run_playbook(PLAY, extra_vars={"ns": ns, "root": str(root), "change_window_persist_devices": devices})
        assert run.rc == 0, run.stdout + run.stderr
        written[label] = run.task("Report")["result"]["change_window__persist.devices"]
    assert written == {"null": ["eno1", "vmbr0"], "empty": ["eno1", "eno2", "vmbr0", "vmbr1"], "listed": ["eno2", "vmbr1"]}
