"""Undo proven on the real kernel at every step of every plan class (tests/sweep.py).

For each plan class the module's plan is learnt in check mode (n operations),
then operation k is refused for every k in 0..n-1 (NETSAFE_FAIL_AT=k), plus
once after the last operation: each time the task must fail naming the k-th
command, say everything was undone, report changed: false, and leave the
complete state dump (nstools.kernel_state) as it was.

Plan classes, on the host kernel: an uplink swap with new addresses, gateways
and MTU while guest ports stay; creating a bridge with uplinks, addresses and
gateways; deleting one with uplinks, guests, addresses and gateways. In the
full-kernel lane (bonding, 802.1Q, dummy, VLAN filtering): a live bond's mode
change under a bridge and a VLAN; a VLAN re-created for an id change while it
is a bridge port; deleting a VLAN and bonds (their undo rebuilds them);
toggling vlan_filtering on a bridge with port VLANs; the MTU of a bridge on
a VLAN on a bond raised and lowered along its path. Each module runs
in-process (tests/modrun.py), which keeps the lane's sweeps cheap. The plan
lengths and runs are listed in docs/testing.md.
"""
from __future__ import annotations

import json

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import FAIL_AT_ENV, FAIL_UNDO_AT_ENV, environment, fresh_namespace, refused, sweep
from test_mtu_path_lane import CLASSIC, CLASSIC_JUMBO

pytestmark = pytest.mark.kernel
LANE = pytest.mark.fullkernel("bonding", "8021q", "dummy", "bridge_vlan_filtering")


def assert_clean(result) -> None:
    assert result.findings == [], result.report()


# -- host kernel ---------------------------------------------------------------------------

HV = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add eth2 type veth peer name sw2",
    "ip tuntap add tap100i0 mode tap",
    "ip link add veth101i0 type veth peer name ct101",
    "ip link set sw1 up",
    "ip link set sw2 up",
    "ip link set ct101 up",
]

# vmbr0 on uplink eth1, a VM's tap and a container's veth on it, addresses and gateways.
UPLINK_EQ = HV + [
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set tap100i0 master vmbr0",
    "ip link set veth101i0 master vmbr0",
    "ip link set eth1 up",
    "ip link set tap100i0 up",
    "ip link set veth101i0 up",
    "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip address add 2001:db8::10/64 dev vmbr0",
    "ip route add default via 192.0.2.1",
    "ip route add default via 2001:db8::1",
]
SWAP = {"name": "vmbr0", "ports": ["eth2"], "mtu": 1400,
        "addresses": ["198.51.100.10/24", "2001:db8:1::10/64"],
        "gateway4": "198.51.100.1", "gateway6": "2001:db8:1::1"}


def test_uplink_swap_with_new_addresses_gateways_and_mtu_guests_stay(netns):
    assert_clean(sweep("uplink swap", netns, UPLINK_EQ, "net_bridge", SWAP))


def test_new_bridge_with_uplinks_addresses_gateways_and_mtu(netns):
    result = sweep("bridge created", netns, HV, "net_bridge", {
        "name": "vmbr1", "ports": ["eth1", "eth2"], "stp": True, "forward_delay": 4, "mtu": 1400,
        "addresses": ["192.0.2.10/24", "2001:db8::10/64"], "gateway4": "192.0.2.1", "gateway6": "2001:db8::1"})
    assert_clean(result)


def refuse_an_undo_step(ns: str) -> tuple[dict, str, dict]:
    """The uplink swap with `eth2 up` refused, and the second inverse of its undo refused too."""
    fresh_namespace(ns, UPLINK_EQ)
    before = kernel_state(ns)
    args = dict(SWAP, namespace=ns)
    commands = run_module("net_bridge", args, check=True)["commands"]
    k = commands.index(f"ip -n {ns} link set dev eth2 up")
    # Sent before k: eth1 leaves, eth2 joins. Undone newest first: eth2 leaves (0), eth1 comes back (1).
    with environment(**{FAIL_AT_ENV: k, FAIL_UNDO_AT_ENV: 1}):
        result = run_module("net_bridge", args)
    undo = (f"undo was INCOMPLETE: 'ip -n {ns} link set dev eth1 master vmbr0': "
            f"Operation not permitted (failpoint {FAIL_UNDO_AT_ENV}=1)")
    return result, refused(commands[k], k, undo), before


def test_a_refused_undo_step_is_reported_incomplete_and_changed(netns):
    result, message, before = refuse_an_undo_step(netns)
    assert result["failed"] and result["changed"] is True
    # Up to the failpoint's own label, which test_..._names_the_variable_value checks.
    assert result["msg"].startswith(message[:message.rindex("=")]), result["msg"]
    diff = state_diff(before, kernel_state(netns))
    assert "link eth1 master: 'vmbr0' -> None" in diff, diff


def test_a_refused_undo_step_names_the_variable_value(netns):
    result, message, _before = refuse_an_undo_step(netns)
    assert result["msg"] == message


def test_deleting_a_bridge_with_uplinks_guests_addresses_and_gateways(netns):
    setup = HV + [
        "ip link add vmbr0 type bridge stp_state 0 forward_delay 300",
        *(f"ip link set {dev} master vmbr0" for dev in ("eth1", "eth2", "tap100i0", "veth101i0")),
        *(f"ip link set {dev} up" for dev in ("eth1", "eth2", "veth101i0", "vmbr0")),
        "ip link set vmbr0 mtu 1450",
        "ip address add 192.0.2.10/24 dev vmbr0",
        "ip address add 198.51.100.10/24 dev vmbr0",
        "ip address add 2001:db8::10/64 dev vmbr0",
        "ip route add default via 192.0.2.1",
        "ip route add default via 2001:db8::1",
    ]
    result = sweep("bridge deleted", netns, setup, "net_bridge",
                   {"name": "vmbr0", "state": "absent", "detach_guests": True})
    assert_clean(result)


# -- full-kernel lane ----------------------------------------------------------------------

BOND_STACK = [
    "ip link add eth1 type dummy",
    "ip link add eth2 type dummy",
    "ip link add bond0 type bond mode 802.3ad miimon 100",
    "ip link set eth1 master bond0",
    "ip link set eth2 master bond0",
    "ip link add vmbr0 type bridge forward_delay 0",
    "ip link set bond0 master vmbr0",
    "ip link add link bond0 name bond0.30 type vlan id 30",
    "ip link set bond0 up",
    "ip link set vmbr0 up",
    "ip link set bond0.30 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip route add default via 192.0.2.1",
    "ip address add 198.51.100.10/24 dev bond0.30",
]


@LANE
def test_live_bond_mode_change_under_a_bridge_and_a_vlan(netns):
    result = sweep("bond mode change", netns, BOND_STACK, "net_bond",
                   {"name": "bond0", "mode": "active-backup", "primary": "eth2", "miimon": 100,
                    "slaves": ["eth1", "eth2"]})
    assert_clean(result)


@LANE
def test_live_bond_mode_change_keeps_ipv6_and_routes_on_the_vlan_above(netns):
    """The bond goes down for the mode change; the VLAN on it is loosely bound meanwhile, so it stays up and
    keeps its IPv6 address and the route through it, in the change and in every undo."""
    setup = BOND_STACK + ["ip address add 2001:db8:30::10/64 dev bond0.30",
                          "ip route add 203.0.113.0/24 via 198.51.100.1"]
    change = {"name": "bond0", "mode": "active-backup", "primary": "eth2", "miimon": 100, "slaves": ["eth1", "eth2"]}
    result = sweep("bond mode change, IPv6 and a route on its VLAN", netns, setup, "net_bond", change)
    assert_clean(result)
    # And the change itself, not undone: the VLAN kept all of it.
    fresh_namespace(netns, setup)
    before = kernel_state(netns)
    done = run_module("net_bond", dict(change, namespace=netns))
    assert done["changed"] and not done.get("failed"), done
    after = kernel_state(netns)
    assert after["addrs"]["bond0.30"] == before["addrs"]["bond0.30"]
    assert [r for r in after["routes"] if "203.0.113.0" in json.dumps(r)], state_diff(before, after)
    vlan_before, vlan_after = ({link["ifname"]: link for link in state["links"]}["bond0.30"] for state in (before, after))
    assert "UP" in vlan_after["flags"] and vlan_after["kind_data"] == vlan_before["kind_data"]  # loose binding off again


@LANE
def test_vlan_recreated_for_an_id_change_while_a_bridge_port(netns):
    setup = [
        "ip link add eth4 type dummy",
        "ip link set eth4 up",
        "ip tuntap add tap100i0 mode tap",
        "ip link add link eth4 name uplink.v type vlan id 20",
        "ip link add vmbrx type bridge forward_delay 0",
        "ip link set uplink.v master vmbrx",
        "ip link set tap100i0 master vmbrx",
        "ip link set uplink.v mtu 1400",
        "ip link set uplink.v up",
        "ip link set vmbrx up",
        "ip address add 203.0.113.10/24 dev uplink.v",
        "ip address add 2001:db8:3::10/64 dev uplink.v",
        "ip route add default via 203.0.113.1",
        "ip route add default via 2001:db8:3::1",
    ]
    result = sweep("vlan id change", netns, setup, "net_vlan",
                   {"name": "uplink.v", "parent": "eth4", "vlan_id": 21, "mtu": 1400,
                    "addresses": ["203.0.113.10/24", "2001:db8:3::10/64"],
                    "gateway4": "203.0.113.1", "gateway6": "2001:db8:3::1"})
    assert_clean(result)


@LANE
def test_deleting_a_vlan_with_addresses_mtu_and_gateways(netns):
    setup = [
        "ip link add eth3 type dummy",
        "ip link set eth3 up",
        "ip link add link eth3 name eth3.20 type vlan protocol 802.1ad id 20",
        "ip link set eth3.20 mtu 1400",
        "ip link set eth3.20 up",
        "ip address add 198.51.100.10/24 dev eth3.20",
        "ip address add 2001:db8:2::10/64 dev eth3.20",
        "ip route add default via 198.51.100.1",
        "ip route add default via 2001:db8:2::1",
    ]
    result = sweep("vlan deleted", netns, setup, "net_vlan",
                   {"parent": "eth3", "vlan_id": 20, "protocol": "802.1ad", "state": "absent"})
    assert_clean(result)


@LANE
@pytest.mark.parametrize("create, enslave", [
    ("mode 802.3ad miimon 100 updelay 200 downdelay 200 lacp_rate fast xmit_hash_policy layer3+4 "
     "ad_select bandwidth min_links 1", []),
    ("mode active-backup arp_interval 1000 arp_ip_target 192.0.2.1,192.0.2.2", ["primary d2"]),
], ids=["802.3ad", "active-backup"])
def test_deleting_a_bond_with_slaves_options_and_addresses(netns, create, enslave):
    setup = [
        "ip link add d1 type dummy",
        "ip link add d2 type dummy",
        f"ip link add bond1 type bond {create}",
        "ip link set d1 master bond1",
        "ip link set d2 master bond1",
        *(f"ip link set bond1 type bond {option}" for option in enslave),
        "ip link set bond1 mtu 1400",
        "ip link set bond1 up",
        "ip address add 192.0.2.20/24 dev bond1",
        "ip address add 2001:db8:4::20/64 dev bond1",
        "ip route add default via 192.0.2.1",
    ]
    result = sweep("bond deleted", netns, setup, "net_bond", {"name": "bond1", "state": "absent"})
    assert_clean(result)


@LANE
@pytest.mark.parametrize("mtu", [9000, 1500], ids=["raised", "lowered"])
def test_the_mtu_of_the_classic_job_along_its_path(netns, mtu):
    """vmbr0 on bond0.100 on bond0 of two NICs (test_mtu_path_lane.py): the bridge's MTU goes up or down and the
    path follows (bond0 and its slaves, the VLAN); every step's undo gives back every MTU on the path."""
    setup = CLASSIC if mtu == 9000 else CLASSIC_JUMBO
    result = sweep(f"path mtu {mtu}", netns, setup, "net_bridge", {"name": "vmbr0", "mtu": mtu})
    assert_clean(result)
    assert result.n == 3


def vlan_bridge(filtering: int, port_vlans: list[str]) -> list[str]:
    return [
        "ip link add eth5 type dummy",
        "ip tuntap add tap100i0 mode tap",
        "ip tuntap add tap101i0 mode tap",
        f"ip link add vmbrv type bridge forward_delay 0 vlan_filtering {filtering}",
        *(f"ip link set {dev} master vmbrv" for dev in ("eth5", "tap100i0", "tap101i0")),
        "ip link set eth5 up",
        "ip link set vmbrv up",
        "ip address add 192.0.2.10/24 dev vmbrv",
        *port_vlans,
    ]


PORT_VLANS = [
    "bridge vlan add dev eth5 vid 2-4094",
    "bridge vlan add dev tap100i0 vid 10 pvid untagged",
    "bridge vlan del dev tap100i0 vid 1",
    "bridge vlan add dev tap101i0 vid 20 pvid untagged",
    "bridge vlan add dev tap101i0 vid 30",
    "bridge vlan del dev tap101i0 vid 1",
    "bridge vlan add dev vmbrv vid 10 self",
]


@LANE
def test_vlan_filtering_switched_off_on_a_bridge_with_port_vlans(netns):
    result = sweep("vlan-aware off", netns, vlan_bridge(1, PORT_VLANS), "net_bridge",
                   {"name": "vmbrv", "vlan_filtering": False})
    assert_clean(result)


@LANE
def test_vlan_filtering_switched_on_with_port_vlans(netns):
    result = sweep("vlan-aware on", netns, vlan_bridge(0, []), "net_bridge", {
        "name": "vmbrv", "vlan_filtering": True,
        "port_vlans": [{"port": "eth5", "pvid": 1, "tagged": ["2-4094"]},
                       {"port": "tap100i0", "pvid": 10},
                       {"port": "tap101i0", "pvid": 20, "tagged": ["30"]},
                       {"port": "vmbrv", "pvid": 1, "tagged": ["10"]}]})
    assert_clean(result)


# -- net_persist restored: a whole described host as one plan ---------------------------------

RESTORE_TARGET = HV + [
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set eth1 up",
    "ip link set vmbr0 up",
    "ip link set vmbr0 mtu 1400",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip address add 2001:db8::10/64 dev vmbr0",
    "ip route add default via 192.0.2.1",
    "ip route add default via 2001:db8::1",
    "ip link add vmbr1 type bridge stp_state 1 forward_delay 400",
    "ip link set eth2 master vmbr1",
    "ip link set eth2 up",
    "ip link set vmbr1 up",
]
# The host drifted: vmbr0 on the other uplink with an old address, guests on it, vmbr1 gone.
RESTORE_DRIFTED = HV + [
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    *(f"ip link set {dev} master vmbr0" for dev in ("eth2", "tap100i0", "veth101i0")),
    *(f"ip link set {dev} up" for dev in ("eth2", "tap100i0", "veth101i0", "vmbr0")),
    "ip address add 198.51.100.10/24 dev vmbr0",
    "ip route add default via 198.51.100.1",
]


def test_restoring_a_drifted_host_from_its_files(namespaces, tmp_path):
    """net_persist state=restored: uplink swap, MTU, addresses, gateways and a new STP bridge in one plan."""
    source = namespaces.new()
    fresh_namespace(source, RESTORE_TARGET)
    args = {"state": "restored", "format": "networkmanager", "root": str(tmp_path)}
    saved = run_module("net_persist", {"format": "networkmanager", "root": str(tmp_path), "namespace": source})
    assert saved["changed"] and not saved.get("failed"), saved.get("msg")
    result = sweep("host restored from files", namespaces.new(), RESTORE_DRIFTED, "net_persist", args)
    assert_clean(result)
    assert result.n >= 10
