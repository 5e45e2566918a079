"""Bridge options and port costs (issue 25 item 3) through net_bridge, the undo and a checkpoint rollback.

ageing_time, mcast_snooping, hello_time, max_age and priority of a bridge,
and the cost and priority of its ports, on the host kernel: check mode
predicts the change, the apply makes it, a second run changes nothing, the
diff shows it. Every step of the plans that set them, and of the delete whose
undo rebuilds a bridge that has them, is refused in turn (tests/sweep.py):
the complete state dump is equal at every k. A checkpoint rolled back after a
change that deleted and re-created the bridge with the kernel's defaults
leaves the dump equal to the snapshot.
"""
from __future__ import annotations

import json

import pytest

import persist_lab
from checkpoint.conftest import Host
from modrun import run_module
from nstools import ip, iproute, kernel_state, state_diff
from sweep import sweep

pytestmark = pytest.mark.kernel

HV = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add eth2 type veth peer name sw2",
    "ip tuntap add tap100i0 mode tap",
    "ip link set sw1 up",
    "ip link set sw2 up",
]
# vmbr0 with the kernel's defaults, uplink eth1 and a VM's tap.
PLAIN = HV + [
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    "ip link set tap100i0 master vmbr0",
    "ip link set eth1 up",
    "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
]
OPTIONS = {"ageing_time": 37.5, "mcast_snooping": False, "hello_time": 3, "max_age": 12, "priority": 4096}
PORT_OPTIONS = [{"port": "eth1", "cost": 4242, "priority": 17}, {"port": "tap100i0", "cost": 77}]
# The same bridge with every option and port attribute away from the kernel's defaults.
TUNED = HV + [
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0 ageing_time 3750 mcast_snooping 0 hello_time 300 "
    "max_age 1200 priority 4096",
    "ip link set eth1 master vmbr0",
    "ip link set tap100i0 master vmbr0",
    "ip link set dev eth1 type bridge_slave cost 4242 priority 17",
    "ip link set dev tap100i0 type bridge_slave cost 77 priority 9",
    "ip link set eth1 up",
    "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip route add default via 192.0.2.1",
]


def kernel_view(ns: str) -> tuple:
    """(bridge kind data, {port: (cost, priority)}) as iproute2 shows them."""
    links = {link["ifname"]: link for link in json.loads(ip("-d", "-j", "link", "show", ns=ns).stdout)}
    data = links["vmbr0"]["linkinfo"]["info_data"]
    ports = {name: (link["linkinfo"]["info_slave_data"]["cost"], link["linkinfo"]["info_slave_data"]["priority"])
             for name, link in links.items() if link.get("master") == "vmbr0"}
    return {k: data[k] for k in ("ageing_time", "mcast_snooping", "hello_time", "max_age", "priority")}, ports


def test_net_bridge_sets_each_option_predicts_it_and_is_idempotent(netns):
    iproute(netns, ["ip link set lo up"] + PLAIN)
    args = dict(OPTIONS, name="vmbr0", namespace=netns, port_options=PORT_OPTIONS)
    before = kernel_state(netns)
    preview = run_module("net_bridge", args, check=True)
    assert kernel_state(netns) == before, "check mode changed the kernel"
    assert preview["changed"] and not preview.get("failed"), preview
    assert sorted(preview["commands"]) == sorted(f"ip -n {netns} {line}" for line in (
        "link set dev vmbr0 type bridge ageing_time 3750", "link set dev vmbr0 type bridge mcast_snooping 0",
        "link set dev vmbr0 type bridge hello_time 300", "link set dev vmbr0 type bridge max_age 1200",
        "link set dev vmbr0 type bridge priority 4096", "link set dev eth1 type bridge_slave cost 4242",
        "link set dev eth1 type bridge_slave priority 17", "link set dev tap100i0 type bridge_slave cost 77"))
    done = run_module("net_bridge", args)
    assert done["changed"] and not done.get("failed"), done
    assert kernel_view(netns) == ({"ageing_time": 3750, "mcast_snooping": 0, "hello_time": 300, "max_age": 1200,
                                   "priority": 4096}, {"eth1": (4242, 17), "tap100i0": (77, 32)})
    for key in ("ageing_time", "mcast_snooping", "hello_time", "max_age", "priority", "port_options"):
        assert preview["state"][key] == done["state"][key], key
    assert done["state"]["port_options"] == {"eth1": {"cost": 4242, "priority": 17}}
    assert done["diff"]["before"]["ageing_time"] == 300.0 and done["diff"]["after"]["ageing_time"] == 37.5
    assert done["diff"]["before"]["port_options"]["eth1"] == {"cost": 2, "priority": 32}
    again = run_module("net_bridge", args)
    assert not again["changed"] and again["commands"] == [], again


@pytest.mark.parametrize("args, problem", [
    ({"ageing_time": 1000001}, "ageing_time: 1000001 is out of range; allowed 0-1000000 seconds"),
    ({"hello_time": 0.5}, "hello_time: 0.5 is out of range; allowed 1-10 seconds"),
    ({"max_age": 41}, "max_age: 41 is out of range; allowed 6-40 seconds"),
    ({"priority": 65536}, "priority: 65536 is out of range; allowed 0-65535"),
    ({"port_options": [{"port": "eth1", "cost": 0}]}, "port_options[eth1].cost: 0 is out of range; allowed 1-65535"),
    ({"port_options": [{"port": "eth1", "priority": 64}]},
     "port_options[eth1].priority: 64 is out of range; allowed 0-63"),
    ({"port_options": [{"port": "eth2", "cost": 5}]}, "port_options: 'eth2' is not a port of vmbr0 (ports: eth1, tap100i0)"),
])
def test_bad_options_are_refused_naming_them_and_change_nothing(netns, args, problem):
    iproute(netns, ["ip link set lo up"] + PLAIN)
    before = kernel_state(netns)
    result = run_module("net_bridge", dict(args, name="vmbr0", namespace=netns))
    assert result.get("failed") and not result["changed"] and problem in result["msg"], result
    assert kernel_state(netns) == before


def test_undo_sweep_setting_the_options_on_a_live_bridge(netns):
    result = sweep("bridge options set", netns, ["ip link set lo up"] + PLAIN, "net_bridge",
                   dict(OPTIONS, name="vmbr0", port_options=PORT_OPTIONS))
    assert result.n == 8 and result.findings == [], result.report()


def test_undo_sweep_new_bridge_with_options_and_port_costs(netns):
    result = sweep("bridge created with options", netns, ["ip link set lo up"] + HV, "net_bridge",
                   dict(OPTIONS, name="vmbr1", ports=["eth1", "eth2"], stp=True, forward_delay=4,
                        port_options=[{"port": "eth1", "cost": 4242, "priority": 17}, {"port": "eth2", "cost": 9}]))
    assert result.findings == [], result.report()


def test_undo_sweep_deleting_a_tuned_bridge_rebuilds_its_options_and_port_costs(netns):
    result = sweep("tuned bridge deleted", netns, ["ip link set lo up"] + TUNED, "net_bridge",
                   {"name": "vmbr0", "state": "absent", "detach_guests": True})
    assert result.findings == [], result.report()


def test_checkpoint_rollback_restores_a_recreated_bridges_options_and_port_costs(namespaces, tmp_path):
    ns = persist_lab.change_window_host(namespaces)
    iproute(ns, ["ip link set vmbr0 type bridge ageing_time 3750 mcast_snooping 0 hello_time 300 max_age 1200 "
                 "priority 4096",
                 "ip link set dev eno1 type bridge_slave cost 4242 priority 17",
                 "ip link set dev tap100i0 type bridge_slave cost 77 priority 9",
                 "ip link set dev veth101i0 type bridge_slave cost 88"])
    host = Host(ns, None, tmp_path)
    before = host.state()
    try:
        armed = host.checkpoint(state="armed", timeout=120)
        assert not armed.get("failed"), armed
        # The change: vmbr0 deleted and made again with the kernel's defaults, its ports and address back.
        iproute(ns, ["ip link del vmbr0", "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
                     "ip link set eno1 master vmbr0", "ip link set tap100i0 master vmbr0",
                     "ip link set veth101i0 master vmbr0", "ip link set vmbr0 up",
                     "ip address add 192.0.2.10/24 dev vmbr0", "ip address add 2001:db8::10/64 dev vmbr0",
                     "ip route replace default via 192.0.2.1 dev vmbr0"])
        changed = host.state()
        assert any("ageing_time" in line for line in state_diff(before, changed))
        assert any("cost" in line and "tap100i0" in line for line in state_diff(before, changed))
        rolled = host.checkpoint(state="rolled_back")
        assert not rolled.get("failed"), rolled
        assert state_diff(before, host.state()) == [], rolled.get("commands")
    finally:
        from watchdogs import kill_watchdogs
        kill_watchdogs(tmp_path)
