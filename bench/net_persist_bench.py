"""Benchmark: net_persist `saved` on a big hypervisor, for every format, against iproute2 reads.

Run on purpose, as root, from the repository root:

    .venv/bin/python bench/net_persist_bench.py [--shape full|bridges] [--repeat 5]

`full` (needs bonding and 802.1Q: run it in the full-kernel VM with
`.venv/bin/python tests/fullkernel/lane.py sh '.venv/bin/python bench/net_persist_bench.py'`):
20 bridges, 4 bonds of 2 NICs, 40 VLANs (10 per bond), 16 bridges on VLANs
and 4 on bonds, 1,000 guest taps over the bridges. `bridges` (this
machine's kernel): 20 bridges each with a veth uplink and the same 1,000
taps. Files go to a scratch root under /tmp; everything happens in a
throwaway namespace that is deleted at the end. Prints a Markdown report
(medians, ms) for docs/performance.md.

Measured per format: the module body (the engine behind the module, as the
module calls it) writing the files for the first time, a no-op run (files
already right), a run after 5 bridges changed MTU, and `rendered`. Baselines
in the same run: one `ip -j -d -batch` reading links, addresses and routes
plus one `bridge -j vlan show` (the cheapest way a shell script reads the
same state), and the naive way, two `ip` processes per device in scope.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import engine  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS  # noqa: E402
from net_bridge_bench import sh, timed  # noqa: E402  (bench/ is the script's directory)

NS = f"nsbench{os.getpid()}"
PEER = f"nsbenchp{os.getpid()}"
TAPS = 1000


def batch(ns, lines):
    sh("ip", "-n", ns, "-batch", "-", stdin="\n".join(lines) + "\n")


def build(shape):
    """Create the host; returns the names of the bridges and of the devices in scope."""
    bridges = [f"vmbr{i}" for i in range(20)]
    lines, scope = [], list(bridges)
    if shape == "full":
        nics = [f"eno{i}" for i in range(1, 9)]
        for i, nic in enumerate(nics):
            lines.append(f"link add {nic} address 52:54:00:aa:01:{i:02x} type veth peer name sw{i} netns {PEER}")
        for b in range(4):
            lines.append(f"link add bond{b} type bond mode 802.3ad miimon 100 lacp_rate fast")
            lines += [f"link set {nics[2 * b + k]} master bond{b}" for k in (0, 1)]
            lines.append(f"link set bond{b} up")
            scope += [f"bond{b}", nics[2 * b], nics[2 * b + 1]]
        vlans = [(b, 100 + v) for b in range(4) for v in range(10)]
        for b, vid in vlans:
            lines += [f"link add link bond{b} name bond{b}.{vid} type vlan id {vid}", f"link set bond{b}.{vid} up"]
            scope.append(f"bond{b}.{vid}")
        uplinks = [f"bond{b}" for b in range(4)] + [f"bond{b}.{vid}" for b, vid in vlans[:16]]
    else:
        uplinks = [f"eth{i}" for i in range(20)]
        for i, nic in enumerate(uplinks):
            lines.append(f"link add {nic} address 52:54:00:aa:01:{i:02x} type veth peer name sw{i} netns {PEER}")
            lines.append(f"link set {nic} up")
        scope += uplinks
    for i, (bridge, uplink) in enumerate(zip(bridges, uplinks)):
        lines += [f"link add {bridge} type bridge stp_state 0 forward_delay 0", f"link set {uplink} master {bridge}",
                  f"link set {bridge} up", f"address add 10.{i}.0.1/24 dev {bridge}"]
    for t in range(TAPS):
        lines += [f"tuntap add tap{100 + t}i0 mode tap", f"link set tap{100 + t}i0 master {bridges[t % 20]}",
                  f"link set tap{100 + t}i0 up"]
    batch(NS, lines)
    return bridges, sorted(scope)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=["full", "bridges"], default="full")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark builds a network namespace")
    sh("ip", "netns", "add", NS)
    sh("ip", "netns", "add", PEER)
    scratch = Path(tempfile.mkdtemp(prefix="netsafe-persist-bench-"))
    guests = GuestMatcher()
    rows = []
    try:
        bridges, scope = build(args.shape)
        n_links = len(sh("ip", "-n", NS, "-o", "link", "show").stdout.splitlines())
        ip_batch = timed(lambda: (sh("ip", "-n", NS, "-j", "-d", "-batch", "-",
                                     stdin="link show\naddress show\nroute show table all\n"),
                                  sh("bridge", "-n", NS, "-j", "vlan", "show")), args.repeat)
        naive = timed(lambda: [(sh("ip", "-n", NS, "-j", "-d", "link", "show", "dev", d),
                                sh("ip", "-n", NS, "-j", "address", "show", "dev", d)) for d in scope], args.repeat)
        for name in sorted(FORMATS):
            cls = FORMATS[name]
            root = scratch / name
            root.mkdir()
            fmt = cls(cls.DEFAULT_PATH, str(root))

            def wipe():
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir()

            def save():
                return engine.saved(fmt, NS, None, guests, check_mode=False)

            first = timed(save, args.repeat, reset=wipe)
            wipe()
            save()
            noop = timed(save, args.repeat)
            flip = [1500]

            def change_five():
                flip[0] = 1400 if flip[0] == 1500 else 1500
                batch(NS, [f"link set {b} mtu {flip[0]}" for b in bridges[:5]])

            changed = timed(save, args.repeat, reset=change_five)
            rendered = timed(lambda: engine.rendered(fmt, NS, None, guests), args.repeat)
            n_files = sum(len(files) for _d, _s, files in os.walk(root / cls.DEFAULT_PATH.lstrip("/"))) \
                if cls.PATH_IS_DIR else 1
            rows.append((name, n_files, first, noop, changed, rendered))
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)
        subprocess.run(["ip", "netns", "del", PEER], check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"## net_persist saved: {args.shape} shape, {n_links} links in the namespace, {len(scope)} devices in scope, "
          f"{TAPS} guest taps")
    print(f"{platform.node()} · Python {platform.python_version()} · kernel {platform.release()} · "
          f"{time.strftime('%Y-%m-%d')} · median of {args.repeat}\n")
    print(f"Baselines: one `ip -j -d -batch` (links, addresses, routes) + `bridge -j vlan show`: {ip_batch:.1f} ms; "
          f"naive, two `ip` per device in scope: {naive:.0f} ms.\n")
    print("| format | files | first write | no-op | 5 bridges changed | rendered |")
    print("|---|---|---|---|---|---|")
    for name, n_files, first, noop, changed, rendered in rows:
        print(f"| {name} | {n_files} | {first:.1f} | {noop:.1f} | {changed:.1f} | {rendered:.1f} |")


if __name__ == "__main__":
    main()
