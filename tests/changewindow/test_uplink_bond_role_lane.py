"""Coupled change (a) through the change_window role, over SSH through the network being changed (issue 26).

ansible-playbook runs here; the hypervisor is namespace `cwhv` in the full-kernel VM (the `lane_vm` fixture:
bonding needs the VM's kernel). In the VM:

    VM root ns                cwsw (switch + router)             cwhv (hypervisor)               cwg (a guest)
    cwup0 10.78.9.1/30 ---- up0 10.78.9.2/30
    route 10.78.0.0/24         swbr 10.78.0.1/24 -- sw1 -------- eno1 -- vmbr0 10.78.0.2/24
      via 10.78.9.2                               \\- sw2 -------- eno2    (MAC 02:78:00:00:00:02,
                                                                          default via 10.78.0.1)
                                                                          veth100i0 ------------- ct100 10.78.0.100/24

A second sshd (the lane's binary, keys and authorized_keys) runs in cwhv and listens on 10.78.0.2:22 only. The
inventory's host `hv1` is 10.78.0.2, reached through a ProxyCommand that opens a `-W` channel over the lane's
ssh master connection: the controller's TCP to hv leaves the VM's root namespace through cwup0, is routed by
cwsw onto swbr and enters hv through eno1 and vmbr0, the path the change rebuilds (hv answers ARP on vmbr0 only,
arp_ignore 1, so eno2 cannot offer a way around it).

The window: bond0 = [eno1, eno2] (active-backup, miimon 100) under vmbr0 in eno1's place, MTU 9000 on bond0 and
vmbr0, the guest's veth kept. The run that makes the change travels the connection made over eno1; the
confirmation (after the role's reset_connection) a new one over bond0; sshd's log shows where each arrived. The
role persists into a scratch root (`change_window_root`) whose /etc/network/interfaces (ifupdown2) describes the
start state, and the confirmed file must name bond0 as vmbr0's port. A guest in cwg pings the switch every 10 ms
through vmbr0 during the window; the pings lost are printed (the issue's goal is <= 1; never asserted: it is
timing under emulation), and the guest must reach the switch before and after. A second run of the same window
reports `unchanged`.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import time

import pytest

from claims import stanza_options
from fullkernel import lane
from playrun import ansible_playbook, role_play
from test_change_window import report_of

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

HV, SW, GUEST = "cwhv", "cwsw", "cwg"
HV_ADDRESS, GATEWAY, GUEST_ADDRESS = "10.78.0.2", "10.78.0.1", "10.78.0.100"
UPLINK, UPLINK_PEER, UPLINK_NET = "cwup0", "10.78.9.2", "10.78.0.0/24"
BRIDGE_MAC = "02:78:00:00:00:02"   # fixed, as Proxmox VE does: the switch's ARP entry for hv stays right
SCRATCH = "/tmp/netsafe-uplink-bond"   # in the VM's /tmp (a tmpfs of its own)
HOST_ROOT = f"{SCRATCH}/root"          # the hypervisor's / for the role: state files and network files
LAB = f"{SCRATCH}/lab"                 # hv's sshd config, pid and log; the pinger's output
PLAY = role_play("netsafe.hypervisor.change_window", "hv1")
PLAY_ENV = {"ANSIBLE_TIMEOUT": "300"}   # ssh's ConnectTimeout, key exchange included (hv's sshd is emulated)
WINDOW = {
    "change_window_bonds": [{"name": "bond0", "mode": "active-backup", "miimon": 100, "slaves": ["eno1", "eno2"],
                             "mtu": 9000}],
    "change_window_bridges": [{"name": "vmbr0", "ports": ["bond0"], "mtu": 9000}],
    "change_window_root": HOST_ROOT,
    "change_window_confirm_timeout": 600,   # emulation is slow
    "change_window_persist_format": "ifupdown2",
}


def _hv_sshd_config() -> str:
    """The lane's sshd_config (its keys and authorized_keys), listening on hv's address only, logging each arrival."""
    text = lane.SSHD_CONFIG
    for old, new in (("ListenAddress 0.0.0.0", f"ListenAddress {HV_ADDRESS}"),
                     ("PidFile /run/sshd.pid", f"PidFile {LAB}/sshd.pid"), ("LogLevel INFO", "LogLevel VERBOSE")):
        assert old in text, f"{old!r} is not in lane.SSHD_CONFIG"
        text = text.replace(old, new)
    return text + "MaxStartups 100:30:200\n"


HV_SSHD_CONFIG = _hv_sshd_config()
LAB_SCRIPT = f"""
set -e
for ns in {HV} {SW} {GUEST}; do ip netns add $ns; ip -n $ns link set lo up; done
ip netns exec {HV} sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 1 > /proc/sys/net/ipv4/conf/default/arp_ignore'
ip netns exec {SW} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
ip -n {HV} link add eno1 address 52:54:00:aa:00:01 type veth peer name sw1 netns {SW} address 52:54:00:cc:00:01
ip -n {HV} link add eno2 address 52:54:00:aa:00:02 type veth peer name sw2 netns {SW} address 52:54:00:cc:00:02
ip -n {HV} link add veth100i0 address 52:54:00:bb:00:01 type veth peer name ct100 netns {GUEST} address 52:54:00:bb:00:02
ip -n {HV} link add vmbr0 address {BRIDGE_MAC} type bridge stp_state 0 forward_delay 0
ip -n {HV} link set eno1 master vmbr0
ip -n {HV} link set veth100i0 master vmbr0
for dev in eno1 eno2 veth100i0 vmbr0; do ip -n {HV} link set $dev up; done
ip -n {HV} address add {HV_ADDRESS}/24 dev vmbr0
ip -n {HV} route add default via {GATEWAY}
ip -n {SW} link add swbr type bridge stp_state 0 forward_delay 0
ip -n {SW} link set sw1 master swbr
ip -n {SW} link set sw2 master swbr
for dev in sw1 sw2 swbr; do ip -n {SW} link set $dev mtu 9000; done
ip link add {UPLINK} type veth peer name up0 netns {SW}
for dev in sw1 sw2 swbr up0; do ip -n {SW} link set $dev up; done
ip -n {SW} address add {GATEWAY}/24 dev swbr
ip -n {SW} address add {UPLINK_PEER}/30 dev up0
ip address add 10.78.9.1/30 dev {UPLINK}
ip link set {UPLINK} up
ip route add {UPLINK_NET} via {UPLINK_PEER}
ip -n {GUEST} link set ct100 up
ip -n {GUEST} address add {GUEST_ADDRESS}/24 dev ct100
mkdir -p {LAB} {HOST_ROOT}/etc/network
cat > {HOST_ROOT}/etc/network/interfaces <<'EOF'
auto lo
iface lo inet loopback

iface eno1 inet manual

iface eno2 inet manual

auto vmbr0
iface vmbr0 inet static
\taddress {HV_ADDRESS}/24
\tgateway {GATEWAY}
\tbridge-ports eno1
\tbridge-stp off
\tbridge-fd 0
EOF
cat > {LAB}/sshd_config <<'EOF'
{HV_SSHD_CONFIG}EOF
# sshd forks into the background once it listens (no -D): this command returns.
ip netns exec {HV} env LD_LIBRARY_PATH={lane.STATE}/sshd/usr/lib/x86_64-linux-gnu {lane.SSHD} \\
    -f {LAB}/sshd_config -E {LAB}/sshd.log < /dev/null > {LAB}/sshd.out 2>&1
"""

# Processes of the lab's namespaces (sshd and its sessions, the pinger, a watchdog) by pid, the namespaces (their
# veths with them), the VM root namespace's veth and route, the scratch directory.
CLEANUP = (f"for ns in {HV} {SW} {GUEST}; do ip netns pids $ns 2>/dev/null | xargs -r kill -9; done; "
           f"for ns in {HV} {SW} {GUEST}; do ip netns del $ns 2>/dev/null; done; "
           f"ip route del {UPLINK_NET} 2>/dev/null; ip link del {UPLINK} 2>/dev/null; rm -rf {SCRATCH}; true")


def hv_ssh_options(vm, known_hosts) -> list:
    """ssh options from this machine to hv: its own TCP to 10.78.0.2, carried by a -W channel of the lane's master."""
    proxy = shlex.join(["ssh", *vm.ssh_options(), "-o", f"ControlPath={vm.control_path}", "-p", str(vm.port),
                        "-W", "%h:%p", "root@127.0.0.1"])
    return ["-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={vm.keys / 'id_lane'}",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "KexAlgorithms=curve25519-sha256", "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=12", "-o", f"ProxyCommand={proxy}"]


def hv_inventory(vm, workdir) -> tuple:
    """(inventory path, ssh options, control path directory) for host `hv1` at 10.78.0.2."""
    known_hosts = workdir / "known_hosts_hv"
    known_hosts.write_text(f"{HV_ADDRESS} " + (vm.keys / "host_key.pub").read_text())
    options = hv_ssh_options(vm, known_hosts)
    control_dir = workdir / "cp"
    control_dir.mkdir()
    inventory = workdir / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"hv1": {
        "ansible_host": HV_ADDRESS, "ansible_port": 22, "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3", "ansible_pipelining": True,
        "ansible_ssh_args": "-o ControlMaster=auto -o ControlPersist=60s",
        "ansible_ssh_common_args": shlex.join(options),
        "ansible_control_path_dir": str(control_dir)}}}}, indent=1))
    return inventory, options, control_dir


def close_masters(control_dir) -> None:
    """Ansible's ssh master connections to hv (ControlPersist) end with the test, not 60 s later."""
    for socket in control_dir.iterdir() if control_dir.exists() else ():
        subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "hv1"], capture_output=True, check=False)


def links(vm) -> dict:
    out = vm.run(f"ip -n {HV} -j link show", check=True).stdout
    return {link["ifname"]: link for link in json.loads(out)}


def guest_reaches_gateway(vm) -> subprocess.CompletedProcess:
    return vm.run(f"ip netns exec {GUEST} ping -n -c 3 -i 0.2 -w 60 {GATEWAY}")


def ping_summary(text: str) -> tuple:
    found = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    assert found, text
    return int(found.group(1)), int(found.group(2))


def arrivals(log: str) -> list:
    """(from, on) of each connection hv's sshd logged."""
    return re.findall(r"Connection from (\S+) port \d+ on (\S+) port 22", log)


@pytest.fixture
def lab(lane_vm, tmp_path):
    """The lab in the VM and the inventory here; all of it removed afterwards, also when the test fails."""
    control_dir = tmp_path / "cp"
    lane_vm.run(CLEANUP)   # what a killed earlier run may have left
    try:
        lane_vm.run(LAB_SCRIPT, check=True)
        yield lane_vm
    finally:
        close_masters(control_dir)
        if lane_vm.proc.poll() is None:
            lane_vm.run(CLEANUP)


def test_role_moves_the_uplink_into_a_bond_under_the_bridge_over_ssh_through_it(lab, tmp_path):
    assert guest_reaches_gateway(lab).returncode == 0, "the guest does not reach the switch before the change"
    inventory, options, _control_dir = hv_inventory(lab, tmp_path)
    # ConnectTimeout covers the key exchange too, which hv's sshd does under emulation (ansible-playbook gets
    # ANSIBLE_TIMEOUT below): generous, the machine may be running other VMs.
    started = time.monotonic()
    probe = subprocess.run(["ssh", *options, "-o", "ConnectTimeout=300", "-o", "ControlMaster=no",
                            "-o", "ControlPath=none", f"root@{HV_ADDRESS}",
                            "readlink /proc/self/ns/net; ip -o address show dev vmbr0"],
                           capture_output=True, text=True, timeout=600, check=False)
    assert probe.returncode == 0 and HV_ADDRESS in probe.stdout, (
        f"ssh to hv through the lab failed after {time.monotonic() - started:.0f} s (rc {probe.returncode}):\n"
        f"{probe.stdout}{probe.stderr}\n--- hv's sshd ---\n{lab.run(f'tail -30 {LAB}/sshd.log', timeout=120).stdout}")
    root_ns = lab.run("readlink /proc/self/ns/net", check=True).stdout.strip()
    assert probe.stdout.split("\n", 1)[0] != root_ns, "hv's sshd runs in the VM's root namespace"
    log_before = lab.run(f"cat {LAB}/sshd.log", check=True).stdout
    assert arrivals(log_before) and all(on == HV_ADDRESS for _src, on in arrivals(log_before)), log_before

    (tmp_path / "window.yml").write_text(PLAY)
    (tmp_path / "vars.json").write_text(json.dumps(WINDOW))
    lab.run(f"ip netns exec {GUEST} sh -c 'echo $$ > {LAB}/ping.pid; "
            f"exec ping -n -i 0.01 -W 1 {GATEWAY}' > {LAB}/ping.out 2>&1 < /dev/null &", check=True)
    started = time.monotonic()
    try:
        proc, results = ansible_playbook(["-i", inventory, "window.yml", "-e", "@vars.json"], tmp_path,
                                         tmp_path / "record.jsonl", env=PLAY_ENV)
    finally:
        took = time.monotonic() - started
        # Its summary ends the output (`kill -0` would not do: the VM's init does not reap, ping stays a zombie).
        lab.run(f"kill -INT $(cat {LAB}/ping.pid); for i in $(seq 300); do grep -q 'packets transmitted' {LAB}/ping.out "
                "&& break; sleep 0.2; done")
    sent, received = ping_summary(lab.run(f"cat {LAB}/ping.out", check=True).stdout)
    print(f"\n(a) through the role over ssh: pings from the guest every 10 ms through vmbr0 during the window: "
          f"{sent} sent, {received} received, {sent - received} lost; ansible-playbook took {took:.0f} s")
    output = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, output
    report = report_of(results)
    assert report["outcome"] == "confirmed" and report["summary"].startswith("hv1: CONFIRMED."), report
    ran = [r["action"] for r in results if r["action"].startswith("netsafe.hypervisor.") and r["status"] != "skipped"]
    assert len(ran) == 2 and report["module_runs"] == 2, (ran, report["module_runs"])

    # The kernel of hv: the bond in eno1's place under vmbr0, MTU 9000, the guest still on vmbr0.
    now = links(lab)
    assert now["bond0"]["master"] == "vmbr0", now["bond0"]
    assert now["eno1"]["master"] == now["eno2"]["master"] == "bond0"
    assert now["bond0"]["mtu"] == now["vmbr0"]["mtu"] == 9000
    assert now["veth100i0"]["master"] == "vmbr0", "the guest left vmbr0"
    assert sorted(name for name, link in now.items() if link.get("master") == "vmbr0") == ["bond0", "veth100i0"]
    assert guest_reaches_gateway(lab).returncode == 0, "the guest does not reach the switch after the change"

    # The controller's connections (the change's run, and the confirmation's fresh one) arrived on hv's address,
    # from the VM's side of the routed uplink: through the switch, eno1 and vmbr0, then bond0.
    window_log = lab.run(f"cat {LAB}/sshd.log", check=True).stdout[len(log_before):]
    seen = arrivals(window_log)
    assert len(seen) >= 2 and set(seen) == {("10.78.9.1", HV_ADDRESS)}, window_log

    # The files: the scratch root's interfaces, written after the confirmation.
    interfaces = lab.run(f"cat {HOST_ROOT}/etc/network/interfaces", check=True).stdout
    assert "bridge-ports bond0" in stanza_options(interfaces, "vmbr0"), interfaces
    bond = stanza_options(interfaces, "bond0")
    assert "bond-slaves eno1 eno2" in bond and "bond-mode active-backup" in bond, interfaces
    assert report["persisted"], report

    again, again_results = ansible_playbook(["-i", inventory, "window.yml", "-e", "@vars.json"], tmp_path,
                                            tmp_path / "record-again.jsonl", env=PLAY_ENV)
    assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-2000:]
    assert report_of(again_results)["outcome"] == "unchanged", report_of(again_results)
