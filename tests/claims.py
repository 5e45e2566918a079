"""Checks behind claims that several test files make: a watchdog kept its deadline, a check run armed
nothing, a bridge's ports line was written as meant.

Each one judges by the test's own clock, the process table or the file's
text, not by what the module says about itself.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

BOUND = 2.0   # the bound: the watchdog's rollback ends within timeout + 2 s


def assert_deadline_kept(last: dict, timeout: float, armed_after: float, armed_before: float) -> None:
    """The rollback in `last` (last.json) started at its deadline, not before, and ended within BOUND.

    `armed_after`/`armed_before` are time.time() values the test took before
    arming and once it knew the checkpoint was armed: the deadline must be
    the requested `timeout` after a moment in between, so a watchdog cannot
    keep a deadline of its own making. `at` alone would pass a watchdog that
    fires early with a slow rollback: the start (`at` - `duration_ms`) must
    not precede the deadline either.
    """
    deadline = last["deadline"]
    assert armed_after + timeout <= deadline <= armed_before + timeout, (
        f"deadline {deadline} is not {timeout} s after arming (between {armed_after} and {armed_before})", last)
    started = last["at"] - last["duration_ms"] / 1000
    assert started >= deadline - 0.001, (f"the rollback started {deadline - started:.3f} s before the deadline", last)
    assert 0 <= last["at"] - deadline < BOUND, (f"the rollback ended {last['at'] - deadline:.3f} s after the deadline",
                                                last)


def processes_naming(path: Path) -> list[str]:
    """'pid: command line' of every process whose command line names `path` (a scratch root)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue   # gone meanwhile
        line = " ".join(a.decode(errors="replace") for a in argv if a)
        if str(path) in line:
            found.append(f"{entry.name}: {line}")
    return found


def stanza_options(text: str, iface: str) -> list[str]:
    """The option lines of the `iface <iface> ...` stanzas (inet and inet6) of an interfaces file, stripped.

    Lines are compared whole: `bridge-ports eno3 tap100i0` is not `bridge-ports eno3`.
    """
    lines = text.splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(rf"iface\s+{re.escape(iface)}(\s|$)", line)]
    assert heads, f"no stanza `iface {iface}` in:\n{text}"
    options = []
    for head in heads:
        for line in lines[head + 1:]:
            if not line.strip() or not line[0].isspace():
                break
            options.append(line.strip())
    return options
