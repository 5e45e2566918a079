# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of every device a netsafe.hypervisor module manages (bridge, bond, VLAN)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  mtu:
    description:
      - MTU of the device, 68-65535. Omit to keep the current value.
      - For a bridge, a port with a smaller MTU triggers a warning; for a VLAN, the MTU may not exceed its parent's.
    type: int
  mac:
    description:
      - Unicast MAC address of the device, like V(52:54:00:12:34:56). Omit to keep the current one.
    type: str
  addresses:
    description:
      - The device's static IPv4 and IPv6 addresses with prefix length, exactly. Missing ones are added
        before extra ones are removed.
      - Omit to leave addresses alone; V([]) removes them all. Link-local IPv6 addresses made by the
        kernel are never touched.
    type: list
    elements: str
  gateway4:
    description:
      - IPv4 default gateway through this device; must lie inside one of its IPv4 addresses.
      - Replaces the current IPv4 default route, whichever device it uses. Omit to leave routes alone.
    type: str
  gateway6:
    description:
      - IPv6 default gateway through this device; must lie inside one of its IPv6 addresses.
      - Replaces the current IPv6 default route. Omit to leave routes alone.
    type: str
  admin_state:
    description:
      - Administrative state of the device; V(up) when omitted.
    type: str
    choices: [up, down]
"""
