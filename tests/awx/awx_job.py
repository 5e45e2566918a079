"""A job run the way AWX and Tower run one: ansible-runner in a private data directory.

What AWX puts in the private data directory, and what this writes the same way:

- `project/`: the project's checkout (here: the collection's playbooks/);
- `requirements_collections/`: the collections the project requires, installed before the
  job (here: the tarball `ansible-galaxy collection build` made, so the job runs the built
  collection, not this checkout);
- `inventory/hosts`: an executable inventory script that prints the inventory as JSON;
- `env/extravars`: the job template's extra variables merged with the survey's answers
  (survey text and multiple-choice answers are strings);
- `env/envvars`: what credentials inject (AWX's "VMware vCenter" type: VMWARE_HOST,
  VMWARE_USER, VMWARE_PASSWORD, VMWARE_VALIDATE_CERTS) and AWX's own job settings;
- `env/settings`: runner settings (AWX's job timeout, no terminal input).

The job runs with no terminal and a minimal environment, inside a network namespace of the
test (`netns`), so that "localhost" of the job is throwaway. Its record is runner's
`artifacts/<ident>/`: `status`, `rc`, `stdout` and one JSON file per event in `job_events/`,
which is what the AWX job output shows.
"""
from __future__ import annotations

import json
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

# What AWX sets for every job besides credentials (awx/main/tasks: build_env), where it matters here.
AWX_JOB_ENV = {
    "ANSIBLE_FORCE_COLOR": "False",
    "ANSIBLE_HOST_KEY_CHECKING": "False",
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_LOCALHOST_WARNING": "False",
    "JOB_ID": "4711",
    "AWX_HOST": "https://awx.example.invalid",
}


def install_collection(tarball: Path, dest: Path) -> None:
    """Install the built tarball where AWX installs a project's required collections."""
    proc = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(dest)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-galaxy collection install failed:\n{proc.stdout}\n{proc.stderr}")


@dataclass
class JobResult:
    """What AWX reads back after the job: runner's status, rc, stdout and events."""
    status: str
    rc: int
    stdout: str
    events: list = field(default_factory=list)
    artifacts: Path | None = None

    def of(self, event: str, host: str | None = None) -> list:
        return [e for e in self.events if e.get("event") == event
                and (host is None or e.get("event_data", {}).get("host") == host)]

    def task_results(self, task: str, event: str = "runner_on_ok") -> dict:
        """{host: res} of `task` (its name as the job output shows it, role prefix included or not)."""
        return {e["event_data"]["host"]: e["event_data"]["res"] for e in self.of(event)
                if e["event_data"].get("task", "").split(" : ")[-1] == task}

    def stats(self) -> dict:
        final = self.of("playbook_on_stats")
        assert len(final) == 1, [e.get("event") for e in self.events][-5:]
        return final[0]["event_data"]


class AwxJob:
    """One private data directory; `run()` launches the job as AWX does and returns a JobResult."""

    def __init__(self, base: Path, tarball: Path, netns: str):
        self.dir, self.netns = base, netns
        self.collections = base / "requirements_collections"
        shutil.copytree(ROOT / "playbooks", base / "project")
        install_collection(tarball, self.collections)
        (base / "env").mkdir()
        (base / "inventory").mkdir()
        self._runs = 0

    def write_inventory(self, inventory: dict) -> None:
        """`inventory` in the JSON form an inventory script prints (groups, hosts, _meta.hostvars)."""
        script = self.dir / "inventory" / "hosts"
        script.write_text(
            f"#!{VENV_BIN / 'python'}\n"
            "# The job's inventory, written like AWX's inventory script: it prints the inventory as JSON.\n"
            "import sys\n"
            f"INVENTORY = {json.dumps(json.dumps(inventory))}\n"
            "print('{}' if '--host' in sys.argv else INVENTORY)\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    def run(self, playbook: str, extra_vars: dict, credential_env: dict | None = None,
            job_timeout: int = 900) -> JobResult:
        """Launch `playbook` (a file of project/) with the merged extra vars and injected credentials."""
        self._runs += 1
        ident = f"job{self._runs}"
        env_dir = self.dir / "env"
        (env_dir / "extravars").write_text(json.dumps(extra_vars))
        envvars = dict(AWX_JOB_ENV)
        envvars["ANSIBLE_COLLECTIONS_PATH"] = str(self.collections)
        envvars.update(credential_env or {})
        (env_dir / "envvars").write_text(json.dumps(envvars))
        (env_dir / "settings").write_text(json.dumps({"job_timeout": job_timeout, "suppress_ansible_output": True}))
        # The runner process itself gets nothing from this test's environment but a PATH: what the
        # job sees comes from the private data directory only, as in AWX.
        environ = {"PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.dir), "LANG": "C.UTF-8"}
        argv = ["ip", "netns", "exec", self.netns, str(VENV_BIN / "ansible-runner"), "run", str(self.dir),
                "-p", playbook, "--ident", ident]
        proc = subprocess.run(argv, capture_output=True, text=True, env=environ, stdin=subprocess.DEVNULL,
                              timeout=job_timeout + 60, check=False)
        artifacts = self.dir / "artifacts" / ident
        if not (artifacts / "status").exists():
            raise RuntimeError(f"ansible-runner left no status (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                               f"{proc.stderr[-3000:]}")
        events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
        events.sort(key=lambda e: e["counter"])
        return JobResult(status=(artifacts / "status").read_text().strip(), rc=int((artifacts / "rc").read_text()),
                         stdout=(artifacts / "stdout").read_text(), events=events, artifacts=artifacts)


def texts_under(path: Path) -> dict:
    """{file: text} of every file under `path`, for searching a job's whole record."""
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_file():
            out[str(p)] = p.read_bytes().decode("utf-8", "replace")
    return out
