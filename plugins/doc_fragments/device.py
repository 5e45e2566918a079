# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of every device a netsafe.hypervisor module manages (bridge, bond, VLAN)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  mtu:
    description:
      - MTU of the device, 68-65535. Omit to keep the current value.
      - For a bridge, the path below it follows (see O(port_mtu)); for a VLAN, the MTU may not exceed its parent's;
        a bond gives its ports (slaves) its own MTU.
      - A device whose driver takes less (its C(max_mtu), as C(ip -d link) shows it) is refused before any change,
        naming it.
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
  port_mtu:
    description:
      - What a bridge's new O(mtu) does to the path below it. The path is the bridge's uplinks (a NIC, a bond, a
        VLAN), and what they stand on (a VLAN's lower device; a bond's ports, which the kernel gives the bond's
        MTU). Guest ports (a VM's tap, a container's veth) are never part of it.
      - V(follow) (the default) sets the bridge's MTU first (so it is the bridge's own, and a guest port joining
        at a smaller MTU does not take it down), then raises every device on the path whose MTU is lower, from the
        bottom up (NIC or bond, then VLAN), and lowers the path with the bridge, from the top down (the bridge first),
        stopping at a device that still carries addresses of its own or something else with a larger MTU (another
        VLAN, a macvlan, another master). Each step has its undo, run in the reverse order. Earlier releases changed the
        bridge alone, leaving its uplinks at the old MTU.
      - V(refuse) changes the bridge alone and refuses a raise while a device on the path has a lower MTU,
        naming each one; lowering then leaves the path as it is.
      - A device that the same task describes with an MTU of its own (a O(netsafe.hypervisor.net_state#module:bonds),
        O(netsafe.hypervisor.net_state#module:vlans) or O(netsafe.hypervisor.net_state#module:nics) entry) keeps that
        MTU; one lower than the bridge's is refused, naming both entries.
      - Only bridges have such a path; on other devices the option changes nothing.
    type: str
    choices: [follow, refuse]
"""
