"""net_nic through ansible-playbook against a namespace 'host': check mode with --diff, the change, idempotence."""
from __future__ import annotations

import pytest

from nstools import ip, kernel_state, state_diff

pytestmark = [pytest.mark.ansible, pytest.mark.kernel]

NIC_PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: nic
      netsafe.hypervisor.net_nic:
        name: "{{ nic | default('eth1') }}"
        mtu: 9000
        admin_state: up
        addresses: [198.51.100.20/24]
        namespace: "{{ ns }}"
"""


def test_check_diff_then_change_then_nothing_to_do(hv, run_playbook):
    before = kernel_state(hv)
    preview = run_playbook(NIC_PLAY, extra_vars={"ns": hv}, check=True, diff=True)
    assert preview.rc == 0, preview.stdout
    predicted = preview.task("nic")
    assert predicted["status"] == "changed"
    assert predicted["result"]["diff"]["before"]["mtu"] == 1500 and predicted["result"]["diff"]["after"]["mtu"] == 9000
    assert "9000" in preview.stdout   # the diff is printed
    assert state_diff(before, kernel_state(hv)) == []

    first = run_playbook(NIC_PLAY, extra_vars={"ns": hv})
    assert first.rc == 0, first.stdout
    result = first.task("nic")["result"]
    assert result["commands"] == predicted["result"]["commands"] == [
        f"ip -n {hv} link set dev eth1 mtu 9000", f"ip -n {hv} link set dev eth1 up",
        f"ip -n {hv} address add 198.51.100.20/24 dev eth1"]
    links = {entry["ifname"]: entry for entry in kernel_state(hv)["links"]}
    assert links["eth1"]["mtu"] == 9000 and "UP" in links["eth1"]["flags"]
    state = kernel_state(hv)

    second = run_playbook(NIC_PLAY, extra_vars={"ns": hv})
    assert second.rc == 0 and second.task("nic")["status"] == "ok", second.stdout
    assert second.task("nic")["result"]["commands"] == []
    assert state_diff(state, kernel_state(hv)) == []


def test_a_bridge_is_refused_naming_its_module(hv, run_playbook):
    ip("link", "add", "vmbr0", "type", "bridge", ns=hv)
    before = kernel_state(hv)
    run = run_playbook(NIC_PLAY, extra_vars={"ns": hv, "nic": "vmbr0"})
    assert run.rc != 0
    result = run.task("nic")
    assert result["status"] == "failed"
    assert "name: 'vmbr0' is a bridge, not a NIC; manage it with netsafe.hypervisor.net_bridge" in result["result"]["msg"]
    assert state_diff(before, kernel_state(hv)) == []
