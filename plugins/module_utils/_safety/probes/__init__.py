# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Connectivity probes run on the host itself, or inside a named network namespace.

Four kinds, each answering one question from where the host stands, each in
its own module with everything about it (checks, defaults, name, runner,
report text), found through one table (kinds.KINDS):

- ``icmp`` (icmp.py): does this address answer echo requests? With a size and
  don't-fragment (or ``mtu``), does the path carry that size?
- ``tcp`` (tcp.py): does something accept a connection on host:port?
- ``neighbour`` (neighbour.py): does the ARP/ND entry of the default gateway
  (or an address) resolve?
- ``dns`` (dns.py): does a DNS server answer for a name? (our own small UDP
  client, so it asks the server the probe names even inside a namespace).

spec.py validates and normalises a probe once; runner.py runs them;
report.py writes the lines a person reads. Every socket is created inside
the namespace (setns, create, straight back: `netlink.inside`); no helper
process. tcp, dns and neighbour retry through the collection's backoff core
(`count` attempts); icmp sends `count` echo requests and passes on any reply.

The change-window watchdog runs this package outside Ansible, so it imports
only the standard library and the collection's own module_utils.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.neighbour import default_gateways
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.report import (
    failed_required, summary_line,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.runner import (
    resolve, run_probes, run_resolved,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.spec import (
    MAX_PROBE_SECONDS, PROBE_OPTIONS, PROBE_TYPES, longest, normalize, probe_problems,
)

__all__ = [
    "MAX_PROBE_SECONDS", "PROBE_OPTIONS", "PROBE_TYPES", "default_gateways", "failed_required", "longest", "normalize",
    "probe_problems", "resolve", "run_probes", "run_resolved", "summary_line",
]
