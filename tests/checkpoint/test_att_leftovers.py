"""Review (attacker): a namespace that does not exist (a typo) is bad input, yet state=armed leaves the scope's run
directory with a lock file under root, and the network lock's file in the host's own /run/netsafe/lock."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from modrun import run_module

pytestmark = [pytest.mark.kernel]


def test_arming_a_namespace_that_does_not_exist_leaves_nothing_behind(tmp_path):
    name = f"rvattnoexist{os.getpid()}"
    lock = Path(f"/run/netsafe/lock/netns-{name}.lock")
    try:
        result = run_module("net_checkpoint", {"state": "armed", "namespace": name, "root": str(tmp_path)})
        assert result.get("failed") and "does not exist" in result["msg"]
        left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
        assert left == [] and not lock.exists(), (left, lock.exists())
    finally:
        lock.unlink(missing_ok=True)
