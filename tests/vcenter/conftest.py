"""Fixtures for the vcenter_retry_connect tests: certificates, the simulator, playbook text."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from vcpeers import VCSIM, Certs, Vcsim, make_certs  # noqa: E402


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def vcsim_factory(tmp_path, certs):
    """vcsim_factory(listen=..., netns=None, start=True) -> Vcsim; all stopped afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the simulator tests need root (network namespaces)")
    if not VCSIM.exists():
        pytest.fail(f"{VCSIM} is missing: tests/setup.d/vcsim.sh builds it (run tests/setup/bootstrap.sh)")
    made: list[Vcsim] = []

    def make(*, listen: str, netns: str | None = None, start: bool = True, **kw) -> Vcsim:
        sim = Vcsim(certs, tmp_path, listen=listen, netns=netns, **kw)
        made.append(sim)
        return sim.start() if start else sim

    yield make
    for sim in made:
        sim.stop()
