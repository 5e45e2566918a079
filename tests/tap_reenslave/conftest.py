"""A Proxmox VE node in a namespace, matching tests/unit/fixtures/pve, and helpers to break it."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nstools import ip
from tapguard_proc import Watcher

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures"
PVE = FIXTURES / "pve"


# What tests/unit/fixtures/pve says is running, as Proxmox VE would have plugged it.
RUNNING_PORTS = {
    "tap100i0": "vmbr0", "tap100i1": "vmbr1",
    "tap102i0": "fwbr102i0", "fwln102i0": "fwbr102i0", "fwpr102p0": "vmbr0",
    "tap104i0": "vmbr0", "tap107i0": "vmbr1",
    "veth101i0": "vmbr0",
    "veth105i0": "fwbr105i0", "fwln105i0": "fwbr105i0", "fwpr105p0": "vmbr0",
    "veth105i1": "vmbr1",
}


def batch(ns: str, lines) -> None:
    """Many iproute2 commands in one process (ip -batch)."""
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True,
                   check=True, capture_output=True)


def add_bridge(ns: str, name: str, *extra: str) -> None:
    ip("link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0", *extra, ns=ns)
    ip("link", "set", name, "up", ns=ns)


def add_firewall_chain(ns: str, vmid: str, n: str, port: str, bridge: str) -> None:
    """Proxmox VE's firewall plumbing: port and fwln on fwbr, fwpr on the bridge."""
    add_bridge(ns, f"fwbr{vmid}i{n}")
    ip("link", "add", f"fwpr{vmid}p{n}", "type", "veth", "peer", "name", f"fwln{vmid}i{n}", ns=ns)
    for dev, master in ((port, f"fwbr{vmid}i{n}"), (f"fwln{vmid}i{n}", f"fwbr{vmid}i{n}"), (f"fwpr{vmid}p{n}", bridge)):
        ip("link", "set", dev, "master", master, "up", ns=ns)


def bridge_mtu_lines(name: str, mtu: int) -> list:
    """ip -batch lines that set a bridge's MTU so that the kernel keeps it.

    A bridge whose MTU was never set follows its smallest port's (even one
    created with `mtu`), and setting the MTU it already has is no set at all
    (dev_set_mtu returns early): so it is set to another value first.
    """
    return [f"link set {name} mtu {mtu + 1}", f"link set {name} mtu {mtu}"]


def set_bridge_mtu(ns: str, name: str, mtu: int) -> None:
    """The bridge's MTU set by hand (as ifupdown sets a stanza's `mtu`): the kernel keeps it as ports join."""
    batch(ns, bridge_mtu_lines(name, mtu))


def build_pve_node(ns: str) -> None:
    ip("link", "add", "eth1", "type", "veth", "peer", "name", "sw1", ns=ns)
    add_bridge(ns, "vmbr0")
    add_bridge(ns, "vmbr1")
    for bridge in ("vmbr0", "vmbr1"):
        set_bridge_mtu(ns, bridge, 1500)
    ip("link", "set", "eth1", "master", "vmbr0", "up", ns=ns)
    for tap in ("tap100i0", "tap100i1", "tap102i0", "tap104i0", "tap107i0"):
        ip("tuntap", "add", tap, "mode", "tap", ns=ns)
    for veth in ("veth101i0", "veth105i0", "veth105i1"):
        ip("link", "add", veth, "type", "veth", "peer", "name", "ct" + veth[4:], ns=ns)
        ip("link", "set", "ct" + veth[4:], "up", ns=ns)
    ip("link", "set", "veth101i0", "mtu", "1450", ns=ns)
    for dev in ("tap100i0", "tap104i0", "veth101i0"):
        ip("link", "set", dev, "master", "vmbr0", "up", ns=ns)
    for dev in ("tap100i1", "tap107i0", "veth105i1"):
        ip("link", "set", dev, "master", "vmbr1", "up", ns=ns)
    ip("link", "set", "tap104i0", "down", ns=ns)  # link_down=1
    add_firewall_chain(ns, "102", "0", "tap102i0", "vmbr0")
    add_firewall_chain(ns, "105", "0", "veth105i0", "vmbr0")


def restart_bridge(ns: str, name: str = "vmbr0", uplink: str | None = "eth1", *extra: str, mtu: int = 1500) -> None:
    """What ifdown/ifup of legacy ifupdown does: the bridge is deleted and made again, with its stanza's `mtu`."""
    ip("link", "del", name, ns=ns)
    # One ip process, so that the MTU follows the creation at once, before tap_guard re-attaches anything
    # (ifupdown is slower; the watcher follows a bridge's MTU set later too, see test_tap_guard_mtu.py).
    batch(ns, [" ".join(["link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0", *extra]),
               *bridge_mtu_lines(name, mtu)])
    if uplink:
        ip("link", "set", uplink, "master", name, ns=ns)
    ip("link", "set", name, "up", ns=ns)


def links(ns: str) -> dict:
    """name -> {master, up, mtu} as iproute2 reports it."""
    out = json.loads(ip("-j", "link", "show", ns=ns).stdout)
    return {l["ifname"]: {"master": l.get("master"), "up": "UP" in l.get("flags", []), "mtu": l.get("mtu")}
            for l in out}


def guest_ports(ns: str) -> dict:
    """The guest side of the node: every tap/veth/fw* device with master, admin state and MTU."""
    prefixes = ("tap", "veth", "fwbr", "fwln", "fwpr")
    return {name: v for name, v in links(ns).items() if name.startswith(prefixes)}


def assert_watcher_restores(argv, ns: str, tmp_path: Path, env: dict | None = None) -> None:
    """tap_guard started with `argv` puts the node's five vmbr0 guest ports back when vmbr0 is re-created,
    then exits 0 on SIGTERM."""
    before = guest_ports(ns)
    watcher = Watcher(argv, tmp_path, env)
    try:
        watcher.wait_ready()
        restart_bridge(ns)
        watcher.wait_log("bridge vmbr0 appeared: re-attached 5 guest port(s)")
        assert guest_ports(ns) == before
    finally:
        code = watcher.stop()
    assert code == 0, watcher.log


@pytest.fixture
def pve_node(netns):
    build_pve_node(netns)
    return netns


class FakeModule:
    """Just enough of AnsibleModule for tap_reenslave.run(): params and check_mode."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode


def reenslave(ns: str, check_mode: bool = False, **options) -> dict:
    """tap_reenslave's body in-process, with the module's defaults."""
    from ansible_collections.netsafe.hypervisor.plugins.modules import tap_reenslave

    params = {key: spec.get("default") for key, spec in tap_reenslave.ARGUMENT_SPEC.items()}
    params.update(namespace=ns, **options)
    if params.get("ports"):
        keys = ("device", "bridge", "vlan", "trunks", "mtu", "link_down")
        params["ports"] = [{k: p.get(k, False if k == "link_down" else None) for k in keys} for p in params["ports"]]
    return tap_reenslave.run(FakeModule(params, check_mode))
