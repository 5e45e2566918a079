#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a Linux bond, its slaves and options, changed all or nothing."""
from __future__ import annotations

DOCUMENTATION = r"""
module: net_bond
short_description: Manage a Linux bond on a hypervisor, including mode changes of a live bond
version_added: 0.1.0
description:
  - Creates, changes or deletes a Linux bond through netlink, on the host or in a network namespace.
  - Manages the member ports (slaves; NICs only), the bonding mode and its common options, MTU, MAC, addresses,
    default gateways and admin state.
  - Changing the mode of a live bond needs the bond down and its slaves released; the module does that
    and puts the slaves back in the same task, undoing everything if a step fails.
  - A port that belongs to another bridge or bond is refused unless O(take_over_ports=true).
  - The kernel gives the ports the bond's MTU; an O(mtu) a port's driver cannot take (its C(max_mtu)) is refused
    before any change. A bond that is a bridge's uplink follows the bridge's MTU when it changes (see O(port_mtu)).
  - A port that carries addresses gives them to the bond, with its default routes and static routes (none stays on a
    bond port); when the task gives O(addresses), those are the bond's and the port's others are removed, with a
    warning.
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
extends_documentation_fragment:
  - netsafe.hypervisor.network
  - netsafe.hypervisor.network.attributes
  - netsafe.hypervisor.device
options:
  name:
    description:
      - Name of the bond. ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit, at most
        15 characters. The same rule holds for O(ports) and O(primary).
    type: str
    required: true
  state:
    description:
      - V(present) creates or changes the bond; V(absent) deletes it (refused while a bridge or VLAN uses it).
      - With V(absent), options that describe the bond (O(ports), O(mode), O(mtu) and the like) are refused.
    type: str
    choices: [present, absent]
    default: present
  ports:
    description:
      - The bond's member ports (the kernel calls them slaves), exactly; NICs only. Omit to leave them alone;
        V([]) releases them all.
    type: list
    elements: str
    aliases: [slaves]
  take_over_ports:
    description:
      - Allow member ports that are ports of another bridge or bond (they are released there).
      - To move a live uplink from a bridge into a new bond under that bridge in one step, describe both with
        M(netsafe.hypervisor.net_state).
    type: bool
    default: false
    aliases: [take_over_slaves]
  mode:
    description: Bonding mode. Omit to keep the current one (V(balance-rr) for a new bond).
    type: str
    choices: [balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb]
  miimon:
    description: MII link monitoring interval in milliseconds; 0 switches it off. Omit to keep the current value.
    type: int
  updelay:
    description: Milliseconds to wait before enabling a slave whose link came up; a multiple of O(miimon).
    type: int
  downdelay:
    description: Milliseconds to wait before disabling a slave whose link went down; a multiple of O(miimon).
    type: int
  lacp_rate:
    description: LACPDU rate asked of the partner; V(802.3ad) only.
    type: str
    choices: [slow, fast]
  xmit_hash_policy:
    description: Transmit hash policy; modes V(balance-xor), V(802.3ad) and V(balance-tlb) only.
    type: str
    choices: [layer2, layer3+4, layer2+3, encap2+3, encap3+4, vlan+srcmac]
  primary:
    description: Preferred port; modes V(active-backup), V(balance-tlb), V(balance-alb) only. Must be one of O(ports).
    type: str
  ad_select:
    description: 802.3ad aggregation selection logic; V(802.3ad) only.
    type: str
    choices: [stable, bandwidth, count]
  arp_interval:
    description: ARP monitoring interval in milliseconds; not with O(miimon) above 0, not in 802.3ad, tlb or alb modes.
    type: int
  arp_ip_target:
    description: IPv4 addresses to ARP when O(arp_interval) is set (at most 16).
    type: list
    elements: str
  min_links:
    description: Minimum number of active slaves before the bond reports carrier.
    type: int
notes:
  - Changes are runtime-only, a reboot or C(ifreload -a) reverts them. M(netsafe.hypervisor.net_persist) writes them
    into the host's network configuration files.
  - A second run with the same options reports no change and sends nothing to the kernel.
  - Everything is decided before the first change; invalid input changes nothing.
seealso:
  - module: netsafe.hypervisor.net_persist
  - module: netsafe.hypervisor.net_bridge
  - module: netsafe.hypervisor.net_vlan
"""

EXAMPLES = r"""
- name: LACP bond of two NICs, fast LACP rate, layer3+4 hashing
  netsafe.hypervisor.net_bond:
    name: bond0
    ports: [eth3, eth4]
    mode: 802.3ad
    miimon: 100
    lacp_rate: fast
    xmit_hash_policy: layer3+4
    namespace: hv1

- name: Switch the live bond to active-backup with eth3 preferred (ports are put back in the same task)
  netsafe.hypervisor.net_bond:
    name: bond0
    ports: [eth3, eth4]
    mode: active-backup
    primary: eth3
    namespace: hv1

- name: Delete the bond
  netsafe.hypervisor.net_bond:
    name: bond0
    state: absent
    namespace: hv1
"""

RETURN = r"""
changed:
  description: Whether the bond was (or in check mode would be) changed.
  returned: always
  type: bool
commands:
  description: The equivalent C(ip) commands, in order; empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: ["ip -n hv1 link add name bond0 type bond mode 802.3ad miimon 100", "ip -n hv1 link set dev eth3 down",
           "ip -n hv1 link set dev eth3 master bond0"]
operations:
  description: The planned operations as data (action, device, params), in order.
  returned: always
  type: list
  elements: dict
state:
  description: The bond after the task (predicted in check mode).
  returned: always
  type: dict
  contains:
    name: {description: Bond name., type: str, returned: always}
    present: {description: Whether the bond exists., type: bool, returned: always}
    ports: {description: Member ports (slaves) of the bond., type: list, elements: str, returned: when present}
    mode: {description: Bonding mode., type: str, returned: when present}
    options: {description: "The other bonding options (miimon, lacp_rate and so on).", type: dict, returned: when present}
    mtu: {description: MTU., type: int, returned: when present}
    up: {description: Administrative state., type: bool, returned: when present}
    addresses: {description: Static addresses., type: list, elements: str, returned: when present}
    routes:
      description: The static routes through the device that netsafe manages (protocol boot or static), each with dst, via, table, metric, onlink and proto.
      type: list
      elements: dict
      returned: when present
      sample: [{"dst": "10.20.0.0/16", "via": "192.0.2.254", "table": 254, "metric": 0, "onlink": false, "proto": "static"}]
    master: {description: The bridge the bond is a port of., type: str, returned: when present}
  sample: {"name": "bond0", "present": true, "mode": "802.3ad", "ports": ["eth3", "eth4"]}
diff:
  description:
    - The bond before and after (same shape as RV(state)), plus C(also_changed) when the change moves devices it does
      not describe (the uplinks that follow a bridge's MTU, a bond's slaves, a port released), each with just what
      changes.
  returned: always
  type: dict
"""

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import (
    NETWORK_ARGS, converge_request, run_network_module,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.requests import BondRequest

ARGUMENT_SPEC = dict(**BondRequest.SPEC, **NETWORK_ARGS)


def run(module) -> dict:
    return converge_request(module, BondRequest(module.params))


def main():
    run_network_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
