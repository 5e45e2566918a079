#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: an 802.1Q/802.1ad VLAN device on a NIC, bond or bridge."""
from __future__ import annotations

DOCUMENTATION = r"""
module: net_vlan
short_description: Manage a VLAN device on a NIC, bond or bridge of a hypervisor
version_added: 0.1.0
description:
  - Creates, changes or deletes an 802.1Q or 802.1ad VLAN device through netlink, on the host or in a
    network namespace.
  - The kernel cannot change a VLAN's parent, id or protocol in place; such a change deletes and
    re-creates the device, is reported as such, and puts the new device back into the bridge it was a port of.
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
extends_documentation_fragment:
  - netsafe.hypervisor.network
  - netsafe.hypervisor.network.attributes
  - netsafe.hypervisor.device
options:
  name:
    description:
      - Name of the VLAN device. ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit, at
        most 15 characters (O(parent) too). Defaults to V(<parent>.<vlan_id>).
      - With O(state=absent), the device to delete; or give O(parent) and O(vlan_id) instead.
    type: str
  parent:
    description:
      - The NIC, bond or bridge the VLAN sits on. Required with O(state=present).
      - With O(state=absent) and O(name), the device is deleted only if it sits on this parent.
    type: str
  vlan_id:
    description:
      - VLAN id, 1-4094. Required with O(state=present), and whenever O(parent) is given.
      - With O(state=absent) and O(name), the device is deleted only if it has this id.
    type: int
  protocol:
    description:
      - VLAN protocol; V(802.1ad) for an outer (QinQ) tag. V(802.1Q) when omitted.
      - With O(state=absent), the device is deleted only if it uses this protocol.
    type: str
    choices: [802.1Q, 802.1ad]
  state:
    description:
      - V(present) creates or changes the VLAN device; V(absent) deletes it (refused while it is a bridge port).
      - With V(absent), options that describe the device (O(mtu), O(addresses) and the like) are refused.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Changes are runtime-only, a reboot or C(ifreload -a) reverts them. M(netsafe.hypervisor.net_persist) writes them
    into the host's network configuration files.
  - The O(mtu) may not exceed the parent's MTU.
  - A VLAN that is a bridge's uplink, and its parent, follow the bridge's MTU when it changes
    (see O(port_mtu) and M(netsafe.hypervisor.net_bridge)).
  - A second run with the same options reports no change and sends nothing to the kernel.
seealso:
  - module: netsafe.hypervisor.net_persist
  - module: netsafe.hypervisor.net_bridge
  - module: netsafe.hypervisor.net_bond
"""

EXAMPLES = r"""
- name: Management VLAN 20 on eth3, with an address
  netsafe.hypervisor.net_vlan:
    parent: eth3
    vlan_id: 20
    addresses: [198.51.100.10/24]
    namespace: hv1

- name: Storage VLAN 30 on the bridge, jumbo frames limited by the bridge's MTU
  netsafe.hypervisor.net_vlan:
    name: storage
    parent: vmbr0
    vlan_id: 30
    mtu: 1500
    namespace: hv1

- name: Delete VLAN 20
  netsafe.hypervisor.net_vlan:
    parent: eth3
    vlan_id: 20
    state: absent
    namespace: hv1
"""

RETURN = r"""
changed:
  description: Whether the VLAN device was (or in check mode would be) changed.
  returned: always
  type: bool
commands:
  description: The equivalent C(ip) commands, in order; empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: ["ip -n hv1 link add link eth3 name eth3.20 type vlan protocol 802.1Q id 20"]
operations:
  description: The planned operations as data (action, device, params), in order.
  returned: always
  type: list
  elements: dict
state:
  description: The VLAN device after the task (predicted in check mode).
  returned: always
  type: dict
  contains:
    name: {description: Device name., type: str, returned: always}
    present: {description: Whether it exists., type: bool, returned: always}
    parent: {description: The device it sits on., type: str, returned: when present}
    vlan_id: {description: VLAN id., type: int, returned: when present}
    protocol: {description: VLAN protocol., type: str, returned: when present}
    mtu: {description: MTU., type: int, returned: when present}
    up: {description: Administrative state., type: bool, returned: when present}
    addresses: {description: Static addresses., type: list, elements: str, returned: when present}
    routes:
      description: The static routes through the device that netsafe manages (protocol boot or static), each with dst, via, table, metric, onlink and proto.
      type: list
      elements: dict
      returned: when present
      sample: [{"dst": "10.20.0.0/16", "via": "192.0.2.254", "table": 254, "metric": 0, "onlink": false, "proto": "static"}]
    master: {description: The bridge it is a port of., type: str, returned: when present}
  sample: {"name": "eth3.20", "present": true, "parent": "eth3", "vlan_id": 20, "protocol": "802.1Q"}
diff:
  description:
    - The VLAN device before and after (same shape as RV(state)), plus C(also_changed) when the change moves devices
      it does not describe (the uplinks that follow a bridge's MTU, a bond's slaves, a port released), each with just
      what changes.
  returned: always
  type: dict
"""

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import (
    NETWORK_ARGS, converge_request, run_network_module,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.requests import VlanRequest

ARGUMENT_SPEC = dict(**VlanRequest.SPEC, **NETWORK_ARGS)


def run(module) -> dict:
    return converge_request(module, VlanRequest(module.params))


def main():
    run_network_module(ARGUMENT_SPEC, run, **VlanRequest.RULES)


if __name__ == "__main__":
    main()
