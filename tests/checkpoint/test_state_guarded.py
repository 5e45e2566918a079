"""net_state with `checkpoint`: the dangerous part of a window in one run on the host (preflight probes, files
checked for the new state, arm, apply, probes), on the real kernel in a throwaway namespace with a scratch root.

The host is persist_lab's 'bridges' host (vmbr0 on eno1 with the host's addresses and guests, vmbr1 on eno2, eno3
alone). The change: a new bridge vmbr2 on eno3. Probes go to the host's own address (passes before and after) or to
one that no path reaches (fails)."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format

import realstacks
from modrun import run_module
from persist_lab import persist, snapshot_files
from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]

MAIN = "/etc/network/interfaces"
CHANGE = {"bridges": [{"name": "vmbr2", "ports": ["eno3"], "addresses": ["198.51.100.10/24"]}]}
REACHED = [{"type": "icmp", "target": "192.0.2.10", "timeout": 1}]


def state(host, check: bool = False, **checkpoint) -> dict:
    guard = dict({"root": str(host.root), "timeout": 60, "probes": REACHED}, **checkpoint)
    return run_module("net_state", dict(CHANGE, namespace=host.ns, checkpoint=guard), check=check)


def files_of(host) -> dict:
    return {path: data for path, data in snapshot_files(host.root).items() if "/netsafe/checkpoint/" not in path}


def test_a_window_in_one_run_arms_applies_probes_and_the_confirmation_writes_the_files(host):
    assert persist(host.ns, host.root, "ifupdown2")["changed"]
    before, files = host.state(), files_of(host)
    preview = state(host, check=True, persist={"format": "ifupdown2"})
    assert not preview.get("failed"), preview.get("msg")
    assert preview["changed"] and "persist" in preview and host.state() == before and files_of(host) == files
    assert host.checkpoint(state="query")["armed"] is False
    done = state(host, persist={"format": "ifupdown2"})
    assert not done.get("failed"), done.get("msg")
    assert done["outcome"] == "armed" and done["checkpoint"]["id"]
    assert [r["ok"] for r in done["probes"]["preflight"] + done["probes"]["after"]] == [True, True]
    assert done["persist"]["devices"] == ["eno3", "vmbr2"] and files_of(host) == files   # checked, not written
    assert host.checkpoint(state="query")["armed"] is True
    confirmed = host.checkpoint(state="confirmed", id=done["checkpoint"]["id"],
                                persist={"format": "ifupdown2", "devices": done["persist"]["devices"]})
    assert not confirmed.get("failed"), confirmed.get("msg")
    fmt = Ifupdown2Format(MAIN, str(host.root))
    written = fmt.parse(fmt.read())
    assert written.get("vmbr2").ip.addresses == ["198.51.100.10/24"] and written.get("eno3").master == "vmbr2"
    ok, output = realstacks.ifquery_parses(host.root, host.ns)
    assert ok, output
    again = state(host, persist={"format": "ifupdown2"})
    assert again["outcome"] == "unchanged" and not again["changed"] and "checkpoint" not in again


def test_a_file_the_format_refuses_stops_the_window_before_anything_is_armed_or_changed(host):
    assert persist(host.ns, host.root, "ifupdown2")["changed"]
    path = host.root / MAIN.lstrip("/")
    path.write_text(path.read_text() + "\nauto eno3\niface eno3 inet dhcp\n")
    before, files = host.state(), files_of(host)
    failed = state(host, persist={"format": "ifupdown2"})
    assert failed.get("failed") and failed["outcome"] == "not_touched"
    assert "could not be persisted, the host was not touched" in failed["msg"] and "eno3" in failed["msg"]
    assert state_diff(before, host.state()) == [] and files_of(host) == files
    assert host.checkpoint(state="query")["armed"] is False


def test_a_probe_that_fails_after_the_change_rolls_back_in_the_same_run(host):
    # The switch side of eno1 answers as the gateway: reached through vmbr0 before, cut off once vmbr0 lets go of
    # eno1. The task fails, rolled back by itself, with the report; nothing stays armed; the dump is as before.
    iproute(host.peer, ["ip address add 192.0.2.1/24 dev sw1"])
    before = host.state()
    task = {"bridges": [{"name": "vmbr0", "ports": []}], "namespace": host.ns,
            "checkpoint": {"root": str(host.root), "timeout": 60,
                           "probes": [{"type": "icmp", "target": "192.0.2.1", "timeout": 3, "count": 1}]}}
    failed = run_module("net_state", task)
    assert failed.get("failed") and failed["outcome"] == "rolled_back", failed.get("msg")
    assert "probes failed after the change" in failed["msg"] and "rolled back in" in failed["msg"]
    assert failed["probes"]["preflight"][0]["ok"] and not failed["probes"]["after"][0]["ok"]
    assert failed["rollback"]["commands"] and failed["changed"] is False
    assert state_diff(before, host.state()) == []
    assert host.checkpoint(state="query")["armed"] is False


def test_a_host_failing_its_preflight_probes_is_not_touched(host):
    before = host.state()
    failed = state(host, probes=[{"type": "icmp", "target": "192.0.2.1", "timeout": 1, "count": 1}])
    assert failed.get("failed") and failed["outcome"] == "not_touched"
    assert "preflight probes failed, the host was not touched" in failed["msg"]
    assert state_diff(before, host.state()) == [] and host.checkpoint(state="query")["armed"] is False
