"""net_checkpoint's own paths (issue 23, items 2 and 6): a namespace name cannot lead a path anywhere, and
every directory under /run/netsafe and /var/lib/netsafe is root's alone, whatever the umask.

Run under a scratch root (the fixture's); the kernel side is the checkpoint lab's namespace. A refused task
leaves the complete state dump, the scratch tree and the armed state as they were, and no watchdog.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from watchdogs import kill_watchdogs, watchdog_pids

pytestmark = [pytest.mark.kernel]


def tree(root: Path) -> dict:
    """Every path under `root` (symlinks not followed) with its type and mode."""
    return {str(p): (p.is_symlink(), p.is_dir(), stat.S_IMODE(p.lstat().st_mode)) for p in sorted(root.rglob("*"))}


def test_a_namespace_name_that_could_escape_builds_no_path_and_reads_none(host):
    bad = "x/../../../escaped"     # under root: run/netsafe/checkpoint/netns-x/../../../escaped = run/escaped
    before, files = kernel_state(host.ns), tree(host.root)
    for state, args in (("armed", {"timeout": 30}), ("query", {}), ("confirmed", {"id": "20260101T000000Z-000000"}),
                        ("rolled_back", {})):
        for check in (True, False):
            result = host.checkpoint(check=check, state=state, namespace=bad, **args)
            assert result.get("failed") and result["msg"].startswith(f"namespace: {bad!r} is not a valid namespace name"), result
            assert tree(host.root) == files and not watchdog_pids(host.root)
    # What the escape would have read: a record planted where the escaped path leads.
    (host.root / "run/netsafe/checkpoint/netns-x").mkdir(parents=True)
    (host.root / "run/escaped").mkdir()
    (host.root / "run/escaped/checkpoint.json").write_text("planted")
    query = host.checkpoint(state="query", namespace=bad)
    assert query.get("failed") and "planted" not in query["msg"] and "escaped/checkpoint.json" not in query["msg"], query
    assert state_diff(before, kernel_state(host.ns)) == []


def test_every_directory_is_0700_whatever_the_umask(host):
    old = os.umask(0)
    try:
        checkpoint = host.checkpoint(state="armed", timeout=30)
        assert not checkpoint.get("failed"), checkpoint
        found = tree(host.root / "run/netsafe") | tree(host.root / "var/lib/netsafe")
        found[str(host.root / "run/netsafe")] = (False, True, stat.S_IMODE((host.root / "run/netsafe").stat().st_mode))
        found[str(host.root / "var/lib/netsafe")] = (False, True, stat.S_IMODE((host.root / "var/lib/netsafe").stat().st_mode))
        dirs = {path: mode for path, (_link, is_dir, mode) in found.items() if is_dir}
        assert len(dirs) > 10 and set(dirs.values()) == {0o700}, {p: oct(m) for p, m in dirs.items() if m != 0o700}
        code = {path: mode for path, (_link, is_dir, mode) in found.items() if not is_dir and path.endswith(".py")}
        assert code and set(code.values()) == {0o600}, {p: oct(m) for p, m in code.items() if m != 0o600}
        confirmed = host.checkpoint(state="confirmed", id=checkpoint["checkpoint"]["id"])
        assert not confirmed.get("failed") and confirmed["outcome"]["outcome"] == "confirmed", confirmed
    finally:
        os.umask(old)


LEVELS = ("run/netsafe", "run/netsafe/checkpoint", "run/netsafe/checkpoint/{scope}",
          "var/lib/netsafe", "var/lib/netsafe/checkpoint", "var/lib/netsafe/checkpoint/{scope}")


def test_a_symlink_planted_at_any_level_is_refused_with_its_path(host, tmp_path):
    before = kernel_state(host.ns)
    roots = []
    try:
        for i, level in enumerate(LEVELS + ("run",)):
            root = tmp_path / f"planted{i}"
            root.mkdir()
            roots.append(root)
            level = level.format(scope=f"netns-{host.ns}")
            target = tmp_path / f"outside{i}" if level == "run" else root / "planted"   # out of root, or inside it
            target.mkdir(parents=True)
            for above in Path(level).parents:
                if str(above) != ".":
                    (root / above).mkdir(mode=0o700 if "netsafe" in str(above) else 0o755, parents=True, exist_ok=True)
            (root / level).symlink_to(target)
            result = run_module("net_checkpoint", {"state": "armed", "timeout": 30, "namespace": host.ns, "root": str(root)})
            expected = (f"root: {root}/run/netsafe leads out of {root}" if level == "run"
                        else f"{root / level} is a symlink (to {target})")
            assert result.get("failed") and expected in result["msg"], (level, result)
            assert list(target.iterdir()) == [] and not watchdog_pids(root), level
            query = run_module("net_checkpoint", {"state": "query", "namespace": host.ns, "root": str(root)})
            assert query.get("failed") or query["armed"] is False, (level, query)
    finally:
        for root in roots:
            kill_watchdogs(root)
    assert state_diff(before, kernel_state(host.ns)) == []
