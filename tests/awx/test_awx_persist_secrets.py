"""net_persist run as AWX runs a job (ansible-runner, the built tarball, "Show Changes" and verbosity 3):
none of the secrets the host's network files hold reaches the job's events or its output (issue 23).
"""
from __future__ import annotations

import pytest

import persist_lab
import persist_secrets
from awx_job import VENV_BIN, AwxJob, texts_under

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

PLAYBOOK = """\
- name: Persist the running network, every format, with its diff
  hosts: all
  gather_facts: false
  tasks:
    - name: Save, then show what the files would hold
      netsafe.hypervisor.net_persist:
        format: "{{ item.0 }}"
        state: "{{ item.1 }}"
        namespace: "{{ lab_namespace }}"
        root: "{{ lab_roots[item.0] }}"
      loop: "{{ ['networkmanager', 'networkd', 'ifupdown2'] | product(['saved', 'rendered']) }}"
"""


def test_a_persist_job_with_diff_and_vvv_has_no_secret_in_its_events(namespaces, tmp_path, tarball):
    lab, _peer = persist_lab.bridges_host(namespaces, with_guests=False)
    roots = {fmt: tmp_path / "roots" / fmt for fmt in persist_secrets.FILES}
    for fmt, root in roots.items():
        persist_secrets.write(root, persist_secrets.FILES[fmt])
    job = AwxJob(tmp_path / "pdd", tarball, namespaces.new())
    (job.dir / "project" / "persist_secrets.yml").write_text(PLAYBOOK)
    (job.dir / "env" / "cmdline").write_text("--diff -vvv")   # the job template's "Show Changes", verbosity 3
    job.write_inventory({"all": {"hosts": ["localhost"]}, "_meta": {"hostvars": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")}}}})
    result = job.run("persist_secrets.yml", {"lab_namespace": lab, "lab_roots": {k: str(v) for k, v in roots.items()}})

    assert (result.status, result.rc) == ("successful", 0), result.stdout[-3000:]
    items = result.of("runner_item_on_ok")
    assert len(items) == 6 and any(e["event_data"]["res"].get("diff") for e in items)
    assert "+++ after" in result.stdout   # the diff is in the job's output
    leaks = {path: persist_secrets.leaked(text) for path, text in texts_under(result.artifacts).items()}
    assert {path: found for path, found in leaks.items() if found} == {}
    assert result.events and persist_secrets.leaked(str(result.events)) == []
