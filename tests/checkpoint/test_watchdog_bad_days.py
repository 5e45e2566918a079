"""The watchdog on a bad day (issue 22, the safety net's fault table): while a checkpoint is armed its
watchdog never exits without rolling back, and the rollback starts at the deadline.

| fault | test |
|---|---|
| /var/lib/netsafe full, /run/netsafe full, both full (tmpfs in a private mount namespace) | test_full_disks_... |
| the namespace deleted (or replaced by another of its name) while armed | test_namespace_deleted_... |
| the wall clock stepped +1 h and -1 h while armed (libfaketime, the watchdog's process only) | test_wall_clock_... |
| gate probes to a blackhole with count 10, timeout 3 | test_slow_gate_probes_... |

Every rollback is judged by the complete state dump before the change and
after. Watchdogs are real detached processes; the fixtures kill any left.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from diskfill import FILLER
from nstools import ip, iproute, kernel_state, state_diff

pytestmark = [pytest.mark.kernel]

TESTS = Path(__file__).resolve().parents[1]
COLLECTIONS = TESTS.parent / ".tmp" / "collections"
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")   # tests/setup.d/60-libfaketime.sh
# A change the watchdog must undo: vmbr0 loses its uplink, a new bridge takes a guest, an MTU moves.
CHANGE = ["ip link set eno1 nomaster", "ip link add vmbrX type bridge", "ip link set tap100i0 master vmbrX",
          "ip link set vmbr1 mtu 1400"]
BOUND = 0.5     # seconds: the rollback starts within this of the deadline
POLL = 0.02


def quiet(host):
    """The lab host with STP off on vmbr1: its first topology change (max_age + forward_delay, 24 s) would
    otherwise hold every settled state dump taken in the next half minute."""
    iproute(host.ns, ["ip link set vmbr1 type bridge stp_state 0"])
    return host


@pytest.fixture
def dogs():
    """Pids of the watchdogs a test started, killed at the end: one that has finished its rollback has no ready
    file left for the lab's cleanup to find it by, and may still be probing (or, its directory gone, trying to
    write its log)."""
    pids = []
    try:
        yield pids
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def armed(host, **args) -> dict:
    result = host.checkpoint(state="armed", **args)
    assert not result.get("failed"), result
    return result["checkpoint"]


def deadline_now(host) -> float:
    """The armed deadline on this test's time.monotonic(); the record keeps it on the wall clock too (display)."""
    record = json.loads((host.run_dir / "checkpoint.json").read_text())
    return time.monotonic() + record["deadline"] - time.time()


def rollback_seen(hosts: list, limit: float) -> dict:
    """{host index: time.monotonic() when its watchdog logged 'rolling back'}, polled until all are seen or `limit`."""
    seen = {}
    while len(seen) < len(hosts) and time.monotonic() < limit:
        for index, host in enumerate(hosts):
            if index not in seen and ": rolling back (" in host.log():
                seen[index] = time.monotonic()
        time.sleep(POLL)
    return seen


def started_late(last: dict, seen_late: float) -> None:
    """The rollback started at the deadline: not before it (as this test saw the log), and within BOUND after it
    as the watchdog recorded it on CLOCK_BOOTTIME (the log is seen a poll or a busy scheduler later)."""
    assert seen_late >= -POLL, (f"rolled back {-seen_late:.2f} s before the deadline", last)
    assert 0 <= last["started_after_deadline_ms"] <= BOUND * 1000, (seen_late, last)


def gone(pid: int, limit: float) -> bool:
    give_up = time.monotonic() + limit
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < give_up:
        time.sleep(POLL)
    return not os.path.exists(f"/proc/{pid}")


# -- the deadline holds whatever the gate probes do ---------------------------------------------------------------

def test_slow_gate_probes_do_not_hold_the_deadline(make_host, dogs):
    """ICMP to an address that never answers, count 10 x timeout 3 (30 s), on a 5 s checkpoint: the gate's probes
    get the time left, so the rollback starts within 0.5 s of the deadline (it started 25 s late before)."""
    host = quiet(make_host())
    ip("address", "add", "192.0.2.1/24", "dev", "sw1", ns=host.peer)
    subprocess.run(["ip", "netns", "exec", host.peer, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"], check=True)
    before = host.state()
    checkpoint = armed(host, timeout=5, gate_settle=0,
                       probes=[{"type": "icmp", "target": "192.0.2.1", "count": 10, "timeout": 3}])
    dogs.append(checkpoint["watchdog"]["pid"])   # after the rollback it probes once more, for up to 30 s
    deadline = deadline_now(host)
    iproute(host.ns, ["ip link set vmbr1 mtu 1400"])   # the gate sees a change and starts probing at once
    seen = rollback_seen([host], deadline + 3)
    assert 0 in seen, f"no rollback within 3 s of the deadline; watchdog log:\n{host.log()}"
    last = host.wait_outcome(checkpoint["id"], 30)
    assert last["outcome"] == "rolled_back" and last["reason"].startswith("not confirmed before its deadline"), last
    started_late(last, seen[0] - deadline)
    assert "no reply to" in host.log() and "stopped at the deadline" in host.log()   # the probe was cut short
    assert state_diff(before, host.state()) == []


# -- the deadline is kept on CLOCK_BOOTTIME ------------------------------------------------------------------------

SLEEP_SHIM = '''"""libfaketime 0.9.10 (Debian 12) with FAKETIME_DONT_FAKE_MONOTONIC refuses Python 3.11's time.sleep
(clock_nanosleep to an absolute CLOCK_MONOTONIC time) with EINVAL (wolfcw/libfaketime#426): sleep with select."""
import select
import time

time.sleep = lambda seconds: select.select([], [], [], seconds)
'''


def _watchdog_under_faketime(host, checkpoint: dict, offset_file: Path, shim: Path) -> subprocess.Popen:
    """Replace the armed watchdog by one started from the same entry point with libfaketime preloaded.

    Only that process sees the fake wall clock, and only its wall clock: the
    test writes the offset ('+3600', '-3600') into `offset_file` mid-window.
    Started here because the module gives the watchdog a clean environment.
    """
    os.kill(checkpoint["watchdog"]["pid"], signal.SIGKILL)
    assert gone(checkpoint["watchdog"]["pid"], 5)
    offset_file.write_text("+0\n")
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "LD_PRELOAD": str(FAKETIME),
           "FAKETIME_TIMESTAMP_FILE": str(offset_file), "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1", "NO_FAKE_STAT": "1", "PYTHONPATH": str(shim)}
    log = open(host.run_dir / "watchdog.log", "ab")  # noqa: SIM115 (handed to the child)
    try:
        proc = subprocess.Popen([sys.executable, "-s", str(host.run_dir / "watchdog.py"), str(host.run_dir),
                                 str(host.root)], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    finally:
        log.close()
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:   # it says it is ready as the module's watchdog does
        ready = json.loads((host.run_dir / "watchdog.ready").read_text())
        if ready["pid"] == proc.pid:
            return proc
        assert proc.poll() is None, host.log()
        time.sleep(POLL)
    raise AssertionError(f"the watchdog under libfaketime did not start:\n{host.log()}")


def _stamp_offset(log: str) -> float:
    """How far the watchdog's own wall clock was from ours when it logged 'rolling back' (its lines carry its time)."""
    line = next(text for text in log.splitlines() if ": rolling back (" in text)
    stamp = datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    return stamp - time.time()


def test_wall_clock_steps_move_no_deadline(make_host, dogs, tmp_path):
    """The watchdog's wall clock stepped +1 h on one host and -1 h on another, mid-way through a 10 s window: both
    roll back at the armed deadline +- 0.5 s (before: at once, and an hour late)."""
    assert FAKETIME.exists(), "libfaketime is missing: run bash tests/setup.d/60-libfaketime.sh"
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SLEEP_SHIM)
    steps = ["+3600", "-3600"]
    hosts = [quiet(make_host()) for _step in steps]
    befores, ids, deadlines, files, procs = [], [], [], [], []
    for n, host in enumerate(hosts):
        befores.append(host.state())
        checkpoint = armed(host, timeout=10)
        ids.append(checkpoint["id"])
        deadlines.append(deadline_now(host))
        files.append(tmp_path / f"offset{n}")
        procs.append(_watchdog_under_faketime(host, checkpoint, files[n], shim))
        dogs.append(procs[-1].pid)
        iproute(host.ns, CHANGE)
    time.sleep(max(0.0, min(deadlines) - 5 - time.monotonic()))
    assert min(deadlines) - time.monotonic() > 2, "setting the hosts up took most of the window: no step mid-window"
    for offset_file, step in zip(files, steps):
        offset_file.write_text(step + "\n")
    seen = rollback_seen(hosts, max(deadlines) + 3)
    early = {step: round(deadlines[n] - seen[n], 2) for n, step in enumerate(steps)
             if seen.get(n, 1e9) < deadlines[n] - POLL}
    late = [step for n, step in enumerate(steps) if n not in seen]
    assert not early and not late, (f"rolled back early by {early} s, not within 3 s of the deadline: {late}",
                                    [host.log() for host in hosts])
    for n, (host, step) in enumerate(zip(hosts, steps)):
        assert abs(_stamp_offset(host.log()) - int(step)) < 60, (step, host.log())   # its clock really was stepped
        last = host.wait_outcome(ids[n], 30)
        assert last["outcome"] == "rolled_back" and last["by"] == f"watchdog pid {procs[n].pid}", last
        started_late(last, seen[n] - deadlines[n])
        assert state_diff(befores[n], host.state()) == [], step


# -- the namespace deleted while armed --------------------------------------------------------------------------

def test_namespace_deleted_while_armed_closes_the_checkpoint(make_host, dogs):
    """One namespace deleted, another deleted and made again under its name: each watchdog logs it, exits cleanly
    (no traceback) and closes its checkpoint as namespace_gone, which query reports; nothing is built in the new
    namespace (before: the watchdog died on NamespaceNotFound, or rolled the snapshot onto the stranger)."""
    hosts = [quiet(make_host()), quiet(make_host())]
    checkpoints = [armed(host, timeout=30, gate_settle=0, probes=[{"type": "icmp", "target": "192.0.2.1", "count": 1}])
                   for host in hosts]
    dogs.extend(checkpoint["watchdog"]["pid"] for checkpoint in checkpoints)
    ip("netns", "del", hosts[0].ns)
    ip("netns", "del", hosts[1].ns)
    ip("netns", "add", hosts[1].ns)
    stranger = kernel_state(hosts[1].ns)
    for host, checkpoint in zip(hosts, checkpoints):
        assert gone(checkpoint["watchdog"]["pid"], 10), host.log()
        log = host.log()
        assert f"namespace {host.ns} was deleted (or replaced by another of that name)" in log, log
        assert "Traceback" not in log and "closed as namespace_gone" in log, log
        query = host.checkpoint(state="query")
        assert query["armed"] is False and "pending" not in query, query
        assert query["last"]["id"] == checkpoint["id"] and query["last"]["outcome"] == "namespace_gone", query
        assert query["last"]["commands"] == [], query
    assert state_diff(stranger, kernel_state(hosts[1].ns)) == []


# -- full disks -------------------------------------------------------------------------------------------------

class PrivateDisks:
    """A private mount namespace, held by a `sleep`, in which tmpfs file systems stand for the host's disks.

    `full` names what is mounted (and later filled): "var" (the lab's
    var/lib/netsafe) and/or "run" (/run/netsafe itself, where the network lock
    lives, bound over the lab's run/netsafe too). With `lockless`, filling /run
    also takes its last inode and removes the network lock's file (a cleaner of
    /run could), so the lock can be neither opened nor made. Nothing is mounted on this
    machine's own view: the mounts die with the namespace's last process (the
    holder and any watchdog started inside, which keeps the namespace).
    """

    SIZE = "4m"

    def __init__(self, host, full: tuple, lockless: bool = False):
        self.host, self.full, self.lockless = host, full, lockless
        self.var = host.root / "var/lib/netsafe"
        self.run = host.root / "run/netsafe"
        script = []
        for path in (self.var, self.run):
            path.mkdir(parents=True, exist_ok=True)
        if "var" in full:
            script.append(f"mount -t tmpfs -o size={self.SIZE},mode=0700 tmpfs {self.var}")
        if "run" in full:
            Path("/run/netsafe").mkdir(exist_ok=True)   # conftest removes it at the end if this run made it
            script += [f"mount -t tmpfs -o size={self.SIZE},nr_inodes=400,mode=0700 tmpfs /run/netsafe",
                       "mkdir -m 700 /run/netsafe/lock", f"mount --bind /run/netsafe {self.run}"]
        script.append("echo ready; exec sleep 900")
        self.filler = None
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-ec", "; ".join(script)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def path(self, inside: Path) -> Path:
        """`inside` (a path as the namespace sees it) from here."""
        return Path(f"/proc/{self.proc.pid}/root") / Path(inside).relative_to("/")

    def module(self, name: str, args: dict) -> subprocess.Popen:
        """Start a module's real entry point inside the namespace (its result: `result()`)."""
        code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; from modrun import run_module; "
                "import json; print(json.dumps(run_module(sys.argv[3], json.loads(sys.argv[4]))))")
        return subprocess.Popen(["nsenter", "-t", str(self.proc.pid), "-m", "--", sys.executable, "-c", code,
                                 str(TESTS), str(COLLECTIONS), name, json.dumps(args)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def fill(self) -> None:
        """Fill what was mounted and keep it full: a writer inside takes every block freed (and with `lockless`,
        every inode of /run, its lock file removed first), as a runaway log does on a real host. On /run it
        also pads the watchdog's log with empty lines up to its last byte: no line fits there any more."""
        targets = [str(self.var)] * ("var" in self.full) + ["/run/netsafe"] * ("run" in self.full)
        if self.lockless:
            self.path(Path(f"/run/netsafe/lock/netns-{self.host.ns}.lock")).unlink()
        log = str(self.host.run_dir / "watchdog.log") if "run" in self.full else "-"
        self.filler = subprocess.Popen(["nsenter", "-t", str(self.proc.pid), "-m", "--", sys.executable, "-c", FILLER,
                                        "lockless" if self.lockless else "-", log, *targets],
                                       stdout=subprocess.PIPE, text=True)
        assert self.filler.stdout.readline().strip() == "full"

    def free(self) -> None:
        self.filler.kill()
        self.filler.wait()
        code = "import glob, os, sys\nfor d in sys.argv[1:]:\n    [os.unlink(p) for p in glob.glob(d + '/fill*')]\n"
        targets = [str(self.var)] * ("var" in self.full) + ["/run/netsafe"] * ("run" in self.full)
        subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--", sys.executable, "-c", code, *targets],
                       check=True)

    def read(self, inside: Path) -> str:
        path = self.path(inside)
        return path.read_text() if path.exists() else ""

    def close(self) -> None:
        for proc in (self.filler, self.proc):
            if proc is not None:
                proc.kill()
                proc.wait()


def results(procs: list) -> list:
    """The results of module runs started side by side (PrivateDisks.module)."""
    found = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (out, err)
        found.append(json.loads(out[out.index("{"):]))
    return found


@pytest.fixture
def disks():
    made = []

    def make(host, full, lockless=False):
        made.append(PrivateDisks(host, full, lockless))
        return made[-1]

    try:
        yield make
    finally:
        for item in made:
            item.close()


def test_full_disks_roll_back_at_the_deadline_and_say_what_was_not_written(make_host, disks, dogs):
    """/var/lib/netsafe full; /run/netsafe full (the network lock still taken, without its holder's note); both
    full, the lock's file gone and no inode left to make it: the watchdog rolls back at the deadline all the same,
    query tells the truth while the disks are full, and once there is space again last.json and the log say what
    could not be written (before: it died of ENOSPC, the change stayed and the record said armed)."""
    cases = [("var",), ("run",), ("var", "run")]
    hosts = [quiet(make_host()) for _case in cases]
    lab = [disks(host, full, lockless=len(full) == 2) for host, full in zip(hosts, cases)]
    befores = [host.state() for host in hosts]
    arms = results([item.module("net_checkpoint", {"state": "armed", "timeout": 6, "namespace": host.ns,
                                                   "root": str(host.root)})
                    for host, item in zip(hosts, lab)])
    for arm in arms:
        assert arm.get("armed"), arm
        dogs.append(arm["checkpoint"]["watchdog"]["pid"])
    for host, item in zip(hosts, lab):
        item.fill()
        iproute(host.ns, CHANGE)
        assert state_diff(befores[hosts.index(host)], host.state())
    records = [item.path(host.run_dir / "checkpoint.json") for host, item in zip(hosts, lab)]
    give_up = time.monotonic() + 30
    while any(path.exists() for path in records) and time.monotonic() < give_up:
        time.sleep(0.1)
    changed = {full: item.read(host.run_dir / "watchdog.log")
               for host, item, before, full in zip(hosts, lab, befores, cases) if state_diff(before, host.state())}
    assert not changed, f"not rolled back: {list(changed)}; their logs: {changed}"
    # Still full: query says what happened, or (both full) that the outcome is still to be written.
    queries = results([item.module("net_checkpoint", {"state": "query", "namespace": host.ns, "root": str(host.root)})
                       for host, item in zip(hosts, lab)])
    for query, arm, full in zip(queries, arms, cases):
        assert query["armed"] is False, (full, query)
        if full == ("var", "run"):
            assert (query.get("pending") or {}).get("id") == arm["checkpoint"]["id"], query
            assert query["last"] is None or query["last"]["id"] != arm["checkpoint"]["id"], query
        else:
            assert query["last"]["id"] == arm["checkpoint"]["id"] and query["last"]["outcome"] == "rolled_back", query
    var_log = lab[0].read(hosts[0].run_dir / "watchdog.log")   # /run has room there: the log says it at once
    assert f"could not write: the rolling_back state: {hosts[0].state_dir / 'checkpoint.json'}: No space" in var_log
    for item in lab:
        item.free()
    for arm, host in zip(arms, hosts):
        assert gone(arm["checkpoint"]["watchdog"]["pid"], 30), host.ns   # it stayed only to write what was left
    for host, item, arm, full in zip(hosts, lab, arms, cases):
        log = item.read(host.run_dir / "watchdog.log")
        last = json.loads(item.read(host.state_dir / "last.json"))
        assert last["id"] == arm["checkpoint"]["id"] and last["outcome"] == "rolled_back", (full, last)
        assert 0 <= last["started_after_deadline_ms"] <= BOUND * 1000, (full, last)
        assert last["not_written"] and all("No space left on device" in line for line in last["not_written"]), last
        assert "could not write: " in log and ": rolling back (not confirmed before its deadline" in log, (full, log)
        assert "Traceback" not in log, log
        if "var" in full:
            assert any(line.startswith(f"last.json: {host.state_dir / 'last.json'}") for line in last["not_written"])
            assert "recorded_late" in last, last
        if "run" in full:
            assert any(line.startswith(f"the rolling_back state: {host.run_dir / 'checkpoint.json'}")
                       for line in last["not_written"]), last
            lock = f"the network lock: /run/netsafe/lock/netns-{host.ns}.lock: No space left on device: "
            done = "went on without the lock" if len(full) == 2 else "held without the holder's name"
            assert any(line.startswith(lock + done) for line in last["not_written"]), last
            assert any(line.startswith(f"the log: {host.run_dir / 'watchdog.log'}") for line in last["not_written"])
            assert not item.path(host.run_dir / "watchdog.ready").exists()
    after = results([item.module("net_checkpoint", {"state": "query", "namespace": host.ns, "root": str(host.root)})
                     for host, item in zip(hosts, lab)])
    for query, arm in zip(after, arms):
        assert "pending" not in query and query["last"]["id"] == arm["checkpoint"]["id"], query
