"""Review 27 (operator): the change_window role run on the jumbo-frames lab (tests/jumbo_lab.py).

    guest ns                 hv ns                                            switch ns
    eth0 192.0.2.20 -- veth100i0 -+- vmbr0 192.0.2.10/24 2001:db8::10/64     swbr 192.0.2.1/24 2001:db8::1/64
                                  +- eno1 (veth) ---------------------------- sw1      fe80::1
    eno2 (veth, down, no bridge) ------------------------------------------ sw2

The switch's port MTU (sw1, swbr) is set by the test. The role runs with the local connection and its
namespace option (tests/changewindow/test_change_window_pending.py), its files under a scratch root.
"""
from __future__ import annotations

import json

from playrun import VENV_BIN, ansible_playbook
from watchdogs import kill_watchdogs

PLAYBOOK = """\
- name: Jumbo frames on vmbr0
  hosts: hv1
  gather_facts: false
  roles:
    - role: netsafe.hypervisor.change_window
"""
JUMBO = [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}]
GUESTS = {"source": "explicit", "ports": [{"device": "veth100i0", "bridge": "vmbr0"}]}


def window(tmp_path, hv, root, *args, **variables) -> tuple:
    """Run the role once on `hv` (ansible-playbook `args`, e.g. --check --diff); (process, recorded results)."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.ini").write_text(
        f"hv1 ansible_connection=local ansible_python_interpreter={VENV_BIN / 'python'}\n")
    values = {"change_window_namespace": hv, "change_window_root": str(root), "change_window_gate_settle": 1,
              "change_window_bridges": JUMBO, "change_window_guests": GUESTS,
              "change_window_persist_format": "ifupdown2", "change_window_confirm_timeout": 60, **variables}
    record = tmp_path / f"record-{len(list(tmp_path.glob('record-*')))}.jsonl"
    try:
        return ansible_playbook(["-i", tmp_path / "inventory.ini", tmp_path / "play.yml", *args,
                                 "-e", json.dumps(values)], tmp_path, record)
    finally:
        kill_watchdogs(root)


def report_of(results) -> dict:
    built = [r for r in results if r["task"].endswith("Build the report")]
    assert built, [r["task"] for r in results]
    return built[-1]["result"]["ansible_facts"]["change_window_report"]


def task(results, suffix: str) -> dict:
    found = [r for r in results if r["task"].endswith(suffix)]
    assert found, [r["task"] for r in results]
    return found[-1]


def stanzas(root) -> dict:
    """{'<name> <family>': [lines]} of the lab's /etc/network/interfaces."""
    found, current = {}, None
    for line in (root / "etc/network/interfaces").read_text().splitlines():
        words = line.split()
        if words[:1] == ["iface"]:
            current = f"{words[1]} {words[2]}"
            found[current] = []
        elif line.startswith(("\t", " ")) and current:
            found[current].append(line.strip())
        else:
            current = None
    return found
