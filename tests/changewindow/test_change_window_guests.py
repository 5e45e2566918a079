"""The change_window role and guests on a bad day (issue 22, items 4 and 7), on namespace hypervisors reached with
the local connection and the role's namespace option (as tests/changewindow/test_rolling_change_window.py).

- A VM starts under the Proxmox VE firewall while the window is open, then the probes after the change fail and
  the role rolls back: the VM keeps its bridge, everything else is as before the window, and the report says
  what was left in place and why.
- A host with no guest configuration at all (a plain KVM host, or one whose guests another tool manages) runs
  the window with the role's guest defaults (`source: auto`): confirmed. net_state keeps guest ports on the
  bridges it changes, so tap_reenslave runs only for a bridge the change re-creates: not here.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import guestvm
import persist_lab
from nstools import iproute, settled_state, state_diff
from playrun import VENV_BIN, ansible_playbook
from test_change_window import ROLE_PLAY
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

# Where the role's defaults look for guest configurations; this machine must have none of them.
GUEST_CONFIG_PLACES = ("/etc/pve/local", "/run/libvirt/qemu", "/etc/libvirt/qemu")


def run_window(tmp_path: Path, ns: str, root: Path, **window_vars) -> tuple:
    """ansible-playbook with the change_window role on the namespace hypervisor `ns`; (proc, results, report)."""
    inventory = {"all": {"hosts": {"hv1": dict(
        ansible_connection="local", ansible_python_interpreter=str(VENV_BIN / "python"),
        change_window_namespace=ns, change_window_root=str(root), **window_vars)}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(ROLE_PLAY)
    root.mkdir(exist_ok=True)
    try:
        proc, results = ansible_playbook(["-i", tmp_path / "inventory.yml", tmp_path / "play.yml"], tmp_path,
                                         tmp_path / "record.jsonl")
    finally:
        kill_watchdogs(root)
    built = [r for r in results if r["task"].endswith("Build the report")]
    assert built, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc, results, built[-1]["result"]["ansible_facts"]["change_window_report"]


def test_a_vm_started_in_the_window_keeps_its_bridge_through_the_roles_rollback(namespaces, tmp_path):
    ns = persist_lab.change_window_host(namespaces, uplink3_cabled=False)
    # vmbr1 (not part of this window) without STP: its topology change would hold the dump after the window
    # (settled_state) for about 20 s.
    iproute(ns, ["ip link set vmbr1 type bridge stp_state 0"])
    before = settled_state(ns)
    root = tmp_path / "root"
    vm = guestvm.StartWhenArmed(root / "run/netsafe/checkpoint" / f"netns-{ns}" / "checkpoint.json", ns,
                                guestvm.firewalled_vm(201, "vmbr0"))
    vm.start()
    # vmbr0 moved to eno3, which has no path to the gateway: the probes after the change fail.
    proc, _results, report = run_window(
        tmp_path, ns, root, change_window_bridges=[{"name": "vmbr0", "ports": ["eno3"]}],
        change_window_guests=persist_lab.CHANGE_WINDOW_GUESTS, change_window_persist_format="ifupdown2",
        change_window_gate_settle=600)
    vm.join(10)
    assert vm.error is None and vm.names, vm.error
    assert proc.returncode != 0
    after = settled_state(ns)
    assert state_diff(guestvm.left_as_they_were(before, vm.during, vm.names), after) == []
    assert {l["ifname"]: l["master"] for l in after["links"] if l["ifname"] in vm.names} == {
        "tap201i0": "fwbr201i0", "fwln201i0": "fwbr201i0", "fwpr201p0": "vmbr0", "fwbr201i0": None}
    # net_state rolled back in the run that made the change (its probes after the change failed).
    assert report["outcome"] == "rolled_back" and report["rollback"]["by"] == "net_state", report
    assert report["rollback"]["left"] == [{
        "device": "fwbr201i0",
        "reason": "Proxmox VE's firewall bridge of a guest NIC; carries guest ports fwln201i0, tap201i0"}]
    assert ("as it was before the window, except guest plumbing made since, left in place: fwbr201i0 "
            "(Proxmox VE's firewall bridge") in report["summary"]


def test_a_host_without_guest_configs_runs_the_window_with_the_role_defaults(namespaces, tmp_path):
    present = [place for place in GUEST_CONFIG_PLACES if Path(place).exists()]
    assert not present, f"this test needs a machine without guest configurations; found {present}"
    ns = persist_lab.change_window_host(namespaces)
    proc, results, report = run_window(
        tmp_path, ns, tmp_path / "root", change_window_bridges=[{"name": "vmbr1", "mtu": 1400}],
        change_window_persist_format="ifupdown2")   # the scratch root has no network stack to detect
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert report["outcome"] == "confirmed", report
    guests = [r for r in results if r["task"].endswith("Put guest ports back on the bridges the change re-created")]
    assert [r["status"] for r in guests] == ["skipped"], guests   # no bridge re-created: nothing to put back
    # Two module runs on the host: net_state with its checkpoint (the files checked in it), confirm + files.
    assert [r["action"] for r in results if r["action"].startswith("netsafe.") and r["status"] != "skipped"] == [
        "netsafe.hypervisor.net_state", "netsafe.hypervisor.net_state"], results
    assert report["module_runs"] == 2, report
    assert report["persisted"], report   # the files, written by the confirmation's run
