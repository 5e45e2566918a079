"""A power cut in a window, on a host whose own network stack brings the network up at boot.

For each stack (ifupdown2's networking.service, systemd-networkd, NetworkManager, and netplan rendering for
networkd or for NetworkManager, its generator running at boot):
1. the host's files are written by net_persist for the network it runs (vmbr0 on eno1 with the address the
   controller reaches), the stack is enabled and the host boots: the controller is back over SSH through the
   network the stack brought up;
2. a change is armed, made (vmbr1 on eno2), confirmed and persisted;
3. a second change is armed (vmbr2 on eno3) and never confirmed; the power is cut before its deadline;
4. the host boots into the confirmed configuration (vmbr0 with its address, vmbr1 on eno2, no vmbr2), brought
   up by its own stack, and `query` reports the checkpoint of the second change as stale: armed before a reboot.
"""
from __future__ import annotations

import pytest

from checkpoints import SAVE, arm_and_change, run_play, step, task

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

CONFIRMED = """
- name: A change, confirmed and persisted
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Arm
      netsafe.hypervisor.net_checkpoint:
        state: armed
        timeout: 120
      register: armed
    - name: Change
      netsafe.hypervisor.net_bridge:
        name: vmbr1
        ports: [eno2]
        stp: false
        forward_delay: 0
    - name: Confirm and persist
      netsafe.hypervisor.net_checkpoint:
        state: confirmed
        id: "{{{{ armed.checkpoint.id }}}}"
        persist:
          format: {stack}
"""


def _links(host) -> dict:
    """name -> (master, addresses) of the host's devices, from the complete kernel dump."""
    state = host.state()
    return {link["ifname"]: (link.get("master"), set(state["addrs"].get(link["ifname"], {})))
            for link in state["links"]}


STACK_UP = {   # what says the stack brought the network up in this boot (and not something else)
    "ifupdown2": "journalctl -b -u networking.service --no-pager",
    "networkd": "networkctl list --no-pager --no-legend",
    "networkmanager": "nmcli -t -f NAME,DEVICE,STATE connection show --active",
    "netplan": "networkctl list --no-pager --no-legend; ls /run/systemd/network/",
    "netplan-networkmanager": "nmcli -t -f NAME,DEVICE,STATE connection show --active",
}
FORMAT = {"netplan-networkmanager": "netplan"}
# Ubuntu desktop's own file: netplan renders every device for NetworkManager.
NETPLAN_NM_RENDERER = ("/etc/netplan/01-network-manager-all.yaml",
                       "# Let NetworkManager manage all devices on this system\nnetwork:\n  version: 2\n  renderer: NetworkManager\n")


@pytest.mark.parametrize("stack", ["ifupdown2", "networkd", "networkmanager", "netplan", "netplan-networkmanager"])
def test_a_power_cut_boots_the_confirmed_configuration_with_the_hosts_own_stack(systemd_host, stack):
    host = systemd_host
    if stack == "netplan-networkmanager":
        host.write(*NETPLAN_NM_RENDERER, mode="0600")
    fmt = FORMAT.get(stack, stack)
    run_play(host, SAVE.format(stack=fmt))
    host.use_stack(stack)
    host.reboot(timeout=90)
    booted = _links(host)
    assert booted["vmbr0"][1] >= {"10.77.0.2/24"} and booted["eno1"][0] == "vmbr0", booted
    assert "vmbr1" not in booted and "vmbr2" not in booted

    results = run_play(host, CONFIRMED.format(stack=fmt))
    confirmed = task(results, "Confirm and persist")["result"]
    assert confirmed["changed"] and confirmed["persist"]["changed"], confirmed
    assert any("vmbr1" in entry["path"] or entry["path"] in ("/etc/network/interfaces", "/etc/netplan/90-netsafe.yaml")
               for entry in confirmed["persist"]["files"]), confirmed["persist"]
    stale_id = arm_and_change(host, timeout=600, bridge="vmbr2", port="eno3")["id"]
    assert "vmbr2" in _links(host)

    host.reboot(timeout=90)   # the power cut: no shutdown, the second change never confirmed
    after = _links(host)
    assert after["vmbr0"][1] >= {"10.77.0.2/24"} and after["eno1"][0] == "vmbr0", after
    assert after["eno2"][0] == "vmbr1", after
    assert "vmbr2" not in after and after["eno3"][0] is None, after
    up = host.exec(STACK_UP[stack]).stdout
    if stack == "ifupdown2":
        assert "Finished networking.service" in up or "Started networking.service" in up, up
    elif stack in ("networkd", "netplan"):
        links = {line.split()[1]: line.split()[4] for line in up.splitlines() if len(line.split()) >= 5}
        assert links.get("vmbr1") == "configured", up
        if stack == "netplan":   # networkd applied what netplan's generator made of /etc/netplan at boot
            assert "10-netplan-vmbr1.network" in up and "10-netplan-eno2.network" in up, up
    else:
        active = {line.split(":")[1] for line in up.splitlines() if line.count(":") >= 2}
        assert {"vmbr0", "vmbr1", "eno1", "eno2"} <= active, up

    armed = step(host, state="query")["checkpoint"]
    assert armed["id"] == stale_id and armed["rebooted_since"] and armed["orphaned"], armed
    assert "the host rebooted after this checkpoint was armed" in armed["problem"], armed
