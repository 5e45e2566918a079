"""Every interfaces file we write passes Debian's `ifup -a --syntax-check` wherever the original did.

The corpus (tests/persist/corpus/interfaces/, origin and license in its README) is 114 files that others
wrote: Proxmox VE's own test files (pve-common), its SDN tests (pve-network) and ifupdown2's tests and
examples. For each one, the host it describes is taken as the running kernel (the cheaper path than
building 114 namespaces: what the file brings up, at the MTU and in the state ifupdown2 gives it), and
net_persist's engine saves every bridge, bond and VLAN of it onto the file, one device at a time, the way
`devices: [X]` would (engine.plan_files, the code `saved` runs after its kernel dump). Then the first
bridge that was saved moves to jumbo frames and is saved again. A device the format cannot write is
refused with a message naming its line (counted, not a failure); every other device is written.

Debian's ifupdown2 then checks the originals and our files in one sandbox and one start
(realstacks.ifupdown2_syntax_checks): a file of ours that fails where its original passed is a failure,
and all of them are reported at once.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import engine
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import (
    IFUPDOWN2_DEFAULT_MTU, Ifupdown2Format,
)

import realstacks
from persist_hosts import applied

pytestmark = [pytest.mark.kernel]
CORPUS = Path(__file__).parent / "corpus" / "interfaces"
MAIN = "/etc/network/interfaces"
GUESTS = GuestMatcher()


def corpus() -> dict:
    names = [entry["file"] for entry in json.loads((CORPUS / "MANIFEST.json").read_text())]
    return {name: (CORPUS / name).read_text() for name in names}


def running(model: HostNetwork) -> HostNetwork:
    """The kernel a boot from these files gives: what `ifup -a` creates, NICs, bonds and what they say nothing
    of at ifupdown2's default MTU, a VLAN at its parent's, a bond's slaves at the bond's, no address where
    none is written (DHCP)."""
    host = HostNetwork()
    for dev in model.devices.values():
        if dev.up is None:
            continue   # a bridge, bond or VLAN nothing brings up is never created
        dev = dev.clone()
        if dev.ip.addresses is None:
            dev.ip = IpConfig(addresses=[], gateway4=None, gateway6=None)
        host.add(dev)
    for dev in list(host.devices.values()):
        if isinstance(dev, Vlan) and dev.parent and host.get(dev.parent) is None:
            # A NIC the file says nothing of but a VLAN's name (swp13.300): the machine has it.
            host.add(Nic(name=dev.parent, mtu=None, up=True, master=None, kind="", ip=IpConfig(addresses=[])))
    for dev in host.devices.values():
        if dev.master and not isinstance(host.get(dev.master), (Bridge, Bond)):
            dev.master = None
    for _round in range(3):   # VLANs on VLANs: a parent's MTU is known after its own
        for dev in host.devices.values():
            if dev.mtu is None:
                parent = host.get(dev.parent) if isinstance(dev, Vlan) else None
                dev.mtu = parent.mtu if parent is not None else IFUPDOWN2_DEFAULT_MTU
    for dev in host.devices.values():
        if isinstance(host.get(dev.master or ""), Bond):
            dev.mtu = host.get(dev.master).mtu   # the kernel gives a bond's slaves the bond's MTU
    return host


def save_each(fmt, files: dict, host: HostNetwork, refused: list) -> tuple:
    """Save every bridge, bond and VLAN of `host` onto `files`, one at a time; returns (files, saved names)."""
    saved = []
    for name in sorted(n for n, d in host.devices.items() if isinstance(d, (Bridge, Bond, Vlan))):
        try:
            job = engine.plan_files(fmt, host, [name], GUESTS, files)
        except ValidationError as exc:
            refused.append((name, str(exc)))
            continue
        files = applied(files, job["changes"])
        saved.append(name)
    return files, saved


def jumbo(host: HostNetwork, saved: list):
    """The first saved bridge whose ports are all NICs, moved (with them) to MTU 9000; None if there is none."""
    for name in saved:
        dev = host.get(name)
        ports = host.ports_of(name)
        if isinstance(dev, Bridge) and ports and all(p.TYPE == "nic" for p in ports):
            for item in [dev] + ports:
                item.mtu = 9000
            return name
    return None


def test_our_files_pass_ifupdown2s_syntax_check_wherever_the_originals_did(netns, tmp_path):
    try:
        realstacks.ifupdown2_root()
    except realstacks.Ifupdown2Missing as exc:
        pytest.fail(str(exc), pytrace=False)   # never skip: the setup hook is part of the suite
    cases, refusals, unexpected, written = {}, {}, [], 0
    for name, text in corpus().items():
        fmt = Ifupdown2Format(MAIN, str(tmp_path / "root"))
        files, refused = {MAIN: text}, []
        try:
            host = running(fmt.parse_lenient(files)[0])
            files, saved = save_each(fmt, files, host, refused)
            bridge = jumbo(host, saved)
            if bridge is not None:
                files = applied(files, engine.plan_files(fmt, host, [bridge], GUESTS, files)["changes"])
        except Exception as exc:   # anything but a refusal is a bug in the format
            unexpected.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        written += bool(saved)
        refusals[name] = refused
        case = tmp_path / "cases" / name
        case.mkdir(parents=True)
        (case / "original").write_text(text)
        (case / "ours").write_text(files[MAIN])
        cases[name] = case
    paths = [case / kind for case in cases.values() for kind in ("original", "ours")]
    checked = realstacks.ifupdown2_syntax_checks(netns, paths, tmp_path / "empty-root")

    failures = []
    for name, case in sorted(cases.items()):
        original_ok, _out = checked[str(case / "original")]
        ours_ok, out = checked[str(case / "ours")]
        if original_ok and not ours_ok:
            failures.append(f"{name}:\n{out.strip()}\n--- ours:\n{(case / 'ours').read_text()}")
    originals_ok = sum(checked[str(c / "original")][0] for c in cases.values())
    # Every refusal names the file and line, or the device and why (a guest port, guest plumbing, a value
    # ifupdown2 cannot say).
    unnamed = [f"{name} {dev}: {msg}" for name, items in refusals.items() for dev, msg in items
               if " line " not in msg and not msg.startswith("devices: ") and " cannot say " not in msg]
    for name, items in sorted(refusals.items()):
        for dev, msg in items:
            print(f"refused: {name} {dev}: {msg}")
    print(f"\ncorpus: {len(cases)} files, {originals_ok} originals pass the syntax check, devices saved in "
          f"{written}, {sum(map(len, refusals.values()))} refusals in {sum(map(bool, refusals.values()))} files")
    assert unexpected == [], "\n".join(unexpected)
    assert failures == [], f"{len(failures)} files of ours fail ifupdown2's syntax check where the original " \
                           f"passed:\n\n" + "\n\n".join(failures)
    assert unnamed == [], "\n".join(unnamed)
    assert len(cases) == 114 and originals_ok >= 60 and written >= 85
