"""Review (attacker): /var/lib/netsafe read-only (ext4's errors=remount-ro after an I/O error) instead of full.

Store.finish() removes the state directory's copy of the record with _remove(), which swallows the error, and
not_written does not list it. So the stale copy (state `armed`) outlives the checkpoint:
- after a confirmation: query reports the confirmed checkpoint as armed and orphaned, the next arm refuses, and
  state=rolled_back (what the refusal advises) undoes the confirmed change;
- after the watchdog's rollback: query reports it armed with a live watchdog and a negative `remaining` for as
  long as the watchdog lingers (up to 24 h), and arming refuses ("already armed ... in -3.2 s").
Each run happens in a private mount namespace where only the scratch root's state directory is made read-only.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kernel]

TESTS = Path(__file__).resolve().parents[1]
SCRIPT = r'''
import json, os, signal, subprocess, sys, time
sys.path[:0] = [{tests!r}, {collections!r}]
from modrun import run_module
ns, root, mode = sys.argv[1], sys.argv[2], sys.argv[3]
state = os.path.join(root, "var/lib/netsafe")
def cp(**a):
    return run_module("net_checkpoint", dict(namespace=ns, root=root, **a))
armed = cp(state="armed", timeout=5 if mode == "deadline" else 30)["checkpoint"]
subprocess.run(["mount", "--bind", state, state], check=True)
subprocess.run(["mount", "-o", "remount,ro,bind", state], check=True)
subprocess.run(["ip", "-n", ns, "link", "set", "vmbr1", "mtu", "1400"], check=True)
out = {{}}
if mode == "confirm":
    out["confirm"] = cp(state="confirmed", id=armed["id"])
    time.sleep(1)
else:
    time.sleep(8)
try:
    with open("/proc/%d/stat" % armed["watchdog"]["pid"]) as handle:
        out["watchdog_alive"] = handle.read().rsplit(") ", 1)[1][0] != "Z"
except OSError:
    out["watchdog_alive"] = False
out["stale"] = os.path.exists(os.path.join(state, "checkpoint", "netns-" + ns, "checkpoint.json"))
out["query"] = cp(state="query")
out["arm"] = cp(state="armed", timeout=30)
if mode == "confirm":
    out["rolled_back"] = cp(state="rolled_back")
out["mtu"] = json.loads(subprocess.run(["ip", "-n", ns, "-j", "link", "show", "vmbr1"], capture_output=True,
                                       text=True).stdout)[0]["mtu"]
try:
    os.kill(armed["watchdog"]["pid"], signal.SIGKILL)
except ProcessLookupError:
    pass
print(json.dumps(out))
'''


def run(host, mode: str) -> dict:
    script = host.root / "script.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), collections=str(TESTS.parent / ".tmp" / "collections")))
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, str(script), host.ns,
                           str(host.root), mode], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def refused_for_the_read_only_directory(host, arm: dict) -> bool:
    """Arming fails for what it is (the record cannot be kept), naming the path, not for a checkpoint 'still armed'."""
    stale = host.state_dir / "checkpoint.json"
    return arm.get("failed") and arm["msg"].startswith(f"cannot arm: {stale}: Read-only file system; nothing was armed")


def test_a_confirmation_on_a_read_only_state_directory_is_not_later_reported_armed(host):
    out = run(host, "confirm")
    assert not out["confirm"].get("failed")
    assert out["stale"], "the scenario: the state directory's copy of the record could not be removed"
    assert f"the finished record: {host.state_dir / 'checkpoint.json'}: Read-only file system (it stays, as " \
           "history" in " ".join(out["confirm"]["outcome"]["not_written"])
    assert not out["watchdog_alive"], "the watchdog is still running after the confirmation"
    query = out["query"]
    assert not query["armed"], "the confirmed checkpoint is reported armed (orphaned)"
    assert query["last"]["outcome"] == "confirmed"
    assert refused_for_the_read_only_directory(host, out["arm"]), out["arm"].get("msg")
    assert out["rolled_back"]["commands"] == [] and not out["rolled_back"]["changed"]
    assert out["mtu"] == 1400, "state=rolled_back undid the confirmed change"


def test_a_rollback_on_a_read_only_state_directory_is_not_later_reported_armed(host):
    out = run(host, "deadline")
    query = out["query"]
    assert out["mtu"] == 9000   # the rollback itself happened
    assert out["stale"]
    assert not query["armed"], ("the rolled back checkpoint is reported armed", query.get("checkpoint"))
    assert query["last"]["outcome"] == "rolled_back"
    assert any(line.startswith(f"the finished record: {host.state_dir / 'checkpoint.json'}: Read-only file system")
               for line in query["last"]["not_written"]), query["last"]["not_written"]
    assert refused_for_the_read_only_directory(host, out["arm"]), out["arm"].get("msg")
