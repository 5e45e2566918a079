"""Run a collection module as its own Python process, the way Ansible runs it on a host.

`python -m <module> ARGS_FILE`, its arguments in a JSON file: two such
processes really race, which in-process calls (modrun.py) cannot show.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".tmp" / "collections"
PACKAGE = "ansible_collections.netsafe.hypervisor.plugins.modules"


def collection_env() -> dict:
    return {**os.environ, "PYTHONPATH": f"{COLLECTIONS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def start_task(workdir: Path, name: str, args: dict, module: str = "net_bridge") -> subprocess.Popen:
    """Start `module` with `args` (diff on); `name` names its argument file in `workdir`."""
    path = workdir / f"{name}.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_diff=True)}))
    return subprocess.Popen([sys.executable, "-m", f"{PACKAGE}.{module}", str(path)], env=collection_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result_of(proc: subprocess.Popen, timeout: float = 300) -> dict:
    """The task's result (its JSON on stdout); fails with stderr when there is none."""
    out, err = proc.communicate(timeout=timeout)
    assert out.strip(), f"no result (rc {proc.returncode}): {err}"
    return json.loads(out[out.index("{"):])


def run_task(workdir: Path, name: str, args: dict, module: str = "net_bridge") -> dict:
    return result_of(start_task(workdir, name, args, module))


def warnings_of(result: dict) -> list:
    """The task's warnings as text (ansible-core 2.19 returns them as structured events when run directly)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


# Takes the network lock of namespace argv[1], says so on stdout, then holds it until killed.
_HOLDER = """
import sys, time
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import HostLock
with HostLock(sys.argv[1], "a test's lock holder", 5):
    print("held", flush=True)
    time.sleep(600)
"""


def holder(ns: str) -> subprocess.Popen:
    """Another writer of namespace `ns`'s network, holding its lock until the test kills it."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, ns], env=collection_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc
