"""run_rolling: ansible-playbook against several fake hypervisors (local connection).

The shared run_playbook fixture has a single host, 'lab'; the rolling playbook
needs many. The environment mirrors tests/conftest.py's run_playbook.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".tmp" / "collections"
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass
class RollingRun:
    rc: int
    stdout: str
    stderr: str
    results: list = field(default_factory=list)

    def for_task(self, name: str) -> list:
        return [r for r in self.results if r["task"] == name]


@pytest.fixture
def run_rolling(tmp_path):
    """Run a playbook file against `hosts` (names) with inventory vars `data`; extra roles in tmp_path/roles."""
    counter = iter(range(1000))

    def run(playbook: Path, hosts: list, data: dict, *, limit: str | None = None,
            extra_vars: dict | None = None) -> RollingRun:
        n = next(counter)
        inventory = tmp_path / f"inventory{n}.yml"
        common = {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")}
        inventory.write_text(yaml.safe_dump(
            {"all": {"hosts": {h: {} for h in hosts}, "vars": dict(common, **data)}}))
        record = tmp_path / f"record{n}.jsonl"
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
        if limit:
            cmd += ["--limit", limit]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        environ = dict(os.environ)
        environ.update({
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "tests" / "ansible" / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "record",
            "ANSIBLE_ROLES_PATH": f"{tmp_path / 'roles'}:{ROOT / 'roles'}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_FORKS": "10",
            "NETSAFE_RECORD": str(record),
            "PATH": f"{VENV_BIN}:{environ.get('PATH', '')}",
        })
        proc = subprocess.run(cmd, capture_output=True, text=True, env=environ, cwd=tmp_path, check=False)
        results = []
        if record.exists():
            results = [json.loads(line) for line in record.read_text().splitlines() if line]
        return RollingRun(proc.returncode, proc.stdout, proc.stderr, results)

    return run
