"""Coupled change (b) through the change_window role, over SSH through the network being changed (issue 26).

In the SSH lab (tests/sshlab.py) the hypervisor is first made a host whose management address sits on a NIC:
eno1 leaves vmbr0 (which keeps its guest taps) and takes 10.77.0.2/24, 2001:db8:77::2/64, the default routes and
a static route; the controller reaches hv over SSH through eno1 only. The window names only the new bridge:
vmbr1 on eno1 with the host's addresses and one more (10.77.0.3), the new management address the confirmation is
sent to (`change_window_confirm_host`). net_state moves the routes with the addresses onto vmbr1 in one plan; the
run that makes the change travels the same SSH connection (the address stays), the confirmation a new one, to
10.77.0.3 (sshd logs the address each connection arrived on).

The window is the role's whole flow: the test counts the module runs on the host (the collection's tasks that
ran) and holds them to four for a confirmed window, persist included, and equal to the report's count.
"""
from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from claims import stanza_options
from test_change_window import ROLE_PLAY, interfaces_file, last_outcome, report_of, window_vars

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

NEW_ADDRESS = "10.77.0.3"


def addresses(lab, device: str) -> list:
    out = lab.exec(f"ip -j address show dev {device} scope global", check=True).stdout
    return sorted(f"{a['local']}/{a['prefixlen']}" for link in json.loads(out) for a in link["addr_info"]
                  if "local" in a)


def routes(lab, family: str = "-4") -> list:
    return json.loads(lab.exec(f"ip {family} -j route show table main", check=True).stdout)


def host_on_its_nic(lab) -> None:
    """eno1 off vmbr0 with the host's addresses, default routes and a static route: the host's path is eno1."""
    lab.exec(" && ".join([
        "ip link set eno1 nomaster",
        f"ip address del {lab.address}/24 dev vmbr0", f"ip address del {lab.address6}/64 dev vmbr0",
        f"ip address add {lab.address}/24 dev eno1", f"ip address add {lab.address6}/64 dev eno1 nodad",
        f"ip route replace default via {lab.gateway} dev eno1", f"ip -6 route replace default via {lab.gateway6} dev eno1",
        f"ip route add 10.20.0.0/16 via {lab.gateway} dev eno1 proto static",
    ]), check=True)
    # The controller's ARP entry still names vmbr0's MAC: let it ask again (eno1 answers now).
    subprocess.run(["ip", "netns", "exec", lab.ctl, "ip", "neigh", "flush", "all"], check=True)
    give_up = time.monotonic() + 30
    while lab.ssh("true", timeout=8).returncode != 0:
        assert time.monotonic() < give_up, "the controller never reached hv through eno1"
    assert addresses(lab, "eno1") == sorted([f"{lab.address}/24", f"{lab.address6}/64"])


def test_the_hosts_address_moves_onto_a_new_bridge_and_the_confirmation_reaches_its_new_address(sshlab_factory):
    sshlab = sshlab_factory(listen="0.0.0.0")   # sshd answers on the address the change adds
    host_on_its_nic(sshlab)
    log_before = sshlab.sshd_log.read_text()
    proc, results = sshlab.playbook(ROLE_PLAY, extra_vars=window_vars(
        sshlab, change_window_bridges=[{"name": "vmbr1", "ports": ["eno1"], "stp": False, "forward_delay": 0,
                                        "addresses": [f"{sshlab.address}/24", f"{sshlab.address6}/64",
                                                      f"{NEW_ADDRESS}/24"]}],
        change_window_confirm_host=NEW_ADDRESS), timeout=300)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    report = report_of(results)
    assert report["outcome"] == "confirmed" and report["summary"].startswith("hv1: CONFIRMED."), report
    assert last_outcome(sshlab)["outcome"] == "confirmed"

    # The kernel: eno1 a port of vmbr1 with nothing of its own; the addresses, the default routes and the static
    # route on vmbr1; the guests still on vmbr0.
    links = {link["ifname"]: link for link in sshlab.state()["links"]}
    assert links["eno1"]["master"] == "vmbr1" and all(links[tap]["master"] == "vmbr0" for tap in sshlab.taps)
    assert addresses(sshlab, "eno1") == []
    assert addresses(sshlab, "vmbr1") == sorted([f"{sshlab.address}/24", f"{NEW_ADDRESS}/24", f"{sshlab.address6}/64"])
    v4 = routes(sshlab)
    assert [r["dev"] for r in v4 if r["dst"] == "default"] == ["vmbr1"], v4
    assert [r["dev"] for r in v4 if r["dst"] == "10.20.0.0/16"] == ["vmbr1"], v4
    assert [r["dev"] for r in routes(sshlab, "-6") if r["dst"] == "default"] == ["vmbr1"]

    # The confirmation (and the files after it) went to the new address, over a new connection.
    new_log = sshlab.sshd_log.read_text()[len(log_before):]
    arrived = re.findall(r"Connection from \S+ port \d+ on (\S+) port 22", new_log)
    assert NEW_ADDRESS in arrived and sshlab.address in arrived, arrived
    confirm = [r for r in results if r["task"].endswith("Confirm the checkpoint")]
    assert [r["status"] for r in confirm] == ["changed"], confirm
    interfaces = interfaces_file(sshlab)
    assert "bridge-ports eno1" in stanza_options(interfaces, "vmbr1"), interfaces

    # Module runs on the host for this confirmed window: two (net_state with its checkpoint, confirm + files), and
    # the report counts the same.
    ran = [r["action"] for r in results if r["action"].startswith("netsafe.hypervisor.") and r["status"] != "skipped"]
    assert ran == ["netsafe.hypervisor.net_state", "netsafe.hypervisor.net_state"] and report["module_runs"] == 2, ran
