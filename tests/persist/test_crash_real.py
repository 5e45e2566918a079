"""net_persist killed while it writes: ifupdown2's own parser reads the old file or the new one, every time.

The module runs in a child process with the write failpoint set
(NETSAFE_CRASH_WRITE_AT=<step>, NETSAFE_CRASH_WRITE_FILE=<n>; _common/files.py)
and dies by SIGKILL before that step of that file: file 0 is the backup of
/etc/network/interfaces, file 1 the file itself. Afterwards `ifquery -a`
(Debian's ifupdown2, tests/realstacks.py) must parse the file without a
complaint, the file must be exactly the old or the new text, nothing
ifupdown2's `source interfaces.d/*` would read may have appeared, and the
next run must finish the job.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import files as fileops

import persist_lab
import realstacks
from modrun import run_module
from nstools import ip

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
UNRELATED = ("# managed by hand: keep this comment\n"
             "auto lo\niface lo inet loopback\n\n"
             "source /etc/network/interfaces.d/*\n")
CHILD = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from modrun import run_module
print(json.dumps(run_module("net_persist", json.loads(sys.argv[3]))))
"""


def run_in_child(args: dict, step: str, file_index: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, **{fileops.CRASH_AT_ENV: step, fileops.CRASH_FILE_ENV: str(file_index)})
    return subprocess.run([sys.executable, "-c", CHILD, str(ROOT / ".tmp" / "collections"), str(ROOT / "tests"),
                           json.dumps(args)], env=env, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def lab(namespaces, tmp_path):
    ns, peer = namespaces.new(), namespaces.new()
    persist_lab.nics(ns, peer, persist_lab.BRIDGES_NICS)
    persist_lab.bridges(ns)
    (tmp_path / "etc" / "network" / "interfaces.d").mkdir(parents=True)
    (tmp_path / "etc" / "network" / "interfaces").write_text(UNRELATED)
    return ns


@pytest.mark.parametrize("file_index", [0, 1], ids=["backup", "interfaces"])
@pytest.mark.parametrize("step", fileops.STEPS)
def test_a_killed_save_leaves_a_file_ifupdown2_reads(lab, tmp_path, step, file_index):
    ns = lab
    main = tmp_path / "etc" / "network" / "interfaces"
    args = {"format": "ifupdown2", "namespace": ns, "root": str(tmp_path)}
    assert run_module("net_persist", args)["changed"]
    old = main.read_text()
    ip("link", "set", "vmbr1", "mtu", "8000", ns=ns)
    new = run_module("net_persist", dict(args, state="rendered"))["rendered"][str(main)]
    assert new != old

    proc = run_in_child(args, step, file_index)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    text = main.read_text()
    assert text in (old, new)
    killed_after_rename = file_index == 1 and fileops.STEPS.index(step) > fileops.STEPS.index("rename")
    assert text == (new if killed_after_rename else old)
    parses, output = realstacks.ifquery_parses(tmp_path, ns)
    assert parses, output
    assert "vmbr1" in output and ("mtu 8000" in output) == killed_after_rename
    for directory in (main.parent, main.parent / "interfaces.d"):
        assert all(not name.startswith(".") or fileops.is_temporary(name) for name in os.listdir(directory))
        assert sorted(n for n in os.listdir(directory) if not n.startswith(".")) == (
            ["interfaces", "interfaces.d"] if directory == main.parent else [])
    assert main.read_text().startswith("# managed by hand: keep this comment\n")

    done = run_module("net_persist", args)
    assert not done.get("failed"), done.get("msg")
    assert done["changed"] != killed_after_rename
    assert main.read_text() == new
    assert not [n for n in os.listdir(main.parent) if fileops.is_temporary(n)]  # the next write cleaned up
    assert realstacks.ifquery_parses(tmp_path, ns)[0]
