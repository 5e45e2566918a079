"""Guest configs on a bad day (issue 22, items 5 and 6), on the real kernel: a config that names a host device moves
nothing, and one config that cannot be parsed is that guest's problem only, for tap_reenslave and for tap_guard
running as a process.

"eno1" here is a vxlan device: the host kernel has no dummy and a veth would count as a container's device. What
matters is that its kind is neither tun nor veth and no guest_patterns entry matches it, as for a physical NIC
(tests/unit/test_guest_guard.py has the kind-less NIC itself).
"""
from __future__ import annotations

import pytest

from conftest import add_bridge, batch, links, reenslave, restart_bridge
from nstools import kernel_state, state_diff
from tapguard_proc import ENV, Watcher, watcher_argv

pytestmark = pytest.mark.kernel

GUESTS = range(1000, 1200)   # 200 VMs, one NIC each on vmbr0
BAD = 1100                   # its config says tag=²
EVIL = """<domain type='kvm'><name>evil</name><devices>
  <interface type='bridge'><source bridge='vmbr0'/><target dev='eno1'/><link state='down'/><mtu size='68'/></interface>
</devices></domain>"""
BADTAG = """<domain type='kvm'><name>badtag</name><devices>
  <interface type='bridge'><source bridge='vmbr0'/><target dev='vnet9'/><vlan><tag id='²'/></vlan></interface>
</devices></domain>"""


@pytest.fixture
def lab(netns, tmp_path):
    """vmbr0 with 200 Proxmox VE VMs (one config says tag=²), two libvirt definitions (one names the host's eno1,
    one has <tag id='²'/>), and eno1 up outside any bridge."""
    node, etc = tmp_path / "pve", tmp_path / "libvirt"
    (node / "qemu-server").mkdir(parents=True)
    etc.mkdir()
    for vmid in GUESTS:
        tag = ",tag=²" if vmid == BAD else ""
        (node / "qemu-server" / f"{vmid}.conf").write_text(f"name: vm{vmid}\nnet0: virtio=BC:24:11:00:{vmid % 256:02x}:01,"
                                                           f"bridge=vmbr0{tag}\n")
    (etc / "evil.xml").write_text(EVIL)
    (etc / "badtag.xml").write_text(BADTAG)
    add_bridge(netns, "vmbr0")
    lines = ["link add eno1 type vxlan id 42 dstport 4789", "link set eno1 up", "tuntap add vnet9 mode tap"]
    for vmid in GUESTS:
        lines += [f"tuntap add tap{vmid}i0 mode tap", f"link set tap{vmid}i0 master vmbr0", f"link set tap{vmid}i0 up"]
    batch(netns, lines)
    return {"ns": netns, "node": node, "etc": etc, "none": tmp_path / "no-libvirt-run"}


def eno1(state: dict) -> dict:
    return next(link for link in state["links"] if link["ifname"] == "eno1")


def test_tap_reenslave_restores_the_others_and_reports_each_bad_config_with_its_reason(lab):
    ns = lab["ns"]
    restart_bridge(ns, "vmbr0", None)
    before = kernel_state(ns)
    result = reenslave(ns, proxmox_dir=str(lab["node"]), libvirt_xml_dir=str(lab["etc"]),
                       libvirt_status_dir=str(lab["none"]))
    after = kernel_state(ns)
    assert eno1(after) == eno1(before)   # no MTU 68, no master, not down
    assert result["sources"] == ["proxmox", "libvirt"] and result["libvirt_xml"]["read"] == "persistent"
    assert sorted(result["reattached"]) == sorted(f"tap{vmid}i0" for vmid in GUESTS if vmid != BAD)
    failed = {f["guest"]: f for f in result["failed_guests"]}
    assert sorted(failed) == ["1100", "badtag", "evil"]
    assert failed["1100"]["origin"] == str(lab["node"] / "qemu-server" / "1100.conf")
    assert failed["1100"]["reason"].endswith("1100.conf:2: net0: tag: '²' is not a VLAN id; allowed 1-4094")
    assert "vlan tag id: '²' is not a VLAN id" in failed["badtag"]["reason"]
    assert failed["evil"]["device"] == "eno1" and failed["evil"]["reason"].startswith(
        "eno1 is a vxlan device, not a guest's tap or veth, and no guest_patterns entry matches its name")
    links_now = links(ns)
    assert links_now["tap1100i0"]["master"] is None and links_now["vnet9"]["master"] is None
    changed = {line.split()[1] for line in state_diff(before, after)}   # vmbr0: its MAC follows its new ports
    assert changed == {f"tap{vmid}i0" for vmid in GUESTS if vmid != BAD} | {"vmbr0"}


def test_a_proxmox_config_naming_a_device_that_is_no_guests_is_refused(netns, tmp_path):
    """With guest_patterns that do not cover tap<vmid>i<n>, only the kernel's kind makes a device a guest's."""
    node = tmp_path / "pve"
    (node / "qemu-server").mkdir(parents=True)
    for vmid in (300, 301):
        (node / "qemu-server" / f"{vmid}.conf").write_text("net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,mtu=1400\n")
    add_bridge(netns, "vmbr0")
    batch(netns, ["link add tap300i0 type vxlan id 300 dstport 4789", "tuntap add tap301i0 mode tap"])
    before = kernel_state(netns)
    result = reenslave(netns, proxmox_dir=str(node), guest_patterns=["^vnet[0-9]+$"])
    assert result["reattached"] == ["tap301i0"]
    assert [(f["guest"], f["device"]) for f in result["failed_guests"]] == [("300", "tap300i0")]
    assert "tap300i0 is a vxlan device, not a guest's tap or veth" in result["failed_guests"][0]["reason"]
    changed = {line.split()[1] for line in state_diff(before, kernel_state(netns))}
    assert changed == {"tap301i0", "vmbr0"}   # vmbr0: its MAC and MTU follow its new port


def test_tap_guard_keeps_running_and_reattaches_the_others(lab, tmp_path):
    ns = lab["ns"]
    watcher = Watcher(watcher_argv("--source", "auto", "--proxmox-dir", str(lab["node"]), "--libvirt-xml-dir",
                                   str(lab["etc"]), "--libvirt-status-dir", str(lab["none"]), "--namespace", ns),
                      tmp_path, ENV)
    try:
        watcher.wait_ready()
        before = kernel_state(ns)
        restart_bridge(ns, "vmbr0", None)
        watcher.wait_log("bridge vmbr0 appeared, full pass")
        state = links(ns)
        assert [vmid for vmid in GUESTS if state[f"tap{vmid}i0"]["master"] != "vmbr0"] == [BAD]
        assert eno1(kernel_state(ns)) == eno1(before)
        assert watcher.proc.poll() is None, watcher.log
        log = watcher.log
        assert "guest 1100: config not usable: " in log and "1100.conf:2: net0: tag: '²' is not a VLAN id" in log
        assert "guest badtag: config not usable: " in log
        assert "guest port(s) not restored: eno1 is a vxlan device, not a guest's tap or veth" in log
        assert "Traceback" not in log
    finally:
        code = watcher.stop()
    assert code == 0, watcher.log
