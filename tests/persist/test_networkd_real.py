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

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

from nstools import iproute, kernel_state, state_diff
from realstacks import networkd, networkd_binary

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
GUESTS = GuestMatcher()

# Where networkd's kernel differs from the reference by design; each one is a pattern over one state_diff line.
# (The reference itself says two things networkd always does and the model does not carry: routes are
# `proto static`, and IPv4 addresses have their broadcast address, `brd +`.)
EXPECTED_DIFFERENCES = {
    r"^link (br-empty|br-\w+) address: ": "a bridge without ports has a random MAC the kernel draws at creation "
                                         "(MACAddress=none keeps the kernel's choice; the model never pins a MAC)",
    r"^link eth\d+ inet6_addr_gen_mode: 'eui64' -> 'none'$": "networkd turns IPv6 link-local off on a bridge port "
                                                            "(LinkLocalAddressing= defaults to no with Bridge=): the "
                                                            "port gets no fe80:: address, which a port does not use",
}


def unexpected(diff: list) -> list:
    return [line for line in diff if not any(re.search(p, line) for p in EXPECTED_DIFFERENCES)]


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
    assert described(fmt.parse(changes)) == described(want)
    iproute(fresh, nics)
    run = networkd(fresh, {os.path.basename(p): t for p, t in changes.items()}, sorted(want.devices))
    assert not run.timed_out, f"networkd did not finish: {run.states}\n{run.log}"
    assert run.not_configured() == {}, run.log
    assert run.complaints() == [], run.log
    if guests:
        iproute(fresh, guests)
    got, _missing = persisted(read(fresh), names, GUESTS)
    assert described(got) == described(want)
    return {"diff": state_diff(kernel_state(ref), kernel_state(fresh)), "files": changes, "log": run.log}


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
    assert unexpected(out["diff"]) == [], "\n".join(out["diff"]) + "\n" + out["log"]
    assert any("br-empty address" in line for line in out["diff"])   # the expected ones are real, not vacuous


def test_the_log_check_sees_what_networkd_ignores(netns):
    """The complaint filter is not vacuous: networkd's own parser warnings about a file are caught."""
    iproute(netns, nic_lines(["eth1"]))
    bad = "[Match]\nName=eth1\n\n[Link]\nMTUBytes=banana\n\n[Network]\nNoSuchKey=1\n\n[BridgeVLAN]\nVLAN=5000\n"
    run = networkd(netns, {"10-netsafe-eth1.network": bad}, ["eth1"], timeout=10)
    complaints = "\n".join(run.complaints())
    assert "banana" in complaints and "NoSuchKey" in complaints and "5000" in complaints, run.log
