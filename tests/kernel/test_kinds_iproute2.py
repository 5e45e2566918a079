"""The `ip` words of each kind's attributes are what iproute2 accepts, and mean what our netlink request means.

For every attribute of the bridge and bridge-port tables (kinds/bridge.py):
the command an Operation shows (`ip -n NS link add ... type bridge <words>`,
`ip -n NS link set dev X type bridge_slave <words>`) is run as it is shown; the
same Operation is sent through the netlink configurator to a twin device.
Both devices then read back alike through `ip -d -j link` (the kernel's units)
and through read.py (the model's value). Bond, VLAN and bridge VLAN filtering
need the full kernel: the same for them in the lane.
"""
from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import NetlinkConfigurator
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bond import BOND
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE, BRIDGE_PORT
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.vlan import VLAN
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_ADD, LINK_SET, Operation
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from nstools import ip, iproute

pytestmark = pytest.mark.kernel
LANE = pytest.mark.fullkernel("bonding", "8021q", "dummy", "bridge_vlan_filtering")

# attribute: (model value, what `ip -d -j` shows: the kernel's units); none of them is the kernel's default.
BRIDGE_VALUES = {
    "stp": (True, 1), "forward_delay": (2.5, 250), "vlan_filtering": (True, 1), "ageing_time": (37.5, 3750),
    "mcast_snooping": (False, 0), "hello_time": (3.0, 300), "max_age": (12.0, 1200), "priority": (4096, 4096),
}
PORT_VALUES = {"port_cost": (4242, 4242), "port_priority": (17, 17)}
HOST_BRIDGE = [name for name in BRIDGE.names if name != "vlan_filtering"]   # the host kernel lacks it


def run_shown(command: str) -> None:
    """Run a shown command line exactly as a person would paste it."""
    proc = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (command, proc.stderr)


def shown_json(ns: str, name: str) -> dict:
    return json.loads(ip("-d", "-j", "link", "show", "dev", name, ns=ns).stdout)[0]["linkinfo"]


def apply(ns: str, operations) -> None:
    with Netlink(ns) as netlink:
        NetlinkConfigurator(netlink, read_host(netlink).index_of).apply(operations)


def model_of(ns: str):
    with Netlink(ns) as netlink:
        return read_host(netlink).host


def test_each_bridge_attribute_by_its_words_and_by_netlink(netns):
    made = {}
    for i, name in enumerate(HOST_BRIDGE):
        value = BRIDGE_VALUES[name][0]
        params = {"type": "bridge", name: value}
        if name == "forward_delay":
            params["stp"] = False   # 2.5 s is fine either way; keep the one attribute apart
        run_shown(Operation(LINK_ADD, f"swi{i}", params).command(netns))
        made[f"swi{i}"] = made[f"swn{i}"] = name
        apply(netns, [Operation(LINK_ADD, f"swn{i}", params)])
    host = model_of(netns)
    for device, name in sorted(made.items()):
        value, kernel = BRIDGE_VALUES[name]
        assert shown_json(netns, device)["info_data"][BRIDGE.by_name[name].word] == kernel, (device, name)
        assert getattr(host.get(device), name) == value, (device, name)


def test_each_bridge_port_attribute_by_its_words_and_by_netlink(netns):
    iproute(netns, ["ip link add swbase type bridge"] + [
        line for i in range(4) for line in (f"ip link add p{i} type veth peer name q{i}", f"ip link set p{i} master swbase")])
    made = {}
    for i, name in enumerate(BRIDGE_PORT.names):
        value = PORT_VALUES[name][0]
        run_shown(Operation(LINK_SET, f"p{2 * i}", {name: value}).command(netns))
        apply(netns, [Operation(LINK_SET, f"p{2 * i + 1}", {name: value})])
        made[f"p{2 * i}"] = made[f"p{2 * i + 1}"] = name
    host = model_of(netns)
    for device, name in sorted(made.items()):
        value, kernel = PORT_VALUES[name]
        info = shown_json(netns, device)
        assert info["info_slave_kind"] == "bridge"
        assert info["info_slave_data"][BRIDGE_PORT.by_name[name].word] == kernel, (device, name)
        assert getattr(host.get(device), name) == value, (device, name)


# -- full-kernel lane: bond, VLAN, bridge VLAN filtering ---------------------------------------------

# Each bond option with what it needs beside it (a mode that uses it, MII or ARP monitoring).
BOND_CASES = {
    "mode": {"mode": "active-backup"},
    "lacp_rate": {"mode": "802.3ad", "lacp_rate": "fast"},
    "xmit_hash_policy": {"mode": "balance-xor", "xmit_hash_policy": "layer3+4"},
    "ad_select": {"mode": "802.3ad", "ad_select": "count"},
    "miimon": {"miimon": 100},
    "updelay": {"miimon": 100, "updelay": 200},
    "downdelay": {"miimon": 100, "downdelay": 300},
    "arp_interval": {"arp_interval": 250},
    "min_links": {"min_links": 2},
    "arp_ip_target": {"arp_interval": 250, "arp_ip_target": ["192.0.2.1", "192.0.2.2"]},
}
VLAN_CASES = {
    "vlan_id": {"vlan_id": 42},
    "protocol": {"vlan_id": 43, "protocol": "802.1ad"},
    "loose_binding": {"vlan_id": 44, "loose_binding": True},
}


@LANE
def test_each_bond_vlan_and_filtering_attribute_by_its_words_and_by_netlink(netns):
    assert set(BOND_CASES) | {"primary"} == set(BOND.names) and set(VLAN_CASES) == set(VLAN.names)
    iproute(netns, ["ip link add eth1 type dummy", "ip link add eth2 type dummy"])
    cases = {}
    for i, (name, params) in enumerate(sorted(BOND_CASES.items())):
        for device in (f"bi{i}", f"bn{i}"):
            cases[device] = (name, params[name])
        run_shown(Operation(LINK_ADD, f"bi{i}", dict(params, type="bond")).command(netns))
        apply(netns, [Operation(LINK_ADD, f"bn{i}", dict(params, type="bond"))])
    for i, (name, params) in enumerate(sorted(VLAN_CASES.items())):
        for device in (f"vi{i}", f"vn{i}"):
            cases[device] = (name, params[name])
        run_shown(Operation(LINK_ADD, f"vi{i}", dict(params, type="vlan", parent="eth1")).command(netns))
        twin = dict(params, vlan_id=params["vlan_id"] + 100, type="vlan", parent="eth2")
        apply(netns, [Operation(LINK_ADD, f"vn{i}", twin)])
    # primary names a port: set on a bond that has it.
    iproute(netns, ["ip link add bp type bond mode active-backup", "ip link add bq type bond mode active-backup",
                    "ip link add eth3 type dummy", "ip link add eth4 type dummy",
                    "ip link set eth3 master bp", "ip link set eth4 master bq"])
    run_shown(Operation(LINK_SET, "bp", {"primary": "eth3"}).command(netns))
    apply(netns, [Operation(LINK_SET, "bq", {"primary": "eth4"})])
    cases.update(bp=("primary", "eth3"), bq=("primary", "eth4"))
    run_shown(Operation(LINK_ADD, "swf0", {"type": "bridge", "vlan_filtering": True}).command(netns))
    apply(netns, [Operation(LINK_ADD, "swf1", {"type": "bridge", "vlan_filtering": True})])
    cases.update(swf0=("vlan_filtering", True), swf1=("vlan_filtering", True))
    host = model_of(netns)
    for device, (name, value) in sorted(cases.items()):
        got = getattr(host.get(device), name)
        if name == "vlan_id" and device.startswith("vn"):
            value += 100
        assert got == value, (device, name, got)
    assert shown_json(netns, "swf0")["info_data"]["vlan_filtering"] == 1
    assert shown_json(netns, "swf1")["info_data"]["vlan_filtering"] == 1
