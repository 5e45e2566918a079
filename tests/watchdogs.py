"""Watchdogs started by tests: find them by their ready files under a scratch root, kill what is left."""
from __future__ import annotations

import json
import os
import signal
from contextlib import contextmanager
from pathlib import Path

from modrun import run_module


def watchdog_pids(root: Path) -> list:
    """Pids of the watchdogs whose ready files are under `root`, still running."""
    pids = []
    for ready in Path(root).glob("run/netsafe/checkpoint/*/watchdog.ready"):
        try:
            pid = json.loads(ready.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            continue
        if os.path.exists(f"/proc/{pid}"):
            pids.append(pid)
    return pids


def kill_watchdogs(root: Path) -> None:
    for pid in watchdog_pids(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def armed_checkpoint(ns: str, root: Path, timeout: int = 60):
    """A checkpoint armed on `ns` with its state under `root` (made here); yields the rollback, a function that
    returns net_checkpoint state=rolled_back's result. The watchdogs are killed on leaving, also on failure."""
    Path(root).mkdir(exist_ok=True)
    try:
        armed = run_module("net_checkpoint", {"state": "armed", "namespace": ns, "root": str(root), "timeout": timeout})
        assert not armed.get("failed"), armed.get("msg")
        yield lambda: run_module("net_checkpoint", {"state": "rolled_back", "namespace": ns, "root": str(root)})
    finally:
        kill_watchdogs(root)
