"""Benchmark: a checkpoint's deadline passes unconfirmed; how long until the host is restored?

Run on purpose, as root, from the repository root:

    .venv/bin/python bench/checkpoint_deadline_bench.py [--repeat 20] [--timeout 5] [--guests 1000]

A hypervisor-shaped namespace (tests/persist_lab.py: vmbr0 on eno1 with
addresses and default routes, vmbr1 with STP on eno2, eno3 free, a VM tap and
a container veth on vmbr0; each NIC a veth to a peer namespace) is armed with
`net_checkpoint state=armed timeout=5` (the module's real entry point,
in-process; the watchdog is the real detached process), a change is made with
`ip -batch`, and nothing confirms. The figures come from the watchdog's own
record and log, not from this script's clock:

- `last.json`: `after_deadline_ms` (the deadline to the end of the rollback,
  verification included), `duration_ms` (the rollback itself: read, plan,
  apply, verify);
- the watchdog log's `rolling back` line (millisecond timestamps): the deadline
  to the moment it took the lock and started (detection).

Host shapes, each repeated `--repeat` times:

- `small`: the host above; the change moves vmbr0's uplink from eno1 to eno3,
  builds a bridge vmbrX and moves both guests onto it;
- `N taps, uplink`: the same host with N more guest taps on vmbr0; the same
  change, but the N taps stay where they are (what a rollback costs when it
  only has to read and compare N guests);
- `N taps, guests moved`: the same change with all N taps moved to vmbrX too,
  so the rollback deletes vmbrX and re-attaches every guest.

After each rollback the complete state dump (tests/nstools.py) is compared
with the one before the change; a difference is counted and printed.
Prints a Markdown report (median, p95, max) for docs/performance.md.
"""
from __future__ import annotations

import argparse
import calendar
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))
sys.path.insert(0, str(ROOT / "tests"))

import persist_lab  # noqa: E402
from modrun import run_module  # noqa: E402
from nstools import iproute, settled_state, state_diff  # noqa: E402
from watchdogs import kill_watchdogs  # noqa: E402

NS = f"nsbenchcp{os.getpid()}"
PEER = f"nsbenchcpsw{os.getpid()}"
CHANGE = ["ip link set eno1 nomaster", "ip link set eno3 master vmbr0", "ip link set eno3 up",
          "ip link add vmbrX type bridge stp_state 0 forward_delay 0", "ip link set vmbrX up",
          "ip link set tap100i0 master vmbrX", "ip link set veth101i0 master vmbrX"]


def sh(*args, stdin=None):
    return subprocess.run(args, input=stdin, text=True, check=True, capture_output=True)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def log_epoch(line: str) -> float:
    """The epoch of a watchdog log line's timestamp (2026-11-28T21:51:28.123Z ...)."""
    stamp = line.split(" ", 1)[0]
    whole, frac = stamp.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000


def build(taps: list) -> None:
    sh("ip", "netns", "add", NS)
    sh("ip", "netns", "add", PEER)
    persist_lab.nics(NS, PEER, persist_lab.BRIDGES_NICS)
    persist_lab.bridges(NS)
    persist_lab.guests(NS)
    if taps:
        sh("ip", "-n", NS, "-batch", "-", stdin="".join(
            f"tuntap add {t} mode tap\nlink set {t} master vmbr0\nlink set {t} up\n" for t in taps))


def trial(root: Path, change: list, timeout: float) -> dict:
    before = settled_state(NS)
    result = run_module("net_checkpoint", {"state": "armed", "timeout": timeout, "namespace": NS, "root": str(root)})
    if result.get("failed"):
        raise RuntimeError(f"arm failed: {result.get('msg')}")
    checkpoint_id = result["checkpoint"]["id"]
    iproute(NS, change)
    last_path = root / "var/lib/netsafe/checkpoint" / f"netns-{NS}" / "last.json"
    log_path = root / "run/netsafe/checkpoint" / f"netns-{NS}" / "watchdog.log"
    give_up = time.monotonic() + timeout + 60
    last = None
    while time.monotonic() < give_up:
        if last_path.exists():
            last = json.loads(last_path.read_text())
            if last.get("id") == checkpoint_id and last.get("outcome") != "armed":
                break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"no outcome for {checkpoint_id}; log:\n{log_path.read_text()}")
    if last["outcome"] != "rolled_back":
        raise RuntimeError(f"{checkpoint_id}: {last['outcome']}: {last.get('errors')}")
    started = [line for line in log_path.read_text().splitlines() if f"{checkpoint_id}: rolling back" in line]
    diff = state_diff(before, settled_state(NS))
    return {"after_deadline_ms": last["after_deadline_ms"], "duration_ms": last["duration_ms"],
            "detect_ms": (log_epoch(started[0]) - last["deadline"]) * 1000, "commands": len(last["commands"]),
            "diff": diff}


def run_shape(label: str, change: list, repeat: int, timeout: float, root: Path) -> dict:
    samples = []
    for i in range(repeat):
        sample = trial(root, change, timeout)
        if sample["diff"]:
            print(f"{label} #{i}: state differs after the rollback: {sample['diff'][:5]}", file=sys.stderr)
        print(f"{label} #{i}: after deadline {sample['after_deadline_ms']} ms, rollback {sample['duration_ms']} ms, "
              f"detected {sample['detect_ms']:.0f} ms, {sample['commands']} commands", file=sys.stderr)
        samples.append(sample)
    return {"label": label, "samples": samples}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=5)
    parser.add_argument("--guests", type=int, default=1000, help="guest taps of the large host (0: small host only)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark creates network namespaces")
    taps = [f"tap{1000 + i}i0" for i in range(args.guests)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="netsafe-cpbench-") as tmp:
        root = Path(tmp)
        try:
            build([])
            rows.append(run_shape("small", CHANGE, args.repeat, args.timeout, root))
            if taps:
                sh("ip", "-n", NS, "-batch", "-", stdin="".join(
                    f"tuntap add {t} mode tap\nlink set {t} master vmbr0\nlink set {t} up\n" for t in taps))
                rows.append(run_shape(f"{len(taps)} taps, uplink", CHANGE, args.repeat, args.timeout, root))
                moved = CHANGE + [f"ip link set {t} master vmbrX" for t in taps]
                rows.append(run_shape(f"{len(taps)} taps, guests moved", moved, args.repeat, args.timeout, root))
        finally:
            kill_watchdogs(root)
            for ns in (NS, PEER):
                subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
    load = os.getloadavg()[0]
    print(f"Run of {time.strftime('%Y-%m-%d')} (load average {load:.1f}; timeout {args.timeout:g} s, "
          f"{args.repeat} deadlines per host; median / p95 / max):\n")
    print("| host and change | commands in the rollback | deadline to rollback start (log) | rollback "
          "(`duration_ms`) | deadline to host restored (`after_deadline_ms`) | state dump differs |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        s = row["samples"]

        def fig(key, s=s):
            values = [x[key] for x in s]
            return f"{statistics.median(values):.0f} / {percentile(values, 0.95):.0f} / {max(values):.0f} ms"

        print(f"| {row['label']} | {statistics.median(x['commands'] for x in s):.0f} | {fig('detect_ms')} | "
              f"{fig('duration_ms')} | {fig('after_deadline_ms')} | {sum(bool(x['diff']) for x in s)} of {len(s)} |")


if __name__ == "__main__":
    main()
