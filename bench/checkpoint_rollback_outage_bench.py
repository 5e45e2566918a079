"""Benchmark: the guest outage while a checkpoint's rollback puts N guest ports back, against iproute2.

Run on purpose, as root, from the repository root:

    .venv/bin/python bench/checkpoint_rollback_outage_bench.py [--guests 1000] [--repeat 7] [--loop-repeat 3]

A namespace holds vmbr0 (uplink eno1, an IPv4 and an IPv6 address, both
default routes) with N guest taps (`tap<vmid>i0`, up), vmbr1 with STP on eno2,
and eno3 free (tests/persist_lab.py; each NIC a veth to a peer namespace).
Two changes, each one that makes the way back re-attach all N guests:

- `deleted`: vmbr0 is deleted (every tap released, the host's addresses and
  routes gone); the way back re-creates vmbr0 with its uplink, addresses and
  routes, then re-attaches the N taps;
- `moved`: all N taps are moved to a new bridge vmbrT; the way back deletes
  vmbrT (the taps are released) and re-attaches them to vmbr0.

The way back is done three ways, in interleaved rounds, same host, same run:

- **(a)** `net_checkpoint state=rolled_back` (the module's real entry point,
  in-process: lock, read, plan from the current state to the snapshot, apply
  through the core's pipelined netlink, verify, last.json). The checkpoint was
  armed before the change (untimed);
- **(b)** one `ip -batch` file with the same commands: the rollback's own plan
  (`state=rolled_back` in check mode, taken once per change) without the
  `ip -n <ns>` prefix;
- **(c)** the naive shell way: one `ip` process per command, the taps in a
  `for` loop of `ip link set $tap master vmbr0`.

Every figure is seen by an independent listener process (its own netlink
socket, 64 MiB buffer, higher priority) armed after the change: from the
first to the last RTM_NEWLINK that shows a tap with vmbr0 as its master (the
spread of the guests' re-attachment), and from the rollback's first kernel
event (vmbr0 created, or the first tap released by vmbrT's deletion) to the
last tap re-attached (the guests' outage inside the rollback). The wall time
of the whole call (module, `ip -batch`, shell script) and the module's own
`duration_ms` are given too. After every trial the complete state dump is
compared with the one before the change. Prints a Markdown report (medians).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".tmp" / "collections"
sys.path.insert(0, str(COLLECTIONS))
sys.path.insert(0, str(ROOT / "tests"))

import persist_lab  # noqa: E402
from modrun import run_module  # noqa: E402
from nstools import iproute, settled_state, state_diff  # noqa: E402
from watchdogs import kill_watchdogs  # noqa: E402

NS = f"nsbenchrb{os.getpid()}"
PEER = f"nsbenchrbsw{os.getpid()}"

LISTENER = r'''
import os, select, socket, sys, time
sys.path.insert(0, sys.argv[3])
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
ns, bridge = sys.argv[1], sys.argv[2]
os.nice(-5)
sock = nl.open_socket(ns)
sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)   # SO_RCVBUFFORCE
sock.setsockopt(nl.SOL_NETLINK, 1, 1)              # NETLINK_ADD_MEMBERSHIP, RTNLGRP_LINK
sock.setblocking(False)
buf = bytearray(8 << 20)
WANT = {nl.IFLA_IFNAME, nl.IFLA_MASTER, nl.IFLA_LINKINFO}

def messages(size):
    off = 0
    while off + 16 <= size:
        length, kind = int.from_bytes(buf[off:off + 4], "little"), int.from_bytes(buf[off + 4:off + 6], "little")
        if length < 16:
            return
        if kind == nl.RTM_NEWLINK:
            body = memoryview(buf)[off + 16:off + length]
            index = nl.IFINFOMSG.unpack_from(body)[2]
            attrs = nl.parse_attrs(body, nl.IFINFOMSG.size, len(body), WANT)
            info = attrs.get(nl.IFLA_LINKINFO)
            kind_name = ""
            if info is not None:
                raw = nl.parse_attrs(info, 0, len(info)).get(nl.IFLA_INFO_KIND)
                kind_name = nl.as_str(raw) if raw is not None else ""
            master = nl.as_u32(attrs[nl.IFLA_MASTER]) if nl.IFLA_MASTER in attrs else 0
            yield index, nl.as_str(attrs[nl.IFLA_IFNAME]), kind_name, master
        off += (length + 3) & ~3

def drain():
    while True:
        try:
            sock.recv_into(buf)
        except BlockingIOError:
            return

for line in sys.stdin:
    _arm, want, br_index = line.split()
    want, br_index = int(want), int(br_index) or None
    drain()
    print("armed", flush=True)
    t_start = t_first = t_last = None
    seen = set()
    deadline = time.monotonic() + 120
    while len(seen) < want and time.monotonic() < deadline:
        ready, _w, _x = select.select([sock], [], [], 1.0)
        if not ready:
            continue
        try:
            size = sock.recv_into(buf)
        except BlockingIOError:
            continue
        except OSError as exc:
            print(f"error {exc}", flush=True)
            break
        now = time.perf_counter()
        for index, name, kind, master in messages(size):
            if name == bridge and kind == "bridge":
                if br_index != index:
                    br_index = index
                    t_start = t_start or now
            elif name.startswith("tap") and master != br_index and name not in seen:
                t_start = t_start or now          # a guest released: the rollback's first kernel event
            elif name.startswith("tap") and master == br_index and name not in seen:
                seen.add(name)
                t_first = t_first or now
                t_last = now
    print(f"done {t_start} {t_first} {t_last} {len(seen)}", flush=True)
'''


def sh(*args, stdin=None):
    proc = subprocess.run(args, input=stdin, text=True, check=False, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:5])} failed (rc {proc.returncode}): {(proc.stdout + proc.stderr).strip()}"
                           + (f"\n{stdin[:2000]}" if stdin else ""))
    return proc


def bridge_index(name: str) -> int:
    proc = subprocess.run(["ip", "-n", NS, "-j", "link", "show", name], capture_output=True, text=True, check=False)
    return json.loads(proc.stdout)[0]["ifindex"] if proc.returncode == 0 else 0


class Listener:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", LISTENER, NS, "vmbr0", str(COLLECTIONS)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def arm(self, n):
        self.proc.stdin.write(f"arm {n} {bridge_index('vmbr0')}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "armed"

    def result(self, n):
        words = self.proc.stdout.readline().split()
        if words[0] != "done" or int(words[4]) != n:
            raise RuntimeError(f"listener saw {words}")
        start, first, last = (float(w) for w in words[1:4])
        return {"spread": (last - first) * 1000, "outage": (last - start) * 1000}

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


def changes(taps):
    return {
        "deleted": ["ip link del vmbr0"],
        "moved": (["ip link add vmbrT type bridge stp_state 0 forward_delay 0", "ip link set vmbrT up"]
                  + [f"ip link set {t} master vmbrT" for t in taps]),
    }


def checkpoint(root: Path, _check: bool = False, **args) -> dict:
    result = run_module("net_checkpoint", dict(args, namespace=NS, root=str(root)), check=_check)
    if result.get("failed"):
        raise RuntimeError(f"net_checkpoint {args}: {result.get('msg')}")
    return result


def shell_script(commands, taps) -> str:
    """The naive way: one ip process per command, the guests in a for loop."""
    tapset = set(taps)
    lines, loop = ["set -e"], []
    for command in commands:
        words = command.split()
        if words[-2:] == ["master", "vmbr0"] and words[-3] in tapset and words[3:5] == ["link", "set"]:
            loop.append(words[-3])
        else:
            lines.append(command)
    lines.append(f"for tap in {' '.join(loop)}; do ip -n {NS} link set dev \"$tap\" master vmbr0; done")
    return "\n".join(lines) + "\n"


def batch_files(commands) -> list:
    """(argv, batch text) groups of the commands, in order: `ip -n NS [-6] -batch -` with the rest of each line.

    `ip -batch` refuses an option at the front of a line (`-6 route ...`); should a command carry one
    (the core's batch lines no longer do), it goes to its own `ip -n NS -6 -batch -`.
    """
    groups = []
    for command in commands:
        program, rest = command.split(" ", 1)
        prefix = f"-n {NS} "
        assert rest.startswith(prefix), command
        rest = rest[len(prefix):]
        options = []
        while rest.startswith("-"):
            option, rest = rest.split(" ", 1)
            options.append(option)
        argv = [program, "-n", NS, *options, "-batch", "-"]
        if groups and groups[-1][0] == argv:
            groups[-1][1].append(rest)
        else:
            groups.append((argv, [rest]))
    return [(argv, "\n".join(lines) + "\n") for argv, lines in groups]


def bench_change(name, change, taps, root, repeat, loop_repeat, listener):
    n = len(taps)
    before = settled_state(NS)
    # The rollback's own plan for this change, once (check mode), then one real rollback as a warm-up.
    checkpoint(root, state="armed", timeout=600)
    iproute(NS, change)
    plan = checkpoint(root, state="rolled_back", _check=True)["commands"]
    checkpoint(root, state="rolled_back")
    batches = batch_files(plan)
    script = shell_script(plan, taps)
    samples = {"module": [], "batch": [], "loop": []}
    walls = {"module": [], "batch": [], "loop": []}
    durations, diffs = [], 0

    def module():
        outcome = checkpoint(root, state="rolled_back")["outcome"]
        durations.append(outcome["duration_ms"])

    def batch():
        for argv, text in batches:
            sh(*argv, stdin=text)

    def loop():
        sh("sh", "-c", script)

    for r in range(repeat):
        for key, method in (("module", module), ("batch", batch), ("loop", loop)):
            if key == "loop" and r >= loop_repeat:
                continue
            if key == "module":
                checkpoint(root, state="armed", timeout=600)
            iproute(NS, change)
            listener.arm(n)
            start = time.perf_counter()
            method()
            walls[key].append((time.perf_counter() - start) * 1000)
            samples[key].append(listener.result(n))
            diff = state_diff(before, settled_state(NS))
            if diff:
                diffs += 1
                print(f"{name} {key} #{r}: state differs after the way back: {diff[:5]}", file=sys.stderr)
        spreads = ", ".join(f"{k} {v[-1]['spread']:.0f}/{v[-1]['outage']:.0f} ms" for k, v in samples.items() if v)
        print(f"{name} round {r}: {spreads}", file=sys.stderr)
    med = statistics.median
    return {"name": name, "commands": len(plan), "plan": plan,
            "spread": {k: med(x["spread"] for x in v) for k, v in samples.items()},
            "outage": {k: med(x["outage"] for x in v) for k, v in samples.items()},
            "wall": {k: med(v) for k, v in walls.items()}, "duration": med(durations), "diffs": diffs,
            "samples": samples}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--guests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--loop-repeat", type=int, default=3)
    parser.add_argument("--changes", default="deleted,moved")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark creates network namespaces")
    taps = [f"tap{1000 + i}i0" for i in range(args.guests)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="netsafe-rbbench-") as tmp:
        root = Path(tmp)
        listener = None
        try:
            sh("ip", "netns", "add", NS)
            sh("ip", "netns", "add", PEER)
            persist_lab.nics(NS, PEER, persist_lab.BRIDGES_NICS)
            persist_lab.bridges(NS)
            sh("ip", "-n", NS, "-batch", "-", stdin="".join(
                f"tuntap add {t} mode tap\nlink set {t} master vmbr0\nlink set {t} up\n" for t in taps))
            listener = Listener()
            for name in args.changes.split(","):
                rows.append(bench_change(name, changes(taps)[name], taps, root, args.repeat, args.loop_repeat,
                                         listener))
        finally:
            kill_watchdogs(root)
            for ns in (NS, PEER):
                subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
            if listener is not None:
                listener.close()
    load = os.getloadavg()[0]
    print(f"Run of {time.strftime('%Y-%m-%d')} (load average {load:.1f}; N = {args.guests}; medians of "
          f"{args.repeat} runs, {args.loop_repeat} for the shell loop):\n")
    print("| change rolled back | commands | first to last guest re-attached: (a) net_checkpoint rolled_back "
          "| (b) `ip -batch` | (c) one `ip` per command | rollback's first event to last guest: (a) | (b) | (c) "
          "| whole call: (a) module (its `duration_ms`) | (b) | (c) | (a) / (b) spread | (c) / (a) spread |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        s, o, w = row["spread"], row["outage"], row["wall"]
        print(f"| {row['name']} | {row['commands']} | {s['module']:.1f} ms | {s['batch']:.1f} ms | {s['loop']:.0f} ms |"
              f" {o['module']:.1f} ms | {o['batch']:.1f} ms | {o['loop']:.0f} ms |"
              f" {w['module']:.0f} ms ({row['duration']:.0f} ms) | {w['batch']:.0f} ms | {w['loop']:.0f} ms |"
              f" {s['module'] / s['batch']:.2f}x | {s['loop'] / s['module']:.1f}x |")
    print()
    for row in rows:
        head = [c.replace(f"ip -n {NS} ", "ip ") for c in row["plan"] if "tap" not in c]
        print(f"- `{row['name']}`: the rollback's plan, {row['commands']} commands: {'; '.join(head)}; then "
              f"{row['commands'] - len(head)} `link set dev tapX master vmbr0`. State dump differs after "
              f"{row['diffs']} trials.")


if __name__ == "__main__":
    main()
