"""The execution environment image itself, built here with podman (tests/ee/image/build.sh, docs/awx.md).

No container registry is reachable from these machines, so the base image is a
Debian minbase made with debootstrap and every pip install of the build reads
wheels downloaded on the host; every container runs with --network none. The
script checks the image; this test checks it again from outside and runs a
module of the collection inside it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ansible, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "ee" / "image" / "build.sh"
IMAGE = "localhost/netsafe-hypervisor-ee:suite"
BASE = "localhost/netsafe-ee-base:suite"
PODMAN_RUN = ["podman", "run", "--rm", "--runtime", "runc", "--network", "none",
              "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", IMAGE]


def in_image(*argv: str) -> str:
    proc = subprocess.run(PODMAN_RUN + list(argv), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)} in the image failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def ee_image():
    if os.geteuid() != 0:
        pytest.skip("building an image needs root (debootstrap, rootful podman)")
    for tool in ("podman", "runc", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: tests/setup.d/50-ee-image.sh installs it (run tests/setup/bootstrap.sh)")
    env = dict(os.environ, EE_IMAGE_TAG=IMAGE, EE_BASE_TAG=BASE)
    try:
        proc = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, env=env, timeout=1200, check=False)
        assert proc.returncode == 0, f"build.sh failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
        yield IMAGE
    finally:
        for image in (IMAGE, BASE):
            subprocess.run(["podman", "rmi", "-f", image], capture_output=True, check=False)
        subprocess.run(["podman", "image", "prune", "-f"], capture_output=True, check=False)


def test_the_image_holds_the_collection_and_runs_its_modules(ee_image):
    listing = in_image("ansible-doc", "-l", "-j", "netsafe.hypervisor")
    modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))
    assert sorted(name.split(".")[-1] for name in json.loads(listing)) == modules
    assert "pyvmomi" in in_image("python3", "-m", "pip", "list", "--format", "freeze").lower()
    assert in_image("python3", "-c", "import pyVmomi, ansible_runner; print('ok')").strip() == "ok"
    # A module of the collection, run by ansible inside the image (pure logic: no host network needed).
    out = in_image("ansible", "localhost", "-c", "local", "-m", "netsafe.hypervisor.failover_plan", "-a",
                   json.dumps({"vms": [{"uuid": "a", "hypervisor": "hv1", "memory_mb": 512, "vcpus": 1}],
                               "reservations": [{"name": "r", "host": "hv2", "memory_mb": 1024, "vcpus": 2,
                                                 "allocations": {"a": "hv1"}}]}))
    head, _sep, body = out.partition(" => ")
    assert head.strip().splitlines()[-1] == "localhost | SUCCESS", out
    plan = json.loads(body)
    # hv1's VM is protected by the reservation on hv2: hv1 goes first, then hv2 on its own.
    assert {key: plan[key] for key in ("changed", "batches", "unprotected", "blocked_hosts", "ineligible", "msg")} == {
        "changed": False, "batches": [["hv1"], ["hv2"]], "unprotected": [], "blocked_hosts": [], "ineligible": {},
        "msg": "2 batch(es) for 2 host(s); 0 unprotected VM(s), 0 blocked host(s)"}, out
    # The controller side reaches hypervisors over SSH: the client the collection's bindep asks for.
    proc = subprocess.run(PODMAN_RUN + ["ssh", "-V"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "OpenSSH" in proc.stderr + proc.stdout
