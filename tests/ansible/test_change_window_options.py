"""The change_window role's device lists take exactly net_state's entries, checked before anything runs.

The role passes its lists to net_state as they are; its argument specs (written from the same spec by
hacking/change_window_specs.py) make Ansible refuse an entry with a key net_state does not know before the
role's first task, naming the key: a misspelt option is never silently dropped, and nothing is previewed,
probed, armed or changed (the namespace's complete dump unchanged, no checkpoint directory made). Aliases
(net_bond's `slaves`, `take_over_slaves`) pass, and reach net_state; `--check` of the role previews the change
and reports it, with nothing armed.
"""
from __future__ import annotations

import pytest

from nstools import ip, kernel_state, state_diff
from playrun import LAB_CHECK_PROBES, LAB_WINDOW_PLAY

pytestmark = [pytest.mark.kernel, pytest.mark.ansible]

PLAY, PROBES = LAB_WINDOW_PLAY, LAB_CHECK_PROBES


def netsafe_tasks(run) -> list:
    """The collection's module tasks that ran (not skipped)."""
    return [r for r in run.results if r["action"].startswith("netsafe.") and r["status"] != "skipped"]


def test_a_misspelt_key_fails_the_role_before_anything(run_playbook, netns, tmp_path):
    before = kernel_state(netns)
    run = run_playbook(PLAY, extra_vars={
        "ns": netns, "root": str(tmp_path / "root"),
        "change_window_bridges": [{"name": "vmbr0", "ageing_time": 30},
                                  {"name": "vmbr1", "agieng_time": 30, "rotues": [],
                                   "port_vlans": [{"port": "eth1", "pvdi": 10}]}],
        "change_window_bonds": [{"name": "bond0", "slaves": ["eth1"], "take_over_slaves": True}]})
    assert run.rc != 0
    message = run.stdout + run.stderr
    for key in ("change_window_bridges.agieng_time", "change_window_bridges.rotues",
                "change_window_bridges.port_vlans.pvdi"):
        assert key in message, message
    assert "ageing_time" not in message.replace("agieng", "").split("Supported parameters")[0], message
    assert "slaves" not in message.split("Validation of arguments failed")[1].split("argument_spec_data")[0], message
    assert [r["task"].split(" : ")[-1] for r in run.results][:1] == [
        "Validating arguments against arg spec 'main' - A network change window on a hypervisor that puts itself "
        "back when the change goes wrong"]
    assert netsafe_tasks(run) == []
    assert not (tmp_path / "root").exists()   # nothing armed: no checkpoint state written
    assert state_diff(before, kernel_state(netns)) == []


def test_a_misspelt_probe_key_fails_the_role_before_anything(run_playbook, netns, tmp_path):
    before = kernel_state(netns)
    run = run_playbook(PLAY, extra_vars={
        "ns": netns, "root": str(tmp_path / "root"),
        "change_window_bridges": [{"name": "vmbr0"}],
        "change_window_probes": [{"type": "icmp", "target": "192.0.2.1", "mtu": 9000},
                                 {"type": "icmp", "tagret": "192.0.2.1"}]})
    assert run.rc != 0
    message = run.stdout + run.stderr
    assert "change_window_probes.tagret" in message, message
    assert netsafe_tasks(run) == []
    assert not (tmp_path / "root").exists()
    assert state_diff(before, kernel_state(netns)) == []


def test_check_mode_previews_the_change_with_aliases_and_arms_nothing(run_playbook, hv, tmp_path):
    ip("link", "add", "vmbr0", "type", "bridge", ns=hv)
    ip("link", "set", "eth1", "master", "vmbr0", ns=hv)
    before = kernel_state(hv)
    interfaces = tmp_path / "root" / "etc" / "network" / "interfaces"
    interfaces.parent.mkdir(parents=True)
    interfaces.write_text("auto lo\niface lo inet loopback\n")
    run = run_playbook(PLAY, check=True, extra_vars={
        "ns": hv, "root": str(tmp_path / "root"), "change_window_probes": PROBES, "change_window_persist_format": "ifupdown2",
        # net_bond's aliases: bond0 takes eth1 from vmbr0, which takes bond0 (coupled change (a), previewed only:
        # the host kernel has no bonding, check mode needs none).
        "change_window_bonds": [{"name": "bond0", "slaves": ["eth1", "eth2"], "take_over_slaves": True,
                                 "mode": "active-backup", "miimon": 100}],
        "change_window_bridges": [{"name": "vmbr0", "ports": ["bond0"], "mtu": 1400}]})
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = run.task("netsafe.hypervisor.change_window : Build the report")["result"]["ansible_facts"][
        "change_window_report"]
    assert report["outcome"] == "previewed", report
    assert report["summary"].startswith("lab: PREVIEW (check mode).") and "Nothing was armed or changed" in report["summary"]
    commands = "\n".join(report["commands"])
    for fragment in ("type bond", "dev eth1 master bond0", "dev eth2 master bond0", "dev bond0 master vmbr0",
                     "dev vmbr0 mtu 1400"):
        assert fragment in commands, (fragment, report["commands"])
    assert report["checkpoint"] is None and report["module_runs"] == 1
    assert [r["action"] for r in netsafe_tasks(run)] == ["netsafe.hypervisor.net_state"]
    preview = netsafe_tasks(run)[0]["result"]
    assert preview["invocation"]["module_args"]["bonds"][0]["ports"] == ["eth1", "eth2"]   # the alias reached it
    # Nothing armed, nothing written: the files were only checked for the new state (what a save would write).
    assert [p for p in (tmp_path / "root").rglob("*") if p.is_file()] == [interfaces]
    assert interfaces.read_text() == "auto lo\niface lo inet loopback\n"
    assert preview["persist"]["files"] == [{"path": str(interfaces), "action": "updated"}], preview["persist"]
    assert state_diff(before, kernel_state(hv)) == []


def test_check_mode_of_a_host_already_as_wanted_reports_unchanged(run_playbook, hv, tmp_path):
    ip("link", "add", "vmbr0", "type", "bridge", ns=hv)
    ip("link", "set", "eth1", "master", "vmbr0", ns=hv)
    ip("link", "set", "eth1", "up", ns=hv)
    ip("link", "set", "vmbr0", "up", ns=hv)
    before = kernel_state(hv)
    run = run_playbook(PLAY, check=True, extra_vars={
        "ns": hv, "root": str(tmp_path / "root"), "change_window_probes": PROBES, "change_window_persist": False,
        "change_window_bridges": [{"name": "vmbr0", "ports": ["eth1"]}]})
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "lab: UNCHANGED. Already in the wanted state" in run.stdout, run.stdout[-3000:]
    assert [r["action"] for r in netsafe_tasks(run)] == ["netsafe.hypervisor.net_state"]
    assert not (tmp_path / "root").exists()
    assert state_diff(before, kernel_state(hv)) == []
