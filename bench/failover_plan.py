"""Benchmark of the failover maintenance planner (run on purpose, not by pytest).

    .venv/bin/python bench/failover_plan.py [--hosts 50 500 2000] [--runs 5]

Builds a world the way a reservation controller would (each VM with 1 or 2
slots joins an existing eligible reservation when one of a few sampled ones
fits, otherwise gets a new reservation on a random other host), then times
re-validation and batch planning separately, median of --runs.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))

from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.rules import (  # noqa: E402
    Reservation, Vm, World, check_eligibility, check_rules, revalidate,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.batches import (  # noqa: E402
    plan_batches,
)
from ansible_collections.netsafe.hypervisor.plugins.modules.failover_plan import run  # noqa: E402

FLAVOURS = [(2048, 1), (4096, 2), (8192, 4), (16384, 8)]


def build(hosts: int, vms_per_host: int, seed: int, candidates: int = 4, max_share: int = 8) -> World:
    rng = random.Random(seed)
    names = [f"hv{i:04d}" for i in range(hosts)]
    vms = []
    for h in names:
        for j in range(vms_per_host):
            mem, cpu = rng.choice(FLAVOURS)
            vms.append(Vm(f"{h}-vm{j:02d}", h, mem, cpu))
    world = World(vms, [])
    pool: list = []
    order = list(world.vms)
    rng.shuffle(order)
    for uuid in order:
        vm = world.vms[uuid]
        for _slot in range(rng.choice((1, 2))):
            joined = False
            for name in rng.sample(pool, min(candidates, len(pool))):
                res = world.reservations[name]
                if len(res.allocations) < max_share and res.fits(vm) and check_eligibility(world, uuid, name).eligible:
                    world.allocate(uuid, name)
                    joined = True
                    break
            if joined:
                continue
            taken = {vm.host} | {world.reservations[n].host for n in world.held(uuid)}
            name = f"res{len(pool):06d}"
            world.reservations[name] = Reservation(name, "", 16384, 8, {})
            for host in rng.sample(names, len(names)):
                if host in taken:
                    continue
                world.reservations[name].host = host
                if check_eligibility(world, uuid, name).eligible:
                    world.allocate(uuid, name)
                    pool.append(name)
                    break
            else:
                del world.reservations[name]
    return world


def as_params(world: World, max_batch_size) -> dict:
    """The module's input for `world`, as a playbook would pass it."""
    return {
        "vms": [{"uuid": v.uuid, "hypervisor": v.host, "memory_mb": v.memory_mb, "vcpus": v.vcpus}
                for v in world.vms.values()],
        "reservations": [{"name": r.name, "host": r.host, "memory_mb": r.memory_mb, "vcpus": r.vcpus,
                          "allocations": dict(r.allocations)} for r in world.reservations.values()],
        "check_vm": None, "check_reservation": None,
        "max_batch_size": max_batch_size, "allow_unprotected": False,
    }


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, nargs="+", default=[50, 500, 2000])
    parser.add_argument("--vms-per-host", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-batch-size", type=int, default=None)
    parser.add_argument("--max-share", type=int, default=8, help="most VMs on one reservation")
    args = parser.parse_args()
    print("| hosts | VMs | reservations | VMs per reservation | re-validate | plan batches | "
          "module run() end to end | batches | largest batch |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for hosts in args.hosts:
        world = build(hosts, args.vms_per_host, seed=hosts, max_share=args.max_share)
        assert not check_rules(world), "generator made an invalid world"
        allocations = sum(len(r.allocations) for r in world.reservations.values())
        reval, plan_t, whole = [], [], []
        params = as_params(world, args.max_batch_size)
        for _run in range(args.runs):
            copy = world.copy()
            t, removed = timed(lambda: revalidate(copy))
            assert not removed
            reval.append(t)
            t, plan = timed(lambda: plan_batches(copy, args.max_batch_size))
            plan_t.append(t)
            t, result = timed(lambda: run(params))
            assert result["batches"] == plan.batches
            whole.append(t)
        print(f"| {hosts} | {len(world.vms)} | {len(world.reservations)} | "
              f"{allocations / len(world.reservations):.1f} | {statistics.median(reval) * 1000:.0f} ms | "
              f"{statistics.median(plan_t) * 1000:.0f} ms | {statistics.median(whole) * 1000:.0f} ms | "
              f"{len(plan.batches)} | "
              f"{max(len(b) for b in plan.batches)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
