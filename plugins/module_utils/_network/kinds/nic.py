# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The NIC kind: a device netsafe never creates (a physical NIC, or a veth/dummy in a lab).

It has no kind attributes of its own; what it has (MTU, admin state,
addresses, its master) every device has (model.Device). A NIC that is a
bridge's port carries that port's attributes (bridge.BRIDGE_PORT).
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.attrs import Kind

NIC = Kind("nic", ())
