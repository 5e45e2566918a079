#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: connectivity probes run on the hypervisor itself (or in a network namespace)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: net_probe
short_description: Check a hypervisor's connectivity from the host itself (ICMP, TCP, ARP/ND neighbour, DNS)
version_added: 0.1.0
description:
  - Runs connectivity probes on the target host, or inside one of its network namespaces, and reports each
    probe's result and latency. Nothing is changed, so the probes also run in check mode.
  - V(icmp) sends C(count) echo requests to an address and passes when at least one is answered.
    Replies are matched by identifier, sequence number, payload and source address.
  - An V(icmp) probe with C(mtu) (or C(size) and C(dont_fragment)) proves the path MTU - that packets of that size
    reach the target unfragmented. A packet too big for the path fails as V(too big), told apart from V(no reply),
    and the message names the size that failed and the size that passes.
  - V(tcp) connects to C(target) on C(port) (a three-way handshake, then closes).
  - V(neighbour) makes the kernel resolve an address (a datagram to it), then reads its ARP/ND entry through
    netlink. REACHABLE, STALE, DELAY, PROBE, PERMANENT and NOARP pass; INCOMPLETE, FAILED or no entry fail.
    Without a target, every default gateway is checked.
  - V(dns) asks a DNS server for the A or AAAA records of a name over UDP, with the module's own client, so it
    asks the server named (or the first C(nameserver) of C(/etc/resolv.conf)) even inside a namespace.
  - tcp, dns and neighbour probes retry up to C(count) attempts with the collection's backoff (waits of 0.2 s,
    0.4 s, 0.8 s, then 1 s between attempts); a definite answer (NXDOMAIN, no such record) is not retried.
  - Without O(probes), the host's default gateways (IPv4 and IPv6) are probed with ICMP. A host without a
    default route then fails, saying so.
  - The task fails when a required probe fails (see O(fail_on_required)); C(changed) is always false.
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Probes change nothing, so they run in check mode too and report the same results.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: Nothing changes, so there is no diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
    details: Needs root on the target (raw ICMP sockets, entering a network namespace).
extends_documentation_fragment:
  - netsafe.hypervisor.probes
options:
  # probes: the doc fragment netsafe.hypervisor.probes (its keys, shared with net_checkpoint and net_state)
  namespace:
    description:
      - Name of a network namespace (as listed by C(ip netns list)) to probe from instead of the host's own
        network. Every socket is opened inside it; no process is started there.
      - The namespace must already exist. Omitted (or null), the host; an empty string fails, naming O(namespace).
    type: str
  fail_on_required:
    description:
      - Fail the task when a required probe fails. With V(false) the task reports the failures in
        RV(failed_required) and RV(ok) and succeeds.
    type: bool
    default: true
notes:
  - Probes say what the host sees now, from where it stands. ICMP proves that an address answers echo requests,
    not that a service works; a neighbour entry in STALE proves an earlier answer, not a current one.
  - Inside a namespace, the default DNS server is still read from the host's C(/etc/resolv.conf) (C(ip netns exec)
    would use C(/etc/netns/NAME/resolv.conf)); give C(server) there.
seealso:
  - module: netsafe.hypervisor.net_bridge
"""

EXAMPLES = r"""
- name: Does the host still reach its default gateways? (ICMP to each)
  netsafe.hypervisor.net_probe:

- name: Gateway, controller's SSH, vCenter and DNS, from the host
  netsafe.hypervisor.net_probe:
    probes:
      - {type: neighbour}
      - {type: icmp, target: 192.0.2.1, count: 5, timeout: 0.5}
      - {type: tcp, target: 192.0.2.10, port: 22, name: controller ssh}
      - {type: tcp, target: vcenter.example.com, port: 443}
      - {type: dns, target: vcenter.example.com, server: 192.0.2.53, required: false}
  register: probed

- name: Does the path to the storage network carry jumbo frames? (9000-byte packets, don't-fragment)
  netsafe.hypervisor.net_probe:
    probes:
      - {type: icmp, target: 192.0.2.20, mtu: 9000, name: jumbo to storage}
      - {type: icmp, target: "2001:db8::20", size: 1452, dont_fragment: true, count: 1}

- name: Print what the probes found
  ansible.builtin.debug:
    var: probed.summary

- name: Report, without failing, from inside the lab's namespace
  netsafe.hypervisor.net_probe:
    namespace: hv1
    probes:
      - {type: icmp, target: "2001:db8::1"}
    fail_on_required: false
"""

RETURN = r"""
changed:
  description: Always false; probes change nothing.
  returned: always
  type: bool
ok:
  description: Whether every required probe passed.
  returned: when the probes ran
  type: bool
  sample: true
failed_required:
  description: The names of the required probes that failed.
  returned: when the probes ran
  type: list
  elements: str
  sample: ["tcp 192.0.2.10:22"]
specs:
  description:
    - The probes that ran, with every default filled in (with no O(probes), ICMP to each default gateway). Give them
      back as O(probes), or to M(netsafe.hypervisor.net_checkpoint)'s O(netsafe.hypervisor.net_checkpoint#module:probes),
      to run exactly the same probes again after a change.
  returned: when the probes ran
  type: list
  elements: dict
  sample: [{"type": "icmp", "target": "192.0.2.1", "name": "icmp 192.0.2.1", "required": true, "count": 3, "timeout": 1.0}]
elapsed_ms:
  description: Time all the probes took, ms.
  returned: when the probes ran
  type: float
  sample: 3.7
summary:
  description: One line per probe, for a person to read.
  returned: when the probes ran
  type: list
  elements: str
  sample: ["icmp 192.0.2.1: ok, 0.21 ms", "tcp 192.0.2.10:22: FAILED, connection refused after 3 attempts"]
probes:
  description: Each probe's result, in order (a neighbour probe without target gives one per default gateway).
  returned: when the probes ran
  type: list
  elements: dict
  contains:
    name:
      description: The probe's label.
      type: str
      returned: always
    type:
      description: V(icmp), V(tcp), V(neighbour) or V(dns).
      type: str
      returned: always
    target:
      description: The address or name probed.
      type: str
      returned: always
    port:
      description: The TCP port (tcp only).
      type: int
      returned: always
    server:
      description: The DNS server asked (dns only).
      type: str
      returned: always
    record:
      description: V(A) or V(AAAA) (dns only).
      type: str
      returned: always
    required:
      description: Whether a failure fails the task.
      type: bool
      returned: always
    ok:
      description: Whether the probe passed.
      type: bool
      returned: always
    attempts:
      description: Echo requests sent (icmp) or attempts made (the others).
      type: int
      returned: always
    replies:
      description: Echo replies received (icmp); 1 when an attempt of the others passed.
      type: int
      returned: always
    latency_ms:
      description:
        - Milliseconds; the best round trip (icmp), the connect time (tcp), the query time (dns) or the time until
          the entry was resolved (neighbour). Null when the probe failed.
      type: float
      returned: always
    error:
      description: Why the probe failed; null when it passed.
      type: str
      returned: always
    elapsed_ms:
      description: Milliseconds the probe took in all.
      type: float
      returned: always
    detail:
      description:
        - What the probe found; tcp C(address), dns C(addresses) and C(rcode), neighbour C(state), C(lladdr) and
          C(device).
        - icmp C(size) (payload bytes sent), C(dont_fragment), C(too_big) (true when the packet was too big for the
          path - the kernel refused to send it, or a router answered "fragmentation needed" / "packet too big" -
          rather than unanswered) and C(path_mtu) (the MTU that passes, when known, else null).
        - After a failed icmp probe with don't-fragment, C(smaller_size) and C(smaller_ok) - the one echo request
          sent at the known path MTU's size (else 1500's), and whether it was answered.
      type: dict
      returned: always
      sample: {size: 8972, dont_fragment: true, too_big: true, path_mtu: 1500, smaller_size: 1472, smaller_ok: true}
  sample:
    - {name: icmp 192.0.2.1, type: icmp, target: 192.0.2.1, port: null, server: null, record: null, required: true,
       ok: true, attempts: 3, replies: 3, latency_ms: 0.21, error: null, elapsed_ms: 0.9,
       detail: {size: 56, dont_fragment: false, too_big: false, path_mtu: null}}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import run_module
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes import (
    PROBE_OPTIONS, failed_required, resolve, run_resolved, summary_line,
)

ARGUMENT_SPEC = dict(
    probes=dict(type="list", elements="dict", options=PROBE_OPTIONS),
    namespace=dict(type="str"),
    fail_on_required=dict(type="bool", default=True),
)


def run(module) -> dict:
    params = module.params
    started = time.monotonic()
    specs = resolve(params["probes"], params["namespace"])   # validated and normalised once
    results = run_resolved(specs, namespace=params["namespace"])
    failed = failed_required(results)
    report = dict(
        changed=False,
        ok=not failed,
        failed_required=[r["name"] for r in failed],
        summary=[summary_line(r) for r in results],
        probes=results,
        specs=specs,
        elapsed_ms=round((time.monotonic() - started) * 1000, 3),
    )
    if failed and params["fail_on_required"]:
        reasons = "; ".join(f"{r['name']}: {r['error']}" for r in failed)
        module.fail_json(msg=f"{len(failed)} required probe{'' if len(failed) == 1 else 's'} failed: {reasons}",
                         **report)
    if failed:
        report["warnings"] = [f"required probe failed (fail_on_required is false): {summary_line(r)}" for r in failed]
    return report


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, lambda: run(module))


if __name__ == "__main__":
    main()
