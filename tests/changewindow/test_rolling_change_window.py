"""playbooks/rolling_maintenance.yml with the change_window role: batches keep failover capacity, a host whose
change fails is rolled back, and the run stops before the next batch.

Four hypervisors in namespaces (local connection, the role's namespace
option), paired for failover: hv1<->hv2, hv3<->hv4, so the batches are
[hv1, hv3] then [hv2, hv4]. The change moves vmbr0 to eno3; on hv3 eno3 is
not cabled to the switch, so hv3's probes fail after the change.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import persist_lab
from claims import stanza_options
from persist_lab import CHANGE_WINDOW_GUESTS, failover_reservation, failover_vm
from nstools import settled_state, state_diff
from playrun import ROOT, VENV_BIN, ansible_playbook
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

HOSTS = ("hv1", "hv2", "hv3", "hv4")
BAD = "hv3"


def test_failed_host_is_rolled_back_and_stops_the_run_before_the_next_batch(namespaces, tmp_path):
    hosts = {name: persist_lab.change_window_host(namespaces, uplink3_cabled=name != BAD) for name in HOSTS}
    before = {name: settled_state(ns) for name, ns in hosts.items()}
    roots = {name: tmp_path / f"root-{name}" for name in HOSTS}
    inventory = {"all": {
        "hosts": {name: {"change_window_namespace": ns, "change_window_root": str(roots[name])}
                  for name, ns in hosts.items()},
        "vars": {
            "ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python"),
            "failover_vms": [failover_vm("a", "hv1"), failover_vm("b", "hv2"), failover_vm("c", "hv3"), failover_vm("d", "hv4")],
            "failover_reservations": [failover_reservation("ra", "hv2", {"a": "hv1"}), failover_reservation("rb", "hv1", {"b": "hv2"}),
                                      failover_reservation("rc", "hv4", {"c": "hv3"}), failover_reservation("rd", "hv3", {"d": "hv4"})],
            "rolling_maintenance_role": "netsafe.hypervisor.change_window",
            "change_window_bridges": [{"name": "vmbr0", "ports": ["eno3"]}],
            "change_window_guests": CHANGE_WINDOW_GUESTS,
            "change_window_persist_format": "ifupdown2",
            "change_window_confirm_timeout": 60,
            "change_window_gate_settle": 600,
        }}}
    for root in roots.values():
        root.mkdir()
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    try:
        proc, results = ansible_playbook(["-i", tmp_path / "inventory.yml", ROOT / "playbooks" / "rolling_maintenance.yml"],
                                         tmp_path, tmp_path / "record.jsonl", env={"ANSIBLE_FORKS": "10"})
    finally:
        for root in roots.values():
            kill_watchdogs(root)
    assert proc.returncode != 0, proc.stdout[-4000:]
    reports = {r["host"]: r["result"]["ansible_facts"]["change_window_report"]
               for r in results if r["task"].endswith("Build the report")}
    assert sorted(reports) == ["hv1", "hv3"], proc.stdout[-4000:]  # the first batch only
    assert reports["hv1"]["outcome"] == "confirmed"
    assert reports[BAD]["outcome"] == "rolled_back" and "icmp 192.0.2.1" in reports[BAD]["reason"]
    after = {name: settled_state(ns) for name, ns in hosts.items()}
    assert state_diff(before[BAD], after[BAD]) == []
    for untouched in ("hv2", "hv4"):
        assert state_diff(before[untouched], after[untouched]) == [], untouched
        assert not (roots[untouched] / "var").exists()  # never armed
    # hv1's change: vmbr0 moved from eno1 to eno3, the guests stay, vmbr1 keeps eno2.
    guests = [port["device"] for port in CHANGE_WINDOW_GUESTS["ports"]]
    links = {link["ifname"]: link for link in after["hv1"]["links"]}
    assert {name: links[name]["master"] for name in ["eno1", "eno2", "eno3", *guests]} == \
        {"eno1": None, "eno2": "vmbr1", "eno3": "vmbr0", **{guest: "vmbr0" for guest in guests}}
    persisted = (roots["hv1"] / "etc" / "network" / "interfaces").read_text()
    assert "bridge-ports eno3" in stanza_options(persisted, "vmbr0"), persisted   # the whole line
    assert not [guest for guest in guests if guest in persisted], persisted   # guests are not the file's
    # Only what the window changed is written: vmbr1 (untouched) stays out of the host's files.
    assert "vmbr1" not in persisted and "eno2" not in persisted, persisted
    assert not Path(roots[BAD] / "etc" / "network" / "interfaces").exists()
