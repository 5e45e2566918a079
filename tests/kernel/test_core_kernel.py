"""The core on the real kernel: read, apply, undo on failure, verify after apply."""
from __future__ import annotations

import os

import pytest
from pyroute2 import IPRoute

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import ApplyError, NetlinkConfigurator
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bridge, GuestMatcher, IpConfig
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import (
    PIPELINE_CHUNK, NamespaceNotFound, Netlink,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    ADDR_ADD, LINK_ADD, LINK_DEL, LINK_SET, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_bridge import plan_bridge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import NotConverged, converge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import bridge_view

from nstools import ip, kernel_state

pytestmark = pytest.mark.kernel
GUESTS = GuestMatcher()


def read(ns):
    with Netlink(ns) as netlink:
        return read_host(netlink, GUESTS)


def test_read_agrees_with_pyroute2_decoder(hv):
    ip("link", "add", "vmbr0", "type", "bridge", "stp_state", "1", "forward_delay", "700", ns=hv)
    ip("link", "set", "eth1", "master", "vmbr0", ns=hv)
    ip("link", "set", "tap100i0", "master", "vmbr0", ns=hv)
    ip("link", "set", "vmbr0", "mtu", "1400", "up", ns=hv)
    ip("address", "add", "192.0.2.10/24", "dev", "vmbr0", ns=hv)
    ip("address", "add", "2001:db8::10/64", "dev", "vmbr0", "nodad", ns=hv)
    ip("route", "add", "default", "via", "192.0.2.1", ns=hv)
    ip("-6", "route", "add", "default", "via", "2001:db8::1", ns=hv)
    snap = read(hv)
    host = snap.host
    with IPRoute(netns=hv) as ipr:
        links = ipr.get_links()
        assert sorted(host.devices) == sorted(l.get_attr("IFLA_IFNAME") for l in links)
        names = {l["index"]: l.get_attr("IFLA_IFNAME") for l in links}
        for link in links:
            dev = host.get(link.get_attr("IFLA_IFNAME"))
            assert dev.index == link["index"]
            assert dev.mtu == link.get_attr("IFLA_MTU")
            assert dev.up == bool(link["flags"] & 1)
            assert dev.master == names.get(link.get_attr("IFLA_MASTER"))
            if dev.name != "lo":
                assert dev.mac == link.get_attr("IFLA_ADDRESS")
    br = host.get("vmbr0")
    assert (br.TYPE, br.stp, br.forward_delay, br.mtu) == ("bridge", True, 7, 1400)
    assert br.ip == IpConfig(addresses=["192.0.2.10/24", "2001:db8::10/64"], gateway4="192.0.2.1",
                             gateway6="2001:db8::1", routes=[])
    assert host.get("tap100i0").TYPE == "guest" and host.get("tap100i0").kind == "tap"

    assert host.get("veth101i0").TYPE == "guest"
    assert host.get("eth1").TYPE == "nic" and host.get("eth1").kind == "veth"
    assert bridge_view(host, "vmbr0", GUESTS)["ports"] == ["eth1"]
    assert bridge_view(host, "vmbr0", GUESTS)["guest_ports"] == ["tap100i0"]


def test_a_layer3_tun_device_is_read_as_tun_and_a_tap_as_tap(netns):
    """The kernel's tun type decides (IFLA_TUN_TYPE), as the tap_guard watcher's decoder does too."""
    ip("tuntap", "add", "tun7", "mode", "tun", ns=netns)
    ip("tuntap", "add", "tap7", "mode", "tap", ns=netns)
    host = read(netns).host
    assert (host.get("tun7").TYPE, host.get("tun7").kind) == ("guest", "tun")
    assert (host.get("tap7").TYPE, host.get("tap7").kind) == ("guest", "tap")


def test_missing_namespace_fails_and_is_not_created():
    name = f"nsabsent{os.getpid()}"
    with pytest.raises(NamespaceNotFound, match=f"'{name}' does not exist"):
        Netlink(name)
    assert not os.path.exists(f"/run/netns/{name}")


def test_plan_applied_matches_its_prediction_and_second_plan_is_empty(hv):
    snap = read(hv)
    desired = Bridge(name="vmbr0", stp=False, forward_delay=0, mtu=1450, mac="52:54:00:aa:bb:cc",
                     ip=IpConfig(addresses=["192.0.2.10/24"], gateway4="192.0.2.1"))
    plan = plan_bridge(snap.host, desired, ["eth1"], True, GUESTS)
    predicted = bridge_view(plan.predict(snap.host), "vmbr0", GUESTS)
    with Netlink(hv) as netlink:
        NetlinkConfigurator(netlink, snap.index_of).apply(plan.operations)
    after = read(hv)
    view = bridge_view(after.host, "vmbr0", GUESTS)
    for key in ("ports", "guest_ports", "mtu", "mac", "stp", "forward_delay", "addresses", "gateway4", "up"):
        assert view[key] == predicted[key], key
    assert not plan_bridge(after.host, desired, ["eth1"], True, GUESTS)


def test_a_refused_step_undoes_every_earlier_step(hv):
    ip("address", "add", "198.51.100.5/24", "dev", "eth2", ns=hv)
    before = kernel_state(hv)
    snap = read(hv)
    ops = [
        Operation(LINK_ADD, "vmbr0", {"type": "bridge", "forward_delay": 0}, [Operation(LINK_DEL, "vmbr0")]),
        Operation(LINK_SET, "eth1", {"master": "vmbr0"}, [Operation(LINK_SET, "eth1", {"master": None})]),
        Operation(LINK_SET, "eth1", {"up": True}, [Operation(LINK_SET, "eth1", {"up": False})]),
        Operation(ADDR_ADD, "eth2", {"address": "203.0.113.9/24"}, []),
        Operation(LINK_SET, "eth2", {"mtu": 70000}, []),  # veth allows at most 65535
        Operation(LINK_SET, "eth2", {"up": True}, [Operation(LINK_SET, "eth2", {"up": False})]),
    ]
    ops[3].inverse = [Operation("addr_del", "eth2", {"address": "203.0.113.9/24"})]
    with Netlink(hv) as netlink, pytest.raises(ApplyError) as info:
        NetlinkConfigurator(netlink, snap.index_of).apply(ops)
    assert "link set dev eth2 mtu 70000" in str(info.value)
    assert "every change made before it was undone" in str(info.value)
    assert kernel_state(hv) == before


def test_pipelined_enslave_of_more_ports_than_one_chunk_and_its_undo(hv):
    count = PIPELINE_CHUNK + 44
    batch = "\n".join(f"tuntap add tap{900 + i}i0 mode tap" for i in range(count))
    import subprocess
    subprocess.run(["ip", "-n", hv, "-batch", "-"], input=batch, text=True, check=True)
    ip("link", "add", "vmbr0", "address", "52:54:00:00:00:99", "type", "bridge", ns=hv)
    before = kernel_state(hv)
    snap = read(hv)
    ops = [Operation(LINK_SET, f"tap{900 + i}i0", {"master": "vmbr0"},
                     [Operation(LINK_SET, f"tap{900 + i}i0", {"master": None})]) for i in range(count)]
    with Netlink(hv) as netlink:
        NetlinkConfigurator(netlink, snap.index_of).apply(ops)
    assert len(bridge_view(read(hv).host, "vmbr0", GUESTS)["guest_ports"]) == count
    # A refusal after the second chunk: everything, across chunks, is undone.
    ip("link", "set", "vmbr0", "nomaster", ns=hv)
    for i in range(count):
        ip("link", "set", f"tap{900 + i}i0", "nomaster", ns=hv)
    failing = ops + [Operation(LINK_SET, "eth1", {"master": "tap900i0"}, [])]
    with Netlink(hv) as netlink, pytest.raises(ApplyError):
        NetlinkConfigurator(netlink, snap.index_of).apply(failing)
    assert kernel_state(hv) == before


def test_converge_undoes_a_change_the_kernel_does_not_keep(hv):
    """If the state read back still differs, nothing of the change stays."""
    before = kernel_state(hv)

    def flapping_planner(snapshot):
        mtu = snapshot.host.get("eth1").mtu
        target = 1400 if mtu == 1500 else 1500
        return Plan([Operation(LINK_SET, "eth1", {"mtu": target}, [Operation(LINK_SET, "eth1", {"mtu": mtu})])])

    with pytest.raises(NotConverged, match="the change was undone"):
        converge(hv, GUESTS, flapping_planner, lambda host: {}, check_mode=False)
    assert kernel_state(hv) == before


def test_check_mode_through_converge_changes_nothing(hv):
    before = kernel_state(hv)
    desired = Bridge(name="vmbr0", ip=IpConfig(addresses=["192.0.2.10/24"]))
    result = converge(hv, GUESTS, lambda s: plan_bridge(s.host, desired, ["eth1"], True, GUESTS),
                      lambda host: bridge_view(host, "vmbr0", GUESTS), check_mode=True)
    assert result["changed"] and result["state"]["ports"] == ["eth1"]
    # eth1, which the bridge view lists as a port, is brought up too: the diff says so (also_changed)
    assert result["diff"]["before"] == {"name": "vmbr0", "present": False, "also_changed": [{"name": "eth1", "up": False}]}
    assert result["diff"]["after"]["also_changed"] == [{"name": "eth1", "up": True}]
    assert kernel_state(hv) == before
