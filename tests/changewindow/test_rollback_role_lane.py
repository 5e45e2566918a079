"""The change_window role's own rollback of bonds, VLANs and a vlan-aware bridge, over ssh (issue 24).

ansible-playbook runs here and reaches the full-kernel VM over ssh (the
`lane_vm` fixture), as an operator's controller reaches a hypervisor. In the
VM, namespace `rbhv` is persist_lab.vlan_aware: bond0 (active-backup)
carries bond0.10, a port of the vlan-aware vmbr0 that holds the host's
address, with guests on VLANs 30 and 31. The switch namespace carries only
VLAN 10 to the gateway.

The window's change is persist_lab.VLAN_AWARE_BREAK, through the role's own
lists: the bond to balance-xor with miimon 250 and layer3+4, bond0.10
re-created as VLAN 20 on eno3 (which cuts the host off its gateway), vmbr0's
MTU and port VLANs. The probes net_state runs after the change fail, so it
rolls back in that same run (the gate is off and the deadline 600 s away, so
the watchdog cannot be the one that does it),
and the complete state dump, read over ssh, must equal the one before the
window. Guests are not re-attached by the role here (change_window_reenslave
false): they never leave vmbr0, and each module run costs about ten seconds
under emulation. The watchdog's own rollback of the same change is
tests/checkpoint/test_rollback_lane.py, inside the VM.
"""
from __future__ import annotations

import json
import shlex

import pytest

import persist_lab
from nstools import parse_state_output, state_diff, state_script
from playrun import ansible_playbook, role_play
from test_change_window import report_of

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

HV, SW = "rbhv", "rbsw"
HOST_ROOT = "/tmp/netsafe-rollback-role"   # the lab host's / for the checkpoint's files, in the VM's /tmp
PLAY = role_play("netsafe.hypervisor.change_window", "lane")
ROLE_LISTS = {"net_bond": "change_window_bonds", "net_vlan": "change_window_vlans",
              "net_bridge": "change_window_bridges"}


def role_vars() -> dict:
    values = {"change_window_namespace": HV, "change_window_root": HOST_ROOT, "change_window_gate": False,
              "change_window_confirm_timeout": 600, "change_window_reenslave": False,
              # Nothing here is persisted (the window rolls back); the lab's root has no network files to check.
              "change_window_persist": False,
              "change_window_bonds": [], "change_window_vlans": [], "change_window_bridges": []}
    for module, args in persist_lab.VLAN_AWARE_BREAK:
        values[ROLE_LISTS[module]].append(args)
    return values


def in_vm_python(code: str) -> str:
    """A shell command running `code` with the tests' helpers (the lane's environment has them on the path)."""
    return f"python -c {shlex.quote('import nstools, persist_lab, watchdogs; ' + code)}"


def settled(vm) -> dict:
    """The complete state dump of HV, over ssh, once its links have carrier again."""
    wait = in_vm_python(f"nstools.wait_carrier({HV!r}, persist_lab.VLAN_AWARE_CARRIER, polls=600)")
    return parse_state_output(vm.run(f"{wait} && {state_script(HV)}", check=True).stdout)


@pytest.fixture
def lab(lane_vm):
    lane_vm.run(" && ".join([f"ip netns add {HV}", f"ip netns add {SW}", f"ip -n {HV} link set lo up",
                             f"ip -n {SW} link set lo up", in_vm_python(f"persist_lab.vlan_aware({HV!r}, {SW!r})")]),
                check=True)
    try:
        yield lane_vm
    finally:
        if lane_vm.proc.poll() is None:
            lane_vm.run(in_vm_python(f"watchdogs.kill_watchdogs({HOST_ROOT!r})")
                        + f"; ip netns del {HV}; ip netns del {SW}; rm -rf {HOST_ROOT}")


def test_role_rolls_back_a_bond_mode_change_vlan_id_and_parent_and_port_vlans(lab, tmp_path):
    before = settled(lab)
    inventory = lab.inventory(tmp_path / "inventory.ini")
    (tmp_path / "window.yml").write_text(PLAY)
    (tmp_path / "vars.json").write_text(json.dumps(role_vars()))
    proc, results = ansible_playbook(["-i", inventory, "window.yml", "-e", "@vars.json"], tmp_path,
                                     tmp_path / "record.jsonl", env={"ANSIBLE_TIMEOUT": "120"})
    output = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 2, output   # the host fails with its report, as the role means it to
    report = report_of(results)
    assert report["outcome"] == "rolled_back", report
    assert report["summary"].startswith("lane: ROLLED BACK.") and "Restored by the role" in report["summary"], report
    assert "'Apply the change inside a checkpoint' failed: probes failed after the change" in report["reason"], \
        report["reason"]
    # The change happened, all of it (the commands the window applied)...
    applied = "\n".join(report["commands"])
    for fragment in ("type bond mode balance-xor", "link del dev bond0.10", "link add link eno3 name bond0.10",
                     "link set dev vmbr0 mtu 1400", "vlan add dev tap100i0 vid 40 pvid untagged"):
        assert fragment in applied, (fragment, report["commands"])
    # ...and net_state's rollback, in the same run, put back every part of it.
    assert report["rollback"]["by"] == "net_state" and report["rollback"]["outcome"] == "rolled_back"
    assert any("type bond mode active-backup" in command for command in report["rollback"]["commands"])
    after = report["probes"]["after_rollback"]
    assert after and all(line.split(": ", 1)[1].startswith("ok") for line in after), report["probes"]
    diff = state_diff(before, settled(lab))
    assert diff == [], "the role's rollback did not restore the host:\n" + "\n".join(diff)
