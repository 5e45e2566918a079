"""Benchmark: the formats' own work in a no-op save (parse the files, render the same devices), no kernel.

Run on purpose, from the repository root (no root needed, nothing is written):

    .venv/bin/python bench/net_persist_parse_bench.py [TREE]

TREE (default: this checkout) is a checkout whose `.tmp/collections` holds the collection: give another one
(e.g. `git archive main` unpacked, with that link made) to compare two versions on the same load. The host
is synthetic: 4 802.3ad bonds of 2 NICs with 10 VLANs each, 20 bridges (4 on NICs, 16 on VLANs), every
other one vlan-aware with a 2-4094 trunk on its uplink, the VLAN code's worst case; the bridges shape of
net_persist_bench.py has no vlan-aware bridge (the host kernel lacks VLAN filtering). Prints the CPU time
(`time.process_time`, so other load on the machine counts less) of one parse + render per format, the
minimum and the median of 7 rounds of 10.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

TREE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TREE / ".tmp" / "collections"))

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (  # noqa: E402
    Bond, Bridge, GuestMatcher, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted  # noqa: E402

TRUNK = {"pvid": 1, "untagged": [[1, 1]], "tagged": [[2, 4094]]}


def host() -> HostNetwork:
    """The synthetic host described above, as the kernel read would give it."""
    out = HostNetwork()
    for j in range(4):
        out.add(Bond(name=f"bond{j}", mode="802.3ad", miimon=100, lacp_rate="fast", xmit_hash_policy="layer3+4",
                     updelay=0, downdelay=0, ad_select="stable", min_links=0, arp_interval=0, arp_ip_target=[],
                     mtu=9000, up=True, ip=IpConfig(addresses=[])))
        for k in range(2):
            out.add(Nic(name=f"ens{j}f{k}", master=f"bond{j}", mtu=9000, up=True, ip=IpConfig(addresses=[])))
        for k in range(10):
            out.add(Vlan(name=f"bond{j}.{100 + k}", parent=f"bond{j}", vlan_id=100 + k, protocol="802.1Q",
                         mtu=1500, up=True, ip=IpConfig(addresses=[])))
    for i in range(20):
        aware = i % 2 == 0
        uplink = f"eno{i}" if i < 4 else f"bond{i % 4}.{100 + i // 4}"
        if i < 4:
            out.add(Nic(name=uplink, mtu=1500, up=True, ip=IpConfig(addresses=[])))
        out.get(uplink).master = f"vmbr{i}"
        out.get(uplink).vlans = dict(TRUNK) if aware else None
        out.add(Bridge(name=f"vmbr{i}", stp=False, forward_delay=0.0, vlan_filtering=aware, mtu=1500, up=True,
                       ip=IpConfig(addresses=[f"192.0.{i}.10/24"], gateway4="192.0.0.1" if i == 0 else None),
                       vlans={"pvid": 1, "untagged": [[1, 1]], "tagged": [[10, 20]]} if aware else None))
    return out


def main() -> None:
    want, _missing = persisted(host(), None, GuestMatcher())
    cells = []
    for name, cls in sorted(FORMATS.items()):
        fmt = cls(cls.DEFAULT_PATH, root="/nonexistent-root")
        files = {path: text for path, text in fmt.render({}, want).items() if text is not None}
        assert fmt.render(files, want) == {}, f"{name}: a second render changes the files"
        rounds = []
        for _round in range(7):
            start = time.process_time()
            for _run in range(10):
                fmt.parse(files)
                fmt.render(files, want)
            rounds.append((time.process_time() - start) * 100)
        rounds.sort()
        cells.append(f"| {name} | {rounds[0]:.1f} | {rounds[3]:.1f} |")
    print(f"## no-op parse + render, CPU ms per run ({TREE})\n\n| format | min | median |\n|---|---:|---:|")
    print("\n".join(cells))


if __name__ == "__main__":
    main()
