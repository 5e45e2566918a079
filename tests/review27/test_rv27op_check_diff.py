"""Review 27 (operator): --check --diff of a jumbo change shows the bridge going to 9000, not its uplink.

`net_bridge mtu: 9000` and the change_window role (net_state) raise eno1 with vmbr0 (the MTU follows the path):
the commands say so, but the diff an operator reads at 02:00 (`--diff`, the result's `diff`) shows vmbr0's mtu
1500 -> 9000 only; eno1, which changes too, is in neither `before` nor `after`. The check-mode summary of the role
names the commands but not the path MTU probe the window will add (it is only in the result's `path_mtu`).

Fixed: a result's diff has `also_changed`, the devices no entry describes that the change moves too (views.result_diff);
the role's PREVIEW names the path MTU probes; check mode with persist returns the files' diffs after the state's.
"""
from __future__ import annotations

import json

import pytest

from nstools import settled_state, state_diff
from jumbo_lab import build
from rv27op_lab import task, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

BRIDGE_PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: vmbr0 to 9000
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        mtu: 9000
        namespace: "{{ ns }}"
"""


def mtus_in(view) -> dict:
    """{device: mtu} of every device a diff side shows, whatever its section (bridges, nics, ...)."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            if "name" in node and "mtu" in node:
                found[node["name"]] = node["mtu"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(view)
    return found


def test_net_bridge_check_diff_shows_the_uplink_going_to_9000(namespaces, run_playbook):
    hv, _switch, _guest = build(namespaces)
    before = settled_state(hv)
    run = run_playbook(BRIDGE_PLAY, check=True, diff=True, extra_vars={"ns": hv})
    result = run.task("vmbr0 to 9000")["result"]
    assert run.rc == 0 and state_diff(before, settled_state(hv)) == []
    assert any("eno1 mtu 9000" in c for c in result["commands"]), result["commands"]
    # What happens: the diff holds vmbr0 only.
    assert mtus_in(result["diff"]["after"]).get("eno1") == 9000, json.dumps(result["diff"])[:600]


def test_the_roles_check_diff_shows_the_uplink_going_to_9000(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    before = settled_state(hv)
    proc, results = window(tmp_path, hv, root, "--check", "--diff")
    preview = task(results, "Preview the change in check mode")["result"]
    assert proc.returncode == 0 and state_diff(before, settled_state(hv)) == []
    assert preview["path_mtu"] == [{"target": "192.0.2.1", "mtu": 9000, "raised": ["vmbr0", "eno1"]}]
    state = preview["diff"][0] if isinstance(preview["diff"], list) else preview["diff"]   # then the files' diffs
    assert mtus_in(state["after"]).get("eno1") == 9000, json.dumps(state["after"])[:600]


def test_the_roles_preview_summary_names_the_path_mtu_probe(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    proc, _results = window(tmp_path, hv, root, "--check")
    summary = next(line for line in proc.stdout.splitlines() if '"msg": "hv1: PREVIEW' in line)
    # The commands do not name the gateway; a summary that tells of the probe does (path MTU 9000 to 192.0.2.1).
    assert "192.0.2.1" in summary, summary


def test_the_roles_check_diff_prints_what_the_files_will_say(namespaces, tmp_path):
    hv, _switch, _guest = build(namespaces)
    root = tmp_path / "root"
    (root / "etc/network").mkdir(parents=True)
    files = root / "etc/network/interfaces"
    files.write_text("auto lo\niface lo inet loopback\n")
    proc, results = window(tmp_path, hv, root, "--check", "--diff")
    preview = task(results, "Preview the change in check mode")["result"]
    assert proc.returncode == 0 and files.read_text() == "auto lo\niface lo inet loopback\n"
    # The module knows: its persist.diff holds the file with eno1's `mtu 9000`.
    assert "\tmtu 9000" in preview["persist"]["diff"][0]["after"]
    # What happens: the --diff output shows the net_state view (vmbr0's mtu) and nothing of the file.
    assert str(files) in proc.stdout and "+\tmtu 9000" in proc.stdout, proc.stdout[:3000]
