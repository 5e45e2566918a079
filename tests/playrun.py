"""One way to run ansible-playbook in the tests: collection path, result recorder, quiet settings."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".tmp" / "collections"
VENV_BIN = ROOT / ".venv" / "bin"


def environment(record: Path, roles_path: str | None = None, env: dict | None = None) -> dict:
    """ansible-playbook's environment: this checkout's collection and roles, the recorder writing to `record`."""
    environ = dict(os.environ)
    environ.update({
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "tests" / "ansible" / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "record",
        "ANSIBLE_ROLES_PATH": roles_path or str(ROOT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "NETSAFE_RECORD": str(record),
        "PATH": f"{VENV_BIN}:{environ.get('PATH', '')}",
    })
    environ.update(env or {})
    return environ


def role_play(role: str, hosts: str) -> str:
    """A playbook that runs `role` (a collection role's full name) on `hosts`, without gathering facts."""
    return (f"- name: {role}\n  hosts: {hosts}\n  gather_facts: false\n  roles:\n"
            f"    - role: {role}\n")


# The change_window role on the local `lab` host (tests/conftest.py run_playbook), in namespace `ns`, with the
# checkpoint's and the files' root at `root` (both given as extra vars).
LAB_WINDOW_PLAY = """
- hosts: lab
  gather_facts: false
  roles:
    - role: netsafe.hypervisor.change_window
      vars:
        change_window_namespace: "{{ ns }}"
        change_window_root: "{{ root }}"
"""
# --check resolves the probes as the real run would (with none, the lab's default gateways: it has none), runs none.
LAB_CHECK_PROBES = [{"type": "icmp", "target": "192.0.2.1"}]


def recorded(record: Path) -> list:
    """The per-task results the recorder wrote."""
    return [json.loads(line) for line in record.read_text().splitlines() if line] if record.exists() else []


def ansible_playbook(args: list, workdir: Path, record: Path, roles_path: str | None = None,
                     env: dict | None = None) -> tuple:
    """Run ansible-playbook with `args`; returns (CompletedProcess, per-task results from the recorder)."""
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook")] + [str(a) for a in args], capture_output=True,
                          text=True, env=environment(record, roles_path, env), cwd=workdir, check=False)
    return proc, recorded(record)
