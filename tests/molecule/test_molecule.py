"""The roles' molecule scenarios (extensions/molecule/): `molecule test` end to end, and what their verify and
destroy steps really check.

Each run is `unshare -n molecule ...` from the collection's root (molecule 26 finds the scenarios under
extensions/molecule/ from there, with extensions/molecule/config.yml as their shared base), with this venv
first on PATH, ANSIBLE_COLLECTIONS_PATH at .tmp/collections, molecule's ephemeral directory under the test's
tmp_path and NETSAFE_LAB_PREFIX set to this session's namespace prefix (tests/conftest.py deletes what a
killed run leaves). After every run: no namespace of the lab, no process naming its directory, no network
lock file of its namespaces and no lab directory or inventory left behind.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
COLLECTIONS = ROOT / ".tmp" / "collections"
NS_PREFIX = f"nstest{os.getpid()}x"   # tests/conftest.py's prefix: pytest_sessionfinish deletes leftovers
_labs = itertools.count()


class Molecule:
    """molecule for one scenario, with its own ephemeral directory and namespace prefix."""

    def __init__(self, scenario: str, tmp_path: Path):
        if os.geteuid() != 0:
            pytest.skip("needs root to create network namespaces")
        self.scenario = scenario
        self.logs = tmp_path / "logs"
        self.logs.mkdir(parents=True)
        self.runs = itertools.count()
        self.ephemeral = tmp_path / "ephemeral"
        self.prefix = f"{NS_PREFIX}{next(_labs)}-"
        self.env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
                        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), MOLECULE_EPHEMERAL_DIRECTORY=str(self.ephemeral),
                        NETSAFE_LAB_PREFIX=self.prefix, NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        self.env.pop("FORCE_COLOR", None)

    def __call__(self, command: str, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        """`unshare -n molecule COMMAND -s SCENARIO ARGS` from the collection's root; its output is kept in logs/."""
        proc = subprocess.run(["unshare", "-n", str(VENV_BIN / "molecule"), command, "-s", self.scenario, *args],
                              cwd=ROOT, env=dict(self.env, **(env or {})), capture_output=True, text=True,
                              timeout=timeout, check=False)
        (self.logs / f"{next(self.runs)}-{command}.log").write_text(proc.stdout + proc.stderr)
        return proc

    def lab(self) -> dict:
        """The lab that create wrote into molecule's inventory directory (shared/netlab.py)."""
        inventory = json.loads((self.ephemeral / "inventory" / "netsafe_lab.json").read_text())
        return inventory["lab"]["hosts"]["hv1"]["netsafe_lab"]

    def namespaces(self) -> list:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(self.prefix)]

    def processes(self) -> list:
        """Processes whose command line names the ephemeral directory (a watchdog, a watcher)."""
        marker = os.fsencode(str(self.ephemeral))
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def assert_nothing_left(self, output: str = "") -> None:
        assert self.namespaces() == [], output[-3000:]
        assert self.processes() == [], output[-3000:]
        assert list(Path("/run/netsafe/lock").glob(f"netns-{self.prefix}*")) == []
        assert not (self.ephemeral / "inventory" / "netsafe_lab.json").exists()
        assert list(self.ephemeral.glob("netsafe-lab-*")) == []

    def cleanup(self) -> None:
        """Whatever a failed assertion left: molecule's own destroy, then the namespaces by name."""
        if (self.ephemeral / "inventory" / "netsafe_lab.json").exists():
            self("destroy", timeout=120)
        for pid in self.processes():
            os.kill(pid, signal.SIGKILL)
        for ns in self.namespaces():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
            Path(f"/run/netsafe/lock/netns-{ns}.lock").unlink(missing_ok=True)


@pytest.fixture
def molecule(tmp_path):
    made = []

    def make(scenario: str) -> Molecule:
        made.append(Molecule(scenario, tmp_path / scenario))
        return made[-1]

    yield make
    for instance in made:
        instance.cleanup()


def step(output: str, action: str) -> list:
    """What molecule logged as the outcome of each run of `action` ("Successful", "Failed", ...), in order.

    From its log lines (`INFO [scenario > action] Executed: Successful`), not from the summary at the end:
    molecule 26.10's summary reports a failed idempotence step as successful.
    """
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return re.findall(rf"^[A-Z]+\s+\[[\w/-]+ > {action}\] Executed: (\w+)", plain, flags=re.MULTILINE)


def non_idempotent_tasks(output: str) -> list:
    """The tasks molecule's idempotence step names (`* [host] => role : task`; rich may eat the `[host]`)."""
    match = re.search(r"Idempotence test failed because of the following tasks:\n((?:\*.*\n)+)", output)
    return sorted(line.split("=> ", 1)[1].strip() for line in match.group(1).splitlines()) if match else []


@pytest.mark.parametrize("scenario", ["maintenance_check", "tap_guard", "change_window"])
def test_molecule_test_runs_the_whole_sequence(molecule, scenario):
    mol = molecule(scenario)
    proc = mol("test")
    output = proc.stdout + proc.stderr
    mol.assert_nothing_left(output)
    for action in ("syntax", "create", "converge"):
        assert step(output, action) == ["Successful"], f"{action}:\n{output[-6000:]}"
    assert step(output, "destroy") == ["Successful", "Successful"], output[-6000:]   # before create, and at the end
    assert proc.returncode == 0, output[-6000:]
    assert step(output, "idempotence") == ["Successful"], output[-6000:]
    assert "Idempotence test failed" not in output and non_idempotent_tasks(output) == []
    if scenario == "change_window":
        # The first converge opened a window; the second found the change in place and opened none.
        assert "hv1: CONFIRMED." in output and "hv1: UNCHANGED. Already in the wanted state" in output, output[-6000:]
    assert step(output, "verify") == ["Successful"], output[-6000:]
    assert "All assertions passed" in output


def test_change_window_verify_reads_the_kernel_and_destroy_kills_a_live_watchdog(molecule):
    mol = molecule("change_window")
    create = mol("create")
    assert create.returncode == 0, create.stdout[-4000:]
    lab = mol.lab()
    assert lab["namespace"].startswith(mol.prefix) and sorted(mol.namespaces()) == sorted([lab["namespace"], lab["switch"]])
    converge = mol("converge")
    assert converge.returncode == 0, converge.stdout[-6000:]
    verify = mol("verify")
    assert verify.returncode == 0, verify.stdout[-6000:]

    # The kernel no longer matches the window's change: verify must say so.
    subprocess.run(["ip", "-n", lab["namespace"], "link", "set", "vmbr0", "mtu", "1500"], check=True)
    verify = mol("verify")
    assert verify.returncode != 0
    assert '"assertion": "change_window_links.vmbr0.mtu == 9000"' in verify.stdout, verify.stdout[-6000:]

    # A checkpoint armed and never confirmed (a converge killed mid-window): its watchdog runs detached.
    env = dict(mol.env, ANSIBLE_LOCALHOST_WARNING="0")
    args = {"state": "armed", "timeout": 600, "namespace": lab["namespace"], "root": f"{lab['dir']}/root"}
    arm = subprocess.run([str(VENV_BIN / "ansible"), "lab", "-i", str(mol.ephemeral / "inventory"),
                          "-m", "netsafe.hypervisor.net_checkpoint", "-a", json.dumps(args)],
                         cwd=mol.ephemeral, env=env, capture_output=True, text=True, check=False)
    assert arm.returncode == 0, arm.stdout + arm.stderr
    ready = Path(lab["dir"], "root/run/netsafe/checkpoint", f"netns-{lab['namespace']}", "watchdog.ready")
    watchdog = json.loads(ready.read_text())["pid"]
    assert Path(f"/proc/{watchdog}").exists()
    assert Path(f"/run/netsafe/lock/netns-{lab['namespace']}.lock").exists()

    destroy = mol("destroy")
    assert destroy.returncode == 0, destroy.stdout[-4000:]
    assert not Path(f"/proc/{watchdog}").exists() or Path(f"/proc/{watchdog}/stat").read_text().split()[2] == "Z"
    mol.assert_nothing_left(destroy.stdout)


def test_destroy_runs_after_a_failed_converge(molecule):
    """The first network operation of the window is refused (failpoint): the role rolls back and fails the host,
    molecule stops the sequence and destroys the lab."""
    mol = molecule("change_window")
    proc = mol("test", env={"NETSAFE_FAIL_AT": "0"})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "hv1: ROLLED BACK. Why: 'Apply the change inside a checkpoint' failed" in output, output[-6000:]
    assert step(output, "converge") == ["Failed"], output[-6000:]
    assert step(output, "idempotence") == [] and step(output, "verify") == []
    assert step(output, "destroy") == ["Successful", "Successful"], output[-6000:]
    mol.assert_nothing_left(output)
