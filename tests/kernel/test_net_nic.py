"""net_nic on the real kernel: MTU and admin state of a NIC (veth here), predicted, applied, idempotent, refused.

Each task runs through the module's real entry point in-process (tests/modrun.py). A refused task must leave
the complete state dump (nstools.kernel_state) as it was.
"""
from __future__ import annotations

import pytest

from modproc import warnings_of
from modrun import run_module
from nstools import ip, kernel_state, state_diff
from sweep import sweep

pytestmark = pytest.mark.kernel
# What a prediction cannot know: the operational state follows carrier and admin state in the kernel's own time.
UNPREDICTED = ("operstate",)


def nic(ns: str, **args) -> dict:
    return run_module("net_nic", dict(args, namespace=ns))


def comparable(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in UNPREDICTED}


def link(ns: str, name: str) -> dict:
    return {entry["ifname"]: entry for entry in kernel_state(ns)["links"]}[name]


def converged(ns: str, args: dict) -> dict:
    """Check mode, then the real run, then the same again: the prediction is the result and the second run idle."""
    before = kernel_state(ns)
    preview = run_module("net_nic", dict(args, namespace=ns), check=True)
    assert preview["changed"] and not preview.get("failed"), preview
    assert state_diff(before, kernel_state(ns)) == [], "check mode changed the kernel"
    done = nic(ns, **args)
    assert done["changed"] and not done.get("failed"), done
    assert done["commands"] == preview["commands"]
    assert comparable(done["state"]) == comparable(preview["state"])
    assert comparable(done["diff"]["before"]) == comparable(preview["diff"]["before"])
    after = kernel_state(ns)
    again = nic(ns, **args)
    assert (again["changed"], again["commands"], again.get("failed")) == (False, [], None), again
    assert state_diff(after, kernel_state(ns)) == []
    return done


def test_mtu_change_and_back_admin_down_and_up(hv):
    ip("link", "set", "sw1", "up", ns=hv)
    ip("link", "set", "eth1", "up", ns=hv)
    done = converged(hv, {"name": "eth1", "mtu": 9000})
    assert done["commands"] == [f"ip -n {hv} link set dev eth1 mtu 9000"]
    assert done["state"]["mtu"] == 9000 and done["diff"]["before"]["mtu"] == 1500 and done["state"]["kind"] == "veth"
    assert link(hv, "eth1")["mtu"] == 9000
    converged(hv, {"name": "eth1", "mtu": 1500})
    assert link(hv, "eth1")["mtu"] == 1500

    down = converged(hv, {"name": "eth1", "admin_state": "down"})
    assert down["commands"] == [f"ip -n {hv} link set dev eth1 down"] and down["state"]["up"] is False
    assert "UP" not in link(hv, "eth1")["flags"]
    up = converged(hv, {"name": "eth1", "admin_state": "up"})
    assert up["state"]["up"] is True and "UP" in link(hv, "eth1")["flags"]


def test_mtu_state_and_addresses_together_as_predicted(hv):
    ip("address", "add", "192.0.2.10/24", "dev", "eth2", ns=hv)
    done = converged(hv, {"name": "eth2", "mtu": 1400, "mac": "52:54:00:12:34:56",
                          "addresses": ["198.51.100.10/24", "2001:db8::10/64"]})
    assert done["state"]["addresses"] == ["198.51.100.10/24", "2001:db8::10/64"]
    assert (done["state"]["mac"], done["state"]["up"]) == ("52:54:00:12:34:56", True)
    # Down with its IPv6 address listed: the kernel drops it on the way down, the plan puts it back.
    down = converged(hv, {"name": "eth2", "admin_state": "down", "addresses": ["198.51.100.10/24", "2001:db8::10/64"]})
    assert down["state"]["addresses"] == ["198.51.100.10/24", "2001:db8::10/64"], down["commands"]


REFUSED = [
    ("vmbr0", {}, "name: 'vmbr0' is a bridge, not a NIC; manage it with netsafe.hypervisor.net_bridge"),
    ("tap100i0", {}, "name: 'tap100i0' is a guest port, not a NIC; manage it with netsafe.hypervisor.tap_reenslave"),
    ("veth101i0", {}, "name: 'veth101i0' is a guest port, not a NIC; manage it with netsafe.hypervisor.tap_reenslave"),
    ("eth9", {}, "name: 'eth9' does not exist; this module changes a NIC the host has"),
    ("lo", {}, "name: 'lo' is the loopback device"),
    ("eth1", {"mtu": 70000}, "mtu: 70000 is out of range; allowed 68-65535"),
    ("eth1", {"mtu": 67}, "mtu: 67 is out of range; allowed 68-65535"),
    ("eth1", {"gateway4": "192.0.2.1", "admin_state": "down", "addresses": ["192.0.2.10/24"]},
     "gateway4: a default route needs eth1 up; admin_state is down"),
    ("eth1", {"mac": "01:00:5e:00:00:01"}, "mac: '01:00:5e:00:00:01' is a multicast address"),
    ("eth1/x", {}, "name: 'eth1/x' is not a valid interface name"),
]


@pytest.mark.parametrize("name, args, message", REFUSED, ids=[f"{n}-{m.split(':')[0]}" for n, _a, m in REFUSED])
def test_refused_naming_the_parameter_and_nothing_changed(hv, name, args, message):
    ip("link", "add", "vmbr0", "type", "bridge", ns=hv)
    before = kernel_state(hv)
    for check in (True, False):
        result = run_module("net_nic", dict(args, name=name, mtu=args.get("mtu", 1400), namespace=hv), check=check)
        assert result.get("failed") and result["changed"] is False, result
        assert message in result["msg"], result["msg"]
    assert state_diff(before, kernel_state(hv)) == []


def test_taking_down_the_uplink_of_the_default_route_is_refused_unless_allowed(hv):
    for line in ("link add vmbr0 type bridge forward_delay 0", "link set eth1 master vmbr0", "link set eth1 up",
                 "link set vmbr0 up", "address add 192.0.2.10/24 dev vmbr0", "route add default via 192.0.2.1"):
        ip(*line.split(), ns=hv)
    before = kernel_state(hv)
    refused = nic(hv, name="eth1", admin_state="down")
    assert refused.get("failed") and refused["changed"] is False
    assert refused["msg"].startswith("admin_state: taking eth1 down leaves the host's default via 192.0.2.1 dev vmbr0 "
                                     "with no way out"), refused["msg"]
    assert state_diff(before, kernel_state(hv)) == []
    # A second uplink that is up keeps the way out: no refusal.
    ip("link", "set", "eth2", "master", "vmbr0", ns=hv)
    ip("link", "set", "eth2", "up", ns=hv)
    assert not run_module("net_nic", {"name": "eth1", "admin_state": "down", "namespace": hv}, check=True).get("failed")
    ip("link", "set", "eth2", "nomaster", ns=hv)
    ip("link", "set", "eth1", "up", ns=hv)
    allowed = nic(hv, name="eth1", admin_state="down", allow_default_route_loss=True)
    assert allowed["changed"] and not allowed.get("failed"), allowed
    assert warnings_of(allowed) == ["allow_default_route_loss: eth1 goes down and the host's default via 192.0.2.1 dev "
                                    "vmbr0 loses its way out"]


def test_a_bridge_port_below_its_bridge_warns_and_the_bridge_follows_unless_its_mtu_was_set(hv):
    """A kernel fact the warning states: a bridge whose MTU nobody set takes its smallest port's MTU."""
    ip("link", "add", "vmbr0", "type", "bridge", ns=hv)
    ip("link", "set", "eth1", "master", "vmbr0", ns=hv)
    ip("link", "set", "eth2", "master", "vmbr0", ns=hv)
    lowered = nic(hv, name="eth1", mtu=1400)
    (warning,) = warnings_of(lowered)
    assert warning.startswith("mtu: eth1 gets mtu 1400 but its bridge vmbr0 has mtu 1500"), warning
    assert link(hv, "vmbr0")["mtu"] == 1400
    ip("link", "set", "vmbr0", "mtu", "1450", ns=hv)   # set explicitly: it stays
    ip("link", "set", "eth1", "mtu", "1500", ns=hv)
    nic(hv, name="eth1", mtu=1300)
    assert link(hv, "vmbr0")["mtu"] == 1450


# -- undo sweeps (tests/sweep.py): every operation refused in turn, the dump must come back ---------------------

NIC = [
    "ip link add eth1 type veth peer name sw1",
    "ip link set sw1 up",
]
# eth1 up with IPv4 and IPv6 addresses and both default routes on it.
NIC_UP = NIC + [
    "ip link set eth1 up",
    "ip address add 192.0.2.10/24 dev eth1",
    "ip address add 2001:db8::10/64 dev eth1",
    "ip route add default via 192.0.2.1",
    "ip route add default via 2001:db8::1",
]


def test_sweep_mtu_up_and_new_addresses_on_a_down_nic(netns):
    result = sweep("nic up", netns, NIC + ["ip address add 192.0.2.10/24 dev eth1"], "net_nic",
                   {"name": "eth1", "mtu": 9000, "admin_state": "up",
                    "addresses": ["198.51.100.10/24", "2001:db8:1::10/64"], "gateway4": "198.51.100.1"})
    assert result.findings == [], result.report()


def test_sweep_mtu_down_and_addresses_on_the_nic_of_the_default_routes(netns):
    """Down drops the NIC's IPv6 addresses and its routes: the plan deletes them first, so its undo restores them."""
    result = sweep("nic down", netns, NIC_UP, "net_nic",
                   {"name": "eth1", "mtu": 1400, "admin_state": "down", "allow_default_route_loss": True,
                    "addresses": ["192.0.2.10/24", "2001:db8::10/64", "198.51.100.10/24"]})
    assert result.findings == [], result.report()
    assert result.n == 7, result.report()


@pytest.mark.fullkernel("bonding", "8021q", "dummy")
def test_a_bond_a_vlan_and_a_bond_port_mtu_are_refused_and_the_port_goes_down_and_up(netns):
    """One test in the full-kernel lane: the host kernel has no bonding or 802.1Q."""
    for line in ("link add d1 type dummy", "link add d2 type dummy", "link add bond0 type bond mode active-backup",
                 "link set d1 master bond0", "link set d2 master bond0", "link set bond0 mtu 1400",
                 "link set bond0 up", "link add link bond0 name bond0.20 type vlan id 20"):
        ip(*line.split(), ns=netns)
    before = kernel_state(netns)
    for name, args, message in [
        ("bond0", {"mtu": 1400}, "name: 'bond0' is a bond, not a NIC; manage it with netsafe.hypervisor.net_bond"),
        ("bond0.20", {"mtu": 1400}, "name: 'bond0.20' is a vlan, not a NIC; manage it with netsafe.hypervisor.net_vlan"),
        ("d1", {"mtu": 9000}, "mtu: d1 is a port of bond bond0, and the kernel gives the bond's ports the bond's MTU "
                              "(1400)"),
    ]:
        result = nic(netns, name=name, **args)
        assert result.get("failed") and result["changed"] is False and message in result["msg"], (name, result)
    assert state_diff(before, kernel_state(netns)) == []
    # The bond's own MTU on its port is no change; a port goes out of service and back.
    assert nic(netns, name="d1", mtu=1400)["commands"] == []
    converged(netns, {"name": "d1", "admin_state": "down"})
    converged(netns, {"name": "d1", "admin_state": "up"})
    assert link(netns, "d1")["master"] == "bond0" and link(netns, "d1")["mtu"] == 1400


def test_sweep_the_only_uplink_of_the_bridge_with_the_default_routes_goes_down(netns):
    """The common case on a hypervisor (vmbr0 on eno1), allowed: the bridge keeps its addresses and routes."""
    setup = NIC + ["ip link add vmbr0 type bridge forward_delay 0", "ip link set eth1 master vmbr0",
                   "ip link set eth1 up", "ip link set vmbr0 up", "ip address add 192.0.2.10/24 dev vmbr0",
                   "ip address add 2001:db8::10/64 dev vmbr0", "ip route add default via 192.0.2.1",
                   "ip route add default via 2001:db8::1"]
    result = sweep("bridge uplink down", netns, setup, "net_nic",
                   {"name": "eth1", "mtu": 1400, "admin_state": "down", "allow_default_route_loss": True})
    assert result.findings == [], result.report()
