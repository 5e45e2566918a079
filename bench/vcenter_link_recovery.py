"""Time from link-up to a logged-in vCenter session: event-driven link monitor vs plain
exponential backoff (base 1 s, cap 60 s), after outages of 5, 30 and 120 s.

Run on purpose, as root, after tests/setup/bootstrap.sh (needs .tmp/bin/vcsim):

    .venv/bin/python bench/vcenter_link_recovery.py [--quick]

Set-up: the simulator in its own network namespace behind a veth; the client in
another namespace. An outage = the server side of the veth is down from t0 to
t0 + D; the client starts trying at t0 (it has just lost its session).

* event-driven: real runs of connect_with_retry with required_interfaces=[vc0].
* backoff: real runs for the 5 s outage (and 30 s unless --quick); for all
  outages also a simulation of the same schedule (full jitter and no jitter)
  fed with the real measured durations of a failed attempt while the link is
  down and of a successful login, because waiting out 120 s outages plus up to
  60 s of backoff many times would take hours. The model follows what the
  kernel does here: an attempt in flight while the link is down keeps
  re-probing the neighbour (ARP) once a second, so it succeeds at its next probe
  after link-up if one is left, and otherwise fails after the measured time.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))
sys.path.insert(0, str(ROOT / "tests" / "vcenter"))

PY = str(ROOT / ".venv" / "bin" / "python")
BASE, CAP = 1.0, 60.0
CONNECT_TIMEOUT = 10.0  # the module's default
# The kernel reports a lost carrier up to a second late (linkwatch); the outage
# starts for both clients once it is visible.
LINKWATCH = 1.2


def settings(**kw):
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.connect import ConnectSettings
    from vcpeers import NS_ADDR_SERVER, PASSWORD, USER
    args = dict(hostname=NS_ADDR_SERVER, port=8443, username=USER, password=PASSWORD,
                ca_path=os.environ["BENCH_CA"], connect_timeout=CONNECT_TIMEOUT, backoff_base=BASE,
                backoff_cap=CAP, max_attempts=0, deadline=600, max_network_wait=600)
    args.update(kw)
    return ConnectSettings(**args)


def worker(mode: str) -> None:
    """Runs inside the client namespace; prints one JSON line."""
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.connect import connect_with_retry
    kw = {"required_interfaces": ["vc0"]} if mode == "event" else {}
    if mode == "once":
        kw = {"max_attempts": 1, "deadline": 60}
    try:
        res = connect_with_retry(settings(**kw))
        ok = True
    except Exception as exc:  # noqa: BLE001 - report, do not crash the bench
        res = getattr(exc, "details", {"error": str(exc)})
        ok = False
    hist = res.get("attempt_history", [])
    end = hist[-1]["started"] + hist[-1]["duration"] if hist else time.time()
    print(json.dumps({"ok": ok, "end": end, "attempts": len(hist),
                      "durations": [a["duration"] for a in hist],
                      "categories": [a.get("category") for a in hist]}))


class Lab:
    def __init__(self, certs_dir: Path):
        from vcpeers import Veth, Vcsim, make_certs
        tag = f"vcbench{os.getpid()}"
        self.client, self.server = f"{tag}c", f"{tag}s"
        for ns in (self.client, self.server):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        self.veth = Veth(self.client, self.server)
        self.certs = make_certs(certs_dir)
        os.environ["BENCH_CA"] = str(self.certs.cert)
        self.sim = Vcsim(self.certs, certs_dir, listen="10.231.0.2:8443", netns=self.server).start()

    def close(self):
        self.sim.stop()
        for ns in (self.client, self.server):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def run(self, mode: str, outage: float | None = None) -> tuple[dict, float | None]:
        """Start a worker at t0 with the link down, bring it up at t0 + outage."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.client, PY, __file__, "--worker", mode],
                                stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        up_at = None
        if outage is not None:
            time.sleep(outage)
            up_at = self.veth.set("up")
        out = proc.communicate(timeout=900)[0]
        return json.loads(out.strip().splitlines()[-1]), up_at


def simulate(outage: float, fail: float, connect: float, jitter: bool, rng: random.Random,
             probe: float = 1.0) -> float:
    """Plain exponential backoff against an outage: link-up -> logged in.

    An attempt that starts while the link is down re-probes every ``probe``
    seconds until it fails after ``fail`` seconds; a probe after link-up succeeds.
    """
    t, n = 0.0, 0
    while True:
        if t >= outage:
            return t + connect - outage
        k = 1
        while k * probe < fail:
            if t + k * probe >= outage:
                return t + k * probe + connect - outage
            k += 1
        t += fail
        ceiling = min(CAP, BASE * 2 ** n)
        t += rng.uniform(0, ceiling) if jitter else ceiling
        n += 1


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f} s"
    return f"median {statistics.median(values):.3f} s (n={len(values)}, max {max(values):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, no real 30 s backoff run")
    a = ap.parse_args()
    if a.worker:
        worker(a.worker)
        return
    if os.geteuid() != 0:
        sys.exit("run as root (network namespaces)")
    outages = [5.0, 30.0, 120.0]
    reps = {5.0: 3 if a.quick else 5, 30.0: 1 if a.quick else 2, 120.0: 1}
    tmp = Path(tempfile.mkdtemp(prefix="vcbench"))
    lab = Lab(tmp)
    report: dict = {"outages": outages}
    try:
        # 1. a login with the link up, and a failed attempt with the link down
        connects = []
        for dummy in range(7):
            r = lab.run("once")[0]
            connects.append(r["durations"][-1])
        lab.veth.set("down")
        r = lab.run("once")[0]
        lab.veth.set("up")
        fail = r["durations"][-1]
        report["login_s"] = statistics.median(connects)
        report["failed_attempt_while_down_s"] = fail
        report["failed_attempt_category"] = r["categories"][-1]
        print(f"login with link up: {fmt(connects)}; failed attempt with link down: {fail:.3f} s "
              f"({r['categories'][-1]})", flush=True)

        # 2. event-driven, real
        event: dict[float, list[float]] = {}
        for d in outages:
            for dummy in range(reps[d]):
                lab.veth.set("down")
                time.sleep(LINKWATCH)
                r, up = lab.run("event", d)
                assert r["ok"], r
                event.setdefault(d, []).append(r["end"] - up)
            print(f"event-driven, outage {d:g} s: {fmt(event[d])}", flush=True)
        report["event_real"] = event

        # 3. plain backoff, real (short outages only)
        real_backoff: dict[float, list[float]] = {}
        for d in ([5.0] if a.quick else [5.0, 30.0]):
            for dummy in range(2 if d == 5.0 else 1):
                lab.veth.set("down")
                time.sleep(LINKWATCH)
                r, up = lab.run("backoff", d)
                real_backoff.setdefault(d, []).append(r["end"] - up)
            print(f"plain backoff (real), outage {d:g} s: {fmt(real_backoff[d])}", flush=True)
        report["backoff_real"] = real_backoff

        # 4. plain backoff, simulated from the measured durations
        rng = random.Random(20261121)
        sim = {}
        for d in outages:
            runs = sorted(simulate(d, fail, report["login_s"], True, rng) for dummy in range(20000))
            fixed = simulate(d, fail, report["login_s"], False, rng)
            sim[d] = {"jitter_median": statistics.median(runs), "jitter_p90": runs[int(0.9 * len(runs))],
                      "no_jitter": fixed}
            print(f"plain backoff (simulated), outage {d:g} s: full jitter median "
                  f"{sim[d]['jitter_median']:.2f} s, p90 {sim[d]['jitter_p90']:.2f} s; "
                  f"no jitter {fixed:.2f} s", flush=True)
        report["backoff_sim"] = sim
    finally:
        lab.close()
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
