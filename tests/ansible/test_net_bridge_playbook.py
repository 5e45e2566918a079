"""net_bridge through ansible-playbook against a namespace 'host'."""
from __future__ import annotations

import pytest

from nstools import ip, kernel_state

pytestmark = [pytest.mark.ansible, pytest.mark.kernel]

BRIDGE_PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: bridge
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        ports: "{{ ports | default(['eth1']) }}"
        stp: false
        forward_delay: 0
        mtu: 1500
        addresses: [192.0.2.10/24, 2001:db8::10/64]
        gateway4: 192.0.2.1
        namespace: "{{ ns }}"
"""


def test_first_run_changes_second_run_does_not(hv, run_playbook):
    first = run_playbook(BRIDGE_PLAY, extra_vars={"ns": hv})
    assert first.rc == 0, first.stdout
    result = first.task("bridge")
    assert result["status"] == "changed"
    assert "ip -n %s link add name vmbr0 type bridge stp_state 0 forward_delay 0" % hv in result["result"]["commands"]
    state = kernel_state(hv)
    second = run_playbook(BRIDGE_PLAY, extra_vars={"ns": hv})
    assert second.rc == 0
    assert second.task("bridge")["status"] == "ok"
    assert second.task("bridge")["result"]["commands"] == []
    assert kernel_state(hv) == state
    bridge = second.task("bridge")["result"]["state"]
    assert bridge["ports"] == ["eth1"] and bridge["addresses"] == ["192.0.2.10/24", "2001:db8::10/64"]
    assert bridge["gateway4"] == "192.0.2.1" and bridge["up"] is True


def test_check_mode_changes_nothing_and_diff_shows_before_after(hv, run_playbook):
    before = kernel_state(hv)
    run = run_playbook(BRIDGE_PLAY, extra_vars={"ns": hv}, check=True, diff=True)
    assert run.rc == 0, run.stdout
    result = run.task("bridge")
    assert result["status"] == "changed"
    diff = result["result"]["diff"]
    assert diff["before"] == {"name": "vmbr0", "present": False, "also_changed": [{"name": "eth1", "up": False}]}
    assert diff["after"]["ports"] == ["eth1"] and diff["after"]["also_changed"] == [{"name": "eth1", "up": True}]
    assert "vmbr0" in run.stdout and "present" in run.stdout and "also_changed" in run.stdout  # the diff is printed
    assert kernel_state(hv) == before


def test_moving_the_uplink_keeps_guest_ports(hv, run_playbook):
    assert run_playbook(BRIDGE_PLAY, extra_vars={"ns": hv}).rc == 0
    ip("link", "set", "tap100i0", "master", "vmbr0", ns=hv)
    ip("link", "set", "veth101i0", "master", "vmbr0", ns=hv)
    run = run_playbook(BRIDGE_PLAY, extra_vars={"ns": hv, "ports": ["eth2"]}, diff=True)
    assert run.rc == 0, run.stdout
    result = run.task("bridge")["result"]
    assert result["commands"] == [f"ip -n {hv} link set dev eth1 nomaster", f"ip -n {hv} link set dev eth2 master vmbr0",
                                  f"ip -n {hv} link set dev eth2 up"]
    assert result["state"]["guest_ports"] == ["tap100i0", "veth101i0"]
    masters = {l["ifname"]: l["master"] for l in kernel_state(hv)["links"]}
    assert masters["tap100i0"] == masters["veth101i0"] == masters["eth2"] == "vmbr0"
    assert masters["eth1"] is None


INVALID = [
    ({"name": "vmbr0/1"}, "name: 'vmbr0/1' is not a valid interface name"),
    ({"name": "averyveryverylongbr"}, "name: 'averyveryverylongbr' is 19 characters long; Linux allows at most 15"),
    ({"name": "vmbr0", "mtu": 70000}, "mtu: 70000 is out of range; allowed 68-65535"),
    ({"name": "vmbr0", "ports": ["eth1", "eth9"]}, "ports: 'eth9' does not exist"),
    ({"name": "vmbr0", "addresses": ["192.0.2.300/24"]}, "addresses: '192.0.2.300/24' is not an address"),
    ({"name": "vmbr0", "mac": "01:00:5e:00:00:01"}, "mac: '01:00:5e:00:00:01' is a multicast address"),
    ({"name": "vmbr0", "stp": True, "forward_delay": 0}, "forward_delay: 0 is too short with stp enabled"),
]


@pytest.mark.parametrize("args, message", INVALID, ids=[m.split(":")[0] for _a, m in INVALID])
def test_invalid_input_fails_clearly_and_changes_nothing(hv, run_playbook, args, message):
    before = kernel_state(hv)
    play = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: bad
      netsafe.hypervisor.net_bridge: "{{ args | combine({'namespace': ns, 'ports': args.ports | default(['eth1'])}) }}"
"""
    run = run_playbook(play, extra_vars={"ns": hv, "args": args})
    assert run.rc != 0
    result = run.task("bad")
    assert result["status"] == "failed"
    assert message in result["result"]["msg"]
    assert kernel_state(hv) == before


def test_unknown_namespace_fails_without_creating_it(run_playbook):
    import os
    name = f"nsmissing{os.getpid()}"
    play = BRIDGE_PLAY
    run = run_playbook(play, extra_vars={"ns": name})
    assert run.rc != 0
    assert f"network namespace '{name}' does not exist" in run.task("bridge")["result"]["msg"]
    assert not os.path.exists(f"/run/netns/{name}")


ABSENT_PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: remove
      netsafe.hypervisor.net_bridge:
        name: vmbr0
        state: absent
        detach_guests: "{{ detach | default(false) }}"
        namespace: "{{ ns }}"
"""


def test_deleting_a_bridge_with_guests_needs_consent(hv, run_playbook):
    assert run_playbook(BRIDGE_PLAY, extra_vars={"ns": hv}).rc == 0
    ip("link", "set", "tap100i0", "master", "vmbr0", ns=hv)
    before = kernel_state(hv)
    refused = run_playbook(ABSENT_PLAY, extra_vars={"ns": hv})
    assert refused.rc != 0
    assert "still carries guest ports tap100i0" in refused.task("remove")["result"]["msg"]
    assert kernel_state(hv) == before
    done = run_playbook(ABSENT_PLAY, extra_vars={"ns": hv, "detach": True})
    assert done.rc == 0, done.stdout
    assert done.task("remove")["result"]["commands"] == [f"ip -n {hv} link del dev vmbr0"]
    assert "vmbr0" not in [l["ifname"] for l in kernel_state(hv)["links"]]
    again = run_playbook(ABSENT_PLAY, extra_vars={"ns": hv})
    assert again.task("remove")["status"] == "ok"
