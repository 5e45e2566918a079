"""The README's demo and the module EXAMPLES, run as written in the demo lab."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from modrun import run_module

ROOT = Path(__file__).resolve().parents[2]
LAB = ["hv1", "sw1", "ct200"]
pytestmark = [pytest.mark.ansible, pytest.mark.kernel, pytest.mark.slow]


def lab_namespaces() -> list:
    return [ns for ns in LAB if Path("/run/netns", ns).exists()]


@pytest.fixture
def free_lab():
    if lab_namespaces():
        pytest.fail(f"lab namespaces {lab_namespaces()} already exist; run 'demo/lab.sh down' first")
    yield
    subprocess.run([str(ROOT / "demo" / "lab.sh"), "down"], capture_output=True, check=False)


def test_demo_runs_end_to_end_and_leaves_nothing_behind(free_lab):
    proc = subprocess.run([str(ROOT / "demo" / "run.sh")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    for line in ("ct200 -> 192.0.2.1 ok", "the container kept its port", "second run: changed=0",
                 "hv1: CONFIRMED.", "bridge-ports eth3", "hv1: ROLLED BACK. Why:",
                 "the bad change was rolled back and the guests kept their network",
                 "the host put itself back before the deadline plus 2 s"):
        assert line in proc.stdout
    assert lab_namespaces() == []


def module_examples(module: str) -> list:
    source = (ROOT / "plugins" / "modules" / f"{module}.py").read_text()
    namespace: dict = {}
    start = source.index('EXAMPLES = r"""')
    end = source.index('"""', start + 15)
    exec(source[start:end + 3], namespace)  # pylint: disable=exec-used
    return yaml.safe_load(namespace["EXAMPLES"])


@pytest.mark.fullkernel("bonding", "8021q", "bridge_vlan_filtering")
def test_examples_run_as_written_in_the_lab(free_lab):
    """Every network module's EXAMPLES, in order, against the demo lab.

    Runs in the full-kernel lane, through each module's real entry point
    in-process (tests/modrun.py): ansible-playbook costs minutes per task
    under software emulation. Tasks of other modules (debug) are skipped.
    """
    if not os.path.exists("/dev/net/tun"):
        subprocess.run(["modprobe", "tun"], check=False, capture_output=True)
    subprocess.run([str(ROOT / "demo" / "lab.sh"), "up"], check=True, capture_output=True)
    ran = 0
    for module in ("net_bridge", "net_bond", "net_vlan", "net_nic"):
        for task in module_examples(module):
            key = f"netsafe.hypervisor.{module}"
            if key not in task:
                continue
            result = run_module(module, task[key], check=bool(task.get("check_mode")))
            assert not result.get("failed"), (task["name"], result.get("msg"))
            ran += 1
    assert ran >= 12
