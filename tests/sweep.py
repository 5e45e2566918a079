"""Failpoint sweeps: refuse each operation of a module's plan in turn and prove the undo on the real kernel.

With NETSAFE_FAIL_AT=k the netlink configurator treats operation k of the
plan as refused by the kernel (EPERM) after sending everything before it,
then undoes what was sent, newest first (plugins/module_utils/_network/apply.py).
sweep() runs a module task in-process (tests/modrun.py) once in check mode to
learn the plan (its `operations` and `commands`), then once for every k, and
checks after each: the task failed, its message names the k-th command and
says everything was undone, `changed` is false, and the complete state dump
(nstools.kernel_state) equals the one taken before.

One more step, k = n: the whole plan is applied and a sentinel operation
after it is refused, so the undo reverses every operation of the plan (the
path a failed verification takes too). For a plan of one operation, such as
deleting a device, that is the only step that runs the undo at all.

A finding does not stop the sweep: the scenario is rebuilt from scratch and
the next k runs, so one report lists every k whose undo was not exact.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from unittest import mock

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import runner as _runner
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import FAIL_AT_ENV, FAIL_UNDO_AT_ENV
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_SET, Operation
from modrun import run_module
from nstools import iproute, kernel_state, state_diff

# Refused by the failpoint before it is encoded: never reaches the kernel.
SENTINEL = Operation(LINK_SET, "lo", {"up": True})


def refused(command: str, k: int, undo: str = "every change made before it was undone") -> str:
    """The message of a task whose operation k (`command`) the failpoint refused."""
    return f"the kernel refused '{command}': Operation not permitted (failpoint {FAIL_AT_ENV}={k}); {undo}"


@contextlib.contextmanager
def environment(**values):
    """Set environment variables (None: unset) for the block; restore them afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _RefuseAfterThePlan(_runner.NetlinkConfigurator):
    """Applies the whole plan, then has the failpoint refuse SENTINEL: the undo reverses everything."""

    def apply(self, operations) -> None:
        operations = list(operations)
        self.fail_at = len(operations)
        super().apply(operations + [SENTINEL])


def fresh_namespace(ns: str, setup: list[str]) -> None:
    """Delete `ns` if it exists, create it again with lo up, run the setup lines (tests/nstools.iproute)."""
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", ns], capture_output=True, check=True)
    iproute(ns, ["ip link set lo up", *setup])


@dataclass
class Sweep:
    label: str
    commands: list[str]
    swept: list[int] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.commands)

    def summary(self) -> str:
        return (f"sweep {self.label}: plan of {self.n} operations, k swept {self.swept[0]}..{self.swept[-1]} "
                f"({len(self.swept)} runs, k={self.n} = after the last operation), {len(self.findings)} findings")

    def report(self) -> str:
        plan = "\n".join(f"  {k}: {command}" for k, command in enumerate(self.commands))
        return "\n".join([self.summary(), "plan:", plan, *self.findings])


def _problems(result: dict, message: str) -> list[str]:
    problems = []
    if not result.get("failed"):
        problems.append(f"the task did not fail (changed={result.get('changed')!r})")
    if result.get("msg") != message:
        problems.append(f"msg was {result.get('msg')!r}")
    if result.get("changed") is not False:
        problems.append(f"changed was {result.get('changed')!r}, not false")
    return problems


def sweep(label: str, ns: str, setup: list[str], module: str, args: dict) -> Sweep:
    """Build the scenario, learn the plan in check mode, refuse each operation in turn (see the module doc)."""
    args = dict(args, namespace=ns)
    fresh_namespace(ns, setup)
    before = kernel_state(ns)
    preview = run_module(module, args, check=True)
    assert not preview.get("failed") and preview["changed"], (label, preview.get("msg"), preview.get("commands"))
    assert len(preview["operations"]) == len(preview["commands"]) > 0
    result = Sweep(label, list(preview["commands"]))
    still = kernel_state(ns)
    assert still == before, (f"{label}: check mode changed the kernel", state_diff(before, still))

    for k in range(result.n + 1):
        if k < result.n:
            with environment(**{FAIL_AT_ENV: k, FAIL_UNDO_AT_ENV: None}):
                outcome = run_module(module, args)
            message = refused(result.commands[k], k)
            where = f"k={k} ({result.commands[k]})"
        else:
            with environment(**{FAIL_AT_ENV: None, FAIL_UNDO_AT_ENV: None}), \
                    mock.patch.object(_runner, "NetlinkConfigurator", _RefuseAfterThePlan):
                outcome = run_module(module, args)
            message = refused(SENTINEL.command(ns), k)
            where = f"k={k} (after the last operation: the whole plan undone)"
        result.swept.append(k)
        problems = _problems(outcome, message)
        after = kernel_state(ns)
        if after != before:
            problems += [f"state differs after the undo: {line}" for line in state_diff(before, after)]
        if problems:
            result.findings.append(f"{where}:\n    " + "\n    ".join(problems))
            fresh_namespace(ns, setup)   # the next k starts from the scenario again
            before = kernel_state(ns)
    print(result.summary())
    return result
