#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a host's desired network (NICs, bonds, VLANs, bridges, routes) as one change with one undo."""
from __future__ import annotations

DOCUMENTATION = r"""
module: net_state
short_description: Apply a hypervisor's desired network as one change, optionally inside a checkpoint
version_added: 0.3.0
description:
  - Makes the NICs, bonds, VLANs and bridges it names what they describe, and deletes those with O(bridges[].state=absent)
    (and the like), in one plan with one undo. Every step carries its inverse; if the kernel refuses a step or
    the state read back differs from the request, everything already done is undone, newest first.
  - Devices it does not name are left alone. Guest ports (taps, veths) stay on their bridges.
  - Each entry takes exactly the options of its per-device module (M(netsafe.hypervisor.net_bridge),
    M(netsafe.hypervisor.net_bond), M(netsafe.hypervisor.net_vlan), M(netsafe.hypervisor.net_nic)); both are built
    from the same specification.
  - "What only the whole state can say: a bond may take its ports from a bridge that the same task describes without
    them (vmbr0 on eno1 becomes vmbr0 on bond0 of eno1 and eno2, in one plan); a device that becomes a port of a
    bridge or bond gives its addresses, default routes and static routes to its new master, never keeping them; a
    VLAN is re-created on a new parent; a bridge turns vlan-aware with its guests' VLANs."
  - The order is derived from the request. A device comes after those it stands on; a deletion after what stood on it was
    moved, and before anything takes its parts.
  - With O(checkpoint), one run does the dangerous part of a change window on the host itself - preflight probes (a
    host that fails them is not touched), arm a checkpoint (snapshot and watchdog), apply, the same probes again -
    and rolls back in the same run when the change or the probes fail. What is left is to confirm it over a fresh
    connection - the same task with O(checkpoint.confirm) set to the checkpoint's id, which confirms only a host it
    finds as the task describes and then writes the files (O(checkpoint.persist)) - or let the watchdog roll it
    back at the deadline.
  - Check mode shows the whole plan as C(ip) commands and the predicted state; with O(checkpoint) it runs nothing
    else (no probes, nothing armed).
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
extends_documentation_fragment:
  - netsafe.hypervisor.network
  - netsafe.hypervisor.network.attributes
options:
  routes:
    description:
      - Static routes of devices no entry describes, grouped by O(routes[].device); each device named gets exactly the
        routes listed for it (like a device's own C(routes) option), others keep theirs.
      - A device that has an entry takes its routes in that entry; naming it here too is refused.
    type: list
    elements: dict
    suboptions:
      device:
        description: The device the routes leave through. It must exist.
        type: str
        required: true
      dst:
        description: Destination prefix, like V(10.20.0.0/16) or V(2001:db8:20::/48).
        type: str
        required: true
      via:
        description: Gateway address; omit for a route on the link.
        type: str
      table:
        description: Routing table, a number 1-4294967295 other than 255, or V(main) or V(default); V(main) when omitted.
        type: raw
      metric:
        description: Route metric (priority), 0-4294967295; the kernel's default when omitted (0 for IPv4, 1024 for IPv6).
        type: int
      onlink:
        description: The gateway is on the link even if no address of the device covers it.
        type: bool
      proto:
        description: The route's protocol; omitted, a route added at boot or statically both count.
        type: str
        choices: [boot, static]
  checkpoint:
    description:
      - Run the change inside a checkpoint, all on the host in this one task - preflight probes, arm (snapshot and
        watchdog), apply, probes again; rolled back in this task when the change or the probes fail.
      - A host already in the desired state gets no checkpoint; RV(outcome) is then V(unchanged).
      - Confirm within O(checkpoint.timeout) seconds over a fresh connection (C(meta) C(reset_connection)), with the
        same task and O(checkpoint.confirm) set to the returned RV(checkpoint.id) (or with
        M(netsafe.hypervisor.net_checkpoint) O(netsafe.hypervisor.net_checkpoint#module:state=confirmed)).
    type: dict
    suboptions:
      timeout:
        description: Seconds until the watchdog rolls back an unconfirmed change, 5-86400.
        type: float
        default: 120
      probes:
        description:
          - Probes run before the change (all required ones must pass or nothing is touched), after it, and by the
            watchdog's gate until the confirmation, as the probe specifications of M(netsafe.hypervisor.net_probe).
          - Empty, an ICMP probe to each default gateway the host has before the change.
        type: list
        elements: dict
        default: []
        suboptions:
        # BEGIN probe keys: written by hacking/net_state_docs.py
          type:
            description:
            - V(icmp) sends echo requests to an address; with O(checkpoint.probes[].mtu) (or O(checkpoint.probes[].size) and
              O(checkpoint.probes[].dont_fragment)) it proves that the path carries packets of that size.
            - V(tcp) connects to O(checkpoint.probes[].target) on O(checkpoint.probes[].port).
            - V(neighbour) makes the kernel resolve an address (ARP/ND) and reads its neighbour entry.
            - V(dns) asks a DNS server for the A or AAAA records of a name.
            type: str
            required: true
            choices:
            - icmp
            - tcp
            - neighbour
            - dns
          target:
            description:
            - For V(icmp) an IPv4 or IPv6 address (required); for V(tcp) an address or a host name (looked up in C(/etc/hosts),
              then with DNS; required); for V(neighbour) an address, or none for every default gateway; for V(dns) the name
              to resolve (required).
            - An IPv6 link-local address names its device, V(fe80::1%eth0).
            type: str
          port:
            description: V(tcp) only, required there, 1-65535.
            type: int
          server:
            description:
            - V(dns) only, the address of the DNS server to ask; default the first C(nameserver) of C(/etc/resolv.conf).
            type: str
          record:
            description: V(dns) only, V(A) (default) or V(AAAA).
            type: str
          size:
            description:
            - V(icmp) only, payload bytes of each echo request, default V(56); from 24 to 65507 for an IPv4 target, 65527
              for IPv6. The packet is 28 bytes larger over IPv4 (IP and ICMP headers), 48 over IPv6.
            - Not with O(checkpoint.probes[].mtu).
            type: int
          dont_fragment:
            description:
            - V(icmp) only, send with don't-fragment (IPv4 DF, IPv6 C(IPV6_DONTFRAG)), default V(false). A packet the path
              cannot carry then fails as too big instead of being fragmented. Not with O(checkpoint.probes[].mtu).
            type: bool
          mtu:
            description:
            - V(icmp) only, prove that the path carries packets of this many bytes unfragmented - N-28 payload bytes for an
              IPv4 target, N-48 for IPv6, with don't-fragment. From 68 (IPv4) or 1280 (IPv6) to 65535.
            - 'A failure says which size did not pass, why (too big - the kernel refused it, or a router sent C(fragmentation
              needed) or C(packet too big) - or no reply), and what does pass, from one more echo request at the known path
              MTU, else at 1500, for example C(path MTU: 8972-byte packets to 192.0.2.1 do not pass (1472 do)).'
            - Not with O(checkpoint.probes[].size) or O(checkpoint.probes[].dont_fragment).
            type: int
          required:
            description: A failed probe that is not required is reported but does not fail the task.
            type: bool
            default: true
          count:
            description:
            - V(icmp) sends that many echo requests (and passes on any reply); the others make up to that many attempts, with
              the collection's backoff between them. 1-100.
            type: int
            default: 3
          timeout:
            description:
            - Seconds per echo request or attempt, greater than 0. One probe may take at most 300 s in all.
            type: float
            default: 1.0
          name:
            description:
            - A label for reports; default the type and target, for example V(icmp 10.0.0.1), V(tcp 10.0.0.5:22), V(icmp 10.0.0.1
              mtu 9000).
            type: str
        # END probe keys
      gate:
        description:
          - Whether the watchdog also runs O(checkpoint.probes) until the confirmation and rolls back at once when a
            required one fails (its gate). Off, it rolls back only at the deadline; the probes before and after the
            change in this task run either way.
        type: bool
        default: true
      gate_settle:
        description: Seconds after the change before the watchdog's gate starts probing, 0-3600.
        type: float
        default: 5
      watchdog:
        description: How the watchdog runs; see M(netsafe.hypervisor.net_checkpoint).
        type: str
        choices: [auto, systemd, detached]
        default: auto
      root:
        description: Root of the directories the checkpoint is kept in, and of the network files (a scratch tree in
          tests).
        type: path
        default: /
      mtu_probe:
        description:
          - When the change raises the MTU of a device on the path to a default gateway (the device holding the
            default route, or a port or parent under it), also prove that path after the change and in the
            watchdog's gate - an ICMP probe to that gateway with O(netsafe.hypervisor.net_probe#module:probes[].mtu)
            set to the route device's new MTU (don't-fragment, the largest packet the host now sends that way).
          - A switch port still at 1500 then fails it and the change is rolled back in the window, not black-holed
            at the first large NFS or migration packet. The preflight does not run it (the old path cannot pass).
          - Added whether O(checkpoint.probes) is given or not, unless a given ICMP probe has the same target and
            mtu. RV(path_mtu) lists what was added; C(false) turns it off.
        type: bool
        default: true
      confirm:
        description:
          - The id of the checkpoint to confirm (RV(checkpoint.id) of the run that armed it). The task then changes
            nothing in the network - it confirms the checkpoint when the host is in the state the task describes,
            then writes the files with O(checkpoint.persist). A host that differs (the watchdog rolled back, a
            change since) is refused with the commands that would be needed, and nothing is confirmed.
          - Give the same lists as the run that armed it (a task without any list, or an empty id, is refused); the
            other options of O(checkpoint) except O(checkpoint.root) and O(checkpoint.persist) are checked but not
            used. Run it again after a failed save - a confirmed checkpoint is not confirmed twice, and the files are
            written.
          - M(netsafe.hypervisor.net_checkpoint) O(netsafe.hypervisor.net_checkpoint#module:state=confirmed) keeps a
            change without looking at the host; use this option for a checkpoint that net_state armed.
          - In check mode, whether it would confirm, and the files it would write.
          - An empty or malformed id, or a task without any list, is refused before anything is read. Without
            O(checkpoint.persist), a warning says that the files the arming run checked were not written.
        type: str
      persist:
        description:
          - Render and check the host's network files for the state the change leaves behind, before anything is
            armed or changed; a file the format refuses (a DHCP stanza, a continuation line, Proxmox VE's staged
            C(interfaces.new) per O(checkpoint.persist.pending_changes)) stops the task with the host untouched
            (RV(outcome=not_touched)). Nothing is written here - the files are written with the confirmation
            (O(checkpoint.confirm)), with the same options.
          - With O(checkpoint.confirm), write the files once the checkpoint is confirmed. A save that fails then
            fails the task saying that the change IS confirmed and kept and how to write the files.
          - Also in check mode.
        type: dict
        suboptions:
          format:
            description: The configuration format, as M(netsafe.hypervisor.net_persist)'s.
            type: str
            choices: [auto, ifupdown2, networkmanager, networkd, netplan]
            default: auto
          devices:
            description:
              - The devices whose files are checked. Omitted, the devices the change touches (guest ports left out);
                RV(persist.devices) lists them, and the checkpoint keeps them for O(checkpoint.confirm), which
                writes the files of the same devices (if the checkpoint was armed otherwise, the devices the task
                names and their ports and parents).
            type: list
            elements: str
          path:
            description: The file or directory of the format, as M(netsafe.hypervisor.net_persist)'s.
            type: path
          backup_dir:
            description: Where a save keeps its backups, as M(netsafe.hypervisor.net_persist)'s.
            type: path
            default: /var/lib/netsafe/backups
          backup_keep:
            description: How many backups a save keeps, as M(netsafe.hypervisor.net_persist)'s.
            type: int
            default: 10
          pending_changes:
            description: What to do with staged changes (Proxmox VE's C(interfaces.new)), as
              M(netsafe.hypervisor.net_persist)'s.
            type: str
            choices: [refuse, discard, keep]
            default: refuse
  # BEGIN entries: written by hacking/net_state_docs.py
  nics:
    description:
    - NICs to make what they describe, each with exactly the options of M(netsafe.hypervisor.net_nic) (the network
      options - namespace, guest patterns, lock timeout - are this module's own).
    - Omit, or leave a device out, to leave it alone.
    type: list
    elements: dict
    suboptions:
      name:
        description:
        - Name of the NIC; it must exist. ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit,
          at most 15 characters.
        type: str
        required: true
      mtu:
        description:
        - MTU of the device, 68-65535. Omit to keep the current value.
        - For a bridge, the path below it follows (see O(nics[].port_mtu)); for a VLAN, the MTU may not exceed its
          parent's; a bond gives its ports (slaves) its own MTU.
        - A device whose driver takes less (its C(max_mtu), as C(ip -d link) shows it) is refused before any change,
          naming it.
        type: int
      mac:
        description:
        - Unicast MAC address of the device, like V(52:54:00:12:34:56). Omit to keep the current one.
        type: str
      addresses:
        description:
        - The device's static IPv4 and IPv6 addresses with prefix length, exactly. Missing ones are added before extra
          ones are removed.
        - Omit to leave addresses alone; V([]) removes them all. Link-local IPv6 addresses made by the kernel are
          never touched.
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
        - The device's static routes, exactly (C(ip route add ... dev) this device), in any routing table but C(local).
          Missing ones are added once the device is up and has its addresses, changed ones replaced (C(ip route replace)),
          extra ones of protocol C(boot) or C(static) through this device removed.
        - Omit to leave routes alone; V([]) removes this device's static routes. The main table's default route via
          a gateway is O(nics[].gateway4)/O(nics[].gateway6), not a route here.
        - Routes that daemons or the kernel own (C(proto kernel), C(dhcp), C(ra), C(bird)...), multipath routes and
          routes through nexthop objects are never changed; a change that would make the kernel delete one (the device
          going down or being deleted) is refused, naming the route.
        - A route the kernel would delete on the way (the device taken down and up, its last IPv4 address replaced)
          is deleted and added back explicitly, so that the change and its undo keep it.
        type: list
        elements: dict
        suboptions:
          dst:
            description:
            - Destination with prefix length, like V(10.20.0.0/16), V(2001:db8:20::/48), or V(0.0.0.0/0) for a default
              route (in another table, or without a gateway).
            type: str
            required: true
          via:
            description:
            - Gateway address, of the destination's family. It must lie inside one of the device's addresses (after
              the task), unless O(nics[].routes[].onlink) is set. Omit for a route straight onto the link.
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
            - Protocol the route is marked with. Omit to accept either on an existing route; a new route gets V(static).
            type: str
            choices: &id001
            - boot
            - static
      admin_state:
        description:
        - Administrative state of the device; V(up) when omitted.
        type: str
        choices: &id002
        - up
        - down
      allow_default_route_loss:
        description:
        - Taking the device down (O(nics[].admin_state=down)) is refused when it leaves one of the host's default
          routes with no way out (the route's device is this one, or stands on it and has no other up way down), since
          that cuts the host off. The message names the route.
        - V(true) accepts that (the host is reached another way, a console); the task then warns instead.
        - Omitted, V(false).
        type: bool
      port_mtu:
        description:
        - What a bridge's new O(nics[].mtu) does to the path below it. The path is the bridge's uplinks (a NIC, a
          bond, a VLAN), and what they stand on (a VLAN's lower device; a bond's ports, which the kernel gives the
          bond's MTU). Guest ports (a VM's tap, a container's veth) are never part of it.
        - V(follow) (the default) sets the bridge's MTU first (so it is the bridge's own, and a guest port joining
          at a smaller MTU does not take it down), then raises every device on the path whose MTU is lower, from the
          bottom up (NIC or bond, then VLAN), and lowers the path with the bridge, from the top down (the bridge first),
          stopping at a device that still carries addresses of its own or something else with a larger MTU (another
          VLAN, a macvlan, another master). Each step has its undo, run in the reverse order. Earlier releases changed
          the bridge alone, leaving its uplinks at the old MTU.
        - V(refuse) changes the bridge alone and refuses a raise while a device on the path has a lower MTU, naming
          each one; lowering then leaves the path as it is.
        - A device that the same task describes with an MTU of its own (a O(netsafe.hypervisor.net_state#module:bonds),
          O(netsafe.hypervisor.net_state#module:vlans) or O(netsafe.hypervisor.net_state#module:nics) entry) keeps
          that MTU; one lower than the bridge's is refused, naming both entries.
        - Only bridges have such a path; on other devices the option changes nothing.
        type: str
        choices: &id003
        - follow
        - refuse
  bonds:
    description:
    - Bonds to make what they describe, each with exactly the options of M(netsafe.hypervisor.net_bond) (the network
      options - namespace, guest patterns, lock timeout - are this module's own).
    - Omit, or leave a device out, to leave it alone.
    type: list
    elements: dict
    suboptions:
      name:
        description:
        - Name of the bond. ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit, at most 15
          characters. The same rule holds for O(bonds[].ports) and O(bonds[].primary).
        type: str
        required: true
      state:
        description:
        - V(present) creates or changes the bond; V(absent) deletes it (refused while a bridge or VLAN uses it).
        - With V(absent), options that describe the bond (O(bonds[].ports), O(bonds[].mode), O(bonds[].mtu) and the
          like) are refused.
        type: str
        choices:
        - present
        - absent
        default: present
      ports:
        description:
        - The bond's member ports (the kernel calls them slaves), exactly; NICs only. Omit to leave them alone; V([])
          releases them all.
        type: list
        elements: str
        aliases:
        - slaves
      take_over_ports:
        description:
        - Allow member ports that are ports of another bridge or bond (they are released there).
        - To move a live uplink from a bridge into a new bond under that bridge in one step, describe both with M(netsafe.hypervisor.net_state).
        type: bool
        default: false
        aliases:
        - take_over_slaves
      mode:
        description: Bonding mode. Omit to keep the current one (V(balance-rr) for a new bond).
        type: str
        choices:
        - balance-rr
        - active-backup
        - balance-xor
        - broadcast
        - 802.3ad
        - balance-tlb
        - balance-alb
      miimon:
        description: MII link monitoring interval in milliseconds; 0 switches it off. Omit to keep the current value.
        type: int
      updelay:
        description: Milliseconds to wait before enabling a slave whose link came up; a multiple of O(bonds[].miimon).
        type: int
      downdelay:
        description: Milliseconds to wait before disabling a slave whose link went down; a multiple of O(bonds[].miimon).
        type: int
      lacp_rate:
        description: LACPDU rate asked of the partner; V(802.3ad) only.
        type: str
        choices:
        - slow
        - fast
      xmit_hash_policy:
        description: Transmit hash policy; modes V(balance-xor), V(802.3ad) and V(balance-tlb) only.
        type: str
        choices:
        - layer2
        - layer3+4
        - layer2+3
        - encap2+3
        - encap3+4
        - vlan+srcmac
      primary:
        description: Preferred port; modes V(active-backup), V(balance-tlb), V(balance-alb) only. Must be one of O(bonds[].ports).
        type: str
      ad_select:
        description: 802.3ad aggregation selection logic; V(802.3ad) only.
        type: str
        choices:
        - stable
        - bandwidth
        - count
      arp_interval:
        description: ARP monitoring interval in milliseconds; not with O(bonds[].miimon) above 0, not in 802.3ad,
          tlb or alb modes.
        type: int
      arp_ip_target:
        description: IPv4 addresses to ARP when O(bonds[].arp_interval) is set (at most 16).
        type: list
        elements: str
      min_links:
        description: Minimum number of active slaves before the bond reports carrier.
        type: int
      mtu:
        description:
        - MTU of the device, 68-65535. Omit to keep the current value.
        - For a bridge, the path below it follows (see O(bonds[].port_mtu)); for a VLAN, the MTU may not exceed its
          parent's; a bond gives its ports (slaves) its own MTU.
        - A device whose driver takes less (its C(max_mtu), as C(ip -d link) shows it) is refused before any change,
          naming it.
        type: int
      mac:
        description:
        - Unicast MAC address of the device, like V(52:54:00:12:34:56). Omit to keep the current one.
        type: str
      addresses:
        description:
        - The device's static IPv4 and IPv6 addresses with prefix length, exactly. Missing ones are added before extra
          ones are removed.
        - Omit to leave addresses alone; V([]) removes them all. Link-local IPv6 addresses made by the kernel are
          never touched.
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
        - The device's static routes, exactly (C(ip route add ... dev) this device), in any routing table but C(local).
          Missing ones are added once the device is up and has its addresses, changed ones replaced (C(ip route replace)),
          extra ones of protocol C(boot) or C(static) through this device removed.
        - Omit to leave routes alone; V([]) removes this device's static routes. The main table's default route via
          a gateway is O(bonds[].gateway4)/O(bonds[].gateway6), not a route here.
        - Routes that daemons or the kernel own (C(proto kernel), C(dhcp), C(ra), C(bird)...), multipath routes and
          routes through nexthop objects are never changed; a change that would make the kernel delete one (the device
          going down or being deleted) is refused, naming the route.
        - A route the kernel would delete on the way (the device taken down and up, its last IPv4 address replaced)
          is deleted and added back explicitly, so that the change and its undo keep it.
        type: list
        elements: dict
        suboptions:
          dst:
            description:
            - Destination with prefix length, like V(10.20.0.0/16), V(2001:db8:20::/48), or V(0.0.0.0/0) for a default
              route (in another table, or without a gateway).
            type: str
            required: true
          via:
            description:
            - Gateway address, of the destination's family. It must lie inside one of the device's addresses (after
              the task), unless O(bonds[].routes[].onlink) is set. Omit for a route straight onto the link.
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
            - Protocol the route is marked with. Omit to accept either on an existing route; a new route gets V(static).
            type: str
            choices: *id001
      admin_state:
        description:
        - Administrative state of the device; V(up) when omitted.
        type: str
        choices: *id002
      allow_default_route_loss:
        description:
        - Taking the device down (O(bonds[].admin_state=down)) is refused when it leaves one of the host's default
          routes with no way out (the route's device is this one, or stands on it and has no other up way down), since
          that cuts the host off. The message names the route.
        - V(true) accepts that (the host is reached another way, a console); the task then warns instead.
        - Omitted, V(false).
        type: bool
      port_mtu:
        description:
        - What a bridge's new O(bonds[].mtu) does to the path below it. The path is the bridge's uplinks (a NIC, a
          bond, a VLAN), and what they stand on (a VLAN's lower device; a bond's ports, which the kernel gives the
          bond's MTU). Guest ports (a VM's tap, a container's veth) are never part of it.
        - V(follow) (the default) sets the bridge's MTU first (so it is the bridge's own, and a guest port joining
          at a smaller MTU does not take it down), then raises every device on the path whose MTU is lower, from the
          bottom up (NIC or bond, then VLAN), and lowers the path with the bridge, from the top down (the bridge first),
          stopping at a device that still carries addresses of its own or something else with a larger MTU (another
          VLAN, a macvlan, another master). Each step has its undo, run in the reverse order. Earlier releases changed
          the bridge alone, leaving its uplinks at the old MTU.
        - V(refuse) changes the bridge alone and refuses a raise while a device on the path has a lower MTU, naming
          each one; lowering then leaves the path as it is.
        - A device that the same task describes with an MTU of its own (a O(netsafe.hypervisor.net_state#module:bonds),
          O(netsafe.hypervisor.net_state#module:vlans) or O(netsafe.hypervisor.net_state#module:nics) entry) keeps
          that MTU; one lower than the bridge's is refused, naming both entries.
        - Only bridges have such a path; on other devices the option changes nothing.
        type: str
        choices: *id003
  vlans:
    description:
    - VLAN devices to make what they describe, each with exactly the options of M(netsafe.hypervisor.net_vlan) (the
      network options - namespace, guest patterns, lock timeout - are this module's own).
    - Omit, or leave a device out, to leave it alone.
    type: list
    elements: dict
    suboptions:
      name:
        description:
        - Name of the VLAN device. ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit, at
          most 15 characters (O(vlans[].parent) too). Defaults to V(<parent>.<vlan_id>).
        - With O(vlans[].state=absent), the device to delete; or give O(vlans[].parent) and O(vlans[].vlan_id) instead.
        type: str
      parent:
        description:
        - The NIC, bond or bridge the VLAN sits on. Required with O(vlans[].state=present).
        - With O(vlans[].state=absent) and O(vlans[].name), the device is deleted only if it sits on this parent.
        type: str
      vlan_id:
        description:
        - VLAN id, 1-4094. Required with O(vlans[].state=present), and whenever O(vlans[].parent) is given.
        - With O(vlans[].state=absent) and O(vlans[].name), the device is deleted only if it has this id.
        type: int
      protocol:
        description:
        - VLAN protocol; V(802.1ad) for an outer (QinQ) tag. V(802.1Q) when omitted.
        - With O(vlans[].state=absent), the device is deleted only if it uses this protocol.
        type: str
        choices:
        - 802.1Q
        - 802.1ad
      state:
        description:
        - V(present) creates or changes the VLAN device; V(absent) deletes it (refused while it is a bridge port).
        - With V(absent), options that describe the device (O(vlans[].mtu), O(vlans[].addresses) and the like) are
          refused.
        type: str
        choices:
        - present
        - absent
        default: present
      mtu:
        description:
        - MTU of the device, 68-65535. Omit to keep the current value.
        - For a bridge, the path below it follows (see O(vlans[].port_mtu)); for a VLAN, the MTU may not exceed its
          parent's; a bond gives its ports (slaves) its own MTU.
        - A device whose driver takes less (its C(max_mtu), as C(ip -d link) shows it) is refused before any change,
          naming it.
        type: int
      mac:
        description:
        - Unicast MAC address of the device, like V(52:54:00:12:34:56). Omit to keep the current one.
        type: str
      addresses:
        description:
        - The device's static IPv4 and IPv6 addresses with prefix length, exactly. Missing ones are added before extra
          ones are removed.
        - Omit to leave addresses alone; V([]) removes them all. Link-local IPv6 addresses made by the kernel are
          never touched.
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
        - The device's static routes, exactly (C(ip route add ... dev) this device), in any routing table but C(local).
          Missing ones are added once the device is up and has its addresses, changed ones replaced (C(ip route replace)),
          extra ones of protocol C(boot) or C(static) through this device removed.
        - Omit to leave routes alone; V([]) removes this device's static routes. The main table's default route via
          a gateway is O(vlans[].gateway4)/O(vlans[].gateway6), not a route here.
        - Routes that daemons or the kernel own (C(proto kernel), C(dhcp), C(ra), C(bird)...), multipath routes and
          routes through nexthop objects are never changed; a change that would make the kernel delete one (the device
          going down or being deleted) is refused, naming the route.
        - A route the kernel would delete on the way (the device taken down and up, its last IPv4 address replaced)
          is deleted and added back explicitly, so that the change and its undo keep it.
        type: list
        elements: dict
        suboptions:
          dst:
            description:
            - Destination with prefix length, like V(10.20.0.0/16), V(2001:db8:20::/48), or V(0.0.0.0/0) for a default
              route (in another table, or without a gateway).
            type: str
            required: true
          via:
            description:
            - Gateway address, of the destination's family. It must lie inside one of the device's addresses (after
              the task), unless O(vlans[].routes[].onlink) is set. Omit for a route straight onto the link.
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
            - Protocol the route is marked with. Omit to accept either on an existing route; a new route gets V(static).
            type: str
            choices: *id001
      admin_state:
        description:
        - Administrative state of the device; V(up) when omitted.
        type: str
        choices: *id002
      allow_default_route_loss:
        description:
        - Taking the device down (O(vlans[].admin_state=down)) is refused when it leaves one of the host's default
          routes with no way out (the route's device is this one, or stands on it and has no other up way down), since
          that cuts the host off. The message names the route.
        - V(true) accepts that (the host is reached another way, a console); the task then warns instead.
        - Omitted, V(false).
        type: bool
      port_mtu:
        description:
        - What a bridge's new O(vlans[].mtu) does to the path below it. The path is the bridge's uplinks (a NIC, a
          bond, a VLAN), and what they stand on (a VLAN's lower device; a bond's ports, which the kernel gives the
          bond's MTU). Guest ports (a VM's tap, a container's veth) are never part of it.
        - V(follow) (the default) sets the bridge's MTU first (so it is the bridge's own, and a guest port joining
          at a smaller MTU does not take it down), then raises every device on the path whose MTU is lower, from the
          bottom up (NIC or bond, then VLAN), and lowers the path with the bridge, from the top down (the bridge first),
          stopping at a device that still carries addresses of its own or something else with a larger MTU (another
          VLAN, a macvlan, another master). Each step has its undo, run in the reverse order. Earlier releases changed
          the bridge alone, leaving its uplinks at the old MTU.
        - V(refuse) changes the bridge alone and refuses a raise while a device on the path has a lower MTU, naming
          each one; lowering then leaves the path as it is.
        - A device that the same task describes with an MTU of its own (a O(netsafe.hypervisor.net_state#module:bonds),
          O(netsafe.hypervisor.net_state#module:vlans) or O(netsafe.hypervisor.net_state#module:nics) entry) keeps
          that MTU; one lower than the bridge's is refused, naming both entries.
        - Only bridges have such a path; on other devices the option changes nothing.
        type: str
        choices: *id003
  bridges:
    description:
    - Bridges to make what they describe, each with exactly the options of M(netsafe.hypervisor.net_bridge) (the network
      options - namespace, guest patterns, lock timeout - are this module's own).
    - Omit, or leave a device out, to leave it alone.
    type: list
    elements: dict
    suboptions:
      name:
        description:
        - Name of the bridge. ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit, at most
          15 characters.
        - The same rule holds for every interface name a task gives (O(bridges[].ports), O(bridges[].port_vlans[].port)).
          A name that could glob in a configuration file or split a shown command is refused before anything is read.
        type: str
        required: true
      state:
        description:
        - V(present) creates the bridge if needed and makes it match the other options.
        - V(absent) deletes it. Its uplinks are released; if guest ports are still on it the task fails unless O(bridges[].detach_guests=true).
          Options that describe the bridge (O(bridges[].ports), O(bridges[].mtu), O(bridges[].addresses) and the like)
          are refused with V(absent), since nothing would apply them.
        type: str
        choices:
        - present
        - absent
        default: present
      ports:
        description:
        - The bridge's uplinks, exactly. Uplinks on the bridge that are not listed are released; listed devices are
          added and brought up.
        - Each must exist, must not be a bridge and must not be a port of another bridge or bond.
        - A new port that carries addresses gives them to the bridge, with its default routes and static routes (none
          stays on a bridge port); when the task gives O(bridges[].addresses), those are the bridge's and the port's
          others are removed, with a warning. A default route whose gateway the bridge's addresses cannot reach is
          refused.
        - Guest ports are not uplinks and are left alone whether listed or not.
        - Omit to leave the uplinks as they are; V([]) releases every uplink.
        - Old uplinks are released before new ones join, so two uplinks never form a loop without STP.
        type: list
        elements: str
      stp:
        description:
        - Whether the bridge runs the Spanning Tree Protocol. Omit to keep the current setting (off for a new bridge).
        type: bool
      forward_delay:
        description:
        - Forward delay in seconds (Proxmox VE's C(bridge-fd)), 0-30; with STP on, 2-30. The kernel keeps hundredths
          of a second, so V(2.5) is kept as given.
        - Omit to keep the current value (15 for a new bridge).
        type: float
      vlan_filtering:
        description:
        - Whether the bridge filters by VLAN (a vlan-aware bridge, as Proxmox VE's C(bridge-vlan-aware yes)).
        - Omit to keep the current setting (off for a new bridge).
        type: bool
      ageing_time:
        description:
        - Seconds a learned MAC address stays in the bridge's forwarding table without traffic (Proxmox VE's C(bridge-ageing)),
          0-1000000. The kernel keeps hundredths of a second.
        - Omit to keep the current value (300 for a new bridge).
        type: float
      mcast_snooping:
        description:
        - Whether the bridge snoops IGMP/MLD and forwards multicast only to ports with listeners (Proxmox VE's C(bridge-mcsnoop)).
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
        - The bridge's STP priority, 0-65535 (lower wins the root election). Omit to keep the current value (32768
          for a new bridge).
        type: int
      port_options:
        description:
        - Bridge-port attributes (STP path cost and port priority) of ports of this bridge, for the ports listed here;
          ports not listed, and attributes not given, keep their values.
        - A port that joins a bridge gets the kernel's defaults (a cost from its link speed, priority 32); list it
          to set others. Setting a cost fixes it, the kernel no longer derives it from the link speed.
        - Each port must be one of O(bridges[].ports) (or an uplink or guest port already on the bridge).
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
        - VLAN membership of ports on a vlan-aware bridge, exactly, for the ports listed here; ports not listed keep
          their membership.
        - Name the bridge itself as O(bridges[].port_vlans[].port) for the bridge's own membership (C(bridge vlan
          ... self)).
        - A port that joins a vlan-aware bridge gets VLAN 1 as untagged PVID from the kernel; list it to change that.
        - Needs O(bridges[].vlan_filtering=true) (or a bridge that already filters).
        type: list
        elements: dict
        suboptions:
          port:
            description: A port of this bridge (uplink or guest port), or the bridge itself.
            type: str
            required: true
          pvid:
            description:
            - VLAN for untagged ingress frames (Proxmox VE's C(tag=)). It is a member untagged unless listed in O(bridges[].port_vlans[].tagged).
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
        - With O(bridges[].state=absent), accept that guest ports still on the bridge lose it.
        - Refused with O(bridges[].state=present), where no guest is ever detached.
        type: bool
        default: false
      mtu:
        description:
        - MTU of the device, 68-65535. Omit to keep the current value.
        - For a bridge, the path below it follows (see O(bridges[].port_mtu)); for a VLAN, the MTU may not exceed
          its parent's; a bond gives its ports (slaves) its own MTU.
        - A device whose driver takes less (its C(max_mtu), as C(ip -d link) shows it) is refused before any change,
          naming it.
        type: int
      mac:
        description:
        - Unicast MAC address of the device, like V(52:54:00:12:34:56). Omit to keep the current one.
        type: str
      addresses:
        description:
        - The device's static IPv4 and IPv6 addresses with prefix length, exactly. Missing ones are added before extra
          ones are removed.
        - Omit to leave addresses alone; V([]) removes them all. Link-local IPv6 addresses made by the kernel are
          never touched.
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
        - The device's static routes, exactly (C(ip route add ... dev) this device), in any routing table but C(local).
          Missing ones are added once the device is up and has its addresses, changed ones replaced (C(ip route replace)),
          extra ones of protocol C(boot) or C(static) through this device removed.
        - Omit to leave routes alone; V([]) removes this device's static routes. The main table's default route via
          a gateway is O(bridges[].gateway4)/O(bridges[].gateway6), not a route here.
        - Routes that daemons or the kernel own (C(proto kernel), C(dhcp), C(ra), C(bird)...), multipath routes and
          routes through nexthop objects are never changed; a change that would make the kernel delete one (the device
          going down or being deleted) is refused, naming the route.
        - A route the kernel would delete on the way (the device taken down and up, its last IPv4 address replaced)
          is deleted and added back explicitly, so that the change and its undo keep it.
        type: list
        elements: dict
        suboptions:
          dst:
            description:
            - Destination with prefix length, like V(10.20.0.0/16), V(2001:db8:20::/48), or V(0.0.0.0/0) for a default
              route (in another table, or without a gateway).
            type: str
            required: true
          via:
            description:
            - Gateway address, of the destination's family. It must lie inside one of the device's addresses (after
              the task), unless O(bridges[].routes[].onlink) is set. Omit for a route straight onto the link.
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
            - Protocol the route is marked with. Omit to accept either on an existing route; a new route gets V(static).
            type: str
            choices: *id001
      admin_state:
        description:
        - Administrative state of the device; V(up) when omitted.
        type: str
        choices: *id002
      allow_default_route_loss:
        description:
        - Taking the device down (O(bridges[].admin_state=down)) is refused when it leaves one of the host's default
          routes with no way out (the route's device is this one, or stands on it and has no other up way down), since
          that cuts the host off. The message names the route.
        - V(true) accepts that (the host is reached another way, a console); the task then warns instead.
        - Omitted, V(false).
        type: bool
      port_mtu:
        description:
        - What a bridge's new O(bridges[].mtu) does to the path below it. The path is the bridge's uplinks (a NIC,
          a bond, a VLAN), and what they stand on (a VLAN's lower device; a bond's ports, which the kernel gives the
          bond's MTU). Guest ports (a VM's tap, a container's veth) are never part of it.
        - V(follow) (the default) sets the bridge's MTU first (so it is the bridge's own, and a guest port joining
          at a smaller MTU does not take it down), then raises every device on the path whose MTU is lower, from the
          bottom up (NIC or bond, then VLAN), and lowers the path with the bridge, from the top down (the bridge first),
          stopping at a device that still carries addresses of its own or something else with a larger MTU (another
          VLAN, a macvlan, another master). Each step has its undo, run in the reverse order. Earlier releases changed
          the bridge alone, leaving its uplinks at the old MTU.
        - V(refuse) changes the bridge alone and refuses a raise while a device on the path has a lower MTU, naming
          each one; lowering then leaves the path as it is.
        - A device that the same task describes with an MTU of its own (a O(netsafe.hypervisor.net_state#module:bonds),
          O(netsafe.hypervisor.net_state#module:vlans) or O(netsafe.hypervisor.net_state#module:nics) entry) keeps
          that MTU; one lower than the bridge's is refused, naming both entries.
        - Only bridges have such a path; on other devices the option changes nothing.
        type: str
        choices: *id003
  # END entries
"""

EXAMPLES = r"""
- name: Bond the live uplink under its bridge, jumbo frames, guests kept (vmbr0 on eno1 -> vmbr0 on bond0)
  netsafe.hypervisor.net_state:
    bonds:
      - name: bond0
        ports: [eno1, eno2]
        mode: active-backup
        miimon: 100
        mtu: 9000
    bridges:
      - name: vmbr0
        ports: [bond0]
        mtu: 9000

- name: Move the host's address and routes from eno1 onto a new bridge over it
  netsafe.hypervisor.net_state:
    bridges:
      - name: vmbr1
        ports: [eno1]
        addresses: [192.0.2.10/24]

- name: The same, with the dangerous part guarded on the host
  netsafe.hypervisor.net_state:
    bridges:
      - name: vmbr1
        ports: [eno1]
        addresses: [192.0.2.10/24]
    checkpoint:
      timeout: 120
      probes:
        - {type: icmp, target: 192.0.2.1}
  register: change

- name: Confirm over a fresh connection
  ansible.builtin.meta: reset_connection

- name: Keep the change, the same task with the checkpoint's id
  netsafe.hypervisor.net_state:
    bridges:
      - name: vmbr1
        ports: [eno1]
        addresses: [192.0.2.10/24]
    checkpoint:
      confirm: "{{ change.checkpoint.id }}"
  when: change.checkpoint is defined

- name: Re-parent a VLAN from eno1 to the new bond
  netsafe.hypervisor.net_state:
    bonds:
      - {name: bond0, ports: [eno1, eno2]}
    vlans:
      - {name: vlan100, parent: bond0, vlan_id: 100}
"""

RETURN = r"""
changed:
  description: Whether the network was (or in check mode would be) changed.
  returned: always
  type: bool
commands:
  description: The C(ip) commands equivalent to the whole change, in order; empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: ["ip link add name bond0 type bond mode active-backup", "ip link set dev eno1 nomaster"]
operations:
  description: The planned operations as data (action, device, params), in order.
  returned: always
  type: list
  elements: dict
state:
  description:
    - The named devices after the task (predicted in check mode), by list and name, each as its per-device module
      returns it (C(bridges), C(bonds), C(vlans), C(nics), and C(routes) for devices named only in O(routes)).
  returned: always
  type: dict
  sample: {"bridges": {"vmbr0": {"name": "vmbr0", "present": true, "ports": ["bond0"], "mtu": 9000}}, "bonds": {}}
diff:
  description:
    - RV(state) before and after, plus C(also_changed) when the change moves devices it does not describe (the uplinks
      that follow a bridge's MTU, a bond's slaves, a port released), each with just what changes.
    - In check mode with O(checkpoint.persist), a list - that diff, then one per file the window would write
      (C(before_header), C(before), C(after_header), C(after)), so C(--check --diff) shows the files too.
    - With O(checkpoint.confirm) and O(checkpoint.persist), the files' diffs (a list).
  returned: always
  type: raw
outcome:
  description:
    - With O(checkpoint) - V(armed) (changed, probes passed, waiting for the confirmation), V(unchanged) (nothing to
      do, nothing armed), V(not_touched) (preflight probes failed or the change could not be persisted; on failure),
      V(rolled_back) or V(rollback_failed) (on failure).
    - With O(checkpoint.confirm) - V(confirmed) (also in check mode, where it would be).
  returned: when O(checkpoint) is given, not in check mode; with O(checkpoint.confirm) always
  type: str
confirmation:
  description:
    - With O(checkpoint.confirm), the checkpoint's outcome as M(netsafe.hypervisor.net_checkpoint) records it
      (C(id), C(outcome=confirmed), C(at), C(by), C(before_deadline) in seconds, C(persist_devices)).
  returned: with O(checkpoint.confirm), not in check mode
  type: dict
path_mtu:
  description:
    - The path MTU probes the change added to O(checkpoint.probes) (see O(checkpoint.mtu_probe)), in check mode those
      it would add; their results are in RV(probes) with the others.
  returned: with O(checkpoint) when the change raises an MTU on the path to a default gateway
  type: list
  elements: dict
  contains:
    target:
      description: The default gateway probed (a link-local IPv6 one with its device).
      type: str
    mtu:
      description: The packet size proven - the new MTU of the device holding the route.
      type: int
    raised:
      description: The devices on the path whose MTU the change raises, top first.
      type: list
      elements: str
  sample: [{target: 192.0.2.1, mtu: 9000, raised: [vmbr0, bond0, eno1, eno2]}]
checkpoint:
  description: The armed checkpoint, as M(netsafe.hypervisor.net_checkpoint) returns it.
  returned: when a checkpoint was armed
  type: dict
  contains:
    id: {description: "The checkpoint's id, to confirm it with.", type: str, returned: always}
    deadline_at: {description: When the watchdog rolls back an unconfirmed change (UTC)., type: str, returned: always}
    watchdog: {description: How the watchdog runs (kind and pid)., type: dict, returned: always}
probes:
  description: Probe results, C(preflight) and C(after) (each a list as M(netsafe.hypervisor.net_probe) returns it).
  returned: when O(checkpoint) is given, not in check mode
  type: dict
persist:
  description:
    - With O(checkpoint.persist), what saving the files would do for the state the change leaves behind, as
      M(netsafe.hypervisor.net_persist) returns it in check mode (C(devices), C(files), C(diff), C(format)); nothing
      was written.
    - With O(checkpoint.confirm), what writing the files did, as M(netsafe.hypervisor.net_persist)
      O(netsafe.hypervisor.net_persist#module:state=saved) returns it (in check mode, what it would do).
  returned: when O(checkpoint.persist) is given and there is a change; with O(checkpoint.confirm), what was written
  type: dict
  contains:
    devices: {description: The devices whose files were checked (to confirm with the same list)., type: list,
              elements: str, returned: always}
    files: {description: "The files a save would write, each C(path) and C(action).", type: list, elements: dict,
            returned: always}
rollback:
  description: The rollback's outcome (commands, duration, what it left in place), when the task rolled back.
  returned: on failure after a change
  type: dict
timings:
  description: Wall-clock times (epoch seconds) of C(start), C(armed), C(applied), C(probed).
  returned: when O(checkpoint) is given, not in check mode
  type: dict
"""

import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import Route, route_problems
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import (
    NETWORK_ARGS, converge_task, run_network_module, task_writer,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_state import RoutesRequest, plan_state
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.requests import (
    ROUTE_SPEC, BondRequest, BridgeRequest, NicRequest, VlanRequest, check_names,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import spec as persist_spec
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.arming import arm_problems
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.guarded import (
    GUARD_OPTIONS, confirmed_change, guarded_change, previewed,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.confirming import save_confirmed

# What checkpoint.confirm takes: an id as checkpoint ids are made (printable, no blank, not empty, short).
CHECKPOINT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

# The lists, in the order a request is read; each entry is its per-device module's options.
LISTS = (("nics", NicRequest), ("bonds", BondRequest), ("vlans", VlanRequest), ("bridges", BridgeRequest))


def _entries(cls) -> dict:
    return dict(type="list", elements="dict", options=cls.SPEC, **cls.RULES)


ARGUMENT_SPEC = dict(
    **{name: _entries(cls) for name, cls in LISTS},
    routes=dict(type="list", elements="dict", options=dict(device=dict(type="str", required=True), **ROUTE_SPEC)),
    checkpoint=dict(type="dict", options=dict(GUARD_OPTIONS, confirm=dict(type="str"),
                                              persist=dict(type="dict", options=persist_spec.PERSIST_SPEC))),
    **NETWORK_ARGS,
)


def requests_of(params: dict) -> tuple:
    """(requests, places) from the task's lists; every entry's problems, each naming its place (bridges[1].mtu)."""
    requests, places, problems = [], [], []
    for list_name, cls in LISTS:
        for index, entry in enumerate(params[list_name] or []):
            place = f"{list_name}[{index}]"
            try:
                requests.append(cls(entry))
                places.append(place)
            except ValidationError as exc:
                problems += [f"{place}.{p}" for p in exc.problems]
    by_device: dict = {}
    for index, entry in enumerate(params["routes"] or []):
        check_names({f"routes[{index}].device": entry["device"]})
        by_device.setdefault(entry["device"], []).append((index, entry))
    described = dict(zip((r.name for r in requests), places))
    for device, entries in sorted(by_device.items()):
        if device in described:
            problems.append(f"routes: {device!r} has an entry ({described[device]}); give its routes there")
            continue
        routes = [Route.from_dict({k: v for k, v in entry.items() if k != "device"}) for _index, entry in entries]
        # The same checks as a device's own `routes` (kinds/route.route_problems), each naming its entry.
        found = [p.replace(f"routes[{i}]", f"routes[{entries[i][0]}]", 1)
                 for i in range(len(routes)) for p in route_problems(routes, "routes")
                 if p.startswith(f"routes[{i}]")]
        if found:
            problems += found
            continue
        requests.append(RoutesRequest(device, routes))
        places.append(f"routes[{entries[0][0]}]")
    if problems:
        raise ValidationError(problems)
    return requests, places


def state_view(requests: list, guests: GuestMatcher):
    def view(host) -> dict:
        out = {name: {} for name, _cls in LISTS}
        out["routes"] = {}
        for request in requests:
            out["routes" if request.KIND == "routes" else f"{request.KIND}s"][request.name] = request.view(host, guests)
        return out
    return view


def touched(plan, host, guests: GuestMatcher) -> list:
    """The devices a plan changes, guest ports left out: what a window persists when `persist.devices` is not given."""
    return sorted({op.device for op in plan.operations
                   if host.get(op.device) is None or not guests.is_guest_device(host.get(op.device))})


def described(requests: list) -> list:
    """The devices a task names and those they stand on (ports, parents)."""
    return sorted({request.name for request in requests} | {name for request in requests for name in request.uses()})


def confirm_problems(checkpoint_id, requests: list) -> None:
    """A confirmation that lost its id (empty: never taken for 'no confirm', which would apply and arm again), whose
    id cannot be one, or that describes nothing to check the host against, is refused."""
    if checkpoint_id is None:
        return
    if not checkpoint_id.strip():
        raise ValidationError(["checkpoint.confirm: the id is empty (an unset variable?): give the checkpoint.id that "
                               "the run that armed it returned; nothing was confirmed or changed"])
    if not CHECKPOINT_ID.fullmatch(checkpoint_id):
        raise ValidationError([f"checkpoint.confirm: the id of the checkpoint to confirm (the checkpoint.id returned by "
                               f"the run that armed it, like 20261207T054136Z-004cbd), got {checkpoint_id[:40]!r}"
                               f"{'...' if len(checkpoint_id) > 40 else ''}; nothing was confirmed or changed"])
    if not requests:
        raise ValidationError([f"checkpoint.confirm: the task describes no device, so there is nothing to check the "
                               f"host against: give the same nics, bonds, vlans, bridges and routes as the run that "
                               f"armed checkpoint {checkpoint_id} (or confirm without looking at the host with "
                               f"netsafe.hypervisor.net_checkpoint state=confirmed); nothing was confirmed"])


def run(module) -> dict:
    params = module.params
    requests, places = requests_of(params)
    guests = GuestMatcher(params["guest_patterns"])
    guard = params["checkpoint"]
    persist = (guard or {}).get("persist")
    if guard is not None:
        confirm_problems(guard["confirm"], requests)
        problems = arm_problems(guard["timeout"], guard["gate_settle"], guard["probes"])
        if problems:
            raise ValidationError([f"checkpoint.{p}" for p in problems])
        if persist is not None:
            check_names({"checkpoint.persist.devices": persist["devices"]})
            persist_spec.check_options(persist, guard["root"], module.no_log_values, "checkpoint.persist")

    def planner(snapshot):
        return plan_state(snapshot.host, requests, places, guests)

    def check_future(snapshot, plan):
        devices = persist["devices"] if persist["devices"] is not None else touched(plan, snapshot.host, guests)
        return persist_spec.preflight_files(dict(persist, devices=devices), guard["root"],
                                            plan.predict(snapshot.host), guests, module.no_log_values,
                                            snapshot.gateway_mtus)

    def files_before(snapshot):
        """For a host already as wanted: (what the files say, the devices a save writes, the save's check-mode
        result) when it would change them, else None; raises what the save would (a file the format cannot take)."""
        scope = dict(persist, devices=persist["devices"] if persist["devices"] is not None else described(requests))
        checked = persist_spec.preflight_files(scope, guard["root"], snapshot.host, guests, module.no_log_values)
        if not checked["changed"]:
            return None
        return persist_spec.written_files(scope, guard["root"], module.no_log_values), set(checked["devices"]), checked

    view = state_view(requests, guests)
    if guard is None:
        return converge_task(module, planner, view, guests)
    if guard["confirm"] is not None:
        def save(result, checked):
            devices = persist["devices"]
            if devices is None:   # those the arming run checked, which its checkpoint kept; else the task's own
                devices = checked if checked is not None else described(requests)
            save_confirmed(result, dict(persist, devices=devices), guard["root"], params["namespace"], guests,
                           module.check_mode, module.no_log_values, guard["confirm"], "checkpoint.persist")
        return confirmed_change(params["namespace"], guests, planner, view, guard["root"], guard["confirm"],
                                module.check_mode, None if persist is None else save)
    if module.check_mode:
        return previewed(params["namespace"], guests, planner, view, guard,
                         check_future if persist is not None else None, files_before if persist is not None else None)
    return guarded_change(params["namespace"], guests, planner, view, task_writer(module), guard,
                          check_future if persist is not None else None, files_before if persist is not None else None)


def main():
    run_network_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
