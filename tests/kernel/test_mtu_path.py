"""The MTU follows the path (issue 27, part 3), on the host kernel: a bridge's uplink goes up and down with it.

vmbr0 on a veth uplink (eth1) with a VM's tap and a container's veth: `mtu: 9000` sets vmbr0 first (so its MTU is
its own, not the kernel's auto-sizing), then raises eth1; the guest ports stay at 1500; 9000 -> 1500 lowers vmbr0
first, then eth1. Check mode's prediction (plan.predict) equals the host read back after the change, device by
device. `port_mtu: refuse` refuses naming the uplink and changes nothing (the complete state dump). Each change's
undo, refused at every step, restores the dump (the sweep), and the files net_persist writes afterwards carry 9000
on the uplink as well as on the bridge. A veth whose peer runs a native XDP program takes at most about 3.5 kB (the
kernel lowers its max_mtu): a raise above that is refused before any change, naming it.
"""
from __future__ import annotations

import ctypes
import os
import socket
import struct

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_state import plan_state
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.requests import BridgeRequest
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS

from modrun import run_module
from nstools import kernel_state, state_diff
from persist_lab import persist, snapshot_files
from sweep import fresh_namespace, sweep

pytestmark = pytest.mark.kernel

HOST = [
    "ip link add eth1 type veth peer name sw1",
    "ip tuntap add tap100i0 mode tap",
    "ip link add veth101i0 type veth peer name ct101",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    *(f"ip link set {dev} master vmbr0" for dev in ("eth1", "tap100i0", "veth101i0")),
    *(f"ip link set {dev} up" for dev in ("sw1", "ct101", "eth1", "tap100i0", "veth101i0", "vmbr0")),
    "ip address add 192.0.2.10/24 dev vmbr0",
    "ip address add 2001:db8::10/64 dev vmbr0",
    "ip route add default via 192.0.2.1",
]
JUMBO = HOST + ["ip link set eth1 mtu 9000", "ip link set vmbr0 mtu 9000"]
GUESTS = ("tap100i0", "veth101i0")


def mtus(ns: str) -> dict:
    return {link["ifname"]: link["mtu"] for link in kernel_state(ns)["links"]}


def bridge_request(args: dict) -> BridgeRequest:
    spec = BridgeRequest.SPEC
    params = {key: option.get("default") for key, option in spec.items()}
    return BridgeRequest(dict(params, **args))


def host_of(ns: str):
    with Netlink(ns) as netlink:
        return read_host(netlink, GuestMatcher()).host


def comparable(host) -> dict:
    return {name: {k: v for k, v in dev.to_dict().items() if k not in ("operstate", "index")}
            for name, dev in host.devices.items()}


def changed_as_predicted(ns: str, args: dict) -> dict:
    """Run net_bridge with `args`: check mode first (nothing changes), the plan's prediction equal to the host read
    back afterwards, and a second run with nothing to do. Returns the real run's result."""
    before = kernel_state(ns)
    preview = run_module("net_bridge", dict(args, namespace=ns), check=True)
    assert preview["changed"] and not preview.get("failed"), preview
    assert state_diff(before, kernel_state(ns)) == [], "check mode changed the kernel"
    host = host_of(ns)
    predicted = plan_state(host, [bridge_request(args)], [None], GuestMatcher()).predict(host)
    done = run_module("net_bridge", dict(args, namespace=ns))
    assert done["changed"] and not done.get("failed"), done
    assert done["commands"] == preview["commands"]
    assert comparable(predicted) == comparable(host_of(ns))
    again = run_module("net_bridge", dict(args, namespace=ns))
    assert not again["changed"] and again["commands"] == [], again
    return done


@pytest.mark.parametrize("setup, mtu, order", [(HOST, 9000, ("vmbr0", "eth1")), (JUMBO, 1500, ("vmbr0", "eth1"))],
                         ids=["raised: bridge first", "lowered: bridge first"])
def test_the_uplink_follows_the_bridge_and_the_guests_stay(netns, setup, mtu, order):
    fresh_namespace(netns, setup)
    done = changed_as_predicted(netns, {"name": "vmbr0", "mtu": mtu})
    assert done["commands"] == [f"ip -n {netns} link set dev {dev} mtu {mtu}" for dev in order]
    now = mtus(netns)
    assert (now["eth1"], now["vmbr0"]) == (mtu, mtu)
    assert [now[guest] for guest in GUESTS] == [1500, 1500]
    assert not [w for w in done.get("warnings", []) if "frames larger" in w], done["warnings"]


def test_refuse_names_the_uplink_below_and_changes_nothing(netns):
    fresh_namespace(netns, HOST)
    before = kernel_state(netns)
    for check in (True, False):
        result = run_module("net_bridge", {"name": "vmbr0", "mtu": 9000, "port_mtu": "refuse", "namespace": netns},
                            check=check)
        assert result.get("failed") and result["changed"] is False, result
        assert "port_mtu: refuse: vmbr0 gets mtu 9000, but on its path eth1 (1500) has less" in result["msg"], result["msg"]
        assert "tap100i0" not in result["msg"] and "veth101i0" not in result["msg"]
    assert state_diff(before, kernel_state(netns)) == []


def test_refuse_lowers_the_bridge_alone(netns):
    fresh_namespace(netns, JUMBO)
    done = run_module("net_bridge", {"name": "vmbr0", "mtu": 1500, "port_mtu": "refuse", "namespace": netns})
    assert done["changed"] and done["commands"] == [f"ip -n {netns} link set dev vmbr0 mtu 1500"], done
    assert mtus(netns)["eth1"] == 9000


def test_a_bad_port_mtu_is_refused_by_name(netns):
    fresh_namespace(netns, HOST)
    before = kernel_state(netns)
    result = run_module("net_bridge", {"name": "vmbr0", "mtu": 9000, "port_mtu": "ignore", "namespace": netns})
    assert result.get("failed") and "port_mtu" in result["msg"] and "follow, refuse" in result["msg"], result["msg"]
    assert state_diff(before, kernel_state(netns)) == []


def test_the_kernel_max_mtu_is_read(netns):
    fresh_namespace(netns, HOST)
    host = host_of(netns)
    assert host.get("eth1").max_mtu == 65535   # veth: ETH_MAX_MTU
    assert "max_mtu" not in host.get("eth1").to_dict()   # a fact of the driver, not part of a snapshot


BPF_PROG_LOAD, BPF_PROG_TYPE_XDP, SYS_BPF = 5, 6, 321   # x86_64
IFLA_XDP, IFLA_XDP_FD, IFLA_XDP_FLAGS, XDP_FLAGS_DRV_MODE = 43, 1, 3, 4


def xdp_pass(ns: str, device: str) -> None:
    """Attach `r0 = XDP_PASS; exit` to `device` in native mode: veth then caps its peer's max_mtu at what one page
    holds (veth_xdp_set), a driver limit the host kernel can show. The namespace's deletion detaches it."""
    libc = ctypes.CDLL(None, use_errno=True)
    insns = ctypes.create_string_buffer(struct.pack("<BBhiBBhi", 0xb7, 0, 0, 2, 0x95, 0, 0, 0))
    license_ = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(struct.pack("<IIQQ", BPF_PROG_TYPE_XDP, 2, ctypes.addressof(insns),
                                                   ctypes.addressof(license_)), 128)
    fd = libc.syscall(SYS_BPF, BPF_PROG_LOAD, attr, 128)
    assert fd >= 0, f"BPF_PROG_LOAD: {os.strerror(ctypes.get_errno())}"
    try:
        index = host_of(ns).get(device).index
        payload = nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0) + nl.nested(
            IFLA_XDP, nl.attr(IFLA_XDP_FD, struct.pack("=i", fd)), nl.attr_u32(IFLA_XDP_FLAGS, XDP_FLAGS_DRV_MODE))
        with nl.open_socket(ns) as sock:
            sock.send(nl.message(nl.RTM_SETLINK, nl.NLM_F_REQUEST | nl.NLM_F_ACK, 1, payload))
            assert struct.unpack_from("=i", sock.recv(65536), 16)[0] == 0, "attaching XDP was refused"
    finally:
        os.close(fd)


def test_an_uplink_that_cannot_take_the_mtu_is_refused_before_any_change(netns):
    fresh_namespace(netns, HOST)
    xdp_pass(netns, "sw1")
    limit = host_of(netns).get("eth1").max_mtu
    assert limit is not None and 1500 < limit < 9000, limit
    before = kernel_state(netns)
    for module, args in (("net_bridge", {"name": "vmbr0", "mtu": 9000}), ("net_nic", {"name": "eth1", "mtu": 9000})):
        result = run_module(module, dict(args, namespace=netns))
        assert result.get("failed") and result["changed"] is False, result
        assert f"mtu: eth1 takes at most {limit} (its driver's max_mtu), not 9000" in result["msg"], result["msg"]
    assert state_diff(before, kernel_state(netns)) == []
    done = changed_as_predicted(netns, {"name": "vmbr0", "mtu": limit})   # up to the limit: raised
    assert done["commands"] == [f"ip -n {netns} link set dev {dev} mtu {limit}" for dev in ("vmbr0", "eth1")]


@pytest.mark.parametrize("setup, mtu", [(HOST, 9000), (JUMBO, 1500)], ids=["raise", "lower"])
def test_every_step_of_the_path_change_is_undone(netns, setup, mtu):
    result = sweep(f"path mtu {mtu}", netns, setup, "net_bridge", {"name": "vmbr0", "mtu": mtu})
    assert result.findings == [], result.report()
    assert result.n == 2


# The line each format carries a device's MTU in (ifupdown2 puts a bridge's own in a post-up line: its syntax
# check refuses `mtu` on a bridge stanza).
MTU_LINE = {"ifupdown2": "mtu 9000", "networkd": "MTUBytes=9000", "networkmanager": "mtu=9000", "netplan": "mtu: 9000"}


def _about(fmt: str, files: dict, device: str) -> list:
    """The lines the files of `fmt` have for `device`: its ifupdown2 stanzas, its networkd .network, its keyfile."""
    texts = {path.rsplit("/", 1)[-1]: data.decode() for path, (data, _mode) in files.items() if "/var/lib/netsafe/" not in path}
    if fmt == "ifupdown2":
        stanzas = [s for s in texts["interfaces"].split("\n\n") if f"iface {device} inet" in s]
    elif fmt == "netplan":
        # The device's definition: its own key, then the lines indented deeper than it.
        lines = texts["90-netsafe.yaml"].splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip() == f"{device}:")
        depth = len(lines[start]) - len(lines[start].lstrip())
        body = lines[start + 1:]
        end = next((i for i, line in enumerate(body) if len(line) - len(line.lstrip()) <= depth), len(body))
        stanzas = ["\n".join(body[:end])]
    else:
        stanzas = [texts.get(f"10-netsafe-{device}.network", "") if fmt == "networkd" else texts.get(f"{device}.nmconnection", "")]
    return [line.strip() for stanza in stanzas for line in stanza.splitlines()]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_files_written_after_a_raise_carry_9000_on_the_uplink(netns, tmp_path, fmt):
    fresh_namespace(netns, HOST)
    assert run_module("net_bridge", {"name": "vmbr0", "mtu": 9000, "namespace": netns})["changed"]
    saved = persist(netns, tmp_path, fmt)
    assert saved["changed"] and not saved.get("failed"), saved
    files = snapshot_files(tmp_path)
    uplink, bridge = _about(fmt, files, "eth1"), _about(fmt, files, "vmbr0")
    assert MTU_LINE[fmt] in uplink, uplink
    assert [line for line in bridge if line.endswith(MTU_LINE[fmt])], bridge
    assert not any(guest.encode() in data for data, _mode in files.values() for guest in GUESTS)
