"""Helpers for the operator review of issue 28 (tests/review28/test_op_*.py): the systemd host, booted by one of
its stacks from files net_persist wrote, and playbooks run over SSH as an operator runs them."""
from __future__ import annotations

from realhost.checkpoints import task, wait_for

__all__ = ["MOVE_VMBR0_TO_ENO2", "boot_with", "nm_autoconnect", "run", "task", "wait_for"]

SAVE = """
- name: The host's files describe the network it runs
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Save
      netsafe.hypervisor.net_persist:
        format: {fmt}
        devices: [vmbr0]
"""
# A window moving vmbr0 (the controller's path) from eno1 to eno2, finished with net_checkpoint: extra vars `finish`
# (confirmed or rolled_back) and `persist` (a format, or "" for none).
MOVE_VMBR0_TO_ENO2 = """
- name: Move vmbr0 to eno2 in a window
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
        name: vmbr0
        ports: [eno2]
    - name: Reconnect over the changed network
      ansible.builtin.meta: reset_connection
    - name: Finish
      netsafe.hypervisor.net_checkpoint:
        state: "{{ finish }}"
        id: "{{ armed.checkpoint.id }}"
        persist: "{{ {'format': persist} if persist else omit }}"
"""
# Ubuntu desktop's own file: netplan renders every device for NetworkManager.
NETPLAN_NM_RENDERER = "network:\n  version: 2\n  renderer: NetworkManager\n"


def run(host, play: str, check: bool = True, **extra) -> list:
    """ansible-playbook over SSH; the recorded results (the run must succeed when `check`)."""
    proc, results = host.playbook(play, extra_vars=extra or None, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return results


def boot_with(host, stack: str) -> None:
    """Save vmbr0 (on eno1, the controller's path) in `stack`'s files, enable the stack and power-cycle the host."""
    fmt = "netplan" if stack.startswith("netplan") else stack
    if stack == "netplan-networkmanager":
        host.write("/etc/netplan/01-network-manager-all.yaml", NETPLAN_NM_RENDERER, mode="0600")
    run(host, SAVE.format(fmt=fmt))
    host.use_stack(stack)
    host.reboot(timeout=90)
    if "networkmanager" in stack:
        wait_for("NetworkManager's startup", lambda: host.exec("nm-online -s -q -t 1").returncode == 0, timeout=30)


def nm_autoconnect(host) -> dict:
    """profile name -> AUTOCONNECT (yes/no) as NetworkManager has it now (the loopback left out)."""
    out = host.exec(["nmcli", "-t", "-f", "NAME,AUTOCONNECT", "connection", "show"], check=True).stdout
    return {line.split(":")[0]: line.split(":")[1] for line in out.splitlines() if line and not line.startswith("lo:")}
