"""Benchmark: read state and apply a bridge with N tap ports, against iproute2.

Run on purpose, as root, from the repository root:

    .venv/bin/python bench/net_bridge_bench.py [--sizes 50,200,1000] [--repeat 7]

Everything happens in a throwaway network namespace that is deleted at the
end. Prints a Markdown report (medians) for docs/performance.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import NetlinkConfigurator  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    LINK_ADD, LINK_DEL, LINK_SET, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.modules import net_bridge  # noqa: E402

NS = f"nsbench{os.getpid()}"


def sh(*args, stdin=None):
    return subprocess.run(args, input=stdin, text=True, check=True, capture_output=True)


def timed(fn, repeat, reset=None):
    """Median wall time of fn() in ms; reset() runs untimed before each try."""
    samples = []
    for _attempt in range(repeat):
        if reset:
            reset()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


class FakeModule:
    """Just enough of AnsibleModule for net_bridge.run(): params and check_mode."""

    def __init__(self, params):
        self.params = params
        self.check_mode = False


def module_params(n_ports_unused=None):
    params = {key: spec.get("default") for key, spec in net_bridge.ARGUMENT_SPEC.items()}
    params.update(name="vmbr0", ports=["eth1"], stp=False, forward_delay=0, mtu=1500,
                  addresses=["192.0.2.10/24"], namespace=NS)
    return params


def bench_size(n, repeat):
    taps = [f"tap{1000 + i}i0" for i in range(n)]
    sh("ip", "-n", NS, "-batch", "-", stdin="\n".join(f"tuntap add {t} mode tap" for t in taps) + "\n")
    sh("ip", "-n", NS, "link", "add", "eth1", "type", "veth", "peer", "name", "sw1")
    guests = GuestMatcher()

    # The operations net_bridge's core sends to (re)build a bridge with N ports.
    ops = [Operation(LINK_ADD, "vmbr0", {"type": "bridge", "forward_delay": 0}, [Operation(LINK_DEL, "vmbr0")])]
    ops += [Operation(LINK_SET, t, {"master": "vmbr0"}) for t in taps]
    ops.append(Operation(LINK_SET, "vmbr0", {"up": True}))
    batch_text = "\n".join(op.batch_line() for op in ops) + "\n"

    def reset():
        subprocess.run(["ip", "-n", NS, "link", "del", "vmbr0"], capture_output=True, check=False)

    def apply_core():
        with Netlink(NS) as netlink:
            NetlinkConfigurator(netlink, read_host(netlink, guests).index_of).apply(ops)

    def apply_batch():
        sh("ip", "-n", NS, "-batch", "-", stdin=batch_text)

    def apply_per_op():
        for op in ops:
            subprocess.run(["ip", "-n", NS] + op.batch_line().split(), check=True, capture_output=True)

    results = {"n": n}
    results["apply_core"] = timed(apply_core, repeat, reset)
    results["apply_batch"] = timed(apply_batch, repeat, reset)
    results["apply_per_op"] = timed(apply_per_op, max(3, repeat // 2), reset)

    # Bridge with N guest ports plus an uplink, as a hypervisor has it.
    reset()
    apply_batch()
    sh("ip", "-n", NS, "link", "set", "eth1", "master", "vmbr0")
    sh("ip", "-n", NS, "link", "set", "eth1", "up")
    sh("ip", "-n", NS, "address", "add", "192.0.2.10/24", "dev", "vmbr0")

    def read_core():
        with Netlink(NS) as netlink:
            read_host(netlink, guests)

    def read_ip():
        sh("ip", "-n", NS, "-j", "-d", "link", "show")
        sh("ip", "-n", NS, "-j", "address", "show")
        sh("ip", "-n", NS, "-j", "route", "show", "default")

    def read_ip_per_port():
        # The shell way: ask for each port's master one device at a time.
        for t in taps:
            subprocess.run(["ip", "-n", NS, "-o", "link", "show", "dev", t], check=True, capture_output=True)

    def noop_module():
        result = net_bridge.run(FakeModule(module_params()))
        assert not result["changed"], result["commands"]

    results["read_core"] = timed(read_core, repeat)
    results["read_ip"] = timed(read_ip, repeat)
    results["read_ip_per_port"] = timed(read_ip_per_port, max(3, repeat // 2))
    results["noop_module"] = timed(noop_module, repeat)
    try:
        from pyroute2 import IPRoute  # the full decoder, for reference

        def read_pyroute2():
            with IPRoute(netns=NS) as ipr:
                ipr.get_links()
                ipr.get_addr()
        results["read_pyroute2"] = timed(read_pyroute2, max(3, repeat // 2))
    except ImportError:
        results["read_pyroute2"] = float("nan")

    reset()
    sh("ip", "-n", NS, "link", "del", "eth1")
    sh("ip", "-n", NS, "-batch", "-", stdin="\n".join(f"link del {t}" for t in taps) + "\n")
    return results


def playbook_noop_ms(n, repeat=3):
    """Wall time of a whole no-op ansible task (process start, AnsiballZ, module) at N ports."""
    taps = [f"tap{1000 + i}i0" for i in range(n)]
    sh("ip", "-n", NS, "-batch", "-", stdin="\n".join(
        [f"tuntap add {t} mode tap" for t in taps] + ["link add vmbr0 type bridge forward_delay 0"]
        + [f"link set {t} master vmbr0" for t in taps] + ["link set vmbr0 up"]) + "\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".tmp" / "collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    cmd = [str(ROOT / ".venv" / "bin" / "ansible"), "localhost", "-e",
           f"ansible_python_interpreter={ROOT / '.venv' / 'bin' / 'python'}", "-m", "netsafe.hypervisor.net_bridge",
           "-a", f"name=vmbr0 stp=false forward_delay=0 namespace={NS}"]

    def run():
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        assert "SUCCESS" in out, out
    run()
    value = timed(run, repeat)
    sh("ip", "-n", NS, "link", "del", "vmbr0")
    sh("ip", "-n", NS, "-batch", "-", stdin="\n".join(f"link del {t}" for t in taps) + "\n")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sh("ip", "netns", "add", NS)
    try:
        rows = [bench_size(n, args.repeat) for n in sizes]
        task = playbook_noop_ms(max(sizes))
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)
    print(f"Machine: {platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}, Python {platform.python_version()}")
    print(f"Medians of {args.repeat} runs (per-command loops: {max(3, args.repeat // 2)}).\n")
    print("### Apply: create the bridge, enslave N taps, set it up (N + 2 operations)\n")
    print("| N | net_bridge core (netlink, pipelined) | one `ip -batch` file | one `ip` per operation | core / batch |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']} | {r['apply_core']:.1f} ms | {r['apply_batch']:.1f} ms | {r['apply_per_op']:.0f} ms "
              f"| {r['apply_core'] / r['apply_batch']:.2f}x |")
    print("\n### Read the namespace's state (bridge, N taps, uplink)\n")
    print("| N | core read_host (links, addresses, routes) | `ip -j` link + address + route "
          "| one `ip link show` per port | pyroute2 get_links + get_addr | no-op net_bridge body |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']} | {r['read_core']:.1f} ms | {r['read_ip']:.1f} ms | {r['read_ip_per_port']:.0f} ms "
              f"| {r['read_pyroute2']:.0f} ms | {r['noop_module']:.1f} ms |")
    print(f"\nWhole no-op `ansible localhost -m netsafe.hypervisor.net_bridge` at N = {max(sizes)}: {task:.0f} ms "
          "(process start, AnsiballZ, module; median of 3).")


if __name__ == "__main__":
    main()
