"""tap_guard as a real process, for tests: started with a NOTIFY_SOCKET, its log followed line by line."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY = "ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.watcher"
ENV = {"PYTHONPATH": str(ROOT / ".tmp" / "collections")}


def watcher_argv(*args: str) -> list:
    """The command line of tap_guard run from this checkout."""
    return [sys.executable, "-m", ENTRY, *args]


class Watcher:
    """tap_guard as a real process: started with a NOTIFY_SOCKET, so we know when it is listening."""

    def __init__(self, argv, tmp_path: Path, env: dict | None = None):
        self.notify_path = str(tmp_path / f"notify{id(self)}")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        environ = dict(os.environ, NOTIFY_SOCKET=self.notify_path, **(env or {}))
        self.proc = subprocess.Popen(argv, env=environ, stderr=subprocess.PIPE, text=True)
        self.lines: list = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_ready(self, timeout: float = 20.0) -> None:
        self.notify.settimeout(timeout)
        try:
            message = self.notify.recv(4096).decode()
        except OSError:
            raise AssertionError(f"tap_guard never reported READY=1; log:\n{self.log}") from None
        assert "READY=1" in message, message

    def wait_log(self, text: str, timeout: float = 20.0, count: int = 1) -> list:
        """Block until `count` log lines contain `text` (the watcher logs every reconcile)."""
        with self._changed:
            self._changed.wait_for(lambda: len([line for line in self.lines if text in line]) >= count or self.proc.poll() is not None,
                                   timeout)
            found = [line for line in self.lines if text in line]
        if len(found) < count:
            raise AssertionError(f"no {count} log line(s) with {text!r}; log:\n{self.log}")
        return found

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(timeout=5)
        self.notify.close()
        return code
