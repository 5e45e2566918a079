"""Benchmark: what the path MTU probe a change window adds costs, passing and failing.

Run on purpose, as root, from the repository root:

    .venv/bin/python bench/probe_mtu_bench.py [--repeat 20]

Two throwaway namespaces: the host (eth1, 9000) and a switch (sw1, the
gateway 192.0.2.1), whose MTU is 9000 (the path passes) or 1500 (a veth
drops larger frames without a word, as a switch port does). Each figure is
the median (and p95) of `--repeat` runs, in the same run, of the time from
the call to the verdict:

- `run_probes` in-process (the probe code the window and the watchdog's
  gate run; a module run adds its interpreter start, measured elsewhere in
  docs/performance.md): the default ICMP probe (56 bytes, count 3), and
  `mtu: 9000` (8972 bytes, don't-fragment), passing and failing; a failing
  one includes the attempt at 1472 bytes that names what passes;
- the naive shell way: `ping -M do -s 8972 -c 3 -W 1`, passing and failing.

`ip -batch` has no way to send a probe, so it has no row here. Prints a
Markdown table for docs/performance.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))

# pylint: disable=wrong-import-position
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes  # noqa: E402

HOST, SWITCH = f"nsbenchmtu{os.getpid()}", f"nsbenchmtusw{os.getpid()}"


def ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True)


def build() -> None:
    for ns in (HOST, SWITCH):
        subprocess.run(["ip", "netns", "add", ns], check=True)
        ip(ns, "link", "set", "lo", "up")
    ip(HOST, "link", "add", "eth1", "mtu", "9000", "type", "veth", "peer", "name", "sw1", "netns", SWITCH)
    ip(HOST, "link", "set", "eth1", "up")
    ip(HOST, "address", "add", "192.0.2.10/24", "dev", "eth1")
    ip(SWITCH, "link", "set", "sw1", "up")
    ip(SWITCH, "address", "add", "192.0.2.1/24", "dev", "sw1")


def switch_mtu(mtu: int) -> None:
    ip(SWITCH, "link", "set", "sw1", "mtu", str(mtu))


def timed(call, repeat: int) -> tuple:
    times, verdicts = [], set()
    for _run in range(repeat):
        start = time.perf_counter()
        verdicts.add(call())
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], verdicts


def probe(spec: dict):
    return lambda: probes.run_probes([spec], HOST)[0]["ok"]


def ping():
    return lambda: subprocess.run(["ip", "netns", "exec", HOST, "ping", "-n", "-q", "-M", "do", "-s", "8972", "-c", "3",
                                   "-W", "1", "192.0.2.1"], capture_output=True, check=False).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rows = []
    build()
    try:
        for mtu in (9000, 1500):
            switch_mtu(mtu)
            variants = [
                ("default icmp (56 bytes, count 3)", probe({"type": "icmp", "target": "192.0.2.1"})),
                ("icmp mtu: 9000", probe({"type": "icmp", "target": "192.0.2.1", "mtu": 9000})),
                ("ping -M do -s 8972 -c 3 -W 1", ping()),
            ]
            for name, call in variants:
                median, p95, verdicts = timed(call, args.repeat)
                verdict = "/".join("pass" if v else "fail" for v in sorted(verdicts, reverse=True))
                rows.append((f"switch at {mtu}", name, verdict, median, p95))
    finally:
        for ns in (HOST, SWITCH):
            subprocess.run(["ip", "netns", "del", ns], check=False)
    print(f"repeat {args.repeat}, {time.strftime('%Y-%m-%d')}\n")
    print("| path | probe | verdict | median | p95 |")
    print("|---|---|---|---:|---:|")
    for path, name, verdict, median, p95 in rows:
        print(f"| {path} | {name} | {verdict} | {median * 1000:.1f} ms | {p95 * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
