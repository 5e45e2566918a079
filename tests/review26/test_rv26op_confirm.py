"""Review 26 (op): net_state's `checkpoint.confirm` as an operator uses it at 02:00 (commit 3c11840).

The window's second run is "the same task with the checkpoint's id", and it "confirms only a host it finds as the
task describes". What an operator gets wrong at night, and what the task does then:
- a confirm task written like net_checkpoint's (only the id, no lists) describes nothing, so it confirms whatever
  the host looks like: the promised check is silently skipped;
- an id that templates to '' (`change.checkpoint.id | default('')`) is taken as no `confirm` at all: the task
  becomes the arming run again and applies the change (after a rollback, the change the watchdog just undid);
- the same task run again after a confirmed window (to write the files after a failed save, as the docs say) on a
  host that changed since says the checkpoint "was NOT confirmed" and, in the same sentence, that it "is no longer
  armed: confirmed at ...";
- a confirm task whose lists differ from the arming run's is refused with "the host is not in the state this task
  describes": nothing says that the lists may be what is wrong, nor how long is left before the rollback;
- a confirmation after the watchdog's rollback leads with the operations the host lacks, the rollback comes last;
- docs/net_state.md's confirm example has no `when: change.checkpoint is defined`: a re-run on a host already as
  wanted, or --check, fails the host on an undefined `change.checkpoint`.
The change_window role's own use of it works: a confirmed window is reported in two module runs with the seconds
before the deadline, and a save that fails after the confirmation is reported `confirmed_not_persisted` with no
rollback tried (the role had no test of that outcome).
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from modrun import run_module
from nstools import iproute, kernel_state, state_diff
from playrun import LAB_WINDOW_PLAY as PLAY
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.ansible]

HOST = [
    "ip link set lo up",
    "ip link add eth1 type veth peer name sw1",
    "ip link add eth2 type veth peer name sw2",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set sw1 up", "ip link set sw2 up", "ip link set eth1 up", "ip link set eth2 up", "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
]
PROBES = [{"type": "icmp", "target": "192.0.2.10", "count": 1}]
BRIDGES = [{"name": "vmbr0", "ports": ["eth1", "eth2"]}]


@pytest.fixture
def host(netns, tmp_path):
    """(namespace, root): vmbr0 on eth1 with an address; eth2 free. The change adds eth2 to vmbr0."""
    iproute(netns, HOST)
    root = tmp_path / "root"
    try:
        yield netns, root
    finally:
        kill_watchdogs(root)


def task(ns, root, confirm=None, **lists) -> dict:
    checkpoint = {"timeout": 120, "probes": PROBES, "gate": False, "root": str(root)}
    if confirm is not None:
        checkpoint["confirm"] = confirm
    return {"namespace": ns, **lists, "checkpoint": checkpoint}


def armed_change(ns, root) -> str:
    done = run_module("net_state", task(ns, root, bridges=BRIDGES))
    assert not done.get("failed") and done["outcome"] == "armed", done
    return done["checkpoint"]["id"]


def query(ns, root) -> dict:
    return run_module("net_checkpoint", {"state": "query", "namespace": ns, "root": str(root)})


def test_a_confirm_task_without_the_lists_is_refused_not_a_blind_confirmation(host):
    """`checkpoint: {confirm: id}` alone, as net_checkpoint's confirmation is written: the task describes nothing,
    so "only a host in the state the task describes is confirmed" holds for any host. It must be refused, naming
    the lists to give, with nothing confirmed."""
    ns, root = host
    checkpoint_id = armed_change(ns, root)
    bare = run_module("net_state", task(ns, root, confirm=checkpoint_id))
    assert query(ns, root)["armed"] is True, f"confirmed with no device described: {bare}"
    assert bare.get("failed") and "checkpoint.confirm" in bare["msg"] and "bridges" in bare["msg"], bare


def test_an_empty_confirm_id_is_refused_not_run_as_the_change(host):
    """`confirm: ''` (an id templated with `| default('')`) is a confirmation that lost its id. It must fail naming
    checkpoint.confirm; today it is read as no confirm and the task arms and applies the change again (here after a
    rollback: the change the operator was trying to keep or that the watchdog has just undone)."""
    ns, root = host
    checkpoint_id = armed_change(ns, root)
    rolled = run_module("net_checkpoint", {"state": "rolled_back", "id": checkpoint_id, "namespace": ns,
                                           "root": str(root)})
    assert not rolled.get("failed"), rolled
    before = kernel_state(ns)
    empty = run_module("net_state", task(ns, root, confirm="", bridges=BRIDGES))
    assert state_diff(before, kernel_state(ns)) == [], f"a confirmation applied the change: {empty.get('commands')}"
    assert empty.get("failed") and "checkpoint.confirm" in empty["msg"], empty


def test_running_the_confirmation_again_on_a_changed_host_does_not_say_not_confirmed(host):
    """The docs: run the same task again to write the files after a failed save. On a host changed since (here
    vmbr0's MTU), the refusal says "checkpoint X was NOT confirmed; checkpoint X is no longer armed: confirmed at
    ...": at 02:00 the first half reads as "your change will be rolled back". It must say it IS confirmed."""
    ns, root = host
    checkpoint_id = armed_change(ns, root)
    confirmed = run_module("net_state", task(ns, root, confirm=checkpoint_id, bridges=BRIDGES))
    assert not confirmed.get("failed") and confirmed["changed"], confirmed
    iproute(ns, ["ip link set vmbr0 mtu 1400"])
    again = run_module("net_state", task(ns, root, confirm=checkpoint_id,
                                         bridges=[dict(BRIDGES[0], mtu=1500)]))
    assert again.get("failed"), again
    assert "NOT confirmed" not in again["msg"] and f"{checkpoint_id} IS confirmed" in again["msg"], again["msg"]


def test_a_confirm_task_with_other_lists_says_what_to_check_and_the_time_left(host):
    """The confirm task lists only part of the change (eth2 forgotten: the host has it on vmbr0 as the arming run
    made it). The refusal must point at the likely cause (the lists must be those of the run that armed it) and
    say how many seconds are left before the watchdog rolls back: the two things to act on at 02:00."""
    ns, root = host
    checkpoint_id = armed_change(ns, root)
    refused = run_module("net_state", task(ns, root, confirm=checkpoint_id, bridges=[{"name": "vmbr0", "ports": ["eth1"]}]))
    assert refused.get("failed") and query(ns, root)["armed"] is True, refused
    msg = refused["msg"]
    assert "same lists" in msg and "armed it" in msg, msg
    assert re.search(r"rolls the change back in \d+ s\b", msg), msg


def test_a_confirmation_after_the_watchdogs_rollback_says_so_first(host):
    """Too late: the watchdog rolled back at the deadline. What to act on (rolled back, by whom, when) comes first;
    the operations the host lacks for this task come after it."""
    ns, root = host
    arming = task(ns, root, bridges=BRIDGES)
    arming["checkpoint"]["timeout"] = 5
    done = run_module("net_state", arming)
    assert not done.get("failed") and done["outcome"] == "armed", done
    checkpoint_id = done["checkpoint"]["id"]
    give_up = time.monotonic() + 60
    while query(ns, root)["armed"]:
        assert time.monotonic() < give_up, "the watchdog never rolled back"
        time.sleep(0.2)
    late = run_module("net_state", task(ns, root, confirm=checkpoint_id, bridges=BRIDGES))
    assert late.get("failed") and late["changed"] is False, late
    assert late["msg"].startswith(f"checkpoint.confirm: checkpoint {checkpoint_id} was NOT confirmed: checkpoint "
                                  f"{checkpoint_id} is no longer armed: rolled_back at "), late["msg"]
    assert "by watchdog" in late["msg"] and "eth2 master vmbr0" in late["msg"], late["msg"]


# -- the change_window role (local connection, a scratch root) -----------------------------------------------------

ROLE_VARS = {"change_window_probes": PROBES, "change_window_persist_format": "ifupdown2",
             "change_window_confirm_timeout": 60, "change_window_bridges": BRIDGES}


def report(run) -> dict:
    built = [r for r in run.results if r["task"].endswith("Build the report")]
    assert built, run.stdout[-3000:]
    return built[-1]["result"]["ansible_facts"]["change_window_report"]


@pytest.fixture
def lab(netns, tmp_path):
    """(namespace, root with an ifupdown2 file naming vmbr0 on eth1)."""
    iproute(netns, HOST)
    root = tmp_path / "root"
    interfaces = root / "etc" / "network" / "interfaces"
    interfaces.parent.mkdir(parents=True)
    interfaces.write_text("auto lo\niface lo inet loopback\n\nauto vmbr0\niface vmbr0 inet static\n"
                          "    address 192.0.2.10/24\n    bridge-ports eth1\n    bridge-stp off\n    bridge-fd 0\n")
    try:
        yield netns, root
    finally:
        subprocess.run(["chattr", "-i", str(interfaces)], check=False)
        kill_watchdogs(root)


def test_the_role_reports_a_confirmed_window_in_two_runs_with_the_seconds_before_the_deadline(run_playbook, lab):
    ns, root = lab
    run = run_playbook(PLAY, extra_vars=dict(ROLE_VARS, ns=ns, root=str(root)))
    assert run.rc == 0, run.stdout[-3000:]
    got = report(run)
    assert got["outcome"] == "confirmed" and got["module_runs"] == 2, got
    assert re.search(r"confirmed \d+(\.\d+)? s before the deadline", got["reason"]), got["reason"]
    assert "bridge-ports eth1 eth2" in (root / "etc" / "network" / "interfaces").read_text()


def test_the_role_reports_a_confirmed_change_whose_files_could_not_be_written(run_playbook, lab):
    """The files are checked by the arming run and written by the confirmation; here the write fails (the file is
    immutable). The change IS confirmed: the role must say confirmed_not_persisted, try no rollback, and leave the
    checkpoint confirmed."""
    ns, root = lab
    interfaces = root / "etc" / "network" / "interfaces"
    subprocess.run(["chattr", "+i", str(interfaces)], check=True)
    run = run_playbook(PLAY, extra_vars=dict(ROLE_VARS, ns=ns, root=str(root)))
    assert run.rc != 0, run.stdout[-3000:]
    got = report(run)
    assert got["outcome"] == "confirmed_not_persisted", got
    assert "IS confirmed" in got["reason"] and got["module_runs"] == 2, got
    assert query(ns, root)["last"]["outcome"] == "confirmed"


def documented_confirmation() -> dict:
    """The confirm task of docs/net_state.md's section "The confirmation: the same task with checkpoint.confirm"."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "net_state.md").read_text()
    section = text.split("### The confirmation: the same task with `checkpoint.confirm`", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)[0]


def test_the_documented_confirmation_survives_a_second_run_and_check_mode(run_playbook, lab):
    """docs/net_state.md's confirm task, verbatim but for the lab's namespace and root, after the arming task. A
    window is re-run at 02:00 (a host done in an earlier batch, or --check before the real run): the arming run
    then arms nothing (`outcome: unchanged`, no `checkpoint`), and `change.checkpoint.id` is undefined. The
    documented task must not fail the host for that (EXAMPLES has `when: change.checkpoint is defined`, the doc
    does not)."""
    ns, root = lab
    confirm = documented_confirmation()
    confirm["netsafe.hypervisor.net_state"].update(namespace="{{ ns }}")
    confirm["netsafe.hypervisor.net_state"]["checkpoint"]["root"] = "{{ root }}"
    play = [{"hosts": "lab", "gather_facts": False, "vars": {"bonds": [], "bridges": BRIDGES}, "tasks": [
        {"name": "Change", "register": "change", "netsafe.hypervisor.net_state": {
            "namespace": "{{ ns }}", "bonds": "{{ bonds }}", "bridges": "{{ bridges }}",
            "checkpoint": {"timeout": 60, "probes": PROBES, "root": "{{ root }}", "persist": {"format": "ifupdown2"}}}},
        {"name": "Fresh connection", "ansible.builtin.meta": "reset_connection"},
        confirm]}]
    book = yaml.safe_dump(play, sort_keys=False)
    first = run_playbook(book, extra_vars={"ns": ns, "root": str(root)})
    assert first.rc == 0, first.stdout[-3000:]
    assert "bridge-ports eth1 eth2" in (root / "etc" / "network" / "interfaces").read_text()
    preview = run_playbook(book, check=True, diff=True, extra_vars={"ns": ns, "root": str(root)})
    again = run_playbook(book, extra_vars={"ns": ns, "root": str(root)})
    assert (preview.rc, again.rc) == (0, 0), (preview.stdout[-2000:], again.stdout[-2000:])
