"""Benchmark: a bridge with N guest ports is deleted and re-created; how long until every port is back?

Run on purpose, as root, from the repository root:

    .venv/bin/python bench/tap_reenslave_bench.py [--sizes 200,1000] [--repeat 5] [--loop-repeat 3]

For each N, in one namespace and one run, four ways are compared:

  (a) the tap_reenslave module body, in-process (discovery of N Proxmox VE
      configs, read, plan, apply, verify);
  (b) the tap_guard watcher, a separate process that reacts to the bridge's
      RTM_NEWLINK (its requests are built before the event; it fills in the
      bridge's ifindex and sends them);
  (c) one `ip -batch` file with N `link set ... master` lines;
  (d) one `ip link set ... master` process per port (the blog post's loop).

Every figure is the same interval, seen by an independent listener process
(its own netlink socket, 64 MiB buffer, higher priority): from the bridge's
RTM_NEWLINK to the RTM_NEWLINK that shows the last port with its master set.
The bridge is made with `ip link add` each time; (a), (c) and (d) start as soon
as that command returns. A fifth figure is the floor: the N enslave requests
built beforehand and pipelined through one socket, nothing else (no read, no
plan): the kernel's own cost. Prints a Markdown report (medians) for
docs/performance.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".tmp" / "collections"
sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_links  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.modules import tap_reenslave  # noqa: E402

NS = f"nsbenchtap{os.getpid()}"
ENTRY = "ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.watcher"

LISTENER = r'''
import errno, os, select, socket, sys, time
sys.path.insert(0, sys.argv[3])
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
ns, bridge = sys.argv[1], sys.argv[2]
os.nice(-5)
sock = nl.open_socket(ns)
sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)
sock.setsockopt(nl.SOL_NETLINK, 1, 1)  # NETLINK_ADD_MEMBERSHIP, RTNLGRP_LINK
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
    want = int(line.split()[1])
    drain()
    print("armed", flush=True)
    t0 = t_last = None
    br_index = None
    seen = set()
    deadline = time.monotonic() + 60
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
            if br_index is None:
                if name == bridge and kind == "bridge":
                    t0, br_index = now, index
            elif master == br_index and name.startswith("tap") and name not in seen:
                seen.add(name)
                t_last = now
    print(f"done {t0} {t_last} {len(seen)}", flush=True)
'''


def sh(*args, stdin=None):
    return subprocess.run(args, input=stdin, text=True, check=True, capture_output=True)


class Listener:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", LISTENER, NS, "vmbr0", str(COLLECTIONS)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def arm(self, n):
        self.proc.stdin.write(f"arm {n}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "armed"

    def result(self, n):
        words = self.proc.stdout.readline().split()
        if words[0] != "done" or int(words[3]) != n:
            raise RuntimeError(f"listener saw {words}")
        return (float(words[2]) - float(words[1])) * 1000

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class FakeModule:
    def __init__(self, params):
        self.params = params
        self.check_mode = False


def make_node(n, directory: Path):
    """N running VMs (taps) whose configs put them on vmbr0."""
    qemu = directory / "qemu-server"
    qemu.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        vmid = 1000 + i
        (qemu / f"{vmid}.conf").write_text(
            f"#bench guest {vmid}\nboot: order=scsi0;net0\ncores: 1\nmemory: 512\nname: bench{vmid}\n"
            f"net0: virtio=BC:24:11:{i >> 8 & 0xff:02X}:{i & 0xff:02X}:01,bridge=vmbr0\nostype: l26\n"
            f"scsi0: local-lvm:vm-{vmid}-disk-0,size=4G\n")
    taps = [f"tap{1000 + i}i0" for i in range(n)]
    sh("ip", "-n", NS, "-batch", "-", stdin="".join(f"tuntap add {t} mode tap\nlink set {t} up\n" for t in taps))
    return taps


def delete_bridge():
    subprocess.run(["ip", "-n", NS, "link", "del", "vmbr0"], capture_output=True, check=False)


def create_bridge():
    sh("ip", "-n", NS, "link", "add", "vmbr0", "type", "bridge", "stp_state", "0", "forward_delay", "0")


def trial(listener, n, method, settle=0.0):
    delete_bridge()
    if settle:
        time.sleep(settle)  # let a watcher finish reading the deletion flood
    listener.arm(n)
    create_bridge()
    if method is not None:
        method()
    return listener.result(n)


def start_watcher(node_dir, log_path):
    path = str(Path(log_path).parent / "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(path)
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS), NOTIFY_SOCKET=path)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", ENTRY, "--source", "proxmox", "--proxmox-dir", str(node_dir),
                                 "--namespace", NS], env=env, stderr=log)
    notify.settimeout(60)
    assert notify.recv(100) == b"READY=1"
    notify.close()
    os.unlink(path)
    return proc


def bench_size(n, repeat, loop_repeat, settle):
    with tempfile.TemporaryDirectory() as tmp:
        node = Path(tmp) / "node"
        taps = make_node(n, node)
        batch_text = "".join(f"link set dev {t} master vmbr0\n" for t in taps)
        params = {key: spec.get("default") for key, spec in tap_reenslave.ARGUMENT_SPEC.items()}
        params.update(source="proxmox", proxmox_dir=str(node), namespace=NS)

        def module_body():
            result = tap_reenslave.run(FakeModule(params))
            assert len(result["reattached"]) == n, result["failed_guests"][:3]

        def ip_batch():
            sh("ip", "-n", NS, "-batch", "-", stdin=batch_text)

        def per_port():
            for t in taps:
                sh("ip", "-n", NS, "link", "set", t, "master", "vmbr0")

        with nl.Netlink(NS) as netlink:
            tap_index = {raw.name: raw.index for raw in read_links(netlink) if raw.name in set(taps)}

        def floor():
            """The kernel's own cost: N enslave requests built beforehand, pipelined, nothing else."""
            with nl.Netlink(NS) as netlink:
                request = nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + nl.attr_str(nl.IFLA_IFNAME, "vmbr0")
                bridge_index = nl.IFINFOMSG.unpack_from(netlink.query(nl.RTM_GETLINK, request))[2]
                errors = netlink.pipeline([
                    (nl.RTM_NEWLINK, 0, nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, tap_index[t], 0, 0)
                     + nl.attr_u32(nl.IFLA_MASTER, bridge_index)) for t in taps])
                assert not any(errors), [e for e in errors if e][:3]

        listener = Listener()
        create_bridge()
        log_path = Path(tmp) / "watcher.log"
        watcher = start_watcher(node, log_path)
        samples = {"module": [], "batch": [], "loop": [], "watcher": [], "floor": []}
        own_lines: list = []
        try:
            # Rounds interleave the methods so that the machine's load drifts across all of
            # them alike. The watcher is paused (SIGSTOP) while the others run.
            for r in range(repeat):
                os.kill(watcher.pid, signal.SIGSTOP)
                try:
                    samples["batch"].append(trial(listener, n, ip_batch))
                    samples["floor"].append(trial(listener, n, floor))
                    samples["module"].append(trial(listener, n, module_body))
                    if r < loop_repeat:
                        samples["loop"].append(trial(listener, n, per_port))
                finally:
                    os.kill(watcher.pid, signal.SIGCONT)
                time.sleep(settle)  # it catches up with what it missed (a no-op full pass)
                offset = log_path.stat().st_size
                samples["watcher"].append(trial(listener, n, None, settle=settle))
                time.sleep(0.5)
                with open(log_path) as handle:
                    handle.seek(offset)
                    own_lines += [line for line in handle.read().splitlines() if "appeared: re-attached" in line]
        finally:
            watcher.terminate()
            watcher.wait(timeout=30)
            listener.close()
            delete_bridge()
            sh("ip", "-n", NS, "-batch", "-", stdin="".join(f"link del {t}\n" for t in taps))
        figures = {key: statistics.median(values) if values else float("nan") for key, values in samples.items()}
        figures["samples"] = samples
        log = log_path.read_text()
        figures["overflows"] = log.count("events were lost")
        figures["prebuilt"] = sum("requests built before the event" in line for line in own_lines)
        figures["own"] = [(float(line.split(" in ")[1].split(" ms")[0]), float(line.split("planned in ")[1].split(" ms")[0]))
                          for line in own_lines if "planned in" in line]
        return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="200,1000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-repeat", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.5, help="seconds the watcher gets to digest a deletion")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark creates a network namespace")
    sh("ip", "netns", "add", NS)
    rows = []
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            f = bench_size(n, args.repeat, args.loop_repeat, args.settle)
            print(f"N={n}: {f['samples']}", file=sys.stderr)
            rows.append((n, f))
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)
    load = os.getloadavg()[0]
    print(f"Run of {time.strftime('%Y-%m-%d')} ({platform.node() and 'this machine'}, load average {load:.1f}; "
          f"medians of {args.repeat} runs, {args.loop_repeat} for the per-port loop):\n")
    print("| N | (a) tap_reenslave body | (b) tap_guard watcher | (c) one `ip -batch` file | (d) one `ip` per port |"
          " floor: prebuilt requests, pipelined | watcher / floor | watcher / batch | floor / batch | loop / watcher |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, f in rows:
        print(f"| {n} | {f['module']:.1f} ms | {f['watcher']:.1f} ms | {f['batch']:.1f} ms | {f['loop']:.0f} ms |"
              f" {f['floor']:.1f} ms | {f['watcher'] / f['floor']:.2f}x | {f['watcher'] / f['batch']:.2f}x |"
              f" {f['floor'] / f['batch']:.2f}x | {f['loop'] / f['watcher']:.1f}x |")
    print()
    for n, f in rows:
        if f["own"]:
            total = statistics.median(t for t, _p in f["own"])
            planned = statistics.median(p for _t, p in f["own"])
            print(f"- N = {n}: the watcher's own log: first pass {total:.1f} ms from the event's arrival, of which "
                  f"{planned:.1f} ms before the first request (medians); {f['prebuilt']} of {len(f['own'])} first "
                  f"passes sent requests built before the event; ENOBUFS recoveries: {f['overflows']}.")


if __name__ == "__main__":
    main()
