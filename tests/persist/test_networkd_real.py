"""systemd-networkd itself reads what the networkd format writes, and builds what we meant.

Each test builds a hypervisor's network by hand with iproute2 in one
namespace (the reference), reads it into the model, renders the networkd
files from scope.persisted(), then starts Debian's systemd-networkd
(tests/realstacks.py) in a second namespace that holds only the "NICs"
(veth or dummy, same names and MACs). networkd creates the bridges, bonds and
VLANs and configures everything from our files; the hypervisor's part (guest
ports joining their bridge) is done by hand afterwards, as on a host. Then:

- networkd configured every device ("configured" in its own state files) and
  logged no complaint about our files (unknown key, failed to parse, ignoring...);
- the complete kernel dump (nstools.kernel_state) of both namespaces is equal,
  apart from the differences listed in EXPECTED_DIFFERENCES, each explained;
- our own parser reads the files back as the persisted model, and the model
  read from networkd's namespace persists to the same.
"""
from __future__ import annotations

import os
import re

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bond, Bridge, GuestMatcher, Vlan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat, _default_pvid
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

import persist_lab
from nstools import iproute, kernel_state, state_diff
from persist_hosts import described_like
from realstacks import networkd, networkd_binary

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
GUESTS = GuestMatcher()

# Where networkd's kernel differs from the reference by design, one state_diff line each. (The reference itself
# says two things networkd always does and the model does not carry: routes are `proto static`, and IPv4
# addresses have their broadcast address, `brd +`.)
EXPECTED_DIFFERENCES = {
    "portless bridge MAC": (r"^link (?P<dev>\S+) address: ",
                            "a bridge without ports has a random MAC the kernel draws at creation (MACAddress=none "
                            "keeps the kernel's choice; the model never pins a MAC)"),
    "bond MAC": (r"^link (?P<dev>\S+) (address|kind_data\.bridge_id): ",
                 "a bond takes the MAC of the port enslaved first and gives it to every port; networkd enslaves in "
                 "its own order, so the bond, its ports and what is stacked on it (VLANs, a bridge over those) may "
                 "carry the other port's MAC (the model never pins a MAC)"),
    "port link-local": (r"^link (?P<dev>\S+) inet6_addr_gen_mode: 'eui64' -> 'none'$",
                        "networkd turns IPv6 link-local off on bridge and bond ports (LinkLocalAddressing= defaults "
                        "to no with Bridge=; a bond port has none): a port does not use an fe80:: address"),
    "default pvid": (r"^link (?P<dev>\S+) kind_data\.vlan_default_pvid: 1 -> 0$",
                     "DefaultPVID=none on a vlan-aware bridge whose own entry or a port lacks VLAN 1: networkd 252 "
                     "only adds VLANs, so the kernel's default VLAN 1 must not be there to begin with"),
    "STP topology change": (r"^link (?P<dev>\S+) kind_data\.ageing_time: (?P<a>\d+) -> (?P<b>\d+)$",
                            "while STP runs a topology change the kernel reports ageing_time as twice the forward "
                            "delay (run-time state, over after max_age + forward_delay)"),
}


def unexpected(diff: list, model) -> list:
    """The lines of `diff` not explained by EXPECTED_DIFFERENCES for the device they name."""
    bridges = [d for d in model.devices.values() if isinstance(d, Bridge)]
    on_bond = {d.name for d in model.devices.values() if isinstance(d, Bond) or isinstance(model.get(d.master), Bond)}
    grew = True
    while grew:
        before = len(on_bond)
        on_bond |= {d.name for d in model.devices.values() if isinstance(d, Vlan) and d.parent in on_bond}
        on_bond |= {b.name for b in bridges if any(p.name in on_bond for p in model.ports_of(b.name))}
        grew = len(on_bond) > before
    allowed = {
        "portless bridge MAC": {b.name for b in bridges if not model.ports_of(b.name)},
        "bond MAC": on_bond,
        "port link-local": {d.name for d in model.devices.values() if isinstance(model.get(d.master), (Bridge, Bond))},
        "default pvid": {b.name for b in bridges if _default_pvid(b, model) == 0},
        "STP topology change": {b.name for b in bridges if b.stp},
    }
    left = []
    for line in diff:
        for key, (pattern, _why) in EXPECTED_DIFFERENCES.items():
            match = re.search(pattern, line)
            if not match or match.group("dev") not in allowed[key]:
                continue
            bridge = model.get(match.group("dev"))
            if key == "STP topology change" and {int(match.group("a")), int(match.group("b"))} != \
                    {round(bridge.ageing_time * 100), round(bridge.forward_delay * 200)}:   # either side may be in one
                continue
            break
        else:
            left.append(line)
    return left


def read(ns):
    with Netlink(ns) as netlink:
        return read_host(netlink, GUESTS).host


def described(model) -> dict:
    return {name: dev.to_dict() for name, dev in model.devices.items()}


def nic_lines(names, kind="veth") -> list:
    """The host's NICs: veth pairs (host kernel) or dummies (lane), fixed MACs so both namespaces agree."""
    lines = []
    for i, name in enumerate(names, 1):
        mac = f"52:54:00:00:00:{i:02x}"
        if kind == "veth":
            lines.append(f"ip link add {name} address {mac} type veth peer name p-{name} address 52:54:00:00:01:{i:02x}")
            lines.append(f"ip link set p-{name} up")   # the cable is in: carrier once the NIC is up
        else:
            lines.append(f"ip link add {name} address {mac} type dummy")
    return lines


def through_networkd(ref: str, fresh: str, tmp_path, nics: list, build: list, guests: list, names=None) -> dict:
    """Build `ref`, persist it, let networkd build `fresh` from our files, add the guests; returns what to compare."""
    if networkd_binary() is None:
        pytest.fail("systemd-networkd is missing: run bash tests/setup.d/32-networkd.sh")
    iproute(ref, nics + build + guests)
    want, _missing = persisted(read(ref), names, GUESTS)
    fmt = NetworkdFormat(NetworkdFormat.DEFAULT_PATH, root=str(tmp_path))
    changes = fmt.render({}, want)
    assert described_like(fmt.parse(changes), want) == described(want)
    iproute(fresh, nics)
    run = networkd(fresh, {os.path.basename(p): t for p, t in changes.items()}, sorted(want.devices))
    assert not run.timed_out, f"networkd did not finish: {run.states}\n{run.log}"
    assert run.not_configured() == {}, run.log
    assert run.complaints() == [], run.log
    if guests:
        iproute(fresh, guests)
    got, _missing = persisted(read(fresh), names, GUESTS)
    assert described(got) == described(want)
    diff = state_diff(kernel_state(ref), kernel_state(fresh))
    return {"diff": diff, "unexpected": unexpected(diff, want), "files": changes, "log": run.log}


@pytest.fixture
def pair(namespaces):
    return namespaces.new(), namespaces.new()


def test_bridges_addresses_gateways_mtu_admin_state_and_a_guest(pair, tmp_path):
    """Host kernel: bridges with STP and (fractional) forward delays, an empty one, one down, MTU, IPv4/IPv6 and gateways."""
    ref, fresh = pair
    build = [
        "ip link add vmbr10 type bridge stp_state 0 forward_delay 0",
        "ip link set eth1 master vmbr10",
        "ip link set eth1 mtu 1400 up",
        "ip link set vmbr10 mtu 1400 up",
        "ip address add 192.0.2.10/24 brd + dev vmbr10",
        "ip address add 2001:db8:10::10/64 dev vmbr10",
        "ip route add default via 192.0.2.1 dev vmbr10 proto static",
        "ip route add default via 2001:db8:10::1 dev vmbr10 proto static metric 1024",
        "ip link add vmbr0 type bridge stp_state 0 forward_delay 250",
        "ip link set eth2 master vmbr0",
        "ip link set eth2 up",
        "ip address add 198.51.100.2/25 brd + dev vmbr0",
        "ip link add br-stp type bridge stp_state 1 forward_delay 400",
        "ip link set eth3 master br-stp",
        "ip link set eth3 up",
        "ip link set br-stp up",
        "ip link add br-empty type bridge stp_state 0 forward_delay 1500",
        "ip link set br-empty up",
        "ip link set eth4 mtu 1280",
    ]
    guests = [
        "ip tuntap add tap100i0 mode tap",
        "ip link set tap100i0 address 52:54:00:99:00:01 master vmbr10",
        "ip link set tap100i0 up",
    ]
    names = ["vmbr10", "vmbr0", "br-stp", "br-empty", "eth4"]
    out = through_networkd(ref, fresh, tmp_path, nic_lines(["eth1", "eth2", "eth3", "eth4"]), build, guests, names)
    assert out["unexpected"] == [], "\n".join(out["unexpected"]) + "\n\nall differences:\n" + "\n".join(out["diff"]) + "\n" + out["log"]
    assert any("br-empty address" in line for line in out["diff"])   # the expected ones are real, not vacuous


def test_the_log_check_sees_what_networkd_ignores(netns):
    """The complaint filter is not vacuous: networkd's own parser warnings about a file are caught."""
    iproute(netns, nic_lines(["eth1"]))
    bad = "[Match]\nName=eth1\n\n[Link]\nMTUBytes=banana\n\n[Network]\nNoSuchKey=1\n\n[BridgeVLAN]\nVLAN=5000\n"
    run = networkd(netns, {"10-netsafe-eth1.network": bad}, ["eth1"], timeout=10)
    complaints = "\n".join(run.complaints())
    assert "banana" in complaints and "NoSuchKey" in complaints and "5000" in complaints, run.log


@pytest.mark.fullkernel("dummy", "bonding", "8021q", "8021ad", "bridge_vlan_filtering")
def test_bonds_vlans_and_vlan_aware_bridges(pair, tmp_path):
    """Debian's kernel (lane): the issue's host (802.3ad bond, a VLAN on it in a bridge, a vlan-aware bridge with
    port VLANs), an active-backup bond with ARP monitoring and primary, 802.1Q/802.1ad VLANs on a NIC, and a
    vlan-aware bridge whose port and own entry lack VLAN 1 with a VLAN device on the bridge."""
    ref, fresh = pair
    nics = nic_lines(["eno1", "eno2", "eno3", "ens1", "ens2", "ens3", "ens4"], kind="dummy")
    build = [
        "ip link add bond0 type bond mode 802.3ad miimon 100 updelay 200 downdelay 200 lacp_rate fast "
        "xmit_hash_policy layer3+4 ad_select stable min_links 1",
        "ip link set eno1 master bond0",
        "ip link set eno2 master bond0",
        "ip link set bond0 mtu 9000 up",
        "ip link add link bond0 name bond0.10 type vlan id 10",
        "ip link add vmbr10 type bridge stp_state 0 forward_delay 0",
        "ip link set bond0.10 master vmbr10",
        "ip link set bond0.10 mtu 1500 up",
        "ip link set vmbr10 up",
        "ip address add 192.0.2.10/24 brd + dev vmbr10",
        "ip address add 2001:db8:10::10/64 dev vmbr10",
        "ip route add default via 192.0.2.1 dev vmbr10 proto static",
        "ip route add default via 2001:db8:10::1 dev vmbr10 proto static metric 1024",
        "ip link add vmbr1 type bridge stp_state 1 forward_delay 400 vlan_filtering 1",
        "ip link set eno3 master vmbr1",
        "ip link set eno3 up",
        "ip link set vmbr1 up",
        "ip link add bond1 type bond mode active-backup arp_interval 1000 arp_ip_target 198.51.100.1,198.51.100.2",
        "ip link set ens1 master bond1",
        "ip link set ens2 master bond1",
        "ip link set bond1 type bond primary ens2",
        "ip link set bond1 up",
        "ip address add 198.51.100.50/24 brd + dev bond1",
        "ip link set ens3 up",
        "ip link add link ens3 name vlan300 type vlan protocol 802.1ad id 300",
        "ip link set vlan300 mtu 1400 up",
        "ip address add 2001:db8::5/64 dev vlan300",
        "ip link add link ens3 name ens3.4094 type vlan id 4094",
        "ip link set ens3.4094 up",
        "ip link add vmbr2 type bridge stp_state 0 forward_delay 0 vlan_filtering 1",
        "ip link set ens4 master vmbr2",
        "ip link set ens4 up",
        "ip link set vmbr2 up",
        "ip link add link vmbr2 name vmbr2.100 type vlan id 100",
        "ip link set vmbr2.100 up",
        "ip address add 203.0.113.7/24 brd + dev vmbr2.100",
        "bridge vlan add dev eno3 vid 2-4094",
        "bridge vlan del dev ens4 vid 1",
        "bridge vlan add dev ens4 vid 30 pvid untagged",
        "bridge vlan add dev ens4 vid 100-200",
        "bridge vlan add dev ens4 vid 300",
        "bridge vlan del dev vmbr2 vid 1 self",
        "bridge vlan add dev vmbr2 vid 100 self",
    ]
    guests = [
        "ip link add veth101i0 address 52:54:00:99:00:02 type veth peer name ct101 address 52:54:00:99:01:02",
        "ip link set veth101i0 master vmbr1",
        "ip link set veth101i0 up",
        "bridge vlan add dev veth101i0 vid 20 pvid untagged",
    ]
    out = through_networkd(ref, fresh, tmp_path, nics, build, guests)
    assert out["unexpected"] == [], "\n".join(out["unexpected"]) + "\n\nall differences:\n" + "\n".join(out["diff"]) + "\n" + out["log"]
    assert any("vmbr2 kind_data.vlan_default_pvid" in line for line in out["diff"])


def test_bridge_options_and_port_costs(pair, tmp_path):
    """Host kernel (issue 25): a bridge with non-default ageing, snooping off, STP timers and priority, two ports
    with their own cost and priority, and a bridge whose seconds are fractions (networkd's time spans hold them).
    STP stays off: while it runs a topology change the kernel shows a stand-in ageing time (the lines above), and a
    read of either namespace then could not tell the configured one."""
    ref, fresh = pair
    build = persist_lab.tuned_bridges(stp=0)
    out = through_networkd(ref, fresh, tmp_path, nic_lines(["eth1", "eth2"]), build, [], ["vmbr4", "vmbr5"])
    assert out["unexpected"] == [], "\n".join(out["unexpected"]) + "\n\nall differences:\n" + "\n".join(out["diff"]) + "\n" + out["log"]
    netdev = out["files"]["/etc/systemd/network/10-netsafe-vmbr4.netdev"]
    for line in ("AgeingTimeSec=600s", "MulticastSnooping=no", "HelloTimeSec=3s", "MaxAgeSec=12s", "Priority=4096"):
        assert line in netdev.splitlines(), netdev
    port = out["files"]["/etc/systemd/network/10-netsafe-eth1.network"]
    assert "[Bridge]" in port and "Cost=7" in port.splitlines() and "Priority=12" in port.splitlines(), port
