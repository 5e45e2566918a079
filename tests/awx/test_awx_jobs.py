"""Our playbooks run the way AWX and Tower run a job template (tests/awx/awx_job.py, docs/awx.md).

- rolling maintenance with a change window per host, against namespace hypervisors, with the
  extra vars a survey passes (strings where a survey passes strings);
- vcenter_retry_connect against the vCenter simulator with exactly the environment AWX's
  "VMware vCenter" credential injects, the password nowhere in the job's record.
"""
from __future__ import annotations

import json
import re
import secrets
import sys
from pathlib import Path

import pytest

import persist_lab
from persist_lab import CHANGE_WINDOW_GUESTS, failover_reservation, failover_vm
from awx_job import VENV_BIN, AwxJob, texts_under
from nstools import ip, settled_state, state_diff
from watchdogs import kill_watchdogs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vcenter"))
from vcpeers import USER, VCSIM, Vcsim, make_certs  # noqa: E402

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

# The job template's own extra variables (set once by whoever made the template). AWX allows
# Jinja here, not in survey answers: the bridge's uplink comes from the survey through it.
TEMPLATE_VARS = {
    "rolling_maintenance_role": "netsafe.hypervisor.change_window",
    "change_window_bridges": [{"name": "vmbr0", "ports": ["{{ new_uplink }}"]}],
    "change_window_guests": CHANGE_WINDOW_GUESTS,
    "change_window_persist_format": "ifupdown2",
    "change_window_gate_settle": 600,
}
# The survey's answers as AWX passes them: text and multiple-choice answers are strings.
SURVEY_ANSWERS = {
    "new_uplink": "eno3",                     # multiple choice: eno2, eno3
    "rolling_max_batch_size": "1",            # text
    "change_window_confirm_timeout": "75",    # text
    "change_window_persist": "false",         # multiple choice: "true", "false"
    "rolling_allow_unprotected": "false",     # multiple choice
}


def bridge_ports(ns: str, bridge: str) -> list:
    out = ip("-j", "link", "show", "master", bridge, ns=ns).stdout
    return sorted(link["ifname"] for link in json.loads(out))


def test_rolling_maintenance_job_with_survey_answers(namespaces, tmp_path, tarball):
    hosts = {name: persist_lab.change_window_host(namespaces) for name in ("hv1", "hv2")}
    before = {name: settled_state(ns) for name, ns in hosts.items()}
    roots = {name: tmp_path / f"root-{name}" for name in hosts}
    for root in roots.values():
        root.mkdir()
    job = AwxJob(tmp_path / "pdd", tarball, namespaces.new())
    job.write_inventory({
        "hypervisors": {"hosts": sorted(hosts)},
        "all": {"vars": {
            "ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python"),
            # hv1 and hv2 hold each other's failover slot: one batch each.
            "failover_vms": [failover_vm("a", "hv1"), failover_vm("b", "hv2")],
            "failover_reservations": [failover_reservation("ra", "hv2", {"a": "hv1"}),
                                      failover_reservation("rb", "hv1", {"b": "hv2"})],
        }},
        "_meta": {"hostvars": {name: {"change_window_namespace": ns, "change_window_root": str(roots[name])}
                               for name, ns in hosts.items()}},
    })
    try:
        result = job.run("rolling_maintenance.yml", {**TEMPLATE_VARS, **SURVEY_ANSWERS})
    finally:
        for root in roots.values():
            kill_watchdogs(root)
    assert (result.status, result.rc) == ("successful", 0), result.stdout[-4000:]

    # Per-host progress: each batch announced, then its host's window, hv1's batch before hv2's.
    batches = [e["event_data"]["res"]["msg"] for e in result.of("runner_on_ok")
               if e["event_data"].get("task") == "Announce the batch"]
    assert batches == ["batch: hv1", "batch: hv2"]
    per_host = [e["event_data"]["host"] for e in result.events
                if e.get("event") == "runner_on_ok" and e["event_data"].get("role") == "change_window"]
    assert per_host and per_host == sorted(per_host), per_host  # every hv1 event before the first of hv2
    summaries = result.task_results("Summary")
    assert sorted(summaries) == ["hv1", "hv2"]
    for name in hosts:
        assert summaries[name]["msg"].startswith(f"{name}: CONFIRMED."), summaries[name]["msg"]
        # The survey's "false" is false, not a non-empty (true) string: nothing persisted.
        assert "not persisted (change_window_persist is false)" in summaries[name]["msg"]
        assert not (roots[name] / "etc" / "network" / "interfaces").exists()
    armed = result.task_results("Apply the change inside a checkpoint")
    # The survey's "75" reached the module as the number 75.
    assert {name: res["invocation"]["module_args"]["checkpoint"]["timeout"] for name, res in armed.items()} == {
        "hv1": 75.0, "hv2": 75.0}

    # The final summary a person reads: the recap with every host, in the last event.
    stats = result.stats()
    assert stats["failures"] == {} and stats["dark"] == {}
    assert {"hv1", "hv2", "localhost"} <= set(stats["ok"])
    assert result.events[-1]["event"] == "playbook_on_stats"
    recap = result.events[-1]["stdout"]
    assert "PLAY RECAP" in recap and all(f"{name} " in recap for name in hosts)
    assert "hv1: CONFIRMED." in result.stdout and "hv2: CONFIRMED." in result.stdout

    # The kernel: vmbr0 moved to the survey's uplink with both guests kept, and nothing else changed:
    # the dump differs only in link attributes of eno1, eno3 and vmbr0 (no address, route, rule,
    # neighbour, FDB or VLAN line, no other link).
    for name, ns in hosts.items():
        assert bridge_ports(ns, "vmbr0") == ["eno3", "tap100i0", "veth101i0"]
        assert bridge_ports(ns, "vmbr1") == ["eno2"]
        diff = state_diff(before[name], settled_state(ns))
        subjects = {line.split(":")[0] for line in diff}   # 'link eno1 master', 'addrs vmbr0', 'route gone'...
        assert diff and all(re.fullmatch(r"link (eno1|eno3|vmbr0) \S+", subject) for subject in subjects), diff


@pytest.fixture
def vcenter_ns(namespaces):
    """A namespace whose 127.0.0.1:443 is the simulator: AWX's credential has no port field."""
    if not VCSIM.exists():
        pytest.fail(f"{VCSIM} is missing: tests/setup.d/vcsim.sh builds it (run tests/setup/bootstrap.sh)")
    return namespaces.new()


def test_vcenter_job_with_the_awx_vmware_credential(vcenter_ns, tmp_path, tarball):
    password = "awx-" + secrets.token_urlsafe(12)
    certs = make_certs(tmp_path / "certs")
    sim = Vcsim(certs, tmp_path, listen="127.0.0.1:443", netns=vcenter_ns, password=password).start()
    try:
        job = AwxJob(tmp_path / "pdd", tarball, vcenter_ns)
        job.write_inventory({"all": {"hosts": ["localhost"]}, "_meta": {"hostvars": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")}}}})
        # Exactly what AWX's built-in "VMware vCenter" credential type injects
        # (VMWARE_VALIDATE_CERTS is AWX's setting of that name, False unless changed).
        credential = {"VMWARE_HOST": "127.0.0.1", "VMWARE_USER": USER, "VMWARE_PASSWORD": password,
                      "VMWARE_VALIDATE_CERTS": "False"}
        good = job.run("vcenter_connect.yml", {"vcenter_deadline": "30"}, credential)
        wrong = "awx-" + secrets.token_urlsafe(12)
        bad = job.run("vcenter_connect.yml", {"vcenter_deadline": "30", "vcenter_max_attempts": "3"},
                      {**credential, "VMWARE_PASSWORD": wrong})
    finally:
        sim.stop()

    assert (good.status, good.rc) == ("successful", 0), good.stdout[-3000:]
    res = good.task_results("Log in to vCenter and out again")["localhost"]
    assert res["product_name"] == "VMware vCenter Server" and res["attempts"] == 1
    assert res["invocation"]["module_args"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "VMware vCenter Server" in good.task_results("Show who answered")["localhost"]["msg"]

    assert bad.status == "failed" and bad.rc != 0
    failed = bad.task_results("Log in to vCenter and out again", event="runner_on_failed")["localhost"]
    assert (failed["category"], failed["attempts"]) == ("invalid_login", 1), failed
    assert bad.stats()["failures"] == {"localhost": 1}

    # Neither password anywhere in what the jobs left: events, stdout, stderr, facts, status. The one
    # exception is runner's `command` file, its record of the environment it started ansible-playbook
    # with (the credential's injection itself); AWX never shows it and deletes the private data
    # directory after the job.
    for job_result, secret in ((good, password), (bad, wrong)):
        leaks = [path for path, text in texts_under(job_result.artifacts).items() if secret in text]
        assert leaks == [str(job_result.artifacts / "command")], leaks
        assert job_result.events and all(secret not in str(e) for e in job_result.events)
