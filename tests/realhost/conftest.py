"""Fixtures for the tests on the systemd host (tests/systemdhost.py): a Debian 12 container with systemd as PID 1.

`systemd_host`: a host booted for the test and removed afterwards (also when the test fails or is
interrupted), its network configured by the lab (vmbr0 on eno1, 10.77.0.2/24) and no network stack enabled.
`systemd_host_factory(**kwargs)`: more of them, or with other parameters (guests=2).
"""
from __future__ import annotations

import os

import pytest

from systemdhost import SystemdHost, SystemdHostMissing


@pytest.fixture
def systemd_host_factory():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, rootful podman)")
    hosts: list[SystemdHost] = []

    def make(**kwargs) -> SystemdHost:
        host = SystemdHost(**kwargs)
        hosts.append(host)
        try:
            host.start()
        except SystemdHostMissing as exc:
            pytest.fail(str(exc))
        return host

    try:
        yield make
    finally:
        for host in reversed(hosts):
            host.close()


@pytest.fixture
def systemd_host(systemd_host_factory) -> SystemdHost:
    return systemd_host_factory()
