"""The netlink link monitor on the real kernel, in throwaway namespaces, with each pyroute2
this collection supports: the venv's (PyPI 0.9.7) and Debian 12's python3-pyroute2 (0.7.2)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.linkmon import link_is_up

from vcpeers import have_system_pyroute2

SCRIPT = Path(__file__).with_name("linkmon_scenarios.py")
log = logging.getLogger(__name__)

PYTHONS = [pytest.param(sys.executable, id="venv-pyroute2"),
           pytest.param("/usr/bin/python3", id="debian-pyroute2",
                        marks=pytest.mark.skipif(not have_system_pyroute2(),
                                                 reason="python3-pyroute2 not installed"))]


@pytest.fixture
def veth_ns(netns):
    """A namespace with va (admin up) and its peer vb (down)."""
    subprocess.run(["ip", "-n", netns, "link", "add", "va", "type", "veth", "peer", "name", "vb"], check=True)
    subprocess.run(["ip", "-n", netns, "link", "set", "va", "up"], check=True)
    return netns


def scenario(python: str, name: str, ns: str) -> dict:
    out = subprocess.run([python, str(SCRIPT), name, ns], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    log.info("%s with pyroute2 %s: %s", name, result["pyroute2"], result)
    return result


@pytest.mark.parametrize("operstate,flags,up", [
    ("UP", 0x11043, True),
    ("LOWERLAYERDOWN", 0x1003, False),
    ("DOWN", 0x1002, False),
    ("UNKNOWN", 0x10049, True),  # loopback: IFF_UP | IFF_LOWER_UP
    ("UNKNOWN", 0x1, False),  # admin up, no lower layer
    ("DORMANT", 0x10041, False),
    (None, 0x10041, False),
])
def test_link_is_up_rules(operstate, flags, up):
    assert link_is_up(operstate, flags) is up


@pytest.mark.kernel
@pytest.mark.parametrize("python", PYTHONS)
def test_lost_carrier_counts_as_down_and_the_up_event_wakes_the_waiter(python, veth_ns):
    r = scenario(python, "lowerlayerdown", veth_ns)
    assert r["operstate_before"] == "LOWERLAYERDOWN"
    assert r["up_before"] is False and r["down"] == ["va (LOWERLAYERDOWN)"]
    assert r["woke"] is True and r["operstate_after"] == "UP"
    log.info("woke %.6f s after the link-up message was applied", r["wake_delay_after_event"])


@pytest.mark.kernel
@pytest.mark.parametrize("python", PYTHONS)
def test_wait_down_returns_when_a_required_link_drops(python, veth_ns):
    subprocess.run(["ip", "-n", veth_ns, "link", "set", "vb", "up"], check=True)
    r = scenario(python, "goes_down", veth_ns)
    assert r["was_up"] is True and r["fell"] is True and r["stays_down"] is True
    log.info("wait_down returned %.3f s after it started (the drop came at ~0.2 s)", r["took"])


@pytest.mark.kernel
@pytest.mark.parametrize("python", PYTHONS)
def test_unknown_operstate_with_lower_up_counts_as_up(python, netns):
    r = scenario(python, "unknown_is_up", netns)
    assert r == {"operstate": "UNKNOWN", "up": True, "pyroute2": r["pyroute2"]}


@pytest.mark.kernel
@pytest.mark.parametrize("python", PYTHONS)
def test_missing_namespace_is_an_error_and_is_not_created(python, netns):
    r = scenario(python, "missing_namespace", netns)
    assert r["created"] is False
    assert "does not exist" in r["error"]


@pytest.mark.kernel
@pytest.mark.parametrize("python", PYTHONS)
def test_missing_interface_is_an_error(python, netns):
    r = scenario(python, "missing_interface", netns)
    assert "nosuch0" in r["error"]


@pytest.mark.kernel
@pytest.mark.parametrize("python", PYTHONS)
def test_socket_lives_in_the_namespace_and_the_caller_stays_home(python, veth_ns):
    r = scenario(python, "own_namespace_kept", veth_ns)
    assert r["same_ns"] is True
    assert r["names"] == ["lo", "va", "vb"]  # the namespace's links, not the host's


@pytest.mark.kernel
@pytest.mark.parametrize("python", PYTHONS)
def test_enobufs_is_survived_by_a_fresh_socket_and_dump(python, veth_ns):
    r = scenario(python, "enobufs", veth_ns)
    assert r["resyncs"] >= 1
    assert r["up"] is True and r["operstate"] == "UP"
