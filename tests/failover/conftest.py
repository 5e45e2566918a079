"""run_rolling: ansible-playbook against several fake hypervisors (local connection).

The shared run_playbook fixture has a single host, 'lab'; the rolling playbook
needs many. Both run ansible-playbook through tests/playrun.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from playrun import ROOT, VENV_BIN, ansible_playbook


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
        args = ["-i", inventory, playbook]
        if limit:
            args += ["--limit", limit]
        if extra_vars:
            args += ["-e", json.dumps(extra_vars)]
        proc, results = ansible_playbook(args, tmp_path, record, roles_path=f"{tmp_path / 'roles'}:{ROOT / 'roles'}",
                                         env={"ANSIBLE_FORKS": "10"})
        return RollingRun(proc.returncode, proc.stdout, proc.stderr, results)

    return run
