"""The change_window role and Proxmox VE's staged interfaces.new (issue 23): refused before anything is armed
or changed, naming the file; kept staged on request, the host's devices written into both files
(`change_window_persist_devices: []`: every bridge of the host).

The hypervisor is a namespace reached with the local connection (persist_lab.change_window_host, the
role's namespace option), its files under a scratch root: no SSH lab is needed for what the files say.
"""
from __future__ import annotations

import json

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format

import persist_lab
from nstools import settled_state, state_diff
from playrun import VENV_BIN, ansible_playbook
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.ansible]
MAIN = "/etc/network/interfaces"
STAGED = "\nauto vmbr9\niface vmbr9 inet manual\n\tbridge-ports none\n\tbridge-stp off\n\tbridge-fd 0\n"
PLAYBOOK = """\
- name: A change window on the lab hypervisor
  hosts: hv1
  gather_facts: false
  roles:
    - role: netsafe.hypervisor.change_window
"""


def window(tmp_path, ns, root, uplink="eno3", **extra) -> tuple:
    """Run the role once (vmbr0 on `uplink`); returns (ansible-playbook process, recorded results)."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.ini").write_text(
        f"hv1 ansible_connection=local ansible_python_interpreter={VENV_BIN / 'python'}\n")
    variables = {"change_window_namespace": ns, "change_window_root": str(root), "change_window_gate": False,
                 "change_window_bridges": [{"name": "vmbr0", "ports": [uplink]}],
                 "change_window_guests": persist_lab.CHANGE_WINDOW_GUESTS,
                 "change_window_persist_format": "ifupdown2", **extra}
    record = tmp_path / f"record-{len(list(tmp_path.glob('record-*')))}.jsonl"
    try:
        return ansible_playbook(["-i", tmp_path / "inventory.ini", tmp_path / "play.yml", "-e", json.dumps(variables)],
                                tmp_path, record)
    finally:
        kill_watchdogs(root)


def test_staged_interfaces_new_stops_the_window_before_any_change_or_is_kept(namespaces, tmp_path):
    ns = persist_lab.change_window_host(namespaces)
    root = tmp_path / "root"
    main, staged = root / "etc/network/interfaces", root / "etc/network/interfaces.new"
    main.parent.mkdir(parents=True)
    main.write_text("auto lo\niface lo inet loopback\n")
    staged.write_text(main.read_text() + STAGED)
    before, texts = settled_state(ns), (main.read_text(), staged.read_text())

    proc, results = window(tmp_path, ns, root)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "hv1: NOT TOUCHED." in proc.stdout and f"{staged} holds network changes staged" in proc.stdout
    # net_state checked the files for the new state in its own run and stopped before arming anything.
    [applied] = [r for r in results if r["task"].endswith("Apply the change inside a checkpoint")]
    assert applied["status"] == "failed" and applied["result"]["outcome"] == "not_touched", applied
    assert state_diff(before, settled_state(ns)) == [] and (main.read_text(), staged.read_text()) == texts
    assert not (root / "run/netsafe").exists() and not (root / "var/lib/netsafe").exists()

    # The same window on a host already in that state (vmbr0 stays on eno1): nothing to arm, the files are
    # kept in step, into both files on request.
    proc, _results = window(tmp_path, ns, root, uplink="eno1", change_window_persist_pending_changes="keep",
                            change_window_persist_devices=[])
    assert proc.returncode == 0 and "hv1: UNCHANGED." in proc.stdout, proc.stdout[-3000:]
    fmt = Ifupdown2Format(MAIN, str(root))
    for model in (fmt.parse({MAIN: main.read_text()}), fmt.parse({MAIN: staged.read_text()})):
        assert model.get("eno1").master == "vmbr0" and model.get("eno2").master == "vmbr1"   # []: every bridge
    assert fmt.parse({MAIN: staged.read_text()}).get("vmbr9") is not None   # the staged change is still staged
    assert state_diff(before, settled_state(ns)) == []
