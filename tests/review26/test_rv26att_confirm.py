"""Review 26 (attacker): net_state's `checkpoint.confirm` on a bad day.

The host: persist_lab's 'bridges' host (vmbr0 on eno1 with guests, vmbr1 on eno2, eno3 alone) in a throwaway
namespace, its files (ifupdown2) and checkpoints under a scratch root. The window: net_state arms eno2 and vmbr1 to
MTU 1400 with checkpoint.persist, then the same task with checkpoint.confirm.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import persist_lab
from diskfill import FILLER
from modrun import run_module
from nstools import iproute, settled_state, state_diff
from watchdogs import kill_watchdogs

pytestmark = pytest.mark.kernel

SELF = [{"type": "icmp", "target": "192.0.2.10", "count": 1}]   # the host's own address: always answers


@pytest.fixture
def lab(namespaces, tmp_path):
    """(namespace, scratch root) with the host's files written by net_persist."""
    ns, _peer = persist_lab.bridges_host(namespaces)
    root = tmp_path / "root"
    root.mkdir()
    first = persist_lab.persist(ns, root, "ifupdown2")
    assert first["changed"] and not first.get("failed"), first
    try:
        yield ns, root
    finally:
        kill_watchdogs(root)


def task(ns, root, **checkpoint) -> dict:
    return {"namespace": ns, "nics": [{"name": "eno2", "mtu": 1400}], "bridges": [{"name": "vmbr1", "mtu": 1400}],
            "checkpoint": dict({"root": str(root), "timeout": 120, "gate": False, "probes": SELF,
                                "persist": {"format": "ifupdown2"}}, **checkpoint)}


def arm(ns, root) -> str:
    armed = run_module("net_state", task(ns, root))
    assert not armed.get("failed") and armed["outcome"] == "armed", armed
    return armed["checkpoint"]["id"]


def query(ns, root) -> dict:
    return run_module("net_checkpoint", {"state": "query", "namespace": ns, "root": str(root)})


def tree(root) -> dict:
    """Every file and directory under `root`: bytes and mtime for files, mode for directories."""
    found = {}
    for base, dirs, names in os.walk(root):
        for name in dirs:
            found[os.path.join(base, name)] = ("dir", os.stat(os.path.join(base, name)).st_mode)
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                found[path] = (handle.read(), os.stat(path).st_mtime_ns)
    return found


def network_files(root) -> dict:
    return {p: v for p, v in tree(root).items() if "/netsafe/" not in p and "/run/" not in p}


def tamper(ns, root, **fields) -> None:
    """Edit the armed record in both places (run and state directories), as a bad disk or a hand would."""
    for top in ("run/netsafe/checkpoint", "var/lib/netsafe/checkpoint"):
        path = root / top / f"netns-{ns}" / "checkpoint.json"
        record = json.loads(path.read_text())
        record.update(fields)
        path.write_text(json.dumps(record))


def test_an_empty_confirm_id_is_refused_not_taken_for_an_arming_run(lab):
    """`confirm: ""` (a templated id that came out empty) must not be read as 'no confirm': after the watchdog
    rolled the change back, that task re-applies the change and arms a new checkpoint nobody will confirm."""
    ns, root = lab
    checkpoint_id = arm(ns, root)
    back = run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root), "id": checkpoint_id})
    assert not back.get("failed"), back
    before, files = settled_state(ns), network_files(root)
    result = run_module("net_state", task(ns, root, confirm=""))
    assert result.get("failed") and "checkpoint.confirm" in result["msg"], result
    assert state_diff(before, settled_state(ns)) == []
    assert query(ns, root)["armed"] is False
    assert network_files(root) == files


def test_a_confirm_in_check_mode_creates_nothing_under_the_root(lab):
    ns, root = lab
    checkpoint_id = arm(ns, root)
    before, files = settled_state(ns), tree(root)
    check = run_module("net_state", task(ns, root, confirm=checkpoint_id), check=True)
    assert not check.get("failed") and check["outcome"] == "confirmed", check
    assert tree(root) == files
    assert state_diff(before, settled_state(ns)) == []


def test_a_guest_started_on_the_bridge_meanwhile_does_not_stop_the_confirmation(lab):
    ns, root = lab
    checkpoint_id = arm(ns, root)
    iproute(ns, ["ip tuntap add tap102i0 mode tap", "ip link set tap102i0 master vmbr1", "ip link set tap102i0 up"])
    done = run_module("net_state", task(ns, root, confirm=checkpoint_id))
    assert not done.get("failed"), done.get("msg")
    assert done["outcome"] == "confirmed" and query(ns, root)["armed"] is False
    text = (root / "etc/network/interfaces").read_text()
    assert "tap102i0" not in text, text


@pytest.mark.parametrize("devices", ["vmbr1", ["../etc/passwd"], ["vmbr*"], [7], ["eno2", None]])
def test_a_tampered_persist_devices_is_refused_and_writes_nothing(lab, devices):
    """The record is data read back from disk: persist_devices that is not a list of interface names must not
    reach the files (a string iterated letter by letter, a glob, a path)."""
    ns, root = lab
    checkpoint_id = arm(ns, root)
    tamper(ns, root, persist_devices=devices)
    files = network_files(root)
    done = run_module("net_state", task(ns, root, confirm=checkpoint_id))
    assert done.get("failed") and "persist_devices" in done["msg"], done
    assert network_files(root) == files


def test_a_bridge_the_window_deleted_leaves_the_files_at_confirmation(lab):
    """The arming run checks the files with vmbr1 gone (its preview lists vmbr1 in removed_devices), but the
    checkpoint keeps only persist.devices: the confirmation writes eno2 and leaves vmbr1's stanza, so the host boots
    with a bridge the confirmed network no longer has."""
    ns, root = lab
    delete = {"namespace": ns, "bridges": [{"name": "vmbr1", "state": "absent"}],
              "checkpoint": {"root": str(root), "timeout": 120, "gate": False, "probes": SELF,
                             "persist": {"format": "ifupdown2"}}}
    armed = run_module("net_state", delete)
    assert not armed.get("failed") and armed["outcome"] == "armed", armed
    assert "vmbr1" in armed["persist"]["removed_devices"], armed["persist"]
    done = run_module("net_state", dict(delete, checkpoint=dict(delete["checkpoint"], confirm=armed["checkpoint"]["id"])))
    assert not done.get("failed") and done["outcome"] == "confirmed", done.get("msg")
    text = (root / "etc/network/interfaces").read_text()
    assert "vmbr1" not in text, text


def test_a_wrong_id_is_refused_naming_checkpoint_confirm_and_not_echoed_whole(lab):
    """net_state's parameter is checkpoint.confirm; the refusal says `id:` (net_checkpoint's), and a 200 000
    character id comes back whole in the message."""
    ns, root = lab
    checkpoint_id = arm(ns, root)
    for bad in ("20991231T000000Z-nothing", "x" * 200000):
        refused = run_module("net_state", task(ns, root, confirm=bad))
        assert refused.get("failed") and refused["msg"].startswith("checkpoint.confirm:"), refused["msg"][:300]
        assert len(refused["msg"]) < 2000
    assert query(ns, root)["checkpoint"]["id"] == checkpoint_id


def test_a_confirm_that_describes_nothing_confirms_nothing(lab):
    """checkpoint.confirm 'confirms only a host it finds as the task describes': a task with no lists at all
    describes nothing, checks nothing, and confirms whatever the host is (here: after a change since)."""
    ns, root = lab
    checkpoint_id = arm(ns, root)
    iproute(ns, ["ip link set vmbr1 mtu 1300"])   # not what the window made
    before = settled_state(ns)
    done = run_module("net_state", {"namespace": ns, "checkpoint": {"root": str(root), "confirm": checkpoint_id}})
    assert done.get("failed") and "checkpoint.confirm" in done["msg"], done
    assert query(ns, root)["armed"] is True
    assert state_diff(before, settled_state(ns)) == []


def test_a_confirm_without_persist_says_the_checked_files_were_not_written(lab):
    """The arming run checked the files (checkpoint.persist) and says they are written with the confirmation; a
    confirmation task without checkpoint.persist confirms and writes nothing, silently."""
    ns, root = lab
    checkpoint_id = arm(ns, root)
    confirm = task(ns, root, confirm=checkpoint_id)
    del confirm["checkpoint"]["persist"]
    done = run_module("net_state", confirm)
    assert not done.get("failed") and done["outcome"] == "confirmed", done.get("msg")
    assert "checkpoint.persist" in str(done.get("warnings")), done.get("warnings")


FULL_DISK = r'''
import json, os, shutil, stat, subprocess, sys
sys.path[:0] = [{tests!r}, {collections!r}]
from modrun import run_module
FILLER = {filler!r}
task, root = json.loads(sys.argv[1]), sys.argv[2]
stash = root + ".stash"
shutil.copytree(root, stash, symlinks=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", root], check=True)
shutil.copytree(stash, root, symlinks=True, dirs_exist_ok=True)
out = {{}}
armed = run_module("net_state", task)
out["armed"] = {{k: armed.get(k) for k in ("failed", "msg", "outcome")}}
task["checkpoint"]["confirm"] = armed["checkpoint"]["id"]
main = os.path.join(root, "etc/network/interfaces")
with open(main, "rb") as handle:
    old = handle.read()
fill = os.path.join(root, "fill")
# Keeps the disk full: takes every block freed.
filler = subprocess.Popen([sys.executable, "-c", FILLER, "-", "-", root], stdout=subprocess.PIPE, text=True)
assert filler.stdout.readline().strip() == "full"
# The confirmation drops the record and the watchdog its files: blocks the save could take before the filler does.
# Every file held open keeps its blocks after its unlink (until closed), so the disk stays full, every run.
held = [open(os.path.join(d, f), "rb") for d, _dirs, files in os.walk(root) for f in files
        if f != "fill" and stat.S_ISREG(os.lstat(os.path.join(d, f)).st_mode)]
confirm = run_module("net_state", task)
for handle in held:
    handle.close()
out["confirm"] = {{k: confirm.get(k) for k in ("failed", "msg", "changed", "warnings", "persist")}}
with open(main, "rb") as handle:
    out["same_bytes"] = handle.read() == old
filler.kill()
filler.wait()
os.unlink(fill)
again = run_module("net_state", task)
out["again"] = {{k: again.get(k) for k in ("failed", "msg", "changed", "outcome")}}
with open(main) as handle:
    out["text"] = handle.read()
pid = armed["checkpoint"]["watchdog"]["pid"]
try:
    os.kill(pid, 9)
except ProcessLookupError:
    pass
print(json.dumps(out))
'''


def test_a_save_that_fails_on_a_full_disk_can_be_completed_by_the_same_task(lab, tmp_path):
    """One disk holds the scratch root (state, run and /etc), full at the confirmation: the checkpoint is confirmed
    but neither last.json nor its copy can be written, and the files cannot either. The message said 'IS confirmed
    ... or run this task again with the same id'; once there is room, that task found no checkpoint of that id and
    failed ('nothing is armed there'). The advice given must hold."""
    ns, root = lab
    tests = Path(__file__).resolve().parents[1]
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK.format(tests=str(tests), collections=str(tests.parent / ".tmp" / "collections"),
                                       filler=FILLER))
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, str(script),
                           json.dumps(task(ns, root)), str(root)], capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["armed"]["outcome"] == "armed", out
    assert out["confirm"]["failed"] and "IS confirmed" in out["confirm"]["msg"], out["confirm"]
    assert out["same_bytes"], "a failed save must leave the file as it was"
    if "run this task again" in out["confirm"]["msg"]:   # the advice given must hold
        assert not out["again"]["failed"], out["again"]["msg"]
        assert "mtu 1400" in out["text"], out["text"]
    else:
        assert "net_persist" in out["confirm"]["msg"], out["confirm"]["msg"]
