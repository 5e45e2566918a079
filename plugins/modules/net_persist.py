#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the host's persistent network configuration, from and to the running kernel."""
from __future__ import annotations

DOCUMENTATION = r"""
module: net_persist
short_description: Make a hypervisor's network configuration files describe what runs, or bring the kernel back to them
version_added: 0.1.0
description:
  - The changes of M(netsafe.hypervisor.net_bridge), M(netsafe.hypervisor.net_bond) and M(netsafe.hypervisor.net_vlan)
    are runtime-only; a reboot, or Proxmox VE's C(ifreload -a), reverts them. This module writes them into the host's
    own network configuration, which is the safe configuration a host boots into.
  - V(saved) reads the devices in scope from the kernel and edits the configuration files so that they describe
    them. Files already right are not rewritten. Only the descriptions of devices in scope change; every other byte of
    a file is kept (comments, other stanzas or profiles, C(source) lines, order).
  - V(rendered) returns what the files would hold and writes nothing.
  - V(restored) brings the kernel to what the files say, through the same plan, apply, verify and undo as the other
    network modules; guest ports stay on their bridges.
  - Every file replaced is first copied to O(backup_dir), then replaced atomically (temporary file, fsync, rename,
    directory fsync); a crash leaves the old file or the new one, never part of one.
  - Nothing secret is returned. Results and C(--diff) hold only the files that describe the devices in scope (and
    files written), and the value of every secret key in them (Wi-Fi and 802.1X passwords, WireGuard and MACsec
    keys, C(wpa-psk)...) is replaced by C(********).
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
extends_documentation_fragment:
  - netsafe.hypervisor.network
options:
  state:
    description:
      - V(saved) writes the running configuration of the devices in scope into the files.
      - V(rendered) returns the files' contents after such a write (RV(rendered)) and writes nothing.
      - V(restored) changes the kernel to match the files.
    type: str
    choices: [saved, rendered, restored]
    default: saved
  format:
    description:
      - The network stack whose files are written.
      - V(ifupdown2) edits C(/etc/network/interfaces) and the files it C(source)s (Proxmox VE, Debian).
      - V(networkmanager) writes NetworkManager keyfiles in C(/etc/NetworkManager/system-connections) (RHEL and the like).
      - V(networkd) writes systemd-networkd C(.netdev) and C(.network) files in C(/etc/systemd/network). A device
        that a netplan file in C(/etc/netplan), C(/run/netplan) or C(/lib/netplan) defines is refused (netplan's
        generated files win at boot); so is it with V(networkmanager).
      - V(netplan) writes one file, C(/etc/netplan/90-netsafe.yaml) (mode 0600), and leaves every other file in
        C(/etc/netplan), C(/run/netplan) and C(/lib/netplan) as it is; a device another netplan file defines is
        refused, naming that file (netplan merges the files), and so is a file of the same name in C(/run/netplan) or
        C(/lib/netplan) (netplan reads one file of a name). What netplan cannot say (a vlan-aware bridge, multicast snooping off, an 802.1ad VLAN) is
        refused naming the device and the option. Needs PyYAML on the host (netplan itself depends on it).
      - V(auto) detects the stack from the host's files (installed programs, enabled services, running daemons,
        C(*.yaml) files in C(/etc/netplan), C(/run/netplan) or C(/lib/netplan)) and reports what it found in RV(detected); netplan wins over the
        networkd or NetworkManager it renders for. It fails, asking for this option, when it finds none or several.
    type: str
    choices: [auto, ifupdown2, networkmanager, networkd, netplan]
    default: auto
  devices:
    description:
      - The devices whose descriptions are written (or restored), with what they stand on (the ports of a bridge or
        bond that are not guest ports, and a VLAN's parent).
      - Default, every bridge, bond and VLAN of the host and the NICs beneath them, except guest plumbing and what
        another owner's files define (see notes).
      - Guest ports and guest plumbing are never written (their hypervisor creates them); naming one is an error.
      - A port the files give to a device in scope is written as the kernel has it (a swapped uplink leaves the
        bridge's port list), or removed from the files when the kernel does not have it.
      - A device in scope whose name is outside the rule for interface names (ASCII letters, digits, C(-), C(_) and
        C(.), starting with a letter or digit) fails the task, naming it. A kernel bridge another tool called C(vm*)
        would be a glob in a configuration file (networkd's C(Name=vm*) matches every vmbr at boot).
      - With O(state=saved), a named device that the kernel no longer has is removed from the files.
    type: list
    elements: str
  path:
    description:
      - The main file (V(ifupdown2)), our own file (V(netplan), ending in C(.yaml); the other C(*.yaml) files of its
        directory are read), or the directory (V(networkmanager), V(networkd)), as the host sees it, inside O(root).
      - Defaults to the format's usual place (see O(format)).
    type: path
  root:
    description:
      - Where the host's C(/) is. O(path), O(backup_dir) and absolute paths inside the files (C(source) lines) are
        resolved under it.
      - For an image being prepared, or a scratch tree in tests. A symlink inside it is followed while it stays
        inside; a path that C(..) or a symlink leads out of O(root) fails, naming it and the option it came from
        (O(path), O(backup_dir), in check mode too), before anything is written.
      - Directories under C(/var/lib/netsafe) (the default O(backup_dir)) are made 0700 and root's whatever the umask;
        one that is a symlink, another user's or writable by others fails the task, naming it.
    type: path
    default: /
  backup_dir:
    description:
      - Where the previous content of every replaced or removed file goes, inside O(root), as
        C(<backup_dir>/<run>/<original path>), readable by root only. C(<run>) is one directory per run that
        writes, named by its UTC start to the microsecond (C(20261128T183000.123456Z)), with C(-2), C(-3)...
        added when that name is taken, so two runs never share one.
      - Never next to the original, where the network stack would read it as configuration.
    type: path
    default: /var/lib/netsafe/backups
  backup_keep:
    description:
      - How many run directories to keep in O(backup_dir), the newest; older ones are removed after a run that
        wrote files. The run's own directory is always kept.
      - V(0) keeps every backup.
    type: int
    default: 10
  pending_changes:
    description:
      - What to do when the files have a staged copy holding changes not yet applied (Proxmox VE's web UI keeps
        them in C(/etc/network/interfaces.new) and moves that file over C(/etc/network/interfaces) on "Apply
        Configuration" or at boot, which would silently undo a save into C(interfaces) alone).
      - V(refuse) fails naming the file and writes nothing, also in check mode. A staged copy identical to the
        main file stages no change, so the save goes on with a warning, writing the same change into both (as V(keep)).
      - V(discard) backs the staged file up (O(backup_dir)) and removes it, then saves.
      - V(keep) writes the same change into both files, so the staged changes stay staged and applying them
        later keeps this change. It fails when the staged file changes a device this save writes.
      - Only the V(ifupdown2) format has staged files.
    type: str
    choices: [refuse, discard, keep]
    default: refuse
attributes:
  check_mode:
    support: full
    description:
      - With O(state=saved), writes nothing and reports C(changed) when the files have drifted from the running
        state (a drift report); with O(state=restored), reports the plan and the predicted state.
  diff_mode:
    support: full
    description: Shows each file before and after (O(state=saved)), or each device before and after (O(state=restored)).
  platform:
    support: full
    platforms: linux
    description: Reads the kernel through rtnetlink (root); writes files as root.
notes:
  - MAC addresses are not written; the kernel derives a bridge's, bond's and VLAN's MAC from its ports.
  - Static routes of the devices in scope are written with them (C(post-up ip route add) lines, C([Route]) sections,
    C(routeN) keys). With O(state=rendered), and O(state=saved) in check mode, a warning names each route that
    differs between the kernel and the files. A route line the format cannot read is refused for its device only,
    naming the line.
  - Guest plumbing is never written; Proxmox VE's firewall bridges and links (C(fwbr*), C(fwpr*), C(fwln*)), the
    C(vmbrNvM) bridges it makes for tagged guests (and the VLAN devices under them), libvirt's network bridges
    C(virbr<N>), any C(tap*) or C(veth*). Nor is
    any device defined in C(/etc/network/interfaces.d/sdn) (Proxmox VE's SDN); naming one is an error.
  - A stanza the V(ifupdown2) format cannot read (a Mako template, C(bridge-ports glob ...) or C(regex ...), a
    placeholder address) is kept as it is; the save is refused, naming the line, only when it concerns a device
    in scope.
  - Devices the files describe but the kernel lacks are kept in the files unless named in O(devices) (a warning
    lists them).
  - With O(state=restored), devices not described are left alone; a bridge or bond described with its ports releases
    uplinks it no longer lists (never guest ports). NICs cannot be created; a NIC described but missing is an error.
  - See the collection's docs/net_persist.md for what each format gets and how it plays with the Proxmox VE web UI,
    NetworkManager and networkd.
seealso:
  - module: netsafe.hypervisor.net_bridge
  - module: netsafe.hypervisor.net_bond
  - module: netsafe.hypervisor.net_vlan
"""

EXAMPLES = r"""
- name: Save the running bridges, bonds and VLANs into /etc/network/interfaces (Proxmox VE)
  netsafe.hypervisor.net_persist:
    format: ifupdown2

- name: Drift report - do the files still describe what runs?
  netsafe.hypervisor.net_persist:
  check_mode: true
  diff: true
  register: drift

- name: Save only vmbr1 (and its uplinks) as NetworkManager keyfiles
  netsafe.hypervisor.net_persist:
    format: networkmanager
    devices: [vmbr1]

- name: Save on Proxmox VE while the web UI has staged changes, keeping them staged
  netsafe.hypervisor.net_persist:
    format: ifupdown2
    devices: [vmbr0]
    pending_changes: keep

- name: Remove the deleted bridge vmbr9 from the files
  netsafe.hypervisor.net_persist:
    devices: [vmbr9]

- name: Bring the kernel back to the configuration files (no network service of its own here)
  netsafe.hypervisor.net_persist:
    state: restored
    format: networkd
"""

RETURN = r"""
format:
  description: The format used.
  returned: always
  type: str
  sample: ifupdown2
detected:
  description: With O(format=auto), what on the host showed the format.
  returned: always
  type: list
  elements: str
  sample: ["ifupdown2 is installed (/usr/share/ifupdown2/__main__.py)"]
devices:
  description: The devices in scope.
  returned: always
  type: list
  elements: str
  sample: [bond0, eno1, eno2, vmbr0]
files:
  description: The files written (O(state=saved)) or that would be (check mode, O(state=rendered)).
  returned: when O(state) is not V(restored)
  type: list
  elements: dict
  contains:
    path: {description: The file on this machine (under O(root))., type: str, returned: always}
    action: {description: "V(created), V(updated) or V(removed).", type: str, returned: always}
  sample: [{"path": "/etc/network/interfaces", "action": "updated"}]
backups:
  description: The backup of each replaced or removed file.
  returned: when O(state=saved)
  type: list
  elements: str
  sample: ["/var/lib/netsafe/backups/20261128T183000.123456Z/etc/network/interfaces"]
pruned_backups:
  description: Backup run directories removed to keep O(backup_keep) of them.
  returned: when O(state=saved) and files were written
  type: list
  elements: str
removed_devices:
  description: Named devices the kernel no longer has, removed from the files.
  returned: when O(state) is not V(restored)
  type: list
  elements: str
drift:
  description: With O(state=rendered), whether the files differ from the running state.
  returned: when O(state=rendered)
  type: bool
rendered:
  description:
    - With O(state=rendered), the files that describe the devices in scope (and any file the save would write) as
      they would be, by path; secret values replaced by C(********).
  returned: when O(state=rendered)
  type: dict
state:
  description: With O(state=restored), each device in scope after the change (or predicted, in check mode).
  returned: when O(state=restored)
  type: dict
commands:
  description: With O(state=restored), the equivalent iproute2 commands of the plan.
  returned: when O(state=restored)
  type: list
  elements: str
diff:
  description:
    - Files before and after (O(state=saved)), or devices before and after (O(state=restored)).
    - Secret values are replaced by C(********).
  returned: always
  type: raw
"""

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import NETWORK_ARGS, run_network_module, task_writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import engine
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.spec import PERSIST_SPEC, opened, save_files

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["saved", "rendered", "restored"], default="saved"),
    root=dict(type="path", default="/"),
    **PERSIST_SPEC,
    **NETWORK_ARGS,
)


def run(module) -> dict:
    params = module.params
    guests = GuestMatcher(params["guest_patterns"])
    state = params["state"]
    # Whatever quotes a line of the files (an error naming it) has its secret values masked by Ansible.
    if state == "saved":
        return save_files(params, params["root"], params["namespace"], guests, module.check_mode, module.no_log_values)
    with opened(params, params["root"], module.no_log_values) as (fmt, detected):
        if state == "restored":
            result = engine.restored(fmt, params["namespace"], params["devices"], guests, module.check_mode,
                                     task_writer(module))
        else:
            result = engine.rendered(fmt, params["namespace"], params["devices"], guests)
    result.update(format=fmt.NAME, detected=detected)
    return result


def main():
    run_network_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
