"""Review 26 (op): the change_window role's `meta: reset_connection` carries a `when` that Ansible ignores.

roles/change_window/tasks/main.yml resets the connection "when change_window__state.checkpoint is defined"; meta
reset_connection does not support conditionals, so it runs on every host (nothing armed, --check too) and every
window prints "[WARNING]: reset_connection task does not support when conditional" to the operator.
"""
from __future__ import annotations

import pytest

from nstools import ip
from playrun import LAB_CHECK_PROBES as PROBES
from playrun import LAB_WINDOW_PLAY as PLAY
from watchdogs import kill_watchdogs

pytestmark = [pytest.mark.kernel, pytest.mark.ansible]


def test_a_preview_prints_no_warning_about_the_roles_own_tasks(run_playbook, hv, tmp_path):
    ip("link", "add", "vmbr0", "type", "bridge", ns=hv)
    ip("link", "set", "eth1", "master", "vmbr0", ns=hv)
    interfaces = tmp_path / "root" / "etc" / "network" / "interfaces"
    interfaces.parent.mkdir(parents=True)
    interfaces.write_text("auto lo\niface lo inet loopback\n")
    run = run_playbook(PLAY, check=True, extra_vars={
        "ns": hv, "root": str(tmp_path / "root"), "change_window_probes": PROBES, "change_window_persist_format": "ifupdown2",
        "change_window_bridges": [{"name": "vmbr0", "ports": ["eth2"], "mtu": 1400}]})
    assert run.rc == 0, run.stdout[-3000:]
    output = run.stdout + run.stderr
    assert "PREVIEW" in output
    assert "does not support when conditional" not in output


def test_a_confirmed_window_prints_no_warning_about_the_roles_own_tasks(run_playbook, hv, tmp_path):
    """The fresh connection runs in a real window: still no warning (nor a YAML one about the role's own file)."""
    ip("link", "set", "lo", "up", ns=hv)
    ip("link", "add", "vmbr0", "type", "bridge", ns=hv)
    ip("link", "set", "eth1", "master", "vmbr0", ns=hv)
    ip("link", "set", "vmbr0", "up", ns=hv)
    ip("address", "add", "192.0.2.10/24", "dev", "vmbr0", ns=hv)
    (tmp_path / "root").mkdir()
    run = run_playbook(PLAY, extra_vars={
        "ns": hv, "root": str(tmp_path / "root"), "change_window_persist": False,
        "change_window_probes": [{"type": "icmp", "target": "192.0.2.10", "count": 1}],
        "change_window_bridges": [{"name": "vmbr0", "ports": ["eth1"], "mtu": 1400}]})
    try:
        assert run.rc == 0, run.stdout[-3000:]
        output = run.stdout + run.stderr
        assert "CONFIRMED" in output, output[-3000:]
        # The window went through its fresh connection (a meta task leaves no result of its own) to the confirmation.
        assert [r["status"] for r in run.results if r["task"].endswith("Confirm the checkpoint")] == ["changed"], \
            [(r["task"], r["status"]) for r in run.results]
        assert "does not support when conditional" not in output, output[-3000:]
        assert "[WARNING]" not in output, output[-3000:]
    finally:
        kill_watchdogs(tmp_path / "root")
