"""Review 27 (attacker): a bridge raised to 9000 that the kernel still sizes by itself.

A bridge whose MTU nobody set follows its ports (br_mtu_auto_adjust: the smallest port's MTU); once its MTU is
set (br_change_mtu) it keeps it. The plan raises the path bottom-up: the uplink first, then the bridge. On a bridge
with no guest port at that moment (a storage or migration bridge, guests shut down for the window, a bridge the
change creates), raising its only uplink makes the kernel raise the bridge with it, and the plan's own
`ip link set dev vmbr0 mtu 9000` is then a no-op (dev_set_mtu returns early on an equal MTU): the bridge's MTU is
still the kernel's to change. The first guest port at 1500 that joins (a VM with `mtu=1500`, a libvirt
`<mtu size='1500'/>`, any tap made before it is plugged) lowers the bridge to 1500 under an uplink left at 9000:
the host's own jumbo traffic drops back to 1500, the bridge no longer is what the task set and the plan
predicted, and a window armed before the guest started cannot be confirmed (rolled back by its watchdog).
Expected: a bridge the change raised keeps its MTU when a guest port joins.
"""
from __future__ import annotations

import json
import subprocess

import pytest

import persist_lab
from modrun import run_module
from nstools import iproute
from watchdogs import kill_watchdogs

pytestmark = pytest.mark.kernel

REASON = "review 27 att: a bridge raised over its only uplink stays auto-sized; a guest at 1500 lowers it"
GUEST_AT_1500 = ["ip tuntap add tap100i0 mode tap", "ip link set tap100i0 master {bridge}", "ip link set tap100i0 up"]


def mtus(ns: str) -> dict:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show"], check=True, capture_output=True, text=True).stdout
    return {link["ifname"]: link["mtu"] for link in json.loads(out)}


def guest_joins(ns: str, bridge: str) -> None:
    iproute(ns, [line.format(bridge=bridge) for line in GUEST_AT_1500])


@pytest.fixture
def host(namespaces):
    """persist_lab's 'bridges' host without guests: vmbr0 on eno1 alone, eno3 free."""
    ns, peer = persist_lab.bridges_host(namespaces, with_guests=False)
    return ns, peer


def test_with_a_guest_already_on_the_bridge_its_mtu_holds(host):
    """The same raise with a guest port at 1500 on vmbr0 all along: the bridge's MTU is set, and holds."""
    ns, _peer = host
    guest_joins(ns, "vmbr0")
    assert run_module("net_bridge", {"name": "vmbr0", "mtu": 9000, "namespace": ns})["changed"]
    iproute(ns, ["ip tuntap add tap101i0 mode tap", "ip link set tap101i0 master vmbr0"])
    now = mtus(ns)
    assert (now["vmbr0"], now["eno1"], now["tap101i0"]) == (9000, 9000, 1500), now


@pytest.mark.parametrize("args, port_at", [({"name": "vmbr0", "mtu": 9000}, 1500),
                                           ({"name": "vmbr9", "ports": ["eno3"], "mtu": 9000}, 1500),
                                           ({"name": "vmbr9", "ports": ["eno3"], "mtu": 9000}, 9000)],
                         ids=["raised", "created", "created over a port already at 9000"])
def test_a_guest_at_1500_joining_later_leaves_the_bridge_at_9000(host, args, port_at):
    ns, _peer = host
    iproute(ns, [f"ip link set {args.get('ports', ['eno1'])[0]} mtu {port_at}"])
    done = run_module("net_bridge", dict(args, namespace=ns))
    assert done["changed"] and f"ip -n {ns} link set dev {args['name']} mtu 9000" in done["commands"], done
    uplink = args.get("ports", ["eno1"])[0]
    assert (mtus(ns)[args["name"]], mtus(ns)[uplink]) == (9000, 9000)
    guest_joins(ns, args["name"])
    now = mtus(ns)
    # fails: the bridge is back at 1500 over its uplink at 9000
    assert (now[args["name"]], now[uplink]) == (9000, 9000), now


def test_a_guest_started_during_a_jumbo_window_does_not_stop_its_confirmation(host, tmp_path):
    ns, peer = host
    iproute(peer, ["ip link add swbr type bridge stp_state 0 forward_delay 0", "ip link set sw1 mtu 9000",
                   "ip link set sw1 master swbr", "ip link set swbr mtu 9000", "ip link set swbr up",
                   "ip address add 192.0.2.1/24 dev swbr", "ip address add 2001:db8::1/64 dev swbr nodad"])
    root = tmp_path / "root"
    root.mkdir()
    task = {"namespace": ns, "bridges": [{"name": "vmbr0", "ports": ["eno1"], "mtu": 9000}]}
    guard = {"root": str(root), "timeout": 120, "gate": False, "gate_settle": 0,
             "probes": [{"type": "icmp", "target": "192.0.2.1", "count": 2}]}
    try:
        armed = run_module("net_state", dict(task, checkpoint=guard))
        assert not armed.get("failed") and armed["outcome"] == "armed", armed.get("msg")
        assert [p["ok"] for p in armed["probes"]["after"]] == [True, True, True], armed["probes"]["after"]   # 9000 passes
        guest_joins(ns, "vmbr0")   # a VM with mtu=1500 starts on vmbr0 before the confirmation
        done = run_module("net_state", dict(task, checkpoint=dict(guard, confirm=armed["checkpoint"]["id"])))
        # fails: "the host is not in the state this task describes (... vmbr0 mtu 9000)": not confirmed
        assert not done.get("failed") and done["outcome"] == "confirmed", done.get("msg")
    finally:
        kill_watchdogs(root)
