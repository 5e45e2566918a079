"""net_checkpoint state=confirmed with `persist`: confirm, then write the network files, in one task.

Real kernel in a throwaway namespace (the 'bridges' host of persist_lab, with guests), the files and the
checkpoint under a scratch root; the format is ifupdown2, and what was written is read by Debian's own
ifupdown2 (`ifquery -a`). Files are written only after the confirmation; a save that fails after it
leaves the checkpoint confirmed, the kernel as changed, every file byte for byte as it was, and says so.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format

import realstacks
from persist_lab import persist, snapshot_files
from modrun import run_module
from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]

MAIN = "/etc/network/interfaces"
# The change the window makes: vmbr1 and its uplink from MTU 9000 to 1400.
CHANGE = ["ip link set eno2 mtu 1400", "ip link set vmbr1 mtu 1400"]


def files_of(host) -> dict:
    """The host's network files and backups, bytes and mtimes (not the checkpoint's own records)."""
    return {path: data for path, data in snapshot_files(host.root).items() if "/netsafe/checkpoint/" not in path}


def described(host):
    fmt = Ifupdown2Format(MAIN, str(host.root))
    return fmt.parse(fmt.read())


def saved_host(host):
    """The host's files describe what runs (net_persist), then a checkpoint is armed: (checkpoint id, files)."""
    first = persist(host.ns, host.root, "ifupdown2")
    assert first["changed"] and not first.get("failed"), first
    armed = host.checkpoint(state="armed", timeout=120)
    assert armed["armed"], armed
    return armed["checkpoint"]["id"]


def test_confirm_writes_the_files_for_the_changed_devices_once_confirmed(host):
    checkpoint_id = saved_host(host)
    vmbr0_before = described(host).get("vmbr0").to_dict()
    iproute(host.ns, CHANGE)
    changed = host.state()
    before = files_of(host)

    check = host.checkpoint(state="confirmed", id=checkpoint_id, persist={"format": "ifupdown2", "devices": ["vmbr1"]},
                            check=True)
    assert check["changed"] and not check.get("failed"), check
    assert check["persist"]["changed"] and check["persist"]["files"] == [{"path": f"{host.root}{MAIN}",
                                                                          "action": "updated"}]
    assert files_of(host) == before and host.checkpoint(state="query")["armed"] is True

    result = host.checkpoint(state="confirmed", id=checkpoint_id, persist={"format": "ifupdown2", "devices": ["vmbr1"]})
    assert not result.get("failed"), result
    assert result["changed"] and result["outcome"]["outcome"] == "confirmed" and result["armed"] is False
    persisted = result["persist"]
    assert persisted["format"] == "ifupdown2" and persisted["devices"] == ["eno2", "vmbr1"]
    assert persisted["files"] == [{"path": f"{host.root}{MAIN}", "action": "updated"}]
    assert len(persisted["backups"]) == 1 and open(persisted["backups"][0], "rb").read() == before[f"{host.root}{MAIN}"][0]
    assert result["diff"] == persisted["diff"] and "mtu 1400" in persisted["diff"][0]["after"]
    after = described(host)
    assert (after.get("vmbr1").mtu, after.get("eno2").mtu, after.get("eno2").master) == (1400, 1400, "vmbr1")
    assert after.get("vmbr0").to_dict() == vmbr0_before   # a device out of scope keeps its description
    ok, output = realstacks.ifquery_parses(host.root, host.ns)
    assert ok, output
    ((passed, output),) = realstacks.ifupdown2_syntax_checks(host.ns, [host.root / MAIN.lstrip("/")],
                                                             host.root).values()
    assert passed, output
    assert state_diff(changed, host.state()) == []
    # The same task again: the checkpoint is already confirmed, the files already right.
    again = host.checkpoint(state="confirmed", id=checkpoint_id, persist={"format": "ifupdown2", "devices": ["vmbr1"]})
    assert again["changed"] is False and again["persist"]["files"] == [], again


@pytest.mark.parametrize("fmt", ["networkmanager", "networkd"])
def test_confirm_writes_the_other_formats_too(host, fmt):
    assert persist(host.ns, host.root, fmt)["changed"]
    checkpoint_id = host.checkpoint(state="armed", timeout=120)["checkpoint"]["id"]
    iproute(host.ns, CHANGE)
    result = host.checkpoint(state="confirmed", id=checkpoint_id, persist={"format": fmt})
    assert not result.get("failed") and result["outcome"]["outcome"] == "confirmed", result
    assert result["persist"]["format"] == fmt and result["persist"]["changed"]
    cls = FORMATS[fmt]
    files = cls(cls.DEFAULT_PATH, str(host.root))
    assert files.parse(files.read()).get("vmbr1").mtu == 1400
    assert not persist(host.ns, host.root, fmt, check=True)["changed"]   # the files describe the kernel


def test_a_save_refused_after_the_confirmation_keeps_the_change_and_every_file(host):
    """vmbr1's stanza has a line continued with '\\' (ifupdown2 reads it; net_persist cannot edit it)."""
    checkpoint_id = saved_host(host)
    path = host.root / MAIN.lstrip("/")
    text = path.read_text()
    assert "\tbridge-ports eno2\n" in text
    path.write_text(text.replace("\tbridge-ports eno2\n", "\tbridge-ports \\\n\t\teno2\n"))
    iproute(host.ns, CHANGE)
    changed = host.state()
    before = files_of(host)

    check = host.checkpoint(state="confirmed", id=checkpoint_id, persist={"format": "ifupdown2"}, check=True)
    assert check["failed"] and check["changed"] is False, check
    assert check["msg"].startswith(f"persist: check mode: checkpoint {checkpoint_id} would be confirmed, but the "
                                   f"network files could not be saved: {MAIN} line ")
    assert check["msg"].endswith("Nothing was confirmed or written")
    assert files_of(host) == before and host.checkpoint(state="query")["armed"] is True

    result = host.checkpoint(state="confirmed", id=checkpoint_id, persist={"format": "ifupdown2"})
    assert result["failed"] and result["changed"] is True, result
    msg = result["msg"]
    assert msg.startswith(f"persist: checkpoint {checkpoint_id} IS confirmed: the network change is kept and will not "
                          f"be rolled back. The network files were NOT written: ")
    assert f"{MAIN} line " in msg and "a line continued with '\\' is not supported here; join it into one line" in msg, msg
    assert f"netsafe.hypervisor.net_persist with state=saved, format=ifupdown2, root={host.root}, namespace={host.ns}" in msg
    assert files_of(host) == before   # byte for byte, mtimes too; no backup made
    query = host.checkpoint(state="query")
    assert query["armed"] is False and query["last"]["id"] == checkpoint_id and query["last"]["outcome"] == "confirmed"
    assert state_diff(changed, host.state()) == []

    # The way out the message gives: fix the line, then the same task (or net_persist) writes the files.
    path.write_text(text)
    retry = host.checkpoint(state="confirmed", id=checkpoint_id, persist={"format": "ifupdown2"})
    assert not retry.get("failed"), retry
    assert retry["persist"]["changed"] and described(host).get("vmbr1").mtu == 1400


def test_persist_is_refused_with_another_state_and_bad_options_or_a_failed_confirmation_write_nothing(host):
    before = host.state()
    armed = host.checkpoint(state="armed", timeout=120, persist={"format": "ifupdown2"})
    assert armed["failed"] and armed["msg"].startswith("persist: applies only with state=confirmed"), armed
    assert host.checkpoint(state="query")["armed"] is False
    checkpoint_id = host.checkpoint(state="armed", timeout=120)["checkpoint"]["id"]
    for persist_args, problem in (({"backup_keep": -1}, "persist: backup_keep: -1 must be a whole number"),
                                  ({"path": "relative/interfaces"}, "persist: path: 'relative/interfaces' must be an "
                                                                    "absolute path"),
                                  ({"devices": ["vm*"]}, "persist.devices: 'vm*' is not a valid interface name")):
        bad = host.checkpoint(state="confirmed", id=checkpoint_id, persist=dict(persist_args, format="ifupdown2"))
        assert bad["failed"] and bad["changed"] is False and bad["msg"].startswith(problem), bad
        assert host.checkpoint(state="query")["armed"] is True
    wrong = host.checkpoint(state="confirmed", id="20260101T000000Z-000000", persist={"format": "ifupdown2"})
    assert wrong["failed"] and "not the one armed" in wrong["msg"] and "persist" not in wrong, wrong
    assert files_of(host) == {}   # a confirmation that fails writes no file
    assert state_diff(before, host.state()) == []
    assert host.checkpoint(state="rolled_back", id=checkpoint_id)["outcome"]["outcome"] == "rolled_back"


def test_net_state_confirms_and_writes_the_files_its_arming_run_checked(host):
    """The window as two runs of one module: net_state arms with checkpoint.persist (the files checked for the devices
    the change touches), then the same task with checkpoint.confirm writes them, for the same devices."""
    first = persist(host.ns, host.root, "ifupdown2")
    assert first["changed"] and not first.get("failed"), first
    vmbr0_before = described(host).get("vmbr0").to_dict()
    task = {"namespace": host.ns, "nics": [{"name": "eno2", "mtu": 1400}], "bridges": [{"name": "vmbr1", "mtu": 1400}],
            "checkpoint": {"root": str(host.root), "timeout": 120, "gate": False, "persist": {"format": "ifupdown2"},
                           "probes": [{"type": "icmp", "target": "192.0.2.10", "count": 1}]}}
    armed = run_module("net_state", task)
    assert not armed.get("failed") and armed["outcome"] == "armed", armed.get("msg")
    assert armed["persist"]["devices"] == ["eno2", "vmbr1"], armed["persist"]
    changed = host.state()
    before = files_of(host)

    confirm = dict(task, checkpoint=dict(task["checkpoint"], confirm=armed["checkpoint"]["id"]))
    check = run_module("net_state", confirm, check=True)
    assert not check.get("failed") and check["persist"]["files"] == [{"path": f"{host.root}{MAIN}", "action": "updated"}]
    assert files_of(host) == before and host.checkpoint(state="query")["armed"] is True

    done = run_module("net_state", confirm)
    assert not done.get("failed"), done.get("msg")
    assert done["outcome"] == "confirmed" and done["confirmation"]["persist_devices"] == ["eno2", "vmbr1"], done
    assert done["persist"]["devices"] == ["eno2", "vmbr1"] and done["persist"]["files"] == [
        {"path": f"{host.root}{MAIN}", "action": "updated"}], done["persist"]
    after = described(host)
    assert (after.get("vmbr1").mtu, after.get("eno2").mtu) == (1400, 1400)
    assert after.get("vmbr0").to_dict() == vmbr0_before
    ok, output = realstacks.ifquery_parses(host.root, host.ns)
    assert ok, output
    assert host.checkpoint(state="query")["armed"] is False
    assert state_diff(changed, host.state()) == []
    again = run_module("net_state", confirm)   # confirmed already, the files already right
    assert not again.get("failed") and again["changed"] is False and again["persist"]["files"] == [], again
