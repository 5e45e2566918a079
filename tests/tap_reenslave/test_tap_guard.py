"""tap_guard as a real process in a namespace lab: guests come back without any playbook."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from conftest import PVE, batch, bridge_mtu_lines, guest_ports, links, restart_bridge
from tapguard_proc import Watcher
from nstools import ip

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[2]
ENTRY = "ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.watcher"
ENV = {"PYTHONPATH": str(ROOT / ".tmp" / "collections")}


@pytest.fixture
def watcher(tmp_path):
    started = []

    def start(*args):
        w = Watcher([sys.executable, "-m", ENTRY, *args], tmp_path, ENV)
        started.append(w)
        w.wait_ready()
        return w

    yield start
    for w in started:
        w.stop()


def test_bridge_restart_is_repaired_without_a_playbook(pve_node, watcher):
    before = guest_ports(pve_node)
    w = watcher("--source", "proxmox", "--proxmox-dir", str(PVE), "--namespace", pve_node)
    restart_bridge(pve_node)
    w.wait_log("bridge vmbr0 appeared: re-attached 5 guest port(s)")
    w.wait_log("bridge vmbr0 appeared, full pass: all 8 running guest port(s) in place")
    assert guest_ports(pve_node) == before
    assert w.stop() == 0


def test_firewall_bridge_deleted_too_is_rebuilt_by_the_watcher(pve_node, watcher):
    """fwbr gone as well: the first pass re-attaches the rest, the full pass rebuilds the chain."""
    before = guest_ports(pve_node)
    w = watcher("--source", "proxmox", "--proxmox-dir", str(PVE), "--namespace", pve_node)
    ip("link", "del", "fwbr105i0", ns=pve_node)
    restart_bridge(pve_node)
    w.wait_log("bridge vmbr0 appeared, full pass")
    assert guest_ports(pve_node) == before


def test_guest_moved_in_its_config_goes_where_the_config_says(pve_node, watcher, tmp_path):
    """The config is read again when the bridge comes back: an edit made while it ran counts."""
    node = tmp_path / "node"
    shutil.copytree(PVE, node)
    w = watcher("--source", "proxmox", "--proxmox-dir", str(node), "--namespace", pve_node)
    conf = node / "qemu-server" / "100.conf"
    conf.write_text(conf.read_text().replace("net0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0,", "net0: virtio=BC:24:11:5E:7A:01,bridge=vmbr1,"))
    restart_bridge(pve_node)
    w.wait_log("bridge vmbr0 appeared, full pass")
    assert links(pve_node)["tap100i0"]["master"] == "vmbr1"


def test_guests_detached_before_it_starts_are_repaired_at_start(pve_node, watcher):
    before = guest_ports(pve_node)
    restart_bridge(pve_node)
    w = watcher("--source", "proxmox", "--proxmox-dir", str(PVE), "--namespace", pve_node)
    assert w.wait_log("start: re-attached 5 guest port(s)")
    assert guest_ports(pve_node) == before


def test_repeated_restarts_and_other_bridges(pve_node, watcher):
    before = guest_ports(pve_node)
    w = watcher("--source", "proxmox", "--proxmox-dir", str(PVE), "--namespace", pve_node)
    restart_bridge(pve_node)
    w.wait_log("bridge vmbr0 appeared")
    restart_bridge(pve_node, "vmbr1", None)
    w.wait_log("bridge vmbr1 appeared: re-attached 3 guest port(s)")
    restart_bridge(pve_node)
    w.wait_log("bridge vmbr0 appeared", count=2)
    assert guest_ports(pve_node) == before


def test_ports_joining_an_existing_bridge_do_not_trigger_work(pve_node, watcher):
    w = watcher("--source", "proxmox", "--proxmox-dir", str(PVE), "--namespace", pve_node)
    ip("tuntap", "add", "tap500i0", "mode", "tap", ns=pve_node)
    ip("link", "set", "tap500i0", "master", "vmbr0", ns=pve_node)
    ip("link", "set", "tap500i0", "nomaster", ns=pve_node)
    restart_bridge(pve_node, "vmbr1", None)   # a marker event after the others
    w.wait_log("bridge vmbr1 appeared, full pass")
    assert not [l for l in w.lines if "vmbr0" in l and "watching" not in l], w.log  # port changes on vmbr0: no work
    assert links(pve_node)["tap500i0"]["master"] is None  # not in any config: never touched


def test_lost_events_are_recovered_by_a_full_read(pve_node, watcher):
    """A tiny event buffer and a 200-port bridge deleted: ENOBUFS, new socket, full re-read, guests back."""
    taps = [f"tap{1000 + i}i0" for i in range(200)]
    batch(pve_node, [f"tuntap add {t} mode tap" for t in taps] + [f"link set {t} master vmbr0 up" for t in taps])
    before = guest_ports(pve_node)
    w = watcher("--source", "proxmox", "--proxmox-dir", str(PVE), "--namespace", pve_node, "--event-buffer", "4096")
    ip("link", "del", "vmbr0", ns=pve_node)
    # Its MTU set as the lab's is (bridge_mtu_lines): a bridge whose MTU was never set would follow veth101i0's 1450.
    batch(pve_node, ["link add vmbr0 type bridge stp_state 0 forward_delay 0", *bridge_mtu_lines("vmbr0", 1500)])
    ip("link", "set", "eth1", "master", "vmbr0", ns=pve_node)
    ip("link", "set", "vmbr0", "up", ns=pve_node)
    w.wait_log("events were lost (ENOBUFS)")
    w.wait_log("re-attached 5 guest port(s)")
    after = guest_ports(pve_node)
    assert {k: v for k, v in after.items() if k not in taps} == {k: v for k, v in before.items() if k not in taps}
    assert all(after[t]["master"] is None for t in taps)  # not guests of this node's configs


def test_stops_cleanly_on_sigterm(pve_node, watcher):
    w = watcher("--source", "proxmox", "--proxmox-dir", str(PVE), "--namespace", pve_node)
    assert w.stop() == 0


def test_missing_namespace_refuses_to_start(tmp_path):
    w = Watcher([sys.executable, "-m", ENTRY, "--source", "proxmox", "--proxmox-dir", str(PVE),
                 "--namespace", "nsdoesnotexist0"], tmp_path, ENV)
    assert w.proc.wait(timeout=20) == 2
    w.stop()
    assert "namespace 'nsdoesnotexist0' does not exist" in w.log


def test_first_pass_sends_requests_built_before_the_event(pve_node, watcher):
    w = watcher("--source", "proxmox", "--proxmox-dir", str(PVE), "--namespace", pve_node)
    restart_bridge(pve_node)
    line = w.wait_log("bridge vmbr0 appeared: re-attached 5 guest port(s)")[0]
    assert "requests built before the event" in line, w.log
    restart_bridge(pve_node)   # the same requests serve again, with the next ifindex
    lines = w.wait_log("bridge vmbr0 appeared: re-attached 5 guest port(s)", count=2)
    assert "requests built before the event" in lines[1], w.log
    w.wait_log("bridge vmbr0 appeared, full pass: all 8 running guest port(s) in place", count=2)


LIBVIRT = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "libvirt_host"
NEW_GUEST = """<domstatus state='running' reason='booted' pid='8080'>
  <monitor path='/var/lib/libvirt/qemu/domain-9-new1/monitor.sock' type='unix'/>
  <domain type='kvm' id='9'>
    <name>new1</name>
    <devices>
      <interface type='network'>
        <mac address='52:54:00:00:60:01'/>
        <source network='default' portid='0f1e2d3c-4b5a-4697-8877-665544332299'/>
        <actual type='network'>
          <source bridge='virbr0'/>
        </actual>
        <target dev='vnet60'/>
        <model type='virtio'/>
        <alias name='net0'/>
      </interface>
    </devices>
  </domain>
</domstatus>
"""


def test_libvirt_guest_started_while_watching_is_known_before_its_bridge_returns(netns, watcher, tmp_path):
    """A new live status XML (inotify) is read when written, not when the bridge comes back."""
    host = tmp_path / "libvirt"
    shutil.copytree(LIBVIRT, host)
    for bridge in ("br0", "virbr0"):
        ip("link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0", ns=netns)
        ip("link", "set", bridge, "up", ns=netns)
    for tap, master in (("vnet12", "virbr0"), ("vnet20", "br0")):
        ip("tuntap", "add", tap, "mode", "tap", ns=netns)
        ip("link", "set", tap, "master", master, "up", ns=netns)
    w = watcher("--source", "libvirt", "--libvirt-status-dir", str(host / "run"), "--libvirt-xml-dir", str(host / "etc"),
                "--namespace", netns)
    assert "config changes in" in w.wait_log("watching link events")[0]
    ip("tuntap", "add", "vnet60", "mode", "tap", ns=netns)           # libvirt starts the guest:
    ip("link", "set", "vnet60", "master", "virbr0", "up", ns=netns)  # its tap, on its network's bridge,
    (host / "run" / "new1.xml.new").write_text(NEW_GUEST)             # then its status XML, by rename
    (host / "run" / "new1.xml.new").rename(host / "run" / "new1.xml")
    restart_bridge(netns, "virbr0", None)
    line = w.wait_log("bridge virbr0 appeared: re-attached 2 guest port(s)")[0]
    assert "vnet12" in line and "vnet60" in line, w.log
    w.wait_log("bridge virbr0 appeared, full pass")
    assert links(netns)["vnet60"]["master"] == "virbr0" and links(netns)["vnet12"]["master"] == "virbr0"
