#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a NIC's MTU, admin state, MAC and addresses; the NIC itself is never created or deleted."""
from __future__ import annotations

DOCUMENTATION = r"""
module: net_nic
short_description: Set the MTU, admin state and addresses of a NIC on a hypervisor
version_added: 0.1.0
description:
  - Changes a network device the host already has and netsafe does not create (a physical NIC; a veth or dummy
    device in a lab) through netlink, on the host or in a network namespace. It never creates or deletes one.
  - Manages the NIC's MTU, admin state, MAC address, IPv4/IPv6 addresses and default gateways.
  - A bridge, bond, VLAN or guest port is refused, naming the module that manages it.
  - The change is planned first and applied all or nothing; if the kernel refuses a step, or the state read back
    differs from the request, every step already made is undone.
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
      - Name of the NIC; it must exist. ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit,
        at most 15 characters.
    type: str
    required: true
notes:
  - Changes are runtime-only, a reboot or C(ifreload -a) reverts them. M(netsafe.hypervisor.net_persist) writes them
    into the host's network configuration files.
  - A port of a bond has the bond's MTU and MAC (the kernel gives them) and no addresses; another O(mtu), a O(mac)
    or O(addresses) for it are refused. Set them on the bond with M(netsafe.hypervisor.net_bond).
  - A bridge port whose MTU goes below its bridge's gets a warning; a bridge whose own MTU was never set follows its
    smallest port's MTU, up and down.
  - A driver may allow less than 68-65535. Where the kernel reports the driver's limit (C(max_mtu) in
    C(ip -d link)), a larger O(mtu) is refused before any change; otherwise the kernel refuses it and the task undoes
    what it did.
  - A NIC that is a bridge's uplink follows the bridge's MTU when the bridge's changes (see O(port_mtu) and
    M(netsafe.hypervisor.net_bridge)).
  - A second run with the same options reports no change and sends nothing to the kernel.
seealso:
  - module: netsafe.hypervisor.net_bridge
  - module: netsafe.hypervisor.net_bond
  - module: netsafe.hypervisor.net_persist
"""

EXAMPLES = r"""
- name: Jumbo frames on the uplink of bridge vmbr1 (a bridge whose own MTU was never set follows its ports)
  netsafe.hypervisor.net_nic:
    name: eth5
    mtu: 9000
    namespace: hv1

- name: A storage network on its own NIC, jumbo frames and an address
  netsafe.hypervisor.net_nic:
    name: eth4
    mtu: 9000
    addresses: [198.51.100.20/24]
    namespace: hv1

- name: Take an uplink that is cabled to nothing out of service
  netsafe.hypervisor.net_nic:
    name: eth6
    admin_state: down
    namespace: hv1
"""

RETURN = r"""
changed:
  description: Whether the NIC was (or in check mode would be) changed.
  returned: always
  type: bool
commands:
  description: The equivalent C(ip) commands, in order; empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: ["ip -n hv1 link set dev eth5 mtu 9000"]
operations:
  description: The planned operations as data (action, device, params), in order.
  returned: always
  type: list
  elements: dict
state:
  description: The NIC after the task (predicted in check mode).
  returned: always
  type: dict
  contains:
    name: {description: Device name., type: str, returned: always}
    present: {description: Whether it exists., type: bool, returned: always}
    kind: {description: "The kernel's kind of device (veth, dummy); empty for a physical NIC.", type: str, returned: when present}
    mtu: {description: MTU., type: int, returned: when present}
    mac: {description: MAC address., type: str, returned: when present}
    up: {description: Administrative state., type: bool, returned: when present}
    operstate: {description: Operational state as the kernel reports it (read before the change in check mode)., type: str, returned: when present}
    addresses: {description: Static addresses., type: list, elements: str, returned: when present}
    gateway4: {description: IPv4 default gateway via this NIC., type: str, returned: when present}
    gateway6: {description: IPv6 default gateway via this NIC., type: str, returned: when present}
    master: {description: The bridge or bond it is a port of., type: str, returned: when present}
  sample: {"name": "eth5", "present": true, "kind": "", "mtu": 9000, "up": true, "addresses": [], "master": null}
diff:
  description:
    - The NIC before and after (same shape as RV(state)), plus C(also_changed) when the change moves devices it does
      not describe (the uplinks that follow a bridge's MTU, a bond's slaves, a port released), each with just what
      changes.
  returned: always
  type: dict
"""

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import (
    NETWORK_ARGS, converge_request, run_network_module,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.requests import NicRequest

ARGUMENT_SPEC = dict(**NicRequest.SPEC, **NETWORK_ARGS)


def run(module) -> dict:
    return converge_request(module, NicRequest(module.params))


def main():
    run_network_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
