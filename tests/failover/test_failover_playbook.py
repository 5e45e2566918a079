"""failover_plan through ansible-playbook, and the rolling maintenance playbook."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.ansible

PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "rolling_maintenance.yml"


def vm(uuid, host, memory_mb=1024, vcpus=1):
    return {"uuid": uuid, "hypervisor": host, "memory_mb": memory_mb, "vcpus": vcpus}


def res(name, host, allocations, memory_mb=4096, vcpus=4):
    return {"name": name, "host": host, "memory_mb": memory_mb, "vcpus": vcpus, "allocations": allocations}


# Three pairs of hosts that back each other up: hv1<->hv2, hv3<->hv4, hv5<->hv6.
PAIRED_VMS = [vm("a", "hv1"), vm("b", "hv2"), vm("c", "hv3"), vm("d", "hv4"), vm("e", "hv5"), vm("f", "hv6")]
PAIRED_RES = [res("ra", "hv2", {"a": "hv1"}), res("rb", "hv1", {"b": "hv2"}),
              res("rc", "hv4", {"c": "hv3"}), res("rd", "hv3", {"d": "hv4"}),
              res("re", "hv6", {"e": "hv5"}), res("rf", "hv5", {"f": "hv6"})]
HOSTS = [f"hv{i}" for i in range(1, 7)]

PLAN_TASK = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: plan
      netsafe.hypervisor.failover_plan:
        vms: "{{ failover_vms }}"
        reservations: "{{ failover_reservations }}"
        %s
"""


def plan(run_playbook, vms, reservations, extra="", check=False):
    out = run_playbook(PLAN_TASK % extra, check=check,
                       extra_vars={"failover_vms": vms, "failover_reservations": reservations})
    return out, out.task("plan")


# --- the module ------------------------------------------------------------------

def test_module_plans_batches_from_inventory_data(run_playbook):
    out, task = plan(run_playbook, PAIRED_VMS, PAIRED_RES)
    assert out.rc == 0, out.stdout
    result = task["result"]
    assert task["status"] == "ok" and result["changed"] is False
    assert sorted(map(sorted, result["batches"])) == [["hv1", "hv3", "hv5"], ["hv2", "hv4", "hv6"]]
    assert (result["unprotected"], result["blocked_hosts"], result["ineligible"]) == ([], [], {})


def test_module_reports_unprotected_and_blocked(run_playbook):
    vms = PAIRED_VMS + [vm("lonely", "hv6")]
    task = plan(run_playbook, vms, PAIRED_RES)[1]
    assert task["result"]["unprotected"] == ["lonely"] and task["result"]["blocked_hosts"] == ["hv6"]
    assert "hv6" not in sum(task["result"]["batches"], [])


def test_module_honours_max_batch_size_and_allow_unprotected(run_playbook):
    vms = PAIRED_VMS + [vm("lonely", "hv6")]
    task = plan(run_playbook, vms, PAIRED_RES, "max_batch_size: 2\n        allow_unprotected: true")[1]
    batches = task["result"]["batches"]
    assert all(len(b) <= 2 for b in batches) and sorted(sum(batches, [])) == HOSTS
    assert task["result"]["blocked_hosts"] == []


def test_module_reports_ineligible_allocations(run_playbook):
    reservations = PAIRED_RES[:-1] + [res("rf", "hv5", {"f": "hv4"})]  # f moved from hv4 to hv6
    task = plan(run_playbook, PAIRED_VMS, reservations)[1]
    assert task["result"]["ineligible"] == {"rf": ["f"]}
    assert task["result"]["unprotected"] == ["f"]


def test_module_changes_nothing_in_check_mode(run_playbook):
    normal = plan(run_playbook, PAIRED_VMS, PAIRED_RES)[1]
    out, checked = plan(run_playbook, PAIRED_VMS, PAIRED_RES, check=True)
    assert out.rc == 0 and checked["result"]["changed"] is False
    assert checked["result"]["batches"] == normal["result"]["batches"]


def test_module_answers_eligibility_for_one_reservation(run_playbook):
    vms = PAIRED_VMS + [vm("g", "hv1")]
    task = plan(run_playbook, vms, PAIRED_RES, "check_vm: g\n        check_reservation: rf")[1]
    assert task["result"]["eligible"] is True and task["result"]["violations"] == []
    task = plan(run_playbook, vms, PAIRED_RES, "check_vm: g\n        check_reservation: ra")[1]
    result = task["result"]
    assert result["eligible"] is False
    assert {(v["rule"], tuple(v["vms"]), v["existing"]) for v in result["violations"]} >= {(3, ("a", "g"), False)}


def test_module_says_an_existing_violation_blocks_the_addition(run_playbook):
    vms = PAIRED_VMS + [vm("g", "hv1"), vm("h", "hv3")]
    reservations = PAIRED_RES + [res("shared", "hv6", {"a": "hv1", "g": "hv1"})]
    task = plan(run_playbook, vms, reservations, "check_vm: h\n        check_reservation: shared")[1]
    result = task["result"]
    assert result["eligible"] is False
    existing = [v for v in result["violations"] if v["existing"]]
    assert existing and existing[0]["rule"] == 3 and existing[0]["vms"] == ["a", "g"]
    assert "already broken" in result["msg"]


def test_module_lists_eligible_reservations_for_a_vm(run_playbook):
    vms = PAIRED_VMS + [vm("g", "hv1"), vm("big", "hv1", memory_mb=8192)]
    task = plan(run_playbook, vms, PAIRED_RES, "check_vm: g")[1]
    assert task["result"]["eligible_reservations"] == ["rc", "rd", "re", "rf"]
    task = plan(run_playbook, vms, PAIRED_RES, "check_vm: big")[1]
    assert task["result"]["eligible_reservations"] == []


BAD_INPUTS = [
    (PAIRED_VMS + [vm("a", "hv3")], PAIRED_RES, {}, "vms: duplicate uuid 'a'"),
    (PAIRED_VMS, PAIRED_RES + [res("ra", "hv4", {})], {}, "reservations: duplicate name 'ra'"),
    (PAIRED_VMS, PAIRED_RES + [res("rx", "hv4", {"ghost": "hv1"})], {}, "reservations[6].allocations"),
    ([vm("a", "hv1", memory_mb=-5)], [], {}, "vms[0].memory_mb"),
    (PAIRED_VMS, [res("rx", "hv4", {}, vcpus=-1)], {}, "reservations[0].vcpus"),
    (PAIRED_VMS, PAIRED_RES, {"check_reservation": "ra"}, "check_vm"),
    (PAIRED_VMS, PAIRED_RES, {"check_vm": "nobody"}, "check_vm: no VM with uuid 'nobody'"),
    (PAIRED_VMS, PAIRED_RES, {"check_vm": "a", "check_reservation": "nothing"}, "check_reservation: no reservation"),
    (PAIRED_VMS, PAIRED_RES, {"max_batch_size": 0}, "max_batch_size"),
    ([{"uuid": "a", "hypervisor": "hv1", "vcpus": 1}], [], {}, "memory_mb"),
]


def test_module_refuses_bad_input_naming_the_parameter(run_playbook):
    # One playbook, one task per bad input, so the ten cases cost one ansible-playbook run.
    tasks = [{"name": f"bad {i}", "ignore_errors": True,
              "netsafe.hypervisor.failover_plan": dict(extra, vms=vms, reservations=reservations)}
             for i, (vms, reservations, extra, _needle) in enumerate(BAD_INPUTS)]
    out = run_playbook(json.dumps([{"hosts": "lab", "gather_facts": False, "tasks": tasks}]))
    for i, case in enumerate(BAD_INPUTS):
        needle = case[-1]
        task = out.task(f"bad {i}")
        assert task["status"] == "failed", (i, task["result"])
        assert needle in task["result"]["msg"], (i, task["result"]["msg"])


# --- the rolling playbook ----------------------------------------------------------

PROBE_ROLE = """
- name: Mark the start
  ansible.builtin.shell: "echo start {{ inventory_hostname }} >> {{ probe_log }}"
- name: Stay busy for a moment
  ansible.builtin.command: sleep 0.5
- name: Fail where asked
  ansible.builtin.fail:
    msg: probe failure
  when: inventory_hostname in probe_fail | default([])
- name: Mark the end
  ansible.builtin.shell: "echo end {{ inventory_hostname }} >> {{ probe_log }}"
"""


@pytest.fixture
def probe_role(tmp_path):
    tasks = tmp_path / "roles" / "probe" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(textwrap.dedent(PROBE_ROLE))
    return tmp_path / "probe.log"


def planned_batches(run):
    [task] = run.for_task("Plan the batches")
    return task["result"]["batches"]


def events(log: Path) -> list:
    return [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []


def assert_batches_one_at_a_time(batches, log_events):
    batch_of = {h: i for i, batch in enumerate(batches) for h in batch}
    seen = [batch_of[host] for _kind, host in log_events]
    # Batch numbers never go down: all events of batch k (start and end of every
    # host) come before any event of batch k + 1. Overlapping batches would put a
    # start of batch k + 1 before an end of batch k.
    assert seen == sorted(seen), log_events


@pytest.mark.slow
def test_rolling_playbook_runs_one_batch_at_a_time(run_rolling, probe_role):
    data = {"failover_vms": PAIRED_VMS, "failover_reservations": PAIRED_RES,
            "rolling_maintenance_role": "probe", "probe_log": str(probe_role)}
    run = run_rolling(PLAYBOOK, HOSTS, data)
    assert run.rc == 0, run.stdout + run.stderr
    batches = planned_batches(run)
    assert len(batches) == 2 and all(len(b) == 3 for b in batches)
    log = events(probe_role)
    assert sorted(h for kind, h in log if kind == "start") == HOSTS
    assert sorted(h for kind, h in log if kind == "end") == HOSTS
    assert_batches_one_at_a_time(batches, log)
    # Within a batch the hosts did run together (forks), so the check above has teeth.
    first = [kind for kind, _host in log[:6]]
    assert first == ["start"] * 3 + ["end"] * 3


@pytest.mark.slow
def test_rolling_playbook_stops_after_a_failed_batch(run_rolling, probe_role):
    data = {"failover_vms": PAIRED_VMS, "failover_reservations": PAIRED_RES,
            "rolling_maintenance_role": "probe", "probe_log": str(probe_role)}
    first = run_rolling(PLAYBOOK, HOSTS, data)
    batches = planned_batches(first)
    probe_role.unlink()
    run = run_rolling(PLAYBOOK, HOSTS, dict(data, probe_fail=[batches[0][0]]))
    assert run.rc != 0
    started = {h for kind, h in events(probe_role) if kind == "start"}
    assert started == set(batches[0])


@pytest.mark.slow
def test_rolling_playbook_skips_blocked_hosts(run_rolling, probe_role):
    data = {"failover_vms": PAIRED_VMS + [vm("lonely", "hv6")], "failover_reservations": PAIRED_RES,
            "rolling_maintenance_role": "probe", "probe_log": str(probe_role)}
    run = run_rolling(PLAYBOOK, HOSTS, data)
    assert run.rc == 0, run.stdout
    started = {h for kind, h in events(probe_role) if kind == "start"}
    assert started == set(HOSTS) - {"hv6"}
    assert_batches_one_at_a_time(planned_batches(run), events(probe_role))


@pytest.mark.slow
def test_rolling_playbook_keeps_batches_apart_under_limit(run_rolling, probe_role):
    data = {"failover_vms": PAIRED_VMS, "failover_reservations": PAIRED_RES,
            "rolling_maintenance_role": "probe", "probe_log": str(probe_role)}
    batches = planned_batches(run_rolling(PLAYBOOK, HOSTS, data))
    probe_role.unlink()
    # Leave out one host of the first batch: serial sizes must not pull a host of
    # the second batch forward into the first.
    keep = [h for h in HOSTS if h != batches[0][0]]
    run = run_rolling(PLAYBOOK, HOSTS, data, limit=",".join(keep + ["localhost"]))
    assert run.rc == 0, run.stdout
    log = events(probe_role)
    assert sorted(h for kind, h in log if kind == "start") == sorted(keep)
    assert_batches_one_at_a_time(batches, log)


@pytest.mark.slow
def test_rolling_playbook_default_role_proves_connectivity(run_rolling):
    data = {"failover_vms": PAIRED_VMS, "failover_reservations": PAIRED_RES}
    run = run_rolling(PLAYBOOK, HOSTS, data)
    assert run.rc == 0, run.stdout + run.stderr
    pings = run.for_task("netsafe.hypervisor.maintenance_check : Prove the host runs modules")
    assert sorted(p["host"] for p in pings) == HOSTS
    assert all(p["status"] == "ok" and p["result"]["ping"] == "pong" for p in pings)


@pytest.mark.slow
def test_rolling_playbook_refuses_hosts_missing_from_inventory(run_rolling):
    data = {"failover_vms": PAIRED_VMS, "failover_reservations": PAIRED_RES}
    run = run_rolling(PLAYBOOK, HOSTS[:-1], data)
    assert run.rc != 0
    assert "Hypervisors not in the inventory: hv6" in json.dumps(run.results)
    assert not [r for r in run.results if r["task"].endswith("Prove the host runs modules")]


@pytest.mark.slow
def test_rolling_playbook_needs_the_data(run_rolling):
    run = run_rolling(PLAYBOOK, HOSTS, {})
    assert run.rc != 0
    assert "Set failover_vms and failover_reservations" in json.dumps(run.results)
