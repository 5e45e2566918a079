"""Benchmark: what the host's network lock costs a task that has nothing to do.

Run on purpose, as root, from the repository root:

    .venv/bin/python bench/host_lock_bench.py [--repeat 200] [--guests 1000]

A throwaway namespace holds vmbr0 with an uplink and N guest taps. Each
figure is the median (and p95) of `--repeat` runs, in the same run:

- `flock` alone: HostLock taken and released (open, flock, write who holds
  it, truncate, close), what every changing task adds;
- the read alone (read_host: every link, address, route and guest port),
  which every task does with or without the lock;
- a no-op `net_bridge` task, the module's real entry point in-process
  (argument parsing, the lock, the read, an empty plan, the result);
- the shell ways of asking the same question: `ip -batch` with one
  `link show dev vmbr0` line, and the naive `flock FILE ip -j -d link show
  vmbr0` (a lock and one read, without the guests).

Prints a Markdown table for docs/performance.md.
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
sys.path.insert(0, str(ROOT / "tests"))
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import HostLock, lock_path  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (  # noqa: E402
    DEFAULT_GUEST_PATTERNS, GuestMatcher,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host  # noqa: E402
from modrun import run_module  # noqa: E402

NS = f"nsbenchlock{os.getpid()}"


def build(guests: int) -> None:
    subprocess.run(["ip", "netns", "add", NS], check=True)
    lines = ["link set lo up", "link add eth1 type veth peer name eth1p", "link add vmbr0 type bridge stp_state 0",
             "link set eth1 master vmbr0", "link set eth1 up", "link set vmbr0 up"]
    for n in range(guests):
        lines += [f"tuntap add dev tap{100 + n}i0 mode tap", f"link set tap{100 + n}i0 master vmbr0"]
    subprocess.run(["ip", "-n", NS, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def timed(repeat: int, call) -> list:
    out = []
    for _run in range(repeat):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def row(name: str, samples: list) -> str:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return f"| {name} | {statistics.median(samples):.3f} | {p95:.3f} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--guests", type=int, default=1000)
    args = parser.parse_args()
    build(args.guests)
    try:
        guests = GuestMatcher(list(DEFAULT_GUEST_PATTERNS))

        def task():
            result = run_module("net_bridge", {"name": "vmbr0", "namespace": NS})
            assert not result.get("failed") and not result["changed"], result

        def read():
            with Netlink(NS) as netlink:
                read_host(netlink, guests)

        def lock_only():
            with HostLock(NS, "bench", 5):
                pass

        shell_lock = str(Path(lock_path(NS)))
        rows = [
            row("flock alone (HostLock taken and released)", timed(args.repeat, lock_only)),
            row(f"the read alone ({args.guests} guest ports)", timed(args.repeat, read)),
            row(f"no-op net_bridge task, in-process ({args.guests} guest ports)", timed(args.repeat, task)),
            row("`ip -batch` with `link show dev vmbr0`", timed(args.repeat, lambda: subprocess.run(
                ["ip", "-n", NS, "-batch", "-"], input="link show dev vmbr0\n", text=True, check=True,
                capture_output=True))),
            row("naive shell: `flock FILE ip -j -d link show vmbr0`", timed(args.repeat, lambda: subprocess.run(
                ["flock", shell_lock, "ip", "-n", NS, "-j", "-d", "link", "show", "vmbr0"], check=True,
                capture_output=True))),
        ]
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)
        Path(lock_path(NS)).unlink(missing_ok=True)
    print(f"{args.repeat} runs each, same run, {time.strftime('%Y-%m-%d')}\n")
    print("| what | median ms | p95 ms |\n|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
