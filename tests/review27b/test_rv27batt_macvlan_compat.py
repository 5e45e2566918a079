"""Review 27b (attacker): macvlans modelled on their lower device, where that model is missing or out of reach.

1. A checkpoint record written before `lower` was kept (an armed window across the collection's upgrade, or a
   failed rollback's kept record retried later) has no `lower` in its snapshot. The rollback then plans mv0's MTU
   before vmbr0's, exactly the pre-fix order: the kernel refuses (EINVAL) and the whole rollback fails ("the
   network still has the change"). The live kernel, which the rollback reads anyway, says mv0 stands on vmbr0.
   Expected: the rollback takes a missing `lower` from the running kernel (or orders MTU raises lower-first) and
   restores the complete dump.
2. A container's macvlan whose lower device is the hypervisor's bridge, moved into the container's namespace
   (docker/LXC macvlan networks): the hypervisor's read leaves it out (it is not in this namespace), but the kernel
   still lowers it with vmbr0 (macvlan_device_event walks every macvlan of the port, whatever its namespace).
   A lowering whose last step is refused is undone "exactly" on the hypervisor, while the container's interface
   is left at 1500 for good; --diff and `also_changed` never mention it.
   Expected: the undo leaves the container's macvlan as it was (or the change is refused/warned about up front).
"""
from __future__ import annotations

import glob
import json

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import FAIL_AT_ENV
from modrun import run_module
from nstools import kernel_state, state_diff
from sweep import environment, fresh_namespace
from watchdogs import armed_checkpoint

pytestmark = pytest.mark.kernel

JUMBO = [
    "ip link add eth1 type veth peer name sw1",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set eth1 master vmbr0",
    *(f"ip link set {dev} up" for dev in ("sw1", "eth1", "vmbr0")),
    "ip link set eth1 mtu 9000",
    "ip link set vmbr0 mtu 9000",
    "ip link add mv0 link vmbr0 type macvlan mode bridge",
    "ip link set mv0 mtu 9000",
]


def test_a_record_without_lower_still_rolls_back_a_lowered_bridge(netns, tmp_path):
    fresh_namespace(netns, JUMBO + ["ip link set mv0 up"])
    before = kernel_state(netns)
    root = tmp_path / "root"
    with armed_checkpoint(netns, root) as roll_back:
        records = glob.glob(f"{root}/**/checkpoint.json", recursive=True)
        assert records
        for path in records:   # the record as the release before this change wrote it
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
            for device in record["snapshot"]["devices"]:
                device.pop("lower", None)
                device.pop("max_mtu", None)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(record, f, sort_keys=True)
        lowered = run_module("net_bridge", {"name": "vmbr0", "mtu": 1500, "namespace": netns})
        assert lowered["changed"] and not lowered.get("failed"), lowered.get("msg")
        back = roll_back()
        # What happens: "the rollback of ... failed: the kernel refused '... link set dev mv0 mtu 9000': Invalid
        # argument; ... the network still has the change"
        assert not back.get("failed"), back.get("msg")
        assert state_diff(before, kernel_state(netns)) == []


@pytest.mark.xfail(strict=True, reason="review 27b att: a container's macvlan on the bridge (in its own namespace) "
                                       "is lowered with it and the undo leaves it lowered")
def test_the_undo_of_a_lowering_leaves_a_containers_macvlan_as_it_was(namespaces):
    hv, container = namespaces.new(), namespaces.new()
    fresh_namespace(hv, JUMBO + [f"ip link set mv0 netns {container}"])
    before_hv, before_ct = kernel_state(hv), kernel_state(container)
    task = {"name": "vmbr0", "mtu": 1500, "namespace": hv}
    preview = run_module("net_bridge", task, check=True)
    assert len(preview["commands"]) == 2, preview["commands"]   # vmbr0, then eth1
    with environment(**{FAIL_AT_ENV: 1}):
        failed = run_module("net_bridge", task)
    assert failed.get("failed") and "was undone" in failed["msg"], failed.get("msg")
    assert state_diff(before_hv, kernel_state(hv)) == []
    # What happens: 'link mv0 mtu: 9000 -> 1500' in the container.
    assert state_diff(before_ct, kernel_state(container)) == []
