"""Benchmark: what deleting a bridge with N guest ports sends a link listener, and when it overflows.

Run on purpose, as root, from the repository root:

    .venv/bin/python bench/watcher_flood_bench.py [--guests 1000] [--repeat 5]

In a throwaway namespace, vmbr0 with an uplink and N guest taps. For each
receive buffer size (the kernel's rmem_default, 1 MiB, tap_guard's 8 MiB),
a listener subscribed to RTNLGRP_LINK (the core's own `open_event_socket`,
as tap_guard opens it) is left unread while `ip link del vmbr0` runs, then
drained: messages and bytes queued, and whether the kernel reported ENOBUFS
(events lost). A listener that reads as it goes, like tap_guard, overflows
only when it falls behind by more than its buffer; unread is the worst case.

Then tap_guard itself, as a process, through `--repeat` rounds of delete and
re-create with a 64 KiB buffer (overflow every round) and with its 8 MiB
default: from its log, how long the pass that re-attached all N ports took.
For comparison in the same run: re-attaching the same N ports with one
`ip -batch` and with the naive shell loop (one `ip link set` per port).

Prints Markdown for docs/performance.md.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))
sys.path.insert(0, str(ROOT / "tests"))

# pylint: disable=wrong-import-position
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl  # noqa: E402
from tapguard_proc import ENV, Watcher, watcher_argv  # noqa: E402

NS = f"nsbenchflood{os.getpid()}"


def sh(lines) -> None:
    subprocess.run(["ip", "-n", NS, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def build(guests: list) -> None:
    subprocess.run(["ip", "netns", "add", NS], check=True)
    lines = ["link add eth1 type veth peer name eth1p", "link add vmbr0 type bridge stp_state 0 forward_delay 0",
             "link set eth1 master vmbr0", "link set eth1 up", "link set vmbr0 up"]
    for tap in guests:
        lines += [f"tuntap add dev {tap} mode tap", f"link set {tap} master vmbr0", f"link set {tap} up"]
    sh(lines)


RECREATE = ["link add vmbr0 type bridge stp_state 0 forward_delay 0", "link set eth1 master vmbr0", "link set vmbr0 up"]


def drain(sock: socket.socket) -> tuple:
    """(datagrams, bytes, overflowed) queued on an unread listener."""
    sock.setblocking(False)
    count = size = 0
    lost = False
    while True:
        try:
            data = sock.recv(1 << 20)
        except BlockingIOError:
            return count, size, lost
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            lost = True
            continue
        count += 1
        size += len(data)


def unread_listener(guests: list, buffer: int) -> tuple:
    sock = nl.open_event_socket(NS, [nl.RTNLGRP_LINK], buffer)
    try:
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        sh(["link del vmbr0"])
        result = drain(sock)
    finally:
        sock.close()
    sh(RECREATE + [f"link set {tap} master vmbr0" for tap in guests])
    return (granted,) + result


def watcher_rounds(guests: list, buffer: int, repeat: int) -> list:
    """Milliseconds of the pass that put all N ports back, per round, from tap_guard's own log."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "tap_guard.json"
        config.write_text(json.dumps({"source": "explicit", "namespace": NS, "event_buffer": buffer,
                                      "ports": [{"device": tap, "bridge": "vmbr0"} for tap in guests]}))
        watcher = Watcher(watcher_argv("--config", str(config)), Path(tmp), ENV)
        times = []
        try:
            watcher.wait_ready(timeout=60)
            for round_no in range(1, repeat + 1):
                sh(["link del vmbr0"] + RECREATE)
                line = watcher.wait_log(f"re-attached {len(guests)} guest port(s)", timeout=60, count=round_no)[-1]
                times.append(float(re.search(r" in ([0-9.]+) ms", line).group(1)))
            lost = watcher.log.count("events were lost (ENOBUFS)")
        finally:
            watcher.stop()
    return times, lost


def shell_ways(guests: list) -> tuple:
    sh(["link del vmbr0"] + RECREATE)
    start = time.perf_counter()
    sh([f"link set {tap} master vmbr0" for tap in guests])
    batch = (time.perf_counter() - start) * 1000
    sh(["link del vmbr0"] + RECREATE)
    start = time.perf_counter()
    for tap in guests:
        subprocess.run(["ip", "-n", NS, "link", "set", tap, "master", "vmbr0"], check=True)
    naive = (time.perf_counter() - start) * 1000
    return batch, naive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--guests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    guests = [f"tap{100 + n}i0" for n in range(args.guests)]
    default = int(Path("/proc/sys/net/core/rmem_default").read_text())
    build(guests)
    try:
        listeners = [(name, unread_listener(guests, size)) for name, size in
                     (("kernel default (rmem_default)", default), ("1 MiB", 1 << 20), ("tap_guard's default, 8 MiB", 8 << 20))]
        rounds = [(name, watcher_rounds(guests, size, args.repeat)) for name, size in
                  (("64 KiB (overflows)", 65536), ("8 MiB (tap_guard's default)", 8 << 20))]
        batch, naive = shell_ways(guests)
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)
    print(f"`ip link del vmbr0` with {args.guests} guest ports, {time.strftime('%Y-%m-%d')}, same run\n")
    print("| listener buffer asked | granted (bytes) | datagrams queued | bytes queued | ENOBUFS |\n|---|---|---|---|---|")
    for name, (granted, count, size, lost) in listeners:
        print(f"| {name} | {granted} | {count} | {size} | {'yes' if lost else 'no'} |")
    print(f"\ntap_guard, {args.repeat} rounds of delete and re-create: the pass that put all {args.guests} ports back\n")
    print("| tap_guard event buffer | median ms | max ms | overflows in its log |\n|---|---|---|---|")
    for name, (times, lost) in rounds:
        print(f"| {name} | {statistics.median(times):.1f} | {max(times):.1f} | {lost} |")
    print(f"\nThe same {args.guests} re-attachments: one `ip -batch` {batch:.1f} ms; the naive shell loop "
          f"(one `ip link set` per port) {naive:.1f} ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
