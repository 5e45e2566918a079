"""Review 26 (op): a change net_state refuses before touching anything must be reported NOT TOUCHED.

The most common mistake at 02:00 is a typo in a device name (`ports: [eht1]`). With `checkpoint`, net_state refuses
it before anything is armed or changed ("bridges[0] (vmbr0): ports: 'eht1' does not exist ..."), but returns no
`outcome` (its RETURN: `outcome` "when checkpoint is given, not in check mode"; `not_touched` is documented for
preflight and persist refusals only). The change_window role then cannot tell that the host was not touched: it
resets the connection, tries a rollback, waits for the host and reports "UNKNOWN ... CHECK THIS HOST BY HAND"
for a host nothing happened to. The same for a checkpoint without probes on a host without a default gateway.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from playrun import LAB_WINDOW_PLAY as PLAY

pytestmark = [pytest.mark.kernel]

HOST = [
    "ip link set lo up",
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set sw1 up", "ip link set eth1 up", "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
]
PROBES = [{"type": "icmp", "target": "192.0.2.10"}]


def test_net_state_says_not_touched_when_it_refuses_a_misspelt_port(netns, tmp_path):
    iproute(netns, HOST)
    before = kernel_state(netns)
    failed = run_module("net_state", {"namespace": netns, "bridges": [{"name": "vmbr0", "ports": ["eht1"]}],
                                      "checkpoint": {"timeout": 60, "probes": PROBES, "root": str(tmp_path / "root")}})
    assert failed.get("failed") and "'eht1' does not exist" in failed["msg"]
    assert state_diff(before, kernel_state(netns)) == []
    assert failed.get("outcome") == "not_touched", failed


@pytest.mark.ansible
def test_the_role_reports_a_misspelt_port_as_not_touched(run_playbook, netns, tmp_path):
    iproute(netns, HOST)
    before = kernel_state(netns)
    run = run_playbook(PLAY, extra_vars={
        "ns": netns, "root": str(tmp_path / "root"), "change_window_persist": False,
        "change_window_bridges": [{"name": "vmbr0", "ports": ["eht1"]}], "change_window_probes": PROBES,
        "change_window_confirm_timeout": 30, "change_window_reach_timeout": 5})
    assert run.rc != 0
    assert state_diff(before, kernel_state(netns)) == []
    built = [r for r in run.results if r["task"].endswith("Build the report")]
    report = built[-1]["result"]["ansible_facts"]["change_window_report"]
    assert "'eht1' does not exist" in report["summary"]
    assert report["outcome"] == "not_touched", report["summary"]
    assert "CHECK THIS HOST BY HAND" not in report["summary"]
