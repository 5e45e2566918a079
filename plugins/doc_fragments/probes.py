# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keys of one connectivity probe: net_probe's, net_checkpoint's and net_state's checkpoint.probes entries.

The argument spec they document is PROBE_OPTIONS (plugins/module_utils/_safety/probes/spec.py); net_state's
copy is written by hacking/net_state_docs.py.
"""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  probes:
    description:
      - Connectivity probes, run in order on the host (or in O(namespace)).
      - "Invalid probes fail the task before any probe runs, with one message per problem naming it, for
        example C(probes[1].port: required for type tcp (1-65535)); a misspelt key is refused by name."
    type: list
    elements: dict
    suboptions:
      type:
        description:
          - V(icmp) sends echo requests to an address; with O(probes[].mtu) (or O(probes[].size) and
            O(probes[].dont_fragment)) it proves that the path carries packets of that size.
          - V(tcp) connects to O(probes[].target) on O(probes[].port).
          - V(neighbour) makes the kernel resolve an address (ARP/ND) and reads its neighbour entry.
          - V(dns) asks a DNS server for the A or AAAA records of a name.
        type: str
        required: true
        choices: [icmp, tcp, neighbour, dns]
      target:
        description:
          - For V(icmp) an IPv4 or IPv6 address (required); for V(tcp) an address or a host name (looked up in
            C(/etc/hosts), then with DNS; required); for V(neighbour) an address, or none for every default gateway;
            for V(dns) the name to resolve (required).
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
          - V(icmp) only, payload bytes of each echo request, default V(56); from 24 to 65507 for an IPv4 target,
            65527 for IPv6. The packet is 28 bytes larger over IPv4 (IP and ICMP headers), 48 over IPv6.
          - Not with O(probes[].mtu).
        type: int
      dont_fragment:
        description:
          - V(icmp) only, send with don't-fragment (IPv4 DF, IPv6 C(IPV6_DONTFRAG)), default V(false). A packet the
            path cannot carry then fails as too big instead of being fragmented. Not with O(probes[].mtu).
        type: bool
      mtu:
        description:
          - V(icmp) only, prove that the path carries packets of this many bytes unfragmented - N-28 payload bytes for
            an IPv4 target, N-48 for IPv6, with don't-fragment. From 68 (IPv4) or 1280 (IPv6) to 65535.
          - "A failure says which size did not pass, why (too big - the kernel refused it, or a router sent
            C(fragmentation needed) or C(packet too big) - or no reply), and what does pass, from one more echo
            request at the known path MTU, else at 1500, for example C(path MTU: 8972-byte packets to 192.0.2.1 do
            not pass (1472 do))."
          - Not with O(probes[].size) or O(probes[].dont_fragment).
        type: int
      required:
        description: A failed probe that is not required is reported but does not fail the task.
        type: bool
        default: true
      count:
        description:
          - V(icmp) sends that many echo requests (and passes on any reply); the others make up to that many attempts,
            with the collection's backoff between them. 1-100.
        type: int
        default: 3
      timeout:
        description:
          - Seconds per echo request or attempt, greater than 0. One probe may take at most 300 s in all.
        type: float
        default: 1.0
      name:
        description:
          - A label for reports; default the type and target, for example V(icmp 10.0.0.1), V(tcp 10.0.0.5:22),
            V(icmp 10.0.0.1 mtu 9000).
        type: str
"""
