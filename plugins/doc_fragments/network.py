# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every netsafe.hypervisor network module shares."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  namespace:
    description:
      - Name of a network namespace (as listed by C(ip netns list)) to work in instead of the host's own network.
      - The namespace must already exist; a misspelt name fails instead of creating an empty namespace.
      - ASCII letters, digits, C(-), C(_) and C(.), starting with a letter or digit, at most 244 characters; any other
        name (a path such as C(x/../y) included) fails before anything is read, locked or created.
      - Omitted (or null), the host's own network. An empty string fails the same way and is never taken for the
        host, so a variable left empty cannot turn a task meant for a namespace onto the host.
      - This is how the collection is tested on a real kernel and how the demo lab runs.
    type: str
  guest_patterns:
    description:
      - Regular expressions (Python C(re.search)) for the names of guest ports.
      - A guest port is never released from its bridge unless the task names it.
      - tun/tap devices always count as guest ports, whatever their name.
      - The default matches Proxmox VE's C(tap<vmid>i<n>), C(veth<vmid>i<n>), C(fwpr<vmid>p<n>), C(fwln<vmid>i<n>)
        and libvirt's C(vnet<n>).
    type: list
    elements: str
    default: ['^tap\d+i\d+$', '^veth\d+i\d+$', '^fwpr\d+p\d+$', '^fwln\d+i\d+$', '^vnet\d+$']
  lock_timeout:
    description:
      - Seconds to wait for another change of this host's (or namespace's) network to finish.
      - Every change made by this collection (its modules, the checkpoint watchdog's rollback, the tap_guard watcher)
        holds one lock per host or namespace from reading the network to verifying the result, so a second change
        plans from the first one's result instead of overwriting it.
      - When the wait runs out the task fails naming the holder (module or process, pid, since when) and changes
        nothing. V(0) fails at once when another change is running. A wait of a second or more is reported as a warning.
      - Used where the task changes the network, and by C(net_checkpoint) also to take its snapshot (C(state=armed));
        C(net_persist) uses it only with C(state=restored). Check mode never waits for it.
    type: float
    default: 60
requirements:
  - Linux with rtnetlink; root (CAP_NET_ADMIN) on the target.
"""

    # The attributes every network module shares (plan first, predict in check mode, diff before/after).
    ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    description: Reports the plan, the equivalent commands and the predicted state; changes nothing.
  diff_mode:
    support: full
    description: Shows the device before and after the change.
  platform:
    support: full
    platforms: linux
    description: Needs rtnetlink and CAP_NET_ADMIN on the target (root), and the kernel driver of the device type.
"""
