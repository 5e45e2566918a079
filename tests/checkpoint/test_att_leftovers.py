"""Review (attacker): a namespace that does not exist (a typo) is bad input, yet state=armed leaves the scope's run
directory with a lock file under root, and the network lock's file in the host's own /run/netsafe/lock."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from modrun import run_module

pytestmark = [pytest.mark.kernel]


@pytest.mark.parametrize("module, args", [
    ("net_checkpoint", {"state": "armed"}),
    ("net_checkpoint", {"state": "confirmed", "id": "20261206T000000Z-000000"}),
    ("net_checkpoint", {"state": "rolled_back"}),
    ("net_bridge", {"name": "vmbr0"}),          # any writer: the network lock's file is made in converge()
])
def test_a_namespace_that_does_not_exist_leaves_nothing_behind(tmp_path, module, args):
    name = f"rvattnoexist{os.getpid()}"
    lock = Path(f"/run/netsafe/lock/netns-{name}.lock")
    args = dict(args, namespace=name, **({"root": str(tmp_path)} if module == "net_checkpoint" else {}))
    try:
        result = run_module(module, args)
        assert result.get("failed") and result["msg"] == (f"namespace: network namespace {name!r} does not exist "
                                                          f"(no /run/netns/{name}; create it with 'ip netns add {name}')")
        left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
        assert left == [] and not lock.exists(), (left, lock.exists())
    finally:
        lock.unlink(missing_ok=True)
