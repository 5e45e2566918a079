#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a Linux bridge, its uplinks and addresses, without detaching guests."""
from __future__ import annotations

DOCUMENTATION = r"""
module: net_bridge
short_description: Manage a Linux bridge on a hypervisor without detaching its guests
version_added: 0.1.0
description:
  - Creates, changes or deletes a Linux bridge through netlink, on the host or in a network namespace.
  - Manages the bridge's uplinks (NICs, bonds, VLANs), STP and its timers, forward delay, MAC ageing, multicast
    snooping, bridge and port priorities, port costs, MTU, MAC address, IPv4/IPv6 addresses, default gateways and
    admin state.
  - Guest ports (a VM's tap, a container's veth, Proxmox VE firewall links) already on the bridge stay
    there; they are never released because O(ports) did not list them.
  - The change is planned first and applied all or nothing; if the kernel refuses a step, or the state
    read back differs from the request, every step already made is undone.
  - Returns the equivalent C(ip) commands of what it did, or would do in check mode.
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
extends_documentation_fragment:
  - netsafe.hypervisor.network
  - netsafe.hypervisor.network.attributes
  - netsafe.hypervisor.device
options:
  name:
    description:
      - Name of the bridge. ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit, at most
        15 characters.
      - The same rule holds for every interface name a task gives (O(ports), O(port_vlans[].port)). A name that could
        glob in a configuration file or split a shown command is refused before anything is read.
    type: str
    required: true
  state:
    description:
      - V(present) creates the bridge if needed and makes it match the other options.
      - V(absent) deletes it. Its uplinks are released; if guest ports are still on it the task fails
        unless O(detach_guests=true). Options that describe the bridge (O(ports), O(mtu), O(addresses) and
        the like) are refused with V(absent), since nothing would apply them.
    type: str
    choices: [present, absent]
    default: present
  ports:
    description:
      - The bridge's uplinks, exactly. Uplinks on the bridge that are not listed are released; listed
        devices are added and brought up.
      - Each must exist, must not be a bridge and must not be a port of another bridge or bond.
      - A new port that carries addresses gives them to the bridge, with its default routes and static routes (none
        stays on a bridge port); when the task gives O(addresses), those are the bridge's and the port's others are
        removed, with a warning. A default route whose gateway the bridge's addresses cannot reach is refused.
      - Guest ports are not uplinks and are left alone whether listed or not.
      - Omit to leave the uplinks as they are; V([]) releases every uplink.
      - Old uplinks are released before new ones join, so two uplinks never form a loop without STP.
    type: list
    elements: str
  stp:
    description:
      - Whether the bridge runs the Spanning Tree Protocol. Omit to keep the current setting
        (off for a new bridge).
    type: bool
  forward_delay:
    description:
      - Forward delay in seconds (Proxmox VE's C(bridge-fd)), 0-30; with STP on, 2-30. The kernel keeps
        hundredths of a second, so V(2.5) is kept as given.
      - Omit to keep the current value (15 for a new bridge).
    type: float
  vlan_filtering:
    description:
      - Whether the bridge filters by VLAN (a vlan-aware bridge, as Proxmox VE's C(bridge-vlan-aware yes)).
      - Omit to keep the current setting (off for a new bridge).
    type: bool
  ageing_time:
    description:
      - Seconds a learned MAC address stays in the bridge's forwarding table without traffic (Proxmox VE's
        C(bridge-ageing)), 0-1000000. The kernel keeps hundredths of a second.
      - Omit to keep the current value (300 for a new bridge).
    type: float
  mcast_snooping:
    description:
      - Whether the bridge snoops IGMP/MLD and forwards multicast only to ports with listeners (Proxmox VE's
        C(bridge-mcsnoop)).
      - Omit to keep the current setting (on for a new bridge).
    type: bool
  hello_time:
    description:
      - STP hello time in seconds, 1-10. Omit to keep the current value (2 for a new bridge).
    type: float
  max_age:
    description:
      - STP maximum message age in seconds, 6-40. Omit to keep the current value (20 for a new bridge).
    type: float
  priority:
    description:
      - The bridge's STP priority, 0-65535 (lower wins the root election). Omit to keep the current value
        (32768 for a new bridge).
    type: int
  port_options:
    description:
      - Bridge-port attributes (STP path cost and port priority) of ports of this bridge, for the ports listed
        here; ports not listed, and attributes not given, keep their values.
      - A port that joins a bridge gets the kernel's defaults (a cost from its link speed, priority 32); list it
        to set others. Setting a cost fixes it, the kernel no longer derives it from the link speed.
      - Each port must be one of O(ports) (or an uplink or guest port already on the bridge).
    type: list
    elements: dict
    suboptions:
      port:
        description: A port of this bridge (uplink or guest port).
        type: str
        required: true
      cost:
        description: STP path cost of the port, 1-65535.
        type: int
      priority:
        description: STP priority of the port, 0-63.
        type: int
  port_vlans:
    description:
      - VLAN membership of ports on a vlan-aware bridge, exactly, for the ports listed here; ports not
        listed keep their membership.
      - Name the bridge itself as O(port_vlans[].port) for the bridge's own membership (C(bridge vlan ... self)).
      - A port that joins a vlan-aware bridge gets VLAN 1 as untagged PVID from the kernel; list it to change that.
      - Needs O(vlan_filtering=true) (or a bridge that already filters).
    type: list
    elements: dict
    suboptions:
      port:
        description: A port of this bridge (uplink or guest port), or the bridge itself.
        type: str
        required: true
      pvid:
        description:
          - VLAN for untagged ingress frames (Proxmox VE's C(tag=)). It is a member untagged unless listed in O(port_vlans[].tagged).
        type: int
      untagged:
        description: VLAN ids or ranges (V(10), V(20-30)) that leave this port untagged.
        type: list
        elements: str
        default: []
      tagged:
        description: VLAN ids or ranges that leave this port tagged (Proxmox VE's C(trunks=), C(bridge-vids)).
        type: list
        elements: str
        default: []
  detach_guests:
    description:
      - With O(state=absent), accept that guest ports still on the bridge lose it.
      - Refused with O(state=present), where no guest is ever detached.
    type: bool
    default: false
notes:
  - Changes are runtime-only, a reboot or C(ifreload -a) reverts them. M(netsafe.hypervisor.net_persist) writes them
    into the host's network configuration files.
  - A second run with the same options reports no change and sends nothing to the kernel.
  - Everything is decided before the first change; invalid input changes nothing.
  - A new O(mtu) takes the bridge's uplinks with it (O(port_mtu=follow), the default). The bridge goes first, so
    the kernel no longer sizes it by its smallest port, then its uplinks raised from the bottom up (a NIC or bond, then a
    VLAN on it), or lowered from the top down. Guest ports keep their MTU. A device
    on the path whose driver takes less (its C(max_mtu)) is refused before any change. Earlier releases changed the
    bridge alone, leaving its uplinks at the old MTU.
seealso:
  - module: netsafe.hypervisor.net_persist
  - name: docs/net_bridge.md
    description: The collection's guide to net_bridge, with the lab used in the examples.
    link: https://example.invalid/netsafe/hypervisor/docs/net_bridge.md
"""

EXAMPLES = r"""
- name: Bridge vmbr0 on uplink eth1 with a static address, as Proxmox VE sets it up
  netsafe.hypervisor.net_bridge:
    name: vmbr0
    ports: [eth1]
    stp: false
    forward_delay: 0
    addresses: [192.0.2.10/24]
    gateway4: 192.0.2.1
    namespace: hv1

- name: Move vmbr0 to a new uplink; guests on vmbr0 stay attached
  netsafe.hypervisor.net_bridge:
    name: vmbr0
    ports: [eth2]
    namespace: hv1

- name: Preview a jumbo-frame change (run with --check --diff); the uplink is raised first, then vmbr0
  netsafe.hypervisor.net_bridge:
    name: vmbr0
    mtu: 9000
    namespace: hv1
  check_mode: true
  register: preview

- name: Show the commands it would run
  ansible.builtin.debug:
    var: preview.commands

- name: Jumbo frames on vmbr0; its uplink eth2 is raised first, its guests' ports keep their MTU
  netsafe.hypervisor.net_bridge:
    name: vmbr0
    mtu: 9000
    namespace: hv1

- name: vmbr0 back to 1500 alone, its uplink kept at 9000 (with refuse, a raise above an uplink fails naming it)
  netsafe.hypervisor.net_bridge:
    name: vmbr0
    mtu: 1500
    port_mtu: refuse
    namespace: hv1

- name: A vlan-aware bridge whose uplink trunks VLANs 2-4094 (Proxmox VE's bridge-vlan-aware)
  netsafe.hypervisor.net_bridge:
    name: vmbr1
    ports: [eth5]
    vlan_filtering: true
    port_vlans:
      - port: eth5
        pvid: 1
        tagged: ["2-4094"]
    namespace: hv1

- name: A storage network routed via 192.0.2.254 on vmbr1, and one route in table 100 (policy routing)
  netsafe.hypervisor.net_bridge:
    name: vmbr1
    ports: [eth5]
    addresses: [192.0.2.10/24]
    routes:
      - dst: 10.20.0.0/16
        via: 192.0.2.254
      - dst: 0.0.0.0/0
        via: 192.0.2.254
        table: 100
    namespace: hv1

- name: Remove an empty test bridge
  netsafe.hypervisor.net_bridge:
    name: vmbr9
    state: absent
    namespace: hv1
"""

RETURN = r"""
changed:
  description: Whether the bridge was (or in check mode would be) changed.
  returned: always
  type: bool
commands:
  description: The C(ip) commands equivalent to the change, in order; empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: ["ip -n hv1 link add name vmbr0 type bridge stp_state 0 forward_delay 0", "ip -n hv1 link set dev eth1 master vmbr0"]
operations:
  description: The planned operations as data (action, device, params), in order.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "link_set", "device": "eth1", "params": {"master": "vmbr0"}}]
state:
  description: The bridge after the task (predicted in check mode).
  returned: always
  type: dict
  contains:
    name: {description: Bridge name., type: str, returned: always}
    present: {description: Whether the bridge exists., type: bool, returned: always}
    up: {description: Administrative state., type: bool, returned: when present}
    operstate: {description: "Kernel operational state: up, down, lowerlayerdown and so on.", type: str, returned: when present}
    mtu: {description: MTU., type: int, returned: when present}
    mac: {description: MAC address., type: str, returned: when present}
    stp: {description: STP on or off., type: bool, returned: when present}
    forward_delay: {description: Forward delay in seconds., type: float, returned: when present}
    vlan_filtering: {description: Whether the bridge filters VLANs., type: bool, returned: when present}
    ageing_time: {description: MAC ageing time in seconds., type: float, returned: when present}
    mcast_snooping: {description: Whether multicast snooping is on., type: bool, returned: when present}
    hello_time: {description: STP hello time in seconds., type: float, returned: when present}
    max_age: {description: STP maximum message age in seconds., type: float, returned: when present}
    priority: {description: The bridge's STP priority., type: int, returned: when present}
    port_options:
      description: STP path cost and port priority by uplink (predicted as null in check mode for an uplink that joins).
      type: dict
      returned: when present
      sample: {"eth1": {"cost": 100, "priority": 32}}
    port_vlans:
      description: VLAN membership by port (and the bridge itself) on a vlan-aware bridge; ranges as [first, last].
      type: dict
      returned: when present
      sample: {"tap100i0": {"pvid": 10, "untagged": [[10, 10]], "tagged": []}}
    addresses: {description: Static addresses., type: list, elements: str, returned: when present}
    gateway4: {description: IPv4 default gateway via this bridge., type: str, returned: when present}
    gateway6: {description: IPv6 default gateway via this bridge., type: str, returned: when present}
    routes:
      description: The static routes through the device that netsafe manages (protocol boot or static), each with dst, via, table, metric, onlink and proto.
      type: list
      elements: dict
      returned: when present
      sample: [{"dst": "10.20.0.0/16", "via": "192.0.2.254", "table": 254, "metric": 0, "onlink": false, "proto": "static"}]
    ports: {description: Uplinks on the bridge., type: list, elements: str, returned: when present}
    guest_ports: {description: Guest ports on the bridge., type: list, elements: str, returned: when present}
  sample: {"name": "vmbr0", "present": true, "up": true, "mtu": 1500, "ports": ["eth1"], "guest_ports": ["tap100i0"]}
diff:
  description:
    - The bridge before and after (same shape as RV(state)), plus C(also_changed) when the change moves devices it
      does not describe (the uplinks that follow a bridge's MTU, a bond's slaves, a port released), each with just
      what changes.
  returned: always
  type: dict
"""

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import (
    NETWORK_ARGS, converge_request, run_network_module,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.requests import BridgeRequest

ARGUMENT_SPEC = dict(**BridgeRequest.SPEC, **NETWORK_ARGS)


def run(module) -> dict:
    return converge_request(module, BridgeRequest(module.params))


def main():
    run_network_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
