"""Checkpoint fixtures: a hypervisor-shaped namespace, a scratch root, and no watchdog left behind."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import persist_lab
from modrun import run_module
from nstools import settled_state
from watchdogs import kill_watchdogs


class Host:
    """One lab host: namespace, peer (its switch), scratch root; module calls with those filled in."""

    def __init__(self, ns: str, peer: str, root: Path):
        self.ns, self.peer, self.root = ns, peer, root

    def checkpoint(self, check: bool = False, env: dict | None = None, **args) -> dict:
        args.setdefault("namespace", self.ns)
        args.setdefault("root", str(self.root))
        saved = {k: os.environ.get(k) for k in (env or {})}
        os.environ.update(env or {})
        try:
            return run_module("net_checkpoint", args, check=check)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def state(self) -> dict:
        return settled_state(self.ns)

    @property
    def run_dir(self) -> Path:
        return self.root / "run/netsafe/checkpoint" / f"netns-{self.ns}"

    @property
    def state_dir(self) -> Path:
        return self.root / "var/lib/netsafe/checkpoint" / f"netns-{self.ns}"

    def log(self) -> str:
        path = self.run_dir / "watchdog.log"
        return path.read_text() if path.exists() else ""

    def wait_outcome(self, checkpoint_id: str, limit: float) -> dict:
        """last.json once it is about `checkpoint_id` (polls; fails after `limit` seconds)."""
        give_up = time.monotonic() + limit
        while time.monotonic() < give_up:
            path = self.state_dir / "last.json"
            if path.exists():
                last = json.loads(path.read_text())
                if last.get("id") == checkpoint_id and last["outcome"] != "armed":
                    return last
            time.sleep(0.05)
        raise AssertionError(f"no outcome for {checkpoint_id} within {limit} s; watchdog log:\n{self.log()}")

    def wait_last_key(self, checkpoint_id: str, key: str, limit: float) -> dict:
        """last.json once the watchdog has added `key` to it (probes_after comes after the rollback is recorded)."""
        give_up = time.monotonic() + limit
        while time.monotonic() < give_up:
            last = self.wait_outcome(checkpoint_id, limit)
            if key in last:
                return last
            time.sleep(0.05)
        raise AssertionError(f"last.json of {checkpoint_id} has no {key} after {limit} s; watchdog log:\n{self.log()}")


@pytest.fixture
def make_host(namespaces, tmp_path):
    """Factory of lab hosts (the 'bridges' host of persist_lab with two guests); watchdogs killed at the end."""
    roots = []

    def make() -> Host:
        ns, peer = namespaces.new(), namespaces.new()
        persist_lab.nics(ns, peer, persist_lab.BRIDGES_NICS)
        persist_lab.bridges(ns)
        persist_lab.guests(ns)
        root = tmp_path / f"root{len(roots)}"
        root.mkdir()
        roots.append(root)
        return Host(ns, peer, root)

    try:
        yield make
    finally:
        for root in roots:
            kill_watchdogs(root)


@pytest.fixture
def host(make_host) -> Host:
    return make_host()
