"""Benchmark: one bridge change as a bare net_bridge task, the old change_window flow and the new one, over SSH.

Run on purpose, as root, from the repository root (after tests/run-all.sh or
tests/setup.d/33-openssh.sh unpacked the lab's sshd):

    .venv/bin/python bench/change_window_bench.py [--repeat 5] [--guests 2] [--large-guests 1000 --large-repeat 2]

Everything runs in the SSH lab (tests/sshlab.py): ansible-playbook in a
controller namespace reaches the lab hypervisor over real SSH through vmbr0,
the bridge being changed. The change is the classic one: vmbr0's uplink moved
from eno1 to eno2 (and back in the next trial, so every trial changes
something). Compared in interleaved rounds (the order rotates each round), same
lab, same run:

- `ping`: a playbook with one `ansible.builtin.ping` task (what any playbook
  run costs here: ansible-playbook's start, SSH, AnsiballZ);
- `net_bridge`: a playbook with one `netsafe.hypervisor.net_bridge` task
  (`name: vmbr0, ports: [eno2]`): the bare task;
- `old`: the change_window role as it was before net_state (main at 86b05e7,
  kept runnable in bench/old_change_window; `--old-role` to point elsewhere):
  preflight probes, preview in check mode, arm, net_bridge, tap_reenslave,
  probes, reset_connection, confirm, report;
- `new`: roles/change_window (the role rebuilt on net_state: net_state with
  `checkpoint`, reset_connection, the same net_state task with
  `checkpoint.confirm`, report); skipped, with a note, while the role in the
  tree is still the old one;
- `plain, net_state confirms`: the new flow's two runs as a plain playbook, no
  role around them (net_state with `checkpoint`, `meta: reset_connection`,
  net_state with `checkpoint.confirm`): what the flow costs without the role's
  own tasks (argument checks, set_fact, report);
- `plain, net_checkpoint confirms`: the same with `net_checkpoint
  state=confirmed` as the second run (how the role confirmed before): a second
  module, so Ansible builds a second payload;
- both roles get `change_window_bridges: [{name: vmbr0, ports: [eno2]}]`, the
  guests given explicitly, `change_window_persist: false`, default probes (ICMP
  to the default gateways), gate on; with `--persist`, `old+persist` and
  `new+persist` run with `change_window_persist: true`, format ifupdown2 (into
  the lab's private /etc overlay);
- for scale, the shell way over the same SSH path: one `ssh hv ip -batch -`
  with the two `link set` lines, and one ssh running one `ip link set` per
  command (one ssh per command cuts itself off: after `nomaster` vmbr0 has
  no uplink).

Then the same on a host with `--large-guests` guest taps on vmbr0 (a second
lab; `--large-repeat` rounds, fewer than `--repeat` since each is slower;
`--large-guests 0` skips it), without ping, the persist variants, the plain
four steps and the second shell way.

Figures: the wall time of each ansible-playbook (or ssh) process. Module
runs per window are counted on the host: the inventory's
`ansible_python_interpreter` is replaced (`-e`) by a wrapper script that logs
every interpreter process's start and end (every module run over AnsiballZ is
one, check mode included) and then runs the real interpreter; the record
callback's results name the tasks whose modules ran (a result carrying
`invocation`), in the same order. Per task: a task-start timer callback (a
task's time is from its start to the next task's start, so it includes
Ansible's own work between them), and for the tasks that ran a module, the
module's own time on the host (interpreter start to exit). net_state with
`checkpoint` returns its `timings` (start, armed, applied, probed), which
split its run into interpreter start + imports, preflight probes + preview +
arm, apply, post probes, and the rest. Prints a Markdown report (medians) for
docs/performance.md, with the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sshlab import VENV_BIN, SshLab  # noqa: E402

TIMER = '''
from __future__ import annotations
import json, os, time
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: netsafe_task_timer
type: aggregate
short_description: task start times to $NETSAFE_TASK_TIMES (bench/change_window_bench.py)
description: Bench helper.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "netsafe_task_timer"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, entry):
        with open(os.environ["NETSAFE_TASK_TIMES"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write({"task": task.get_name(), "action": task.action, "t": time.time()})

    def v2_playbook_on_handler_task_start(self, task):
        self._write({"task": task.get_name(), "action": task.action, "t": time.time()})

    def v2_playbook_on_stats(self, stats):
        self._write({"task": "(end)", "action": "", "t": time.time()})
'''

# Every module run on the host is one interpreter process: log its start, end and exit code, one line each.
# (stdin, the pipelined AnsiballZ payload, goes through to the real interpreter.)
INTERPRETER = """#!/bin/sh
log={log}
start=$(date +%s.%N)
{python} "$@"
rc=$?
echo "$start $(date +%s.%N) $rc" >> "$log"
exit $rc
"""

PING = """
- name: Ping
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""
BRIDGE = """
- name: One bridge change
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Move vmbr0's uplink
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        ports: ["{{ uplink }}"]
"""
ROLE = """
- name: Change window
  hosts: hv1
  gather_facts: false
  roles:
    - role: {role}
"""
# The new flow's two runs with nothing around them: the change inside a checkpoint, a fresh connection, the
# confirmation - by the same net_state task with the checkpoint's id (as the role does), or by net_checkpoint.
PLAIN = """
- name: The new change window's two runs as a plain playbook
  hosts: hv1
  gather_facts: false
  tasks:
    - name: Change inside a checkpoint (net_state with checkpoint)
      netsafe.hypervisor.net_state:
        bridges: &bridges [{name: vmbr0, ports: ["{{ uplink }}"]}]
        checkpoint:
          timeout: 60
      register: change

    - name: Open a fresh connection
      ansible.builtin.meta: reset_connection

    - name: Confirm the checkpoint
%s      when: change.checkpoint is defined
"""
PLAIN_BY_STATE = PLAIN % """      netsafe.hypervisor.net_state:
        bridges: *bridges
        checkpoint:
          timeout: 60
          confirm: "{{ change.checkpoint.id }}"
"""
PLAIN_BY_CHECKPOINT = PLAIN % """      netsafe.hypervisor.net_checkpoint:
        state: confirmed
        id: "{{ change.checkpoint.id }}"
"""


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def fmt(value, unit=" s"):
    return "-" if math.isnan(value) else f"{value:.2f}{unit}"   # nan: not measured


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def task_starts(path: Path) -> list:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def task_times(entries: list) -> dict:
    """{task name: seconds} from the timer's starts (each task until the next one starts)."""
    times: dict = {}
    for entry, following in zip(entries, entries[1:]):
        times[entry["task"]] = times.get(entry["task"], 0.0) + following["t"] - entry["t"]
    return times


def module_results(results: list) -> list:
    """(task name, action, result) of every module run on the host (a loop's items each), in order."""
    runs = []
    for r in results:
        if r["status"] == "skipped":
            continue
        res = r["result"]
        items = res.get("results") if isinstance(res.get("results"), list) else [res]
        runs += [(r["task"], r["action"], item) for item in items if isinstance(item, dict) and "invocation" in item]
    return runs


def short(name: str) -> str:
    """A role's task without the role's name."""
    return name.split(" : ", 1)[-1].split(" - ")[0]


class Bench:
    def __init__(self, lab: SshLab, tmp: Path):
        self.lab, self.tmp = lab, tmp
        plugins = tmp / "callback_plugins"
        plugins.mkdir(exist_ok=True)
        (plugins / "netsafe_task_timer.py").write_text(TIMER)
        self.plugins = plugins
        tag = f"{lab.prefix}-{lab.guests}g"
        self.tag = tag
        self.host_log = tmp / f"host-runs-{tag}.log"
        self.interpreter = tmp / f"python-{tag}"
        self.interpreter.write_text(INTERPRETER.format(log=self.host_log, python=VENV_BIN / "python"))
        self.interpreter.chmod(0o755)
        self.runs = 0

    def host_runs(self) -> list:
        if not self.host_log.exists():
            return []
        return [tuple(float(x) for x in line.split()) for line in self.host_log.read_text().splitlines() if line.strip()]

    def playbook(self, text, extra_vars, extra_env=None):
        """One ansible-playbook: (wall, results, timer entries, host module runs [(start, end, rc)])."""
        self.runs += 1
        times = self.tmp / f"times-{self.tag}-{self.runs}.jsonl"
        env = {"ANSIBLE_CALLBACK_PLUGINS": f"{ROOT / 'tests' / 'ansible' / 'callback_plugins'}:{self.plugins}",
               "ANSIBLE_CALLBACKS_ENABLED": "record,netsafe_task_timer", "NETSAFE_TASK_TIMES": str(times),
               **(extra_env or {})}
        before = len(self.host_runs())
        start = time.perf_counter()
        proc, results = self.lab.playbook(text, extra_vars=dict(extra_vars or {}, ansible_python_interpreter=str(
            self.interpreter)), env=env, timeout=900)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            failed = [r for r in results if r["status"] in ("failed", "unreachable")]
            detail = "; ".join(f"task {r['task']!r}: {r['result'].get('msg')}" for r in failed) or proc.stdout[-3000:]
            raise RuntimeError(f"ansible-playbook failed (rc {proc.returncode}): {detail}")
        return wall, results, task_starts(times), self.host_runs()[before:]

    def ssh(self, command):
        start = time.perf_counter()
        proc = self.lab.ssh(command, timeout=60)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"ssh {command!r}: rc {proc.returncode}: {proc.stderr.strip()}")
        return wall


def role_vars(lab, uplink, persist):
    return {"change_window_bridges": [{"name": "vmbr0", "ports": [uplink]}],
            "change_window_guests": {"source": "explicit",
                                     "ports": [{"device": tap, "bridge": "vmbr0"} for tap in lab.taps]},
            "change_window_persist": persist, "change_window_persist_format": "ifupdown2",
            "change_window_confirm_timeout": 60}


def uplink_now(lab) -> str:
    ports = []
    for nic in lab.uplinks:
        out = subprocess.run(["ip", "-n", lab.hv, "-o", "link", "show", "dev", nic], capture_output=True, text=True,
                             check=True).stdout
        if " master vmbr0 " in out:
            ports.append(nic)
    assert len(ports) == 1, ports
    return ports[0]


def other(uplink):
    return "eno1" if uplink == "eno2" else "eno2"


def find_old_role(given: str | None) -> Path:
    """The old role's directory: --old-role, or bench/old_change_window (the role itself or a roles/ tree holding it)."""
    base = Path(given) if given else ROOT / "bench" / "old_change_window"
    for candidate in (base, base / "roles" / "change_window"):
        if (candidate / "tasks" / "main.yml").is_file():
            return candidate.resolve()
    sys.exit(f"the old change_window role is not in {base}: give --old-role (e.g. after "
             "`git archive 41164a7 roles/change_window | tar -x -C /tmp/oldrole`: --old-role /tmp/oldrole/roles/change_window)")


def new_role_ready() -> bool:
    return "netsafe.hypervisor.net_state" in (ROOT / "roles" / "change_window" / "tasks" / "main.yml").read_text()


class Record:
    """What one lab's rounds measured, by variant."""

    def __init__(self, guests):
        self.guests = guests
        self.walls: dict = {}
        self.tasks: dict = {}        # variant -> [{task: seconds}]
        self.modules: dict = {}      # variant -> [[(task, host seconds)]]
        self.guarded: dict = {}      # variant -> [{part: seconds}] of the net_state task with checkpoint
        self.outcomes: dict = {}
        self.loads = [load_average()]

    def add_playbook(self, key, measured, wall_from=None):
        wall, results, starts, host = measured
        self.walls.setdefault(key, []).append(wall if wall_from is None else wall_from)
        self.tasks.setdefault(key, []).append(task_times(starts))
        runs = module_results(results)
        if len(runs) == len(host):
            self.modules.setdefault(key, []).append([(name, end - start) for (name, _a, _r), (start, end, _rc)
                                                     in zip(runs, host)])
        else:   # cannot pair them: keep the count
            self.modules.setdefault(key, []).append(
                [(f"? ({len(runs)} module results, {len(host)} host runs)", end - start) for start, end, _rc in host])
        for (_name, action, result), (start, end, _rc) in zip(runs, host):
            t = result.get("timings", {})
            if action.endswith("net_state") and "armed" in t and len(runs) == len(host):
                self.guarded.setdefault(key, []).append({
                    "interpreter start + imports": t["start"] - start,
                    "preflight probes + preview + arm": t["armed"] - t["start"], "apply": t["applied"] - t["armed"],
                    "post probes": t["probed"] - t["applied"], "after the probes (describe, exit)": end - t["probed"],
                    "host total": end - start})
        reports = [r for r in results if "change_window_report" in r["result"].get("ansible_facts", {})]
        if reports:
            self.outcomes.setdefault(key, []).append(reports[-1]["result"]["ansible_facts"]["change_window_report"]
                                                     .get("outcome"))


def run_lab(args, tmp: Path, guests: int, repeat: int, variants: list, old_role: Path) -> Record:
    rec = Record(guests)
    with SshLab(guests=guests) as lab:
        bench = Bench(lab, tmp)
        bench.playbook(PING, None)   # warm-up: the controller's first run compiles what it imports

        def change(key):
            target = other(uplink_now(lab))
            if key == "ping":
                rec.add_playbook(key, bench.playbook(PING, None))
                return
            if key == "net_bridge":
                measured = bench.playbook(BRIDGE, {"uplink": target})
            elif key == "plain, net_state confirms":
                measured = bench.playbook(PLAIN_BY_STATE, {"uplink": target})
            elif key == "plain, net_checkpoint confirms":
                measured = bench.playbook(PLAIN_BY_CHECKPOINT, {"uplink": target})
            elif key.startswith("old"):   # found through the roles path, by its directory's name
                measured = bench.playbook(ROLE.format(role=old_role.name), role_vars(lab, target, key.endswith("+persist")),
                                          {"ANSIBLE_ROLES_PATH": str(old_role.parent)})
            else:
                measured = bench.playbook(ROLE.format(role="netsafe.hypervisor.change_window"),
                                          role_vars(lab, target, key.endswith("+persist")))
            assert uplink_now(lab) == target, (key, target)
            rec.add_playbook(key, measured)

        for r in range(repeat):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for key in order:
                if key.startswith("ssh"):
                    continue
                change(key)
            old = uplink_now(lab)
            new = other(old)
            rec.walls.setdefault("ssh ip -batch", []).append(bench.ssh(
                f"printf 'link set dev {old} nomaster\\nlink set dev {new} master vmbr0\\n' | ip -batch -"))
            if "ssh, one ip per command" in variants:
                # One ip process per command, in one ssh (one ssh per command would cut itself off: after
                # `nomaster` vmbr0 has no uplink, and the second ssh never arrives).
                rec.walls.setdefault("ssh, one ip per command", []).append(
                    bench.ssh(f"ip link set dev {new} nomaster && ip link set dev {old} master vmbr0"))
            print(f"[{guests} guests] round {r}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in rec.walls.items())
                  + f"; load {load_average()}", file=sys.stderr)
            rec.loads.append(load_average())
        on_bridge = subprocess.run(["ip", "-n", lab.hv, "-o", "link", "show", "master", "vmbr0"], capture_output=True,
                                   text=True, check=True).stdout.count(" tap")
        assert on_bridge == guests, f"{on_bridge} of {guests} guest taps still on vmbr0"
    return rec


def module_table(rec: Record, key: str) -> list:
    """[(task, occurrence, median host seconds)] of a variant's module runs, in the order of its last run."""
    runs = rec.modules.get(key, [])
    if not runs:
        return []
    by: dict = {}
    for run in runs:
        seen: dict = {}
        for name, seconds in run:
            seen[name] = seen.get(name, 0) + 1
            by.setdefault((name, seen[name]), []).append(seconds)
    out, seen = [], {}
    for name, _seconds in runs[-1]:
        seen[name] = seen.get(name, 0) + 1
        out.append((short(name), seen[name], med(by[(name, seen[name])])))
    return out


def report(recs: list, args, notes: list) -> None:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    print(f"Run of {time.strftime('%Y-%m-%d %H:%M %Z')} at {commit}; {os.cpu_count()} CPUs; "
          f"uptime at the end: {subprocess.run(['uptime'], capture_output=True, text=True, check=False).stdout.strip()}\n")
    for note in notes:
        print(f"- {note}")
    for rec in recs:
        counts = {k: [len(run) for run in v] for k, v in rec.modules.items()}
        repeats = max(len(v) for v in rec.walls.values())
        print(f"\n#### {rec.guests} guest taps on vmbr0 (medians of {repeats} rounds; load average 1/5/15 min at the "
              f"start of each round and the end: {', '.join(rec.loads)}; outcomes: "
              f"{ {k: sorted(set(v)) for k, v in rec.outcomes.items()} })\n")
        bare = med(rec.walls.get("net_bridge", []))
        ping = med(rec.walls.get("ping", []))
        print("| what | wall time (median) | min - max | median / bare task's median | same round's bare task: "
              "median of the ratios (min - max) | module runs on the host |")
        print("|---|---:|---:|---:|---:|---:|")
        for key, values in rec.walls.items():
            runs = counts.get(key)
            runs_text = ("-" if runs is None else str(runs[0]) if len(set(runs)) == 1
                         else f"{min(runs)}-{max(runs)}")
            ratios = [v / b for v, b in zip(values, rec.walls.get("net_bridge", []))]
            print(f"| {key} | {fmt(med(values))} | {fmt(min(values), '')}-{fmt(max(values))} |"
                  f" {fmt(med(values) / bare, 'x')} | {fmt(med(ratios), 'x')} ({fmt(min(ratios), '')}-"
                  f"{fmt(max(ratios), 'x')}) | {runs_text} |")
        if not math.isnan(ping):
            print(f"\nBeyond an empty playbook (wall minus the ping playbook's {ping:.2f} s): bare task "
                  f"{bare - ping:.2f} s; " + "; ".join(
                      f"{k} {med(v) - ping:.2f} s ({(med(v) - ping) / (bare - ping):.1f}x)"
                      for k, v in rec.walls.items() if k not in ("ping", "net_bridge") and not k.startswith("ssh")))
        shown = [k for k in rec.walls if k in rec.modules and k not in ("ping",)]
        print("\nModule runs of one window, in order (each one interpreter process on the host; its time there, "
              "interpreter start to exit, median):\n")
        for key in shown:
            table = module_table(rec, key)
            tasks = {short(name): med(p[name] for p in rec.tasks[key] if name in p)
                     for name in {n for p in rec.tasks[key] for n in p}}
            repeated = {name for name, n, _s in table if n > 1}

            def cell(name, n, seconds):
                # A task's time only where the task ran one module once (a task name run twice sums both).
                task = f" (task {tasks[name]:.2f} s)" if name in tasks and name not in repeated else ""
                return f"{name}{f' ({n})' if n > 1 else ''} {seconds:.2f} s{task}"

            print(f"- {key}: " + ", ".join(cell(*row) for row in table)
                  + f"; sum {sum(s for _n, _o, s in table):.2f} s of a {med(rec.walls[key]):.2f} s playbook (the rest: "
                  "ansible-playbook's start, building each module's AnsiballZ, SSH, controller-side tasks)")
        if rec.guarded:
            print("\nnet_state with `checkpoint`, inside its one run on the host (from its `timings`; median):\n")
            parts = []
            for values in rec.guarded.values():
                for part in values[0]:
                    if part not in parts:
                        parts.append(part)
            print("| variant | " + " | ".join(parts) + " |")
            print("|---|" + "---:|" * len(parts))
            for key, values in rec.guarded.items():
                print(f"| {key} | " + " | ".join(fmt(med(v.get(p) for v in values)) for p in parts) + " |")
        keys = [k for k in rec.tasks if k not in ("ping", "net_bridge")]
        names: list = []
        for key in keys:
            for per_task in rec.tasks[key]:
                names += [n for n in per_task if n not in names]
        print("\nPer task (from one task's start to the next one's, medians; - : the variant has no such task):\n")
        print("| task | " + " | ".join(keys) + " |")
        print("|---|" + "---:|" * len(keys))
        small: dict = {}
        for name in names:
            values = {key: [p[name] for p in rec.tasks[key] if name in p] for key in keys}
            if all(not v or med(v) < 0.3 for v in values.values()):
                for key, v in values.items():
                    if v:
                        small.setdefault(key, []).append(med(v))
                continue
            print(f"| {short(name)} | " + " | ".join(fmt(med(v)) if v else "-" for v in values.values()) + " |")
        print("| every other task (each under 0.3 s): how many, their sum | "
              + " | ".join(f"{len(small.get(key, []))}, {sum(small.get(key, [])):.2f} s" for key in keys) + " |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--guests", type=int, default=2)
    parser.add_argument("--large-guests", type=int, default=1000, help="guest taps of the second lab (0: none)")
    parser.add_argument("--large-repeat", type=int, default=2)
    parser.add_argument("--persist", action="store_true", help="also old+persist and new+persist (small host only)")
    parser.add_argument("--old-role", help="the old change_window role (default: bench/old_change_window)")
    parser.add_argument("--no-plain", action="store_true", help="leave out the new flow as plain playbooks")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the lab creates network and mount namespaces")
    old_role = find_old_role(args.old_role)
    notes = [f"old flow: the role in {old_role.relative_to(ROOT) if old_role.is_relative_to(ROOT) else old_role}"]
    flows = ["old"]
    if new_role_ready():
        flows.append("new")
        notes.append("new flow: roles/change_window (net_state)")
    else:
        notes.append("new flow: NOT the role (roles/change_window does not use net_state yet); only the plain playbook")
    if not args.no_plain:
        flows += ["plain, net_state confirms", "plain, net_checkpoint confirms"]
    small = ["ping", "net_bridge"] + flows
    if args.persist:
        small += [f + "+persist" for f in flows if f in ("old", "new")]
    recs = []
    with tempfile.TemporaryDirectory(prefix="netsafe-cwbench-") as tmp:
        recs.append(run_lab(args, Path(tmp), args.guests, args.repeat, small + ["ssh, one ip per command"], old_role))
        if args.large_guests:
            recs.append(run_lab(args, Path(tmp), args.large_guests, args.large_repeat,
                                ["net_bridge"] + [f for f in flows if f != "plain, net_checkpoint confirms"], old_role))
    report(recs, args, notes)


if __name__ == "__main__":
    main()
