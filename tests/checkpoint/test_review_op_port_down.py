"""A bridge port the operator took down (an uplink out of service) stays down through every way back.

Found by the operator review: with eno2 down (`ip link set eno2 down`, or `link-down yes` in the file), no
rollback worked at all. The snapshot says eno2 is down; plan_host planned the NIC (down: nothing to do), then its
bridge vmbr1, whose planner brought every listed port up; the verifying re-plan then wanted eno2 down again, so
the whole rollback was undone as `rollback_failed` and the change (vmbr0's MTU) stayed. The planned rollback also
brought the disabled uplink up (`ip link set dev eno2 up`). Now a port's own description decides its admin state,
not its bridge (plan_host passes it to plan_bridge; docs/architecture.md, "Bad days").
"""
from __future__ import annotations

import pytest

from nstools import ip, iproute, kernel_state, state_diff
from persist_lab import persist

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import rollback, window

pytestmark = [pytest.mark.kernel]


def test_the_modules_and_the_watchdogs_rollback_leave_a_port_taken_down_down(host):
    ip("link", "set", "eno2", "down", ns=host.ns)             # vmbr1's uplink, taken out of service
    before = host.state()
    assert host.checkpoint(state="armed", timeout=300)["armed"]
    ip("link", "set", "vmbr0", "mtu", "1400", ns=host.ns)      # the change
    preview = host.checkpoint(state="rolled_back", check=True)
    assert preview["commands"] == [f"ip -n {host.ns} link set dev vmbr0 mtu 1500"], preview
    back = host.checkpoint(state="rolled_back")
    assert not back.get("failed") and back["outcome"]["outcome"] == "rolled_back", back.get("msg")
    assert state_diff(before, host.state()) == []   # eno2 still down, vmbr0 back at 1500

    armed = host.checkpoint(state="armed", timeout=5)["checkpoint"]
    ip("link", "set", "vmbr0", "mtu", "1400", ns=host.ns)
    last = host.wait_outcome(armed["id"], 30)
    assert last["outcome"] == "rolled_back" and last["by"].startswith("watchdog"), last
    assert state_diff(before, host.state()) == []


def test_restored_from_a_file_that_says_link_down_keeps_the_port_down(host):
    ip("link", "set", "eno2", "down", ns=host.ns)
    before = host.state()
    saved = persist(host.ns, host.root, "ifupdown2")
    text = (host.root / "etc/network/interfaces").read_text()
    assert not saved.get("failed"), saved.get("msg")
    assert "iface eno2 inet manual\n\tbridge-pathcosts 2\n\tmtu 9000\n\tlink-down yes\n" in text, text
    ip("link", "set", "vmbr0", "mtu", "1400", ns=host.ns)
    restored = persist(host.ns, host.root, "ifupdown2", state="restored")
    assert not restored.get("failed"), restored.get("msg")
    assert not any("eno2" in c for c in restored["commands"]), restored["commands"]
    assert state_diff(before, host.state()) == []


@pytest.mark.fullkernel("bonding", "dummy")
def test_a_rollback_that_gives_a_bond_its_port_back_leaves_that_port_down(netns):
    """The kernel opens (brings up) every device a bond enslaves: a port the snapshot has down is taken down again
    after it joins. In-process (a watchdog's Python start costs half a minute under emulation). 802.3ad: the
    snapshot of a bond in another mode holds options its mode ignores, which main's Bond.in_its_mode (issue 24)
    leaves out of a rollback."""
    iproute(netns, ["ip link add eno1 address 52:54:00:aa:00:01 type dummy",
                    "ip link add eno2 address 52:54:00:aa:00:02 type dummy",
                    "ip link add bond0 type bond mode 802.3ad miimon 100",
                    "ip link set eno1 master bond0", "ip link set eno2 master bond0", "ip link set bond0 up",
                    "ip link set eno2 down"])                 # the operator's: eno2 out of service, still a port
    before = kernel_state(netns)
    snapshot = window.snapshot(netns, GuestMatcher())
    iproute(netns, ["ip link set eno2 nomaster", "ip link set bond0 mtu 1400"])   # the change
    result = rollback.roll_back(netns, snapshot, GuestMatcher())
    assert result["commands"][-1] == f"ip -n {netns} link set dev eno2 down", result["commands"]
    assert state_diff(before, kernel_state(netns)) == []
