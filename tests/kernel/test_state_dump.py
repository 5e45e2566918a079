"""The complete state dump (nstools.kernel_state) sees every attribute class it claims to.

"Nothing changed" in this suite means kernel_state() before == after, so a
dump that cannot see a bond's mode, a VLAN's id or a port's VLANs would let
"check mode changed nothing" pass after previewing exactly those changes.
Here each attribute class is changed with iproute2 in a throwaway namespace;
the dump must differ there, and must be equal again once the change is put
back (so it holds nothing that drifts by itself). Bridge, MAC, MTU, master,
admin state, addresses (a configured link-local one too), routes of other
tables, rules of both families, permanent and proxy neighbours and static FDB
entries run on the host kernel; bond options, VLAN id/protocol,
vlan_filtering, the bridge VLAN table and a static FDB entry of a VLAN in the
full-kernel lane. The kernel's own entries of the same classes (its
link-locals, learned and local FDB entries) must stay out of the dump.
"""
from __future__ import annotations

import pytest

import json
import subprocess
import time

from nstools import KERNEL_LL, iproute, kernel_state, netlink_answers, state_diff

pytestmark = pytest.mark.kernel

# (what, lines that change it, lines that put it back, where state_diff must report it)
Change = tuple[str, list[str], list[str], str]

HOST_BASE = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add eth2 address 02:00:00:00:02:01 type veth peer name sw2",
    "ip tuntap add tap100i0 mode tap",
    "ip tuntap add tap101i0 mode tap",
    "ip link set tap101i0 address 02:00:00:00:03:01",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set tap100i0 master vmbr0",
    "ip link set eth1 up",
    "ip link set sw1 up",
    "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip address add 2001:db8::10/64 dev vmbr0",
    "ip route add default via 192.0.2.1",
    "ip route add default via 2001:db8::1",
    "ip route add 198.51.100.0/24 via 192.0.2.254",
    "ip route add 203.0.113.0/24 via 192.0.2.254 table 100 proto static",
    "ip link add vx0 type vxlan id 100 dstport 4789 local 192.0.2.10 nolearning",
]

HOST_CHANGES: list[Change] = [
    # STP on raises a forward delay below 2 s to 2 s: putting it back takes both.
    ("bridge stp_state", ["ip link set vmbr0 type bridge stp_state 1"],
     ["ip link set vmbr0 type bridge stp_state 0", "ip link set vmbr0 type bridge forward_delay 0"],
     "link vmbr0 kind_data.stp_state"),
    ("bridge forward_delay", ["ip link set vmbr0 type bridge forward_delay 400"],
     ["ip link set vmbr0 type bridge forward_delay 0"], "link vmbr0 kind_data.forward_delay"),
    ("bridge ageing_time", ["ip link set vmbr0 type bridge ageing_time 1000"],
     ["ip link set vmbr0 type bridge ageing_time 30000"], "link vmbr0 kind_data.ageing_time"),
    ("bridge priority", ["ip link set vmbr0 type bridge priority 4096"],
     ["ip link set vmbr0 type bridge priority 32768"], "link vmbr0 kind_data.priority"),
    ("bridge mcast_snooping", ["ip link set vmbr0 type bridge mcast_snooping 0"],
     ["ip link set vmbr0 type bridge mcast_snooping 1"], "link vmbr0 kind_data.mcast_snooping"),
    ("bridge port priority", ["ip link set eth1 type bridge_slave priority 10"],
     ["ip link set eth1 type bridge_slave priority 32"], "link eth1 slave_data.priority"),
    ("bridge port learning", ["ip link set eth1 type bridge_slave learning off"],
     ["ip link set eth1 type bridge_slave learning on"], "link eth1 slave_data.learning"),
    ("MAC", ["ip link set eth2 address 02:00:00:00:02:99"],
     ["ip link set eth2 address 02:00:00:00:02:01"], "link eth2 address"),
    ("MTU", ["ip link set eth2 mtu 1400"], ["ip link set eth2 mtu 1500"], "link eth2 mtu"),
    ("master: a port joins", ["ip link set eth2 master vmbr0"], ["ip link set eth2 nomaster"], "link eth2 master"),
    ("master: a guest port leaves", ["ip link set tap100i0 nomaster"], ["ip link set tap100i0 master vmbr0"],
     "link tap100i0 master"),
    ("admin state", ["ip link set eth2 up"], ["ip link set eth2 down"], "link eth2 flags"),
    ("IPv4 address", ["ip address add 203.0.113.5/24 dev eth2"], ["ip address del 203.0.113.5/24 dev eth2"],
     "addrs eth2"),
    ("IPv6 address", ["ip address add 2001:db8:1::5/64 dev vmbr0"], ["ip address del 2001:db8:1::5/64 dev vmbr0"],
     "addrs vmbr0"),
    ("IPv4 default route", ["ip route replace default via 192.0.2.2"], ["ip route replace default via 192.0.2.1"],
     "route new"),
    ("IPv6 default route", ["ip route replace default via 2001:db8::2"], ["ip route replace default via 2001:db8::1"],
     "route new"),
    ("IPv4 route, not default", ["ip route del 198.51.100.0/24 via 192.0.2.254"],
     ["ip route add 198.51.100.0/24 via 192.0.2.254"], "route gone"),
    ("IPv6 route, not default", ["ip route add 2001:db8:5::/64 via 2001:db8::254"],
     ["ip route del 2001:db8:5::/64 via 2001:db8::254"], "route new"),
    ("tun kind data (tap becomes tun)", ["ip tuntap del tap101i0 mode tap", "ip tuntap add tap101i0 mode tun"],
     ["ip tuntap del tap101i0 mode tun", "ip tuntap add tap101i0 mode tap",
      "ip link set tap101i0 address 02:00:00:00:03:01"], "link tap101i0 kind_data.type"),
    ("veth peer", ["ip link set sw2 name swx2"], ["ip link set swx2 name sw2"], "link eth2 link"),
    ("txqueuelen", ["ip link set eth2 txqueuelen 500"], ["ip link set eth2 txqueuelen 1000"], "link eth2 txqlen"),
    ("configured link-local address", ["ip address add fe80::10/64 dev vmbr0"],
     ["ip address del fe80::10/64 dev vmbr0"], "addrs vmbr0"),
    ("IPv4 route, table 100", ["ip route add 198.51.100.0/24 via 192.0.2.254 table 100"],
     ["ip route del 198.51.100.0/24 via 192.0.2.254 table 100"], "route new"),
    ("IPv6 route, table 100", ["ip route add 2001:db8:5::/64 via 2001:db8::254 table 100"],
     ["ip route del 2001:db8:5::/64 via 2001:db8::254 table 100"], "route new"),
    ("IPv4 route, table default", ["ip route add 198.51.100.0/24 via 192.0.2.254 table default"],
     ["ip route del 198.51.100.0/24 via 192.0.2.254 table default"], "route new"),
    # What a static route change of netsafe's (plugins/module_utils/_network/plan_routes.py) does.
    ("IPv4 route's gateway changed, main table", ["ip route replace 198.51.100.0/24 via 192.0.2.253"],
     ["ip route replace 198.51.100.0/24 via 192.0.2.254"], "route new"),
    ("IPv4 route's gateway changed, table 100",
     ["ip route replace 203.0.113.0/24 via 192.0.2.253 table 100 proto static"],
     ["ip route replace 203.0.113.0/24 via 192.0.2.254 table 100 proto static"], "route new"),
    ("IPv4 route's metric changed", ["ip route del 198.51.100.0/24 via 192.0.2.254",
                                     "ip route add 198.51.100.0/24 via 192.0.2.254 metric 7"],
     ["ip route del 198.51.100.0/24 via 192.0.2.254 metric 7", "ip route add 198.51.100.0/24 via 192.0.2.254"],
     "route new"),
    ("IPv4 rule", ["ip rule add from 192.0.2.0/24 lookup 100 priority 1000"],
     ["ip rule del from 192.0.2.0/24 lookup 100 priority 1000"], "rule new"),
    ("IPv6 rule", ["ip -6 rule add from 2001:db8::/64 lookup 100 priority 1000"],
     ["ip -6 rule del from 2001:db8::/64 lookup 100 priority 1000"], "rule new"),
    ("permanent IPv4 neighbour", ["ip neigh add 192.0.2.9 lladdr 02:00:00:00:00:09 dev vmbr0 nud permanent"],
     ["ip neigh del 192.0.2.9 dev vmbr0"], "neighbour new"),
    ("permanent IPv6 neighbour", ["ip neigh add 2001:db8::9 lladdr 02:00:00:00:00:09 dev vmbr0 nud permanent"],
     ["ip neigh del 2001:db8::9 dev vmbr0"], "neighbour new"),
    ("proxy neighbour", ["ip neigh add proxy 192.0.2.8 dev vmbr0"], ["ip neigh del proxy 192.0.2.8 dev vmbr0"],
     "neighbour new"),
    ("static FDB entry on a guest port", ["bridge fdb add 02:00:00:00:aa:01 dev tap100i0 master static"],
     ["bridge fdb del 02:00:00:00:aa:01 dev tap100i0 master"], "fdb new"),
    ("permanent FDB entry for another MAC", ["bridge fdb add 02:00:00:00:aa:02 dev eth1 master permanent"],
     ["bridge fdb del 02:00:00:00:aa:02 dev eth1 master"], "fdb new"),
    ("vxlan forwarding entry", ["bridge fdb append 00:00:00:00:00:00 dev vx0 dst 192.0.2.50 self permanent"],
     ["bridge fdb del 00:00:00:00:00:00 dev vx0 dst 192.0.2.50 self"], "fdb new"),
]

LANE_BASE = [
    *(f"ip link add d{n} address 02:00:00:00:0d:0{n} type dummy" for n in range(1, 6)),
    "ip link add bond0 type bond mode 802.3ad miimon 100",
    "ip link add bond1 type bond mode active-backup miimon 100",
    "ip link set d1 master bond1",
    "ip link set d2 master bond1",
    "ip link set bond1 type bond primary d1",
    "ip link set bond1 up",
    "ip link add bond2 type bond mode active-backup arp_interval 1000 arp_ip_target 192.0.2.1",
    "ip link add link d3 name d3.20 type vlan id 20",
    "ip link add vmbrv type bridge vlan_filtering 1 forward_delay 0",
    "ip link set d4 master vmbrv",
    "ip link add vmbrp type bridge forward_delay 0",
    "ip link set d5 master vmbrp",
    "ip link set vmbrv up",
    "ip link set d4 up",
    "bridge vlan add dev d4 vid 10",
    "bridge vlan add dev vmbrv vid 10 self",
]


def bond0(option: str, new: str, old: str) -> Change:
    return (f"bond {option}", [f"ip link set bond0 type bond {option} {new}"],
            [f"ip link set bond0 type bond {option} {old}"], f"link bond0 kind_data.{option}")


def vlan20(what: str, new: str) -> Change:
    return (what, ["ip link del d3.20", f"ip link add link d3 name d3.20 type vlan {new}"],
            ["ip link del d3.20", "ip link add link d3 name d3.20 type vlan id 20"], f"link d3.20 kind_data.{what.split()[-1]}")


LANE_CHANGES: list[Change] = [
    bond0("mode", "balance-xor", "802.3ad"),
    bond0("miimon", "200", "100"),
    bond0("updelay", "200", "0"),
    bond0("downdelay", "200", "0"),
    ("bond lacp_rate", ["ip link set bond0 type bond lacp_rate fast"], ["ip link set bond0 type bond lacp_rate slow"],
     "link bond0 kind_data.ad_lacp_rate"),
    bond0("xmit_hash_policy", "layer3+4", "layer2"),
    bond0("ad_select", "bandwidth", "stable"),
    bond0("min_links", "2", "0"),
    ("bond primary", ["ip link set bond1 type bond primary d2"], ["ip link set bond1 type bond primary d1"],
     "link bond1 kind_data.primary"),
    ("bond arp_interval", ["ip link set bond2 type bond arp_interval 2000"],
     ["ip link set bond2 type bond arp_interval 1000"], "link bond2 kind_data.arp_interval"),
    ("bond arp_ip_target", ["ip link set bond2 type bond arp_ip_target 192.0.2.1,192.0.2.2"],
     ["ip link set bond2 type bond arp_ip_target 192.0.2.1"], "link bond2 kind_data.arp_ip_target"),
    vlan20("VLAN id", "id 21"),
    vlan20("VLAN protocol", "protocol 802.1ad id 20"),
    ("VLAN flags", ["ip link set d3.20 type vlan reorder_hdr off"], ["ip link set d3.20 type vlan reorder_hdr on"],
     "link d3.20 kind_data.flags"),
    ("bridge vlan_filtering", ["ip link set vmbrp type bridge vlan_filtering 1"],
     ["ip link set vmbrp type bridge vlan_filtering 0"], "link vmbrp kind_data.vlan_filtering"),
    ("bridge vlan_protocol", ["ip link set vmbrv type bridge vlan_protocol 802.1ad"],
     ["ip link set vmbrv type bridge vlan_protocol 802.1Q"], "link vmbrv kind_data.vlan_protocol"),
    ("port VLAN added", ["bridge vlan add dev d4 vid 30"], ["bridge vlan del dev d4 vid 30"], "bridge_vlans d4"),
    ("port VLAN range added", ["bridge vlan add dev d4 vid 100-200"], ["bridge vlan del dev d4 vid 100-200"],
     "bridge_vlans d4"),
    ("port VLAN removed", ["bridge vlan del dev d4 vid 1"], ["bridge vlan add dev d4 vid 1 pvid untagged"],
     "bridge_vlans d4"),
    ("pvid moved", ["bridge vlan add dev d4 vid 10 pvid untagged"],
     ["bridge vlan add dev d4 vid 10", "bridge vlan add dev d4 vid 1 pvid untagged"], "bridge_vlans d4"),
    ("untagged flag", ["bridge vlan add dev d4 vid 10 untagged"], ["bridge vlan add dev d4 vid 10"],
     "bridge_vlans d4"),
    ("bridge self entry", ["bridge vlan add dev vmbrv vid 40 self"], ["bridge vlan del dev vmbrv vid 40 self"],
     "bridge_vlans vmbrv"),
    ("static FDB entry of a VLAN", ["bridge fdb add 02:00:00:00:aa:05 dev d4 vlan 10 master static"],
     ["bridge fdb del 02:00:00:00:aa:05 dev d4 vlan 10 master"], "fdb new"),
]


def check_changes(ns: str, changes: list[Change]) -> list[str]:
    """Apply each change and put it back; what the dump failed to see (or saw drift) is returned."""
    base = kernel_state(ns)
    problems = []
    for what, forward, back, where in changes:
        iproute(ns, forward)
        diff = state_diff(base, kernel_state(ns))
        if not diff:
            problems.append(f"{what}: the dump did not change")
        elif not any(line.startswith(where) for line in diff):
            problems.append(f"{what}: the dump changed, but not at {where!r}: {diff}")
        iproute(ns, back)
        again = kernel_state(ns)
        if again != base:
            problems.append(f"{what}: put back, yet the dump differs: {state_diff(base, again)}")
    return problems


def test_the_dump_sees_bridge_mac_mtu_master_admin_addresses_and_routes(netns):
    iproute(netns, HOST_BASE)
    assert check_changes(netns, HOST_CHANGES) == []


def raw_fdb(ns: str) -> list:
    return json.loads(subprocess.run(["bridge", "-n", ns, "-j", "fdb", "show"], capture_output=True, text=True,
                                     check=True).stdout)


def test_the_kernels_own_link_locals_learned_and_local_fdb_entries_stay_out(netns):
    """Present in the kernel, absent from the dump: else every dump would drift with them."""
    iproute(netns, HOST_BASE + ["ip link set eth2 up", "ip link set sw2 up", "ip link set eth2 master vmbr0"])
    for _poll in range(100):   # link-locals come with carrier (asynchronously); sw1's own frames teach vmbr0
        origins = netlink_answers(netns)["link_local_origins"]
        made = {index for index, _address, proto in origins if proto == KERNEL_LL}
        learned = [e for e in raw_fdb(netns) if e.get("master") and e.get("state") == ""]
        if len(made) >= 5 and learned:
            break
        time.sleep(0.1)
    assert len(made) >= 5 and learned, (made, raw_fdb(netns))
    before = kernel_state(netns)
    assert not [a for addrs in before["addrs"].values() for a in addrs if a.startswith("fe80")], before["addrs"]
    assert before["fdb"] == [], before["fdb"]
    assert [e for e in raw_fdb(netns) if e.get("state") == "permanent" and e.get("master")], "no local entries"
    # A MAC change leaves the link-local made from the old MAC: still the kernel's, though no rule on the
    # link's MAC could tell (the EUI-64 of the new MAC would be fe80::ff:fe00:b01).
    iproute(netns, ["ip link set vmbr0 address 02:00:00:00:0b:01"])
    index = json.loads(subprocess.run(["ip", "-n", netns, "-j", "link", "show", "vmbr0"], capture_output=True,
                                      text=True, check=True).stdout)[0]["ifindex"]
    kept = [address for i, address, proto in netlink_answers(netns)["link_local_origins"]
            if i == index and proto == KERNEL_LL]
    assert kept and "fe80::ff:fe00:b01" not in kept, kept
    after = kernel_state(netns)
    assert after["addrs"] == before["addrs"] and after["fdb"] == [], state_diff(before, after)


@pytest.mark.fullkernel("bonding", "8021q", "dummy", "bridge_vlan_filtering")
def test_the_dump_sees_bond_options_vlan_id_and_protocol_and_the_bridge_vlan_table(netns):
    iproute(netns, LANE_BASE)
    state = kernel_state(netns)
    assert state["bridge_vlans"]["d4"] == ["1 Egress Untagged PVID", "10"]
    assert state["bridge_vlans"]["vmbrv"] == ["1 Egress Untagged PVID", "10"]
    assert check_changes(netns, LANE_CHANGES) == []
