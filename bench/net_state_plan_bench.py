"""Benchmark: planning a big net_state request on a big host, in the model (no kernel): where planning time goes.

Run on purpose from the repository root:

    .venv/bin/python bench/net_state_plan_bench.py [--guests 1000] [--entries 50 100 250]

The host: N pairs of NICs, vmbr0 with --guests guest taps. The request: N new bridges (one NIC each) and N NIC
entries (an MTU each), 2N entries, 4N operations. Prints, per N, the time to plan it and to plan it again on the
predicted result (the verification's re-plan, which finds nothing), best of 3. Review 26 found planning
quadratic (a copy of the whole host per step); docs/performance.md has the figures before and after.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (  # noqa: E402
    Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_state import plan_state  # noqa: E402
from ansible_collections.netsafe.hypervisor.plugins.modules import net_state  # noqa: E402


def host_of(pairs: int, guests: int) -> HostNetwork:
    host = HostNetwork()
    for i in range(pairs):
        for side in "ab":
            host.add(Nic(name=f"v{i}{side}", mtu=1500, up=True, ip=IpConfig(addresses=[], routes=[])))
    host.add(Bridge(name="vmbr0", mtu=1500, up=True, stp=False, forward_delay=0, ip=IpConfig(addresses=[], routes=[])))
    for g in range(guests):
        host.add(GuestPort(name=f"tap{100 + g}i0", mtu=1500, up=True, kind="tun", master="vmbr0",
                           ip=IpConfig(addresses=[], routes=[])))
    return host


def best(seconds: list) -> str:
    return f"{min(seconds):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--guests", type=int, default=1000)
    parser.add_argument("--entries", type=int, nargs="+", default=[50, 100, 250])
    args = parser.parse_args()
    print("| NIC pairs (entries) | operations | plan | re-plan (verification) |\n|---:|---:|---:|---:|")
    for pairs in args.entries:
        host = host_of(pairs, args.guests)
        lists = {"bridges": [{"name": f"br{i}", "ports": [f"v{i}a"]} for i in range(pairs)],
                 "nics": [{"name": f"v{i}b", "mtu": 1400} for i in range(pairs)]}
        params = ArgumentSpecValidator(net_state.ARGUMENT_SPEC).validate(lists).validated_parameters
        requests, places = net_state.requests_of(params)
        plans, replans = [], []
        for _round in range(3):
            start = time.perf_counter()
            plan = plan_state(host, requests, places, GuestMatcher())
            plans.append(time.perf_counter() - start)
            after = plan.predict(host)
            start = time.perf_counter()
            assert not plan_state(after, requests, places, GuestMatcher())
            replans.append(time.perf_counter() - start)
        print(f"| {pairs} ({2 * pairs}) | {len(plan.operations)} | {best(plans)} | {best(replans)} |")


if __name__ == "__main__":
    main()
