"""A change window on a host where NetworkManager runs and manages the bridge and its ports.

Left alone, NetworkManager undoes a netlink change to a device it manages: a port taken out of vmbr0 has its
bridge-port profile auto-activated again within milliseconds (seen here before the policy existed). The policy
(docs/net_persist_networkmanager.md, "A running NetworkManager"): the devices a change touches are taken out of
NetworkManager's hands (`nmcli device set DEV managed no`, runtime only) before the change; they are given
back once NetworkManager's profiles describe the kernel again: after the keyfiles of the confirmed network are
written and loaded, or after a rollback (the profiles were never changed).

The host boots with NetworkManager from keyfiles net_persist wrote for vmbr0 on eno1; the window moves vmbr0
to eno2, the path the controller uses all along.
"""
from __future__ import annotations

import time

import pytest

from checkpoints import SAVE, run_play, task, wait_for

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

WINDOW = """
- name: Move vmbr0 to eno2 in a window
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Arm
      netsafe.hypervisor.net_checkpoint:
        state: armed
        timeout: {timeout}
      register: armed
    - name: Change
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        ports: [eno2]
      register: change
    - name: Reconnect over the changed network
      ansible.builtin.meta: reset_connection
    - name: Confirm and persist
      netsafe.hypervisor.net_checkpoint:
        state: confirmed
        id: "{{{{ armed.checkpoint.id }}}}"
        persist: "{{{{ {{'format': 'networkmanager'}} if (save | default(true) | bool) else omit }}}}"
      when: confirm | bool
"""


def _view(host) -> dict:
    """What a reboot must reproduce: per device its master, MTU, up or not, and addresses (but the IPv6 link-local
    ones, which follow the MACs: the lab's NICs get new ones at every boot); the routes by device."""
    state = host.state()
    links = {link["ifname"]: (link.get("master"), link.get("mtu"), "UP" in link["flags"],
                              sorted(a for a in state["addrs"].get(link["ifname"], {}) if not a.startswith("fe80:")))
             for link in state["links"]}
    routes = sorted((r.get("dst"), r.get("gateway"), r.get("dev"), r.get("table"))
                    for r in state["routes"])
    return {"links": links, "routes": routes}


def _nm_devices(host) -> dict:
    """device -> (state, connection) as nmcli shows them."""
    out = host.exec(["nmcli", "-t", "-f", "DEVICE,STATE,CONNECTION", "device"], check=True).stdout
    return {line.split(":")[0]: tuple(line.split(":")[1:3]) for line in out.splitlines() if line}


def _profiles_from_files(host) -> dict:
    """name -> autoconnect of the profiles NetworkManager has from /etc (a temporary change moves one to /run)."""
    out = host.exec(["nmcli", "-t", "-f", "NAME,AUTOCONNECT,FILENAME", "connection", "show"], check=True).stdout
    return {line.split(":")[0]: line.split(":")[1] for line in out.splitlines()
            if ":/etc/NetworkManager/system-connections/" in line}


def _boot_with_networkmanager(host) -> None:
    run_play(host, SAVE.format(stack="networkmanager"))
    host.use_stack("networkmanager")
    host.reboot(timeout=90)
    wait_for("NetworkManager's startup", lambda: host.exec("nm-online -s -q -t 1").returncode == 0, timeout=30)
    assert _nm_devices(host)["eno1"] == ("connected", "eno1"), _nm_devices(host)


def test_networkmanager_keeps_the_confirmed_change_and_boots_into_it(systemd_host):
    host = systemd_host
    _boot_with_networkmanager(host)
    results = run_play(host, WINDOW.format(timeout=120), confirm=True)
    assert task(results, "Change")["status"] == "changed"
    confirmed = task(results, "Confirm and persist")["result"]
    assert confirmed["changed"] and confirmed["persist"]["changed"], confirmed
    after = _view(host)
    assert after["links"]["eno2"][0] == "vmbr0" and after["links"]["eno1"][0] is None, after
    # The profiles were loaded from the new keyfiles (eno1 no longer a port, eno2 a port of vmbr0), and
    # NetworkManager does not undo the change for 60 s.
    assert host.read("/run/netsafe/networkmanager-held.json") is None
    profiles = host.exec("nmcli -t -f UUID,AUTOCONNECT,FILENAME connection show", check=True).stdout
    # Every profile is its file's again, auto-activating (a temporary change would have moved it under /run).
    assert _profiles_from_files(host) == {"vmbr0": "yes", "eno1": "yes", "eno2": "yes"}, profiles
    for _second in range(60):
        assert _view(host) == after, "NetworkManager changed the network after the confirmation"
        time.sleep(1)
    devices = _nm_devices(host)
    assert devices["vmbr0"] == ("connected", "vmbr0") and devices["eno2"][0].startswith("connected"), devices

    host.reboot(timeout=90)
    wait_for("NetworkManager's startup", lambda: host.exec("nm-online -s -q -t 1").returncode == 0, timeout=30)
    wait_for("the confirmed network after the reboot", lambda: _view(host)["links"] == after["links"], timeout=30)
    assert _view(host)["routes"] == after["routes"]


def test_a_rollback_leaves_networkmanager_agreeing_with_the_kernel(systemd_host):
    host = systemd_host
    _boot_with_networkmanager(host)
    before = _view(host)
    nm_before = _nm_devices(host)
    results = run_play(host, WINDOW.format(timeout=10), confirm=False)
    assert task(results, "Change")["status"] == "changed"
    wait_for("the watchdog's rollback", lambda: _view(host)["links"]["eno1"][0] == "vmbr0", timeout=40)
    wait_for("the profiles loaded from their files again",
             lambda: host.read("/run/netsafe/networkmanager-held.json") is None, timeout=20)
    assert _profiles_from_files(host) == {"vmbr0": "yes", "eno1": "yes"}
    # NetworkManager sees what the kernel has: eno1 a port of vmbr0 again (shown "connected (externally)" until
    # the next activation of its profile: activating it now would take eno1 out of the bridge and back in).
    devices = _nm_devices(host)
    assert devices["vmbr0"] == nm_before["vmbr0"] and devices["eno2"] == nm_before["eno2"], (nm_before, devices)
    assert devices["eno1"][0].startswith("connected"), devices
    for _second in range(20):
        assert _view(host) == before, "NetworkManager changed the network after the rollback"
        time.sleep(1)


def test_a_confirmation_without_files_keeps_the_profiles_held_until_they_are_saved(systemd_host):
    host = systemd_host
    _boot_with_networkmanager(host)
    results = run_play(host, WINDOW.format(timeout=120), confirm=True, save=False)
    confirmed = task(results, "Confirm and persist")["result"]
    assert "persist" not in confirmed, confirmed
    assert any("NetworkManager: the profiles of eno1, vmbr0 stay without auto-activation" in w
               for w in confirmed.get("warnings", [])), confirmed.get("warnings")
    after = _view(host)
    assert after["links"]["eno2"][0] == "vmbr0" and after["links"]["eno1"][0] is None, after
    assert _profiles_from_files(host) == {}   # both held: in memory under /run, not auto-activating
    for _second in range(10):
        assert _view(host) == after, "NetworkManager changed the network after the confirmation"
        time.sleep(1)
    saved = task(run_play(host, SAVE.format(stack="networkmanager")), "Save")["result"]
    assert saved["changed"] and not any("NetworkManager" in w for w in saved.get("warnings", [])), saved
    assert host.read("/run/netsafe/networkmanager-held.json") is None
    assert _profiles_from_files(host) == {"vmbr0": "yes", "eno1": "yes", "eno2": "yes"}
    for _second in range(10):
        assert _view(host) == after, "NetworkManager changed the network after the save"
        time.sleep(1)


REFUSED = """
- name: A change the kernel refuses part-way (a failpoint)
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Change
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        ports: [eno2]
      environment:
        NETSAFE_FAIL_AT: "1"
      register: change
      ignore_errors: true
"""


def test_a_change_refused_part_way_gives_networkmanager_its_profiles_back(systemd_host):
    host = systemd_host
    _boot_with_networkmanager(host)
    before = _view(host)
    recorded = task(run_play(host, REFUSED), "Change")
    change = recorded["result"]
    assert recorded["status"] == "failed" and "NETSAFE_FAIL_AT=1" in change["msg"], recorded
    assert host.read("/run/netsafe/networkmanager-held.json") is None
    assert _profiles_from_files(host) == {"vmbr0": "yes", "eno1": "yes"}
    for _second in range(5):
        assert _view(host) == before, "the refused change or NetworkManager changed the network"
        time.sleep(1)
