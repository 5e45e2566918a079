"""Watchdogs started by tests: find them by their ready files under a scratch root, kill what is left."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path


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
