"""Operator review of issue 28: a window on an Ubuntu-style host where netplan renders for a running NetworkManager.

netplan's generator puts NetworkManager's profiles under /run/NetworkManager/system-connections/netplan-*. nm_hands
holds them (`nmcli connection modify --temporary ... autoconnect no`) like keyfile profiles, but NetworkManager
rewrites such a /run profile in place instead of making a /run copy: nothing is noted as temporary, and loading the
file again keeps autoconnect=no. A persist in format netplan never gives the profiles back at all (give_back runs only
after a keyfile save).
"""
from __future__ import annotations

import time

import pytest

from op28lab import MOVE_VMBR0_TO_ENO2, boot_with, nm_autoconnect, run, task
from realhost.conftest import systemd_host, systemd_host_factory  # noqa: F401  pylint: disable=unused-import

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]


def test_op_rollback_gives_netplan_profiles_their_autoconnect_back(systemd_host):
    host = systemd_host
    boot_with(host, "netplan-networkmanager")
    before = nm_autoconnect(host)
    assert before == {"netplan-vmbr0": "yes", "netplan-eno1": "yes"}, before
    results = run(host, MOVE_VMBR0_TO_ENO2, finish="rolled_back", persist="")
    assert task(results, "Finish")["result"]["changed"]
    assert host.exec("bridge link show dev eno1").stdout.count("master vmbr0") == 1   # the kernel is back
    assert host.read("/run/netsafe/networkmanager-held.json") is None   # netsafe considers them given back
    after = {name: auto for name, auto in nm_autoconnect(host).items() if name.startswith("netplan-")}
    assert after == before, f"NetworkManager's netplan profiles after the rollback: {after}, before: {before}"


def test_op_confirm_with_persist_netplan_releases_networkmanager(systemd_host):
    host = systemd_host
    boot_with(host, "netplan-networkmanager")
    results = run(host, MOVE_VMBR0_TO_ENO2, finish="confirmed", persist="netplan")
    warnings = " ".join(task(results, "Change")["result"].get("warnings", []))
    assert "until their keyfiles are saved" in warnings, warnings
    confirmed = task(results, "Finish")["result"]
    assert confirmed["persist"]["changed"], confirmed
    kernel = host.exec("bridge link").stdout
    assert "eno2" in kernel and "eno1" not in kernel, kernel
    # What the warning promised: saved, so NetworkManager follows (nothing held, no profile stuck at autoconnect=no),
    # and the change stays.
    assert host.read("/run/netsafe/networkmanager-held.json") is None, host.read("/run/netsafe/networkmanager-held.json")
    # netplan's profiles; not NetworkManager's own in-memory one for a port it found connected (always "no")
    stuck = {name for name, auto in nm_autoconnect(host).items() if auto != "yes" and name.startswith("netplan-")}
    assert not stuck, f"profiles NetworkManager still will not auto-activate after the save: {sorted(stuck)}"
    time.sleep(10)
    assert host.exec("bridge link").stdout == kernel
