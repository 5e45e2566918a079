"""net_bond, net_vlan and vlan-aware net_bridge through ansible-playbook, on a kernel that has them.

The controller is this machine; the target is the full-kernel VM (the
`lane_vm` fixture: Debian's kernel under qemu, reached over ssh), the way
an operator's controller reaches a hypervisor. Only the modules run under
emulation, at about ten seconds per module run, so the two independent
scenario playbooks of each phase run side by side. The same scenarios also
run in-process inside the VM (test_bond_vlan_modules.py), where asserting
more costs less.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fullkernel import plugin
from nstools import parse_state_output, state_script
from playrun import ansible_playbook

pytestmark = [pytest.mark.slow]

PLAYBOOKS = Path(__file__).with_name("playbooks")
MODES = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"]
PLAYBOOK_TIMEOUT = 1200


@dataclass
class Run:
    rc: int
    stdout: str
    results: list
    seconds: float

    def by_task(self) -> dict:
        return {entry["task"]: entry for entry in self.results}

    def changed(self) -> set:
        return {entry["task"] for entry in self.results if entry["status"] == "changed"}

    def failed(self) -> set:
        return {entry["task"] for entry in self.results if entry["status"] == "failed"}

    def explain(self) -> str:
        return self.stdout[-6000:]


class Lab:
    """Namespaces in the VM, playbook runs against it, kernel state read back over ssh."""

    def __init__(self, vm, workdir: Path):
        self.vm = vm
        self.workdir = workdir
        self.inventory = vm.inventory(workdir / "inventory.ini")
        self.namespaces: list[str] = []
        self.runs = 0
        self.module_runs = 0
        self.started = time.monotonic()

    def sh(self, *commands: str) -> str:
        return self.vm.run(" && ".join(commands), check=True).stdout

    def namespace(self, name: str, *setup: str) -> str:
        """A fresh namespace in the VM; `setup` are `ip` argument strings run inside it."""
        self.sh(f"ip netns add {name}", *(f"ip -n {name} {args}" for args in setup))
        self.namespaces.append(name)
        return name

    def cleanup(self) -> None:
        if self.namespaces and self.vm.proc.poll() is None:
            self.vm.run(" ; ".join(f"ip netns del {ns}" for ns in self.namespaces))

    def state(self, ns: str) -> dict:
        """nstools.kernel_state of a namespace in the VM (the same queries), read in one ssh call."""
        return parse_state_output(self.sh(state_script(ns)))

    def playbook(self, book: str, ns: str, *args: str) -> Run:
        self.runs += 1
        record = self.workdir / f"record{self.runs}.jsonl"
        argv = ["-i", self.inventory, PLAYBOOKS / book, "-e", f"ns={ns}", *args]
        start = time.monotonic()
        proc, results = ansible_playbook(argv, self.workdir, record, env={
            "ANSIBLE_TIMEOUT": "120", "ANSIBLE_TASK_TIMEOUT": str(PLAYBOOK_TIMEOUT)})
        self.module_runs += sum(len(r["result"].get("results", [])) or 1 for r in results)
        return Run(proc.returncode, proc.stdout + proc.stderr, results, time.monotonic() - start)

    def side_by_side(self, *calls: tuple) -> list[Run]:
        """Run playbooks at once (each is one ansible-playbook process); results in order."""
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda call: self.playbook(*call), calls))


@pytest.fixture
def lab(lane_vm, tmp_path, request):
    lab = Lab(lane_vm, tmp_path)
    yield lab
    lab.cleanup()
    plugin.lane_summaries.append(
        f"full-kernel lane, ansible-playbook on the host: {request.node.name}: {lab.runs} playbook runs, "
        f"{lab.module_runs} module runs, {time.monotonic() - lab.started:.0f} s")


def modes_lab(lab: Lab, name: str) -> str:
    return lab.namespace(name, *(f"link add d{n} type dummy" for n in range(7)))


def stack_lab(lab: Lab, name: str) -> str:
    setup = [f"link add eth{n} type dummy" for n in range(1, 6)] + ["link add vmbrv type bridge"]
    for tap in ("tap100i0", "tap101i0"):
        setup += [f"tuntap add {tap} mode tap", f"link set {tap} master vmbrv"]
    return lab.namespace(name, *setup)


@pytest.mark.long
def test_every_mode_and_the_stack_first_run_changes_second_and_check_do_not(lab):
    modes_ns, stack_ns = modes_lab(lab, "pbmodes"), stack_lab(lab, "pbstack")
    modes, stack = lab.side_by_side(("bond_modes.yml", modes_ns, "--diff"), ("stack.yml", stack_ns, "--diff"))
    assert modes.rc == 0, modes.explain()
    assert stack.rc == 0, stack.explain()
    assert modes.changed() == {"One bond per mode"}
    assert [item["changed"] for item in modes.by_task()["One bond per mode"]["result"]["results"]] == [True] * 7
    assert stack.changed() == set(stack.by_task()) and len(stack.results) == 8
    before = {modes_ns: lab.state(modes_ns), stack_ns: lab.state(stack_ns)}

    again = lab.side_by_side(("bond_modes.yml", modes_ns), ("stack.yml", stack_ns))
    check = lab.side_by_side(("bond_modes.yml", modes_ns, "--check", "--diff"),
                             ("stack.yml", stack_ns, "--check", "--diff"))
    for run in again + check:
        assert run.rc == 0, run.explain()
        assert run.changed() == set(), {t: run.by_task()[t]["result"].get("commands") for t in run.changed()}
    assert {ns: lab.state(ns) for ns in before} == before

    # What the kernel has: bonds in every mode, each with its slave...
    bonds = modes.by_task()["One bond per mode"]["result"]["results"]
    assert [item["state"]["mode"] for item in bonds] == MODES
    links = {link["ifname"]: link for link in before[modes_ns]["links"]}
    assert [links[f"d{n}"]["master"] for n in range(7)] == [f"b{n}" for n in range(7)]
    # ...the stack: bridge on a bond, VLANs on a NIC, the bond and the bridge, a bridge on a bond VLAN...
    links = {link["ifname"]: link for link in before[stack_ns]["links"]}
    assert links["eth1"]["master"] == links["eth2"]["master"] == "bond0"
    assert links["bond0"]["master"] == "vmbr0" and links["bond0.30"]["master"] == "vmbr30"
    assert links["eth3.20"]["kind"] == "vlan" and links["mgmt"]["kind"] == "vlan" and links["mgmt"]["mtu"] == 1400
    assert list(before[stack_ns]["addrs"]["vmbr0"]) == ["192.0.2.10/24"]
    # ...and the vlan-aware bridge with its port VLANs, as the module reads them back.
    port_vlans = again[1].by_task()["Vlan-aware bridge with port VLANs"]["result"]["state"]["port_vlans"]
    assert port_vlans["eth5"] == {"pvid": 1, "untagged": [[1, 1]], "tagged": [[2, 4094]]}
    assert port_vlans["tap100i0"] == {"pvid": 10, "untagged": [[10, 10]], "tagged": []}
    assert port_vlans["tap101i0"] == {"pvid": 20, "untagged": [[20, 20]], "tagged": [[30, 30], [40, 42]]}
    assert port_vlans["vmbrv"] == {"pvid": 1, "untagged": [[1, 1]], "tagged": [[10, 10]]}
    # --diff went through the controller: the first run shows the bond appearing.
    bond_diff = stack.by_task()["Bond of eth1 and eth2"]["result"]["diff"]
    assert bond_diff["after"]["mode"] == "802.3ad" and bond_diff["before"] != bond_diff["after"]

    # Changing the mode of the live bond (slaves, a bridge on it, a VLAN on it)
    # and the id of a VLAN another bridge uses: previewed, applied, then stable.
    lab.sh(f"ip -n {stack_ns} link add vmbrx type bridge", f"ip -n {stack_ns} link set uplink.v master vmbrx")
    live = ("stack.yml", stack_ns, "--tags", "live", "-e", "bond_mode=active-backup",
            "-e", "bond_primary=eth2", "-e", "uplink_vid=21")
    unchanged = lab.state(stack_ns)
    preview = lab.playbook(*live, "--check")
    assert preview.rc == 0, preview.explain()
    assert preview.changed() == {"Bond of eth1 and eth2", "Uplink VLAN whose id changes later"}
    assert lab.state(stack_ns) == unchanged
    change = lab.playbook(*live)
    assert change.rc == 0, change.explain()
    assert change.changed() == {"Bond of eth1 and eth2", "Uplink VLAN whose id changes later"}
    bond = change.by_task()["Bond of eth1 and eth2"]["result"]
    assert bond["state"]["mode"] == "active-backup" and bond["state"]["ports"] == ["eth1", "eth2"]
    assert bond["state"]["options"]["primary"] == "eth2" and bond["state"]["master"] == "vmbr0"
    assert f"ip -n {stack_ns} link set dev bond0 type bond mode active-backup" in bond["commands"]
    vlan = change.by_task()["Uplink VLAN whose id changes later"]["result"]
    assert vlan["commands"][0] == f"ip -n {stack_ns} link del dev uplink.v"
    assert vlan["state"]["vlan_id"] == 21 and vlan["state"]["master"] == "vmbrx"
    assert "deleted and re-created" in json.dumps(vlan["warnings"])
    after = {link["ifname"]: link for link in lab.state(stack_ns)["links"]}
    assert after["eth1"]["master"] == after["eth2"]["master"] == "bond0" and "UP" in after["bond0"]["flags"]
    assert after["bond0.30"]["master"] == "vmbr30" and after["uplink.v"]["master"] == "vmbrx"
    settled = lab.playbook(*live)
    assert settled.rc == 0 and settled.changed() == set(), settled.explain()


def test_invalid_input_fails_clearly_and_changes_nothing(lab):
    ns = lab.namespace("pbinvalid", "link add eth5 type dummy", "link add vmbr9 type bridge")
    before = lab.state(ns)
    run = lab.playbook("invalid.yml", ns)
    # Each task passes only when its module refused (failed_when inverts it).
    assert run.rc == 0 and run.failed() == set(), run.explain()
    results = run.by_task()
    assert len(results) == 5
    assert all(entry["result"]["failed_when_result"] is False for entry in results.values())
    expected = {
        "Unknown bond mode": "value of mode must be one of",
        "VLAN id 0": "vlan_id: 0 is out of range; allowed 1-4094",
        "VLAN id 4095": "vlan_id: 4095 is out of range; allowed 1-4094",
        "Bridge as a bond slave": "ports: 'vmbr9' is a bridge; bond ports (slaves) must be NICs",
        "VLAN MTU above its parent's": "mtu: 9000 is above the MTU of parent eth5 (1500)",
    }
    for task, message in expected.items():
        assert message in results[task]["result"]["msg"], (task, results[task]["result"]["msg"])
    assert lab.state(ns) == before
