"""vcenter_retry_connect against govmomi's simulator, mostly through ansible-playbook.

Timing is logged (INFO), never asserted: `pytest -o log_cli=true --log-cli-level=INFO`.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.connect import (
    ConnectSettings, VcenterConnectError, connect_with_retry,
)

from vcpeers import (
    NS_ADDR_SERVER, PASSWORD, USER, FaultProxy, Veth, free_port, module_pid, netns_python_wrapper,
    wait_for_link_listener, wait_for_refused_connects,
)

pytestmark = [pytest.mark.ansible, pytest.mark.slow]
log = logging.getLogger(__name__)
MODULE = "netsafe.hypervisor.vcenter_retry_connect"
FAST = {"backoff_base": 0.2, "backoff_cap": 0.5, "connect_timeout": 2}


def playbook(args: dict, play_vars: dict | None = None) -> str:
    return (
        "- hosts: lab\n"
        "  gather_facts: false\n"
        + (f"  vars: {json.dumps(play_vars)}\n" if play_vars else "")
        + "  tasks:\n"
        "    - name: connect\n"
        f"      {MODULE}: {json.dumps(args)}\n")


def local_args(port: int, certs, **extra) -> dict:
    args = {"hostname": "127.0.0.1", "port": port, "username": USER, "password": PASSWORD,
            "ca_path": str(certs.cert), **FAST}
    args.update(extra)
    return args


def in_background(fn, *args, **kw):
    box: dict = {}

    def run():
        box["value"] = fn(*args, **kw)

    t = threading.Thread(target=run)
    t.start()
    return t, box


# -- the simulator ------------------------------------------------------------------

def test_retries_until_the_simulator_starts_then_connects(
        run_playbook, vcsim_factory, certs, netns, tmp_path):
    # Module and simulator share a fresh namespace, so the kernel's TCP counters there show
    # exactly when the module has been refused: the simulator starts only after that.
    port = free_port()
    sim = vcsim_factory(listen=f"127.0.0.1:{port}", netns=netns, start=False)
    python = netns_python_wrapper(tmp_path, netns)
    t, box = in_background(run_playbook, playbook(local_args(port, certs, max_attempts=0, deadline=60),
                                                  {"ansible_python_interpreter": str(python)}))
    wait_for_refused_connects(module_pid("vcenter_retry_connect"), 2)
    sim.start()
    started = time.time()
    t.join(120)
    run = box["value"]
    r = run.task("connect")
    assert r["status"] == "ok", run.stdout
    res = r["result"]
    history = res["attempt_history"]
    assert res["attempts"] == len(history) >= 3
    assert {a["category"] for a in history[:-1]} == {"connection_refused"}
    assert all(a["transient"] for a in history[:-1])
    assert history[-1]["ok"] is True
    assert res["product_name"] == "VMware vCenter Server" and res["instance_uuid"]
    log.info("simulator up at %.3f; logged in %.3f s later after %d attempts",
             started, history[-1]["started"] + history[-1]["duration"] - started, res["attempts"])


def test_wrong_password_fails_after_exactly_one_attempt(run_playbook, vcsim_factory, certs):
    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    run = run_playbook(playbook(local_args(port, certs, password="not-the-password")))
    r = run.task("connect")
    assert r["status"] == "failed"
    res = r["result"]
    assert res["attempts"] == 1 and len(res["attempt_history"]) == 1
    assert (res["reason"], res["category"], res["transient"]) == ("permanent", "invalid_login", False)
    assert "invalid_login" in res["msg"] and "username and password" in res["msg"]


def test_self_signed_certificate_fails_permanently_when_validating(run_playbook, vcsim_factory, certs):
    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    args = local_args(port, certs)
    del args["ca_path"]  # validate_certs defaults to true; 127.0.0.1 gets no free pass
    run = run_playbook(playbook(args))
    res = run.task("connect")["result"]
    assert run.task("connect")["status"] == "failed"
    assert (res["reason"], res["category"], res["attempts"]) == ("permanent", "tls_verify", 1)
    assert "certificate verify failed" in res["msg"] and "ca_path" in res["msg"]


def test_ca_path_to_the_simulator_certificate_connects(run_playbook, vcsim_factory, certs):
    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    run = run_playbook(playbook(local_args(port, certs)))
    r = run.task("connect")
    assert r["status"] == "ok", run.stdout
    res = r["result"]
    assert res["changed"] is False and res["attempts"] == 1
    assert res["api_type"] == "VirtualCenter" and res["api_version"] and res["version"]
    assert res["product"].startswith("VMware vCenter Server")


def test_check_mode_logs_in_and_reports_the_same(run_playbook, vcsim_factory, certs):
    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    run = run_playbook(playbook(local_args(port, certs)), check=True)
    r = run.task("connect")
    assert r["status"] == "ok", run.stdout
    assert r["result"]["changed"] is False and r["result"]["instance_uuid"]


def test_vmware_environment_variables_are_the_fallback(run_playbook, vcsim_factory):
    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    env = {"VMWARE_HOST": "127.0.0.1", "VMWARE_USER": USER, "VMWARE_PASSWORD": PASSWORD,
           "VMWARE_PORT": str(port), "VMWARE_VALIDATE_CERTS": "false"}
    run = run_playbook(playbook({"max_attempts": 1}), env=env)
    r = run.task("connect")
    assert r["status"] == "ok", run.stdout
    assert r["result"]["attempts"] == 1


def test_password_never_appears_in_output_results_or_messages(run_playbook, vcsim_factory, certs):
    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    wrong = "Wr0ng-Secret-77aa31"
    cases = {"success": local_args(port, certs),
             "invalid login": local_args(port, certs, password=wrong),
             "tls failure": {k: v for k, v in local_args(port, certs).items() if k != "ca_path"}}
    book = "- hosts: lab\n  gather_facts: false\n  tasks:\n" + "".join(
        f"    - name: {name}\n      ignore_errors: true\n      {MODULE}: {json.dumps(args)}\n"
        for name, args in cases.items())
    run = run_playbook(book, env={"ANSIBLE_VERBOSITY": "4"})
    assert [run.task(name)["status"] for name in cases] == ["ok", "failed", "failed"]
    blob = "\n".join([run.stdout, run.stderr, json.dumps(run.results)])
    assert PASSWORD not in blob and wrong not in blob


def test_password_is_redacted_from_core_log_lines_and_errors(vcsim_factory, certs):
    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    lines: list[str] = []
    # A password that also shows up in an error: the host name carries it.
    s = ConnectSettings(hostname=f"{PASSWORD}.invalid", username=USER, password=PASSWORD,
                        port=port, ca_path=str(certs.cert), max_attempts=1, **FAST)
    with pytest.raises(VcenterConnectError) as err:
        connect_with_retry(s, log=lines.append)
    blob = err.value.message + json.dumps(err.value.details, default=str) + "\n".join(lines)
    assert lines and PASSWORD not in blob and "********" in blob


# -- deadlines and misbehaving peers ---------------------------------------------------

def test_deadline_reached_fails_with_the_attempt_history(run_playbook):
    run = run_playbook(playbook({"hostname": "127.0.0.1", "port": free_port(), "username": USER,
                                 "password": PASSWORD, "max_attempts": 0, "deadline": 2.5, **FAST}))
    r = run.task("connect")
    assert r["status"] == "failed"
    res = r["result"]
    assert res["reason"] == "deadline" and "deadline" in res["msg"]
    assert len(res["attempt_history"]) >= 2
    assert {a["category"] for a in res["attempt_history"]} == {"connection_refused"}
    log.info("deadline 2.5 s: %d attempts, elapsed %.3f s", len(res["attempt_history"]), res["elapsed"])


def test_max_attempts_used_up(run_playbook):
    run = run_playbook(playbook({"hostname": "127.0.0.1", "port": free_port(), "username": USER,
                                 "password": PASSWORD, "max_attempts": 3, **FAST}))
    res = run.task("connect")["result"]
    assert res["reason"] == "attempts" and res["attempts"] == 3 == len(res["attempt_history"])


def test_peer_that_never_answers_is_bounded_by_connect_timeout(run_playbook, certs):
    with FaultProxy("blackhole") as proxy:
        run = run_playbook(playbook(local_args(proxy.port, certs, connect_timeout=0.5, deadline=3,
                                               max_attempts=0)))
    res = run.task("connect")["result"]
    assert run.task("connect")["status"] == "failed"
    assert len(res["attempt_history"]) >= 2  # each probe ended on its own
    assert {a["category"] for a in res["attempt_history"]} == {"connect_timeout"}
    assert {a["phase"] for a in res["attempt_history"]} == {"version_probe"}


def test_http_503_from_the_endpoint_is_retried_then_connects(run_playbook, vcsim_factory, certs):
    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    with FaultProxy("http_status", status=503, count=2, upstream=("127.0.0.1", port), certs=certs) as proxy:
        run = run_playbook(playbook(local_args(proxy.port, certs, max_attempts=5)))
    r = run.task("connect")
    assert r["status"] == "ok", run.stdout
    assert [a["category"] for a in r["result"]["attempt_history"]] == ["http_503", "http_503", None]


def test_expired_session_from_the_simulator_is_transient(vcsim_factory, certs):
    """A real vim.fault.NotAuthenticated (a call without a session) must not look like NoPermission."""
    from pyVmomi import SoapStubAdapter, vim

    from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.connect import make_ssl_context
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.errors import classify

    port = free_port()
    vcsim_factory(listen=f"127.0.0.1:{port}")
    stub = SoapStubAdapter(host="127.0.0.1", port=port, version="vim.version.version11",
                           sslContext=make_ssl_context(True, str(certs.cert)), httpConnectionTimeout=5)
    content = vim.ServiceInstance("ServiceInstance", stub).RetrieveContent()
    with pytest.raises(vim.fault.NotAuthenticated) as err:
        content.rootFolder.childEntity  # noqa: B018 - property read is a SOAP call
    assert isinstance(err.value, vim.fault.NoPermission)  # the trap
    v = classify(err.value)
    assert (v.transient, v.category) == (True, "session_expired")


# -- the link monitor, with the simulator behind a veth -----------------------------------

@pytest.fixture
def lab_link(namespaces, vcsim_factory, tmp_path):
    """client namespace --veth-- server namespace running the simulator on 10.231.0.2:8443."""
    client, server = namespaces.new(), namespaces.new()
    veth = Veth(client, server)
    sim = vcsim_factory(listen=f"{NS_ADDR_SERVER}:8443", netns=server)
    return veth, netns_python_wrapper(tmp_path, client), sim


def link_args(certs, **extra) -> dict:
    return {"hostname": NS_ADDR_SERVER, "port": 8443, "username": USER, "password": PASSWORD,
            "ca_path": str(certs.cert), "deadline": 60, "max_network_wait": 30, **FAST, **extra}


@pytest.mark.kernel
def test_link_down_burns_no_attempts_and_link_up_connects_at_once(run_playbook, lab_link, certs):
    veth, python = lab_link[:2]
    veth.set("down")  # the server side: the client's vc0 loses carrier
    book = playbook(link_args(certs, required_interfaces=["vc0"]), {"ansible_python_interpreter": str(python)})
    t, box = in_background(run_playbook, book)
    wait_for_link_listener(module_pid("vcenter_retry_connect"))
    time.sleep(0.3)  # let it read the state and settle into the pause
    up_at = veth.set("up")
    t.join(120)
    run = box["value"]
    r = run.task("connect")
    assert r["status"] == "ok", run.stdout
    res = r["result"]
    assert res["attempts"] == 1 and len(res["attempt_history"]) == 1  # nothing burned while down
    waits = res["network_waits"]
    # A veth whose peer goes down reports LOWERLAYERDOWN, or DOWN when the peer (in another
    # namespace) happens to have the same ifindex: either way, down.
    assert len(waits) == 1 and waits[0]["recovered"]
    assert waits[0]["down"] in (["vc0 (LOWERLAYERDOWN)"], ["vc0 (DOWN)"])
    first = res["attempt_history"][0]
    log.info("link up -> first attempt starts %.3f s, logged in %.3f s (paused %.3f s, 0 attempts)",
             first["started"] - up_at, first["started"] + first["duration"] - up_at, waits[0]["duration"])


@pytest.mark.kernel
def test_link_in_another_namespace_is_watched_through_namespace(run_playbook, lab_link, certs):
    veth, python, sim = lab_link
    veth.set("down")  # server side admin down: operstate DOWN, watched in the server namespace
    book = playbook(link_args(certs, required_interfaces=["vs0"], namespace=veth.server_ns),
                    {"ansible_python_interpreter": str(python)})
    t, box = in_background(run_playbook, book)
    wait_for_link_listener(module_pid("vcenter_retry_connect"), view_pid=sim.proc.pid)
    time.sleep(0.3)
    up_at = veth.set("up")
    t.join(120)
    res = box["value"].task("connect")["result"]
    assert res["attempts"] == 1 and res["network_waits"][0]["down"] == ["vs0 (DOWN)"]
    first = res["attempt_history"][0]
    log.info("namespace watch: link up -> logged in %.3f s", first["started"] + first["duration"] - up_at)


@pytest.mark.kernel
def test_link_that_stays_down_fails_after_max_network_wait(run_playbook, lab_link, certs):
    veth, python = lab_link[:2]
    veth.set("down")
    run = run_playbook(playbook(link_args(certs, required_interfaces=["vc0"], max_network_wait=1.5),
                                {"ansible_python_interpreter": str(python)}))
    res = run.task("connect")["result"]
    assert run.task("connect")["status"] == "failed"
    assert res["reason"] == "network" and res["attempts"] == 0 and res["attempt_history"] == []
    assert "vc0" in res["msg"]


@pytest.mark.kernel
def test_missing_namespace_fails_and_is_never_created(run_playbook, netns, certs):
    absent = f"{netns}-absent"
    run = run_playbook(playbook({"hostname": "127.0.0.1", "username": USER, "password": PASSWORD,
                                 "required_interfaces": ["lo"], "namespace": absent}))
    res = run.task("connect")["result"]
    assert res["reason"] == "bad_argument" and "does not exist" in res["msg"]
    assert not os.path.exists(f"/run/netns/{absent}")
