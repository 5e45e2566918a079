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
  routes:
    description:
      - The device's static routes, exactly (C(ip route add ... dev) this device), in any routing table but
        C(local). Missing ones are added once the device is up and has its addresses, changed ones replaced
        (C(ip route replace)), extra ones of protocol C(boot) or C(static) through this device removed.
      - Omit to leave routes alone; V([]) removes this device's static routes. The main table's default route
        via a gateway is O(gateway4)/O(gateway6), not a route here.
      - Routes that daemons or the kernel own (C(proto kernel), C(dhcp), C(ra), C(bird)...), multipath routes and
        routes through nexthop objects are never changed; a change that would make the kernel delete one (the
        device going down or being deleted) is refused, naming the route.
      - A route the kernel would delete on the way (the device taken down and up, its last IPv4 address
        replaced) is deleted and added back explicitly, so that the change and its undo keep it.
    type: list
    elements: dict
    suboptions:
      dst:
        description:
          - Destination with prefix length, like V(10.20.0.0/16), V(2001:db8:20::/48), or V(0.0.0.0/0) for a
            default route (in another table, or without a gateway).
        type: str
        required: true
      via:
        description:
          - Gateway address, of the destination's family. It must lie inside one of the device's addresses
            (after the task), unless O(routes[].onlink) is set. Omit for a route straight onto the link.
        type: str
      table:
        description:
          - Routing table, a number 1-4294967295 other than 255, or V(main) or V(default); V(main) when omitted.
        type: raw
      metric:
        description:
          - Route metric (priority), 0-4294967295; the kernel's default when omitted (0 for IPv4, 1024 for IPv6).
          - Destination, table and metric identify a route; a different metric is a different route.
        type: int
      onlink:
        description:
          - Treat the gateway as directly reachable on the link even outside the device's subnets.
        type: bool
      proto:
        description:
          - Protocol the route is marked with. Omit to accept either on an existing route; a new route gets
            V(static).
        type: str
        choices: [boot, static]
  admin_state:
    description:
      - Administrative state of the device; V(up) when omitted.
    type: str
    choices: [up, down]
  allow_default_route_loss:
    description:
      - Taking the device down (O(admin_state=down)) is refused when it leaves one of the host's default routes with
        no way out (the route's device is this one, or stands on it and has no other up way down), since that cuts
        the host off. The message names the route.
      - V(true) accepts that (the host is reached another way, a console); the task then warns instead.
      - Omitted, V(false).
    type: bool
"""
