"""Fixtures for the change-window tests: the SSH lab (tests/sshlab.py).

`sshlab`: a lab with two guest taps, built for the test and removed afterwards
(also when the test fails or is interrupted). `sshlab_factory(**kwargs)`: labs
with other parameters (guests=1000, switch_ageing=...), each removed at the end.
"""
from __future__ import annotations

import os

import pytest

from sshlab import SshLab, SshLabMissing


def _require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to create network and mount namespaces")


def _checked(lab: SshLab) -> SshLab:
    """Refuse a lab whose hypervisor is this machine's own network namespace (cheap insurance)."""
    own = os.readlink("/proc/self/ns/net")
    seen = lab.exec(["readlink", "/proc/self/ns/net"], check=True).stdout.strip()
    if not lab.hv or seen == own:
        raise RuntimeError(f"refusing: lab namespace {lab.hv!r} is this machine's own network namespace")
    return lab


@pytest.fixture
def sshlab_factory():
    _require_root()
    labs: list[SshLab] = []

    def make(**kwargs) -> SshLab:
        lab = SshLab(**kwargs)
        labs.append(lab)
        try:
            lab.start()
        except SshLabMissing as exc:
            pytest.fail(str(exc))
        return _checked(lab)

    try:
        yield make
    finally:
        for lab in reversed(labs):
            lab.close()


@pytest.fixture
def sshlab(sshlab_factory) -> SshLab:
    """The SSH lab with two guest taps (tap100i0, tap101i0) on vmbr0."""
    return sshlab_factory()
