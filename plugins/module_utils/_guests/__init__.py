# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to netsafe.hypervisor: guests and their ports.

Discovery of guest NICs from Proxmox VE configs, libvirt domain XML or an
explicit list; the re-attach planner behind tap_reenslave; and the tap_guard
watcher that runs it on link events. Built on the network core (_network).
Other collections must not import this package: it changes without notice.
"""
