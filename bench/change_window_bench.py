"""Benchmark: one bridge change as a bare net_bridge task against the whole change_window role, over SSH.

Run on purpose, as root, from the repository root (after tests/run-all.sh or
tests/setup.d/33-openssh.sh unpacked the lab's sshd):

    .venv/bin/python bench/change_window_bench.py [--repeat 5] [--guests 2]

Everything runs in the SSH lab (tests/sshlab.py): ansible-playbook in a
controller namespace reaches the lab hypervisor over real SSH through vmbr0,
the bridge being changed. The change is the classic one: vmbr0's uplink moved
from eno1 to eno2 (and back in the next trial, so every trial changes
something). Compared in interleaved rounds, same lab, same run:

- `ping`: a playbook with one `ansible.builtin.ping` task (what any playbook
  run costs here: ansible-playbook's start, SSH, AnsiballZ);
- `net_bridge`: a playbook with one `netsafe.hypervisor.net_bridge` task
  (`name: vmbr0, ports: [eno2]`);
- `role`: `netsafe.hypervisor.change_window` with
  `change_window_bridges: [{name: vmbr0, ports: [eno2]}]`, the guests given
  explicitly, `change_window_persist: false`;
- `role+persist`: the same with `change_window_persist: true`, format
  ifupdown2 (written to the lab's private /etc overlay, thrown away with it);
- `old role`, `old role+persist`: the same two with the role as it was before
  it ran on net_state (bench/old_change_window: bonds, VLANs and bridges as
  separate module tasks, with arm, probes and tap_reenslave of their own);
- for scale, the shell way over the same SSH path: one `ssh hv ip -batch -`
  with the two `link set` lines, and one ssh running one `ip link set` per
  command (one ssh per command cuts itself off: after `nomaster` vmbr0 has
  no uplink).

Figures: the wall time of each ansible-playbook (or ssh) process; for the
role, its own `change_window_report.timings` (preflight_s: start to armed,
including the preflight probes and the arm; apply_s; probes_s: the post
probes; total_s), the module runs on the host per window (tasks of the collection
that ran), and the time of every task from a task-start timer
callback (a task's time is from its start to the next task's start, so it
includes Ansible's own work between them). Prints a Markdown report
(medians) for docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sshlab import SshLab  # noqa: E402

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
    - role: netsafe.hypervisor.change_window
"""
# The role as it was before net_state (bench/old_change_window), found through ANSIBLE_ROLES_PATH.
OLD_ROLE = ROLE.replace("netsafe.hypervisor.change_window", "old_change_window")
OLD_ENV = {"ANSIBLE_ROLES_PATH": str(ROOT / "bench")}
ROLES = {"role": (ROLE, False, {}), "role+persist": (ROLE, True, {}),
         "old role": (OLD_ROLE, False, OLD_ENV), "old role+persist": (OLD_ROLE, True, OLD_ENV)}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def task_times(path: Path) -> dict:
    """{task name: seconds} from the timer's starts (each task until the next one starts)."""
    if not path.exists():
        return {}
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    times: dict = {}
    for entry, following in zip(entries, entries[1:]):
        times[entry["task"]] = times.get(entry["task"], 0.0) + following["t"] - entry["t"]
    return times


class Bench:
    def __init__(self, lab: SshLab, tmp: Path):
        self.lab, self.tmp = lab, tmp
        plugins = tmp / "callback_plugins"
        plugins.mkdir()
        (plugins / "netsafe_task_timer.py").write_text(TIMER)
        self.plugins = plugins
        self.runs = 0

    def playbook(self, text, extra_vars, extra_env=None):
        self.runs += 1
        times = self.tmp / f"times{self.runs}.jsonl"
        env = {"ANSIBLE_CALLBACK_PLUGINS": f"{ROOT / 'tests' / 'ansible' / 'callback_plugins'}:{self.plugins}",
               "ANSIBLE_CALLBACKS_ENABLED": "record,netsafe_task_timer", "NETSAFE_TASK_TIMES": str(times),
               **(extra_env or {})}
        start = time.perf_counter()
        proc, results = self.lab.playbook(text, extra_vars=extra_vars, env=env, timeout=600)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            failed = [r for r in results if r["status"] in ("failed", "unreachable")]
            detail = "; ".join(f"task {r['task']!r}: {r['result'].get('msg')}" for r in failed) or proc.stdout[-3000:]
            raise RuntimeError(f"ansible-playbook failed (rc {proc.returncode}): {detail}")
        return wall, results, task_times(times)

    def ssh(self, command):
        start = time.perf_counter()
        proc = self.lab.ssh(command, timeout=30)
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
    links = lab.state(settled=False)["links"]
    ports = [l["ifname"] for l in links if l.get("master") == "vmbr0" and l["ifname"] in lab.uplinks]
    assert len(ports) == 1, ports
    return ports[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--guests", type=int, default=2)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the lab creates network and mount namespaces")
    walls = {k: [] for k in ("ping", "net_bridge", *ROLES, "ssh ip -batch", "ssh, one ip per command")}
    timings = {key: [] for key in ROLES}
    tasks = {key: [] for key in ROLES}
    module_runs = {key: [] for key in ROLES}
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="netsafe-cwbench-") as tmp, SshLab(guests=args.guests) as lab:
        bench = Bench(lab, Path(tmp))
        bench.playbook(PING, None)   # warm-up: the controller's first run compiles what it imports

        def other(uplink):
            return "eno1" if uplink == "eno2" else "eno2"

        for r in range(args.repeat):
            walls["ping"].append(bench.playbook(PING, None)[0])
            target = other(uplink_now(lab))
            walls["net_bridge"].append(bench.playbook(BRIDGE, {"uplink": target})[0])
            assert uplink_now(lab) == target
            for key, (play, persist, env) in ROLES.items():
                target = other(uplink_now(lab))
                wall, results, per_task = bench.playbook(play, role_vars(lab, target, persist), env)
                module_runs[key].append(len([x for x in results if x["action"].startswith("netsafe.hypervisor.")
                                             and x["status"] != "skipped"]))
                assert uplink_now(lab) == target
                built = [x for x in results if x["task"].endswith("Build the report")]
                report = built[-1]["result"]["ansible_facts"]["change_window_report"]
                outcomes.append(report["outcome"])
                walls[key].append(wall)
                timings[key].append({k: float(v) for k, v in report["timings"].items()})
                tasks[key].append(per_task)
            old = uplink_now(lab)
            new = other(old)
            walls["ssh ip -batch"].append(bench.ssh(
                f"printf 'link set dev {old} nomaster\\nlink set dev {new} master vmbr0\\n' | ip -batch -"))
            # The naive way: one ip process per command, in one ssh (one ssh per command would cut itself
            # off: after `nomaster` vmbr0 has no uplink, and the second ssh never arrives).
            walls["ssh, one ip per command"].append(
                bench.ssh(f"ip link set dev {new} nomaster && ip link set dev {old} master vmbr0"))
            print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in walls.items()), file=sys.stderr)
    load = os.getloadavg()[0]
    print(f"Run of {time.strftime('%Y-%m-%d')} (load average {load:.1f}; SSH lab, {args.guests} guest taps; "
          f"medians of {args.repeat} runs; outcomes: {sorted(set(outcomes))}):\n")
    print("| what | wall time | module runs on the host |")
    print("|---|---:|---:|")
    for key, values in walls.items():
        runs = {"net_bridge": 1}.get(key, module_runs.get(key) and max(module_runs[key]))
        print(f"| {key} | {med(values):.2f} s | {runs if runs is not None else '-'} |")
    print()
    print("| role variant | preflight_s (probes + arm) | apply_s | probes_s | total_s | rest: reset, confirm, persist, "
          "report (total - the three) | ansible-playbook wall |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key in timings:
        t = timings[key]
        rest = med(x["total_s"] - x["preflight_s"] - x["apply_s"] - x["probes_s"] for x in t)
        print(f"| {key} | {med(x['preflight_s'] for x in t):.2f} s | {med(x['apply_s'] for x in t):.2f} s |"
              f" {med(x['probes_s'] for x in t):.2f} s | {med(x['total_s'] for x in t):.2f} s | {rest:.2f} s |"
              f" {med(walls[key]):.2f} s |")
    print()
    names = []
    for per_task in [p for key in ROLES for p in tasks[key]]:
        names += [n for n in per_task if n not in names]
    print("Per task (from one task's start to the next one's; medians):\n")
    print("| task | " + " | ".join(ROLES) + " |")
    print("|---|" + "---:|" * len(ROLES))
    for name in names:
        cells = []
        for key in ROLES:
            values = [p[name] for p in tasks[key] if name in p]
            cells.append(f"{med(values):.2f} s" if values else "-")
        short = name.replace("netsafe.hypervisor.change_window : ", "").replace("old_change_window : ", "")
        print(f"| {short.split(' - ')[0]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
