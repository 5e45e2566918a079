# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The table from a probe's type to what knows it: validation, defaults, name, runner and report lines ask it."""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.dns import Dns
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.icmp import Icmp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.neighbour import Neighbour
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.tcp import Tcp

KINDS = {kind.name: kind for kind in (Icmp(), Tcp(), Neighbour(), Dns())}
