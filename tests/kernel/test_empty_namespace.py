"""`namespace: ""` is refused, naming `namespace`, by every module that takes it; omitted (or null) is the host.

Found by the operator review: `netsafe_namespace: ""` passed as `namespace` made net_bridge plan against the
process's own network namespace, the host. Every module here runs in check mode inside a throwaway namespace
(one process, `ip netns exec`), so that even the code before the fix could only read that namespace.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modproc import collection_env
from nstools import iproute, kernel_state, state_diff

pytestmark = [pytest.mark.kernel]

TESTS = Path(__file__).resolve().parents[1]
# Runs each task of argv[1] (a JSON file) in-process, in check mode, and prints their results as one JSON object.
SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[2])
from modrun import run_module
tasks = json.load(open(sys.argv[1]))
print(json.dumps({key: run_module(name, args, check=True) for key, (name, args) in tasks.items()}))
"""


def test_an_empty_namespace_is_refused_by_every_module_and_an_omitted_one_is_the_host(namespaces, tmp_path):
    ns = namespaces.new()
    iproute(ns, ["ip link add vmbr0 type bridge", "ip link set vmbr0 up", "ip link set lo up"])
    before = kernel_state(ns)
    root = str(tmp_path / "root")
    tasks = {
        "net_bridge": {"name": "vmbr0", "mtu": 1400},
        "net_bond": {"name": "bond0", "mode": "active-backup"},
        "net_vlan": {"name": "vmbr0.10", "parent": "vmbr0", "vlan_id": 10},
        "net_nic": {"name": "lo", "mtu": 1400},
        "net_checkpoint": {"state": "query", "root": root},
        "net_persist": {"state": "rendered", "format": "ifupdown2", "root": root},
        "tap_reenslave": {"source": "explicit", "ports": []},
        "net_probe": {"probes": [{"type": "icmp", "target": "127.0.0.1", "count": 1}]},
        "vcenter_retry_connect": {"hostname": "127.0.0.1", "port": 9, "username": "u", "password": "no-such-secret",
                                  "max_attempts": 1, "required_interfaces": ["lo"]},
    }
    runs = {name: (name, dict(args, namespace="")) for name, args in tasks.items()}
    runs["host"] = ("net_bridge", {"name": "vmbr0", "mtu": 1400})     # no namespace: the process's own
    runs["null"] = ("net_bridge", {"name": "vmbr0", "mtu": 1400, "namespace": None})
    (tmp_path / "tasks.json").write_text(json.dumps(runs))
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", SCRIPT, str(tmp_path / "tasks.json"),
                          str(TESTS)], env=collection_env(), capture_output=True, text=True, timeout=120, check=True)
    results = json.loads(out.stdout[out.stdout.index("{"):])
    for name in tasks:
        assert results[name].get("failed"), (name, results[name])
        assert results[name]["msg"].startswith("namespace: '' is not a valid namespace name (it is empty); omit "
                                               "namespace (or give null) to work on the host itself"), results[name]
    for run in ("host", "null"):
        assert results[run]["changed"] and not results[run].get("failed"), results[run]
        assert results[run]["commands"] == ["ip link set dev vmbr0 mtu 1400"], results[run]
    assert state_diff(before, kernel_state(ns)) == []
    assert not Path(root).exists()
