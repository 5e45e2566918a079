"""Shared fixtures: collection import path, throwaway namespaces, playbook runs."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest_plugins = ["fullkernel.plugin"]

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".tmp" / "collections"
VENV_BIN = ROOT / ".venv" / "bin"
NS_PREFIX = f"nstest{os.getpid()}x"

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

_counter = itertools.count()

from nstools import ip, kernel_state, state_diff  # noqa: E402  (tests/ is on sys.path)
from playrun import ansible_playbook  # noqa: E402


def _require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")


class Namespaces:
    """Creates namespaces with a per-run prefix; deletes all of them at the end."""

    def __init__(self):
        self.created: list[str] = []

    def new(self) -> str:
        name = f"{NS_PREFIX}{next(_counter)}"
        ip("netns", "add", name)
        self.created.append(name)
        ip("link", "set", "lo", "up", ns=name)
        return name

    def cleanup(self):
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            # The network lock's file of the namespace (plugins/module_utils/_common/hostlock.py).
            Path(f"/run/netsafe/lock/netns-{name}.lock").unlink(missing_ok=True)
        self.created.clear()


@pytest.fixture
def namespaces():
    _require_root()
    ns = Namespaces()
    try:
        yield ns
    finally:
        ns.cleanup()


@pytest.fixture
def netns(namespaces):
    """One throwaway network namespace, deleted afterwards even on failure."""
    return namespaces.new()


@pytest.fixture(scope="session", autouse=True)
def root_namespace_untouched():
    """Cheap insurance: the machine's own network is the same after the run.

    The same complete dump as every namespace's "nothing changed" (links with
    their kind data, addresses, routes of every table but local, rules of both
    families, permanent neighbours, static FDB entries, bridge VLANs), read
    only. Its exclusions (tests/nstools.py) already leave out what changes by
    itself here: eth0's carrier, address lifetimes (a DHCP lease), route
    expiry (router advertisements), learned FDB and neighbour entries.
    """
    if os.geteuid() != 0:
        yield
        return
    before = kernel_state(None)
    yield
    after = kernel_state(None)
    assert after == before, "the test run changed the root namespace's network:\n" + "\n".join(state_diff(before, after))


# The host lock's directories (plugins/module_utils/_common/hostlock.py) that this run will make, deepest first.
RUN_DIRS_MADE_HERE = [path for path in (Path("/run/netsafe/lock"), Path("/run/netsafe")) if not path.exists()]


LONG_LANE = "NETSAFE_LONG_LANE"
# Set by tests/run-all.sh for its main run: the systemd host's tests run in their own lane alongside it.
REALHOST_ELSEWHERE = "NETSAFE_REALHOST_ELSEWHERE"
REALHOST_FIXTURES = {"systemd_host", "systemd_host_factory"}


def pytest_collection_modifyitems(config, items):
    """Every test on the systemd host (tests/systemdhost.py) is a `realhost` test, wherever it is."""
    for item in items:
        if REALHOST_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.realhost)


def pytest_runtest_setup(item):
    """A `long` test runs on purpose, in the long lane: the default run stays within CI's time. A `realhost`
    test is skipped in run-all.sh's main run, which runs them in the systemd host lane alongside it."""
    if item.get_closest_marker("long") is not None and os.environ.get(LONG_LANE) != "1":
        pytest.skip(f"the long lane runs on purpose: {LONG_LANE}=1 ./tests/run-all.sh -m long tests")
    if item.get_closest_marker("realhost") is not None and os.environ.get(REALHOST_ELSEWHERE) == "1":
        pytest.skip("runs in the systemd host lane, alongside this run (tests/run-all.sh)")


def pytest_sessionfinish(session, exitstatus):
    """Last line of defence: remove any namespace this run left behind."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(NS_PREFIX):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    # The network lock's files of namespaces that are gone (every lab namespace, whoever made it),
    # then its directories if this run made them and nothing else is in them.
    for lock in Path("/run/netsafe/lock").glob("netns-*.lock"):
        if not Path("/run/netns", lock.name[len("netns-"):-len(".lock")]).exists():
            lock.unlink(missing_ok=True)
    for made in RUN_DIRS_MADE_HERE:
        try:
            made.rmdir()
        except OSError:
            pass


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    results: list[dict] = field(default_factory=list)

    def task(self, name: str) -> dict:
        """The recorded result of the task called `name` (the last one if repeated)."""
        found = [r for r in self.results if r["task"] == name]
        if not found:
            raise AssertionError(f"no result for task {name!r}; have {[r['task'] for r in self.results]}\n{self.stdout}")
        return found[-1]


@pytest.fixture
def run_playbook(tmp_path):
    """Run a playbook (YAML text) against a local 'lab' host; return PlaybookRun."""
    counter = itertools.count()

    def run(playbook: str, *, check: bool = False, diff: bool = False,
            extra_vars: dict | None = None, env: dict | None = None) -> PlaybookRun:
        n = next(counter)
        book = tmp_path / f"play{n}.yml"
        book.write_text(textwrap.dedent(playbook))
        record = tmp_path / f"record{n}.jsonl"
        inventory = tmp_path / "inventory.ini"
        inventory.write_text(
            f"lab ansible_connection=local ansible_python_interpreter={VENV_BIN / 'python'}\n")
        args = ["-i", inventory, book]
        if check:
            args.append("--check")
        if diff:
            args.append("--diff")
        if extra_vars:
            args += ["-e", json.dumps(extra_vars)]
        proc, results = ansible_playbook(args, tmp_path, record, env=env)
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)

    return run


@pytest.fixture
def hv(netns):
    """A small hypervisor in a namespace: uplinks eth1/eth2 (veth), a VM tap, a container veth."""
    ip("link", "add", "eth1", "type", "veth", "peer", "name", "sw1", ns=netns)
    ip("link", "add", "eth2", "type", "veth", "peer", "name", "sw2", ns=netns)
    ip("tuntap", "add", "tap100i0", "mode", "tap", ns=netns)
    ip("link", "add", "veth101i0", "type", "veth", "peer", "name", "ct101", ns=netns)
    return netns
