# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Put guest ports back where their configs say: the planner behind tap_reenslave and tap_guard.

`plan_guests` turns a snapshot and the discovered guest NICs into one Plan
(the core's operations) plus an outcome per NIC.
`restore` runs it through the core's `converge()` (read, plan, check mode or
apply, verify, undo). The core applies all or nothing; so that one refused
guest does not cost the others their network, `restore` sets that guest
aside with the kernel's reason and converges again without it.
"""
from __future__ import annotations

import dataclasses

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import DEFINED, STOPPED
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.apply import ApplyError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bridge, GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import (
    LINK_ADD, LINK_DEL, LINK_SET, Operation,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_port_vlans import plan_port_vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import NotConverged, converge

REATTACHED, ALREADY_OK, NOT_RUNNING, FAILED = "reattached", "already_ok", "not_running", "failed"
# What a guest's NIC is on the host, as the kernel reports its kind: a VM's tap (tun), a container's veth.
GUEST_KINDS = ("tun", "veth")
# Guests set aside after kernel refusals before restore() gives up.
MAX_SET_ASIDE = 32
# The MTU the kernel gives a bridge it creates (ETH_DATA_LEN).
NEW_BRIDGE_MTU = 1500


def failure(reason: str, nic=None, guest=None, origin=None) -> dict:
    """One entry of the result's `failed_guests`: a NIC that was not restored, or a config that could not be used."""
    return {"guest": nic.guest if nic else guest, "kind": nic.kind if nic else None, "nic": nic.nic if nic else None,
            "device": nic.device if nic else None, "bridge": nic.bridge if nic else None,
            "origin": nic.origin if nic else origin, "reason": reason}


class Outcome:
    """What happens to one guest NIC: its status, why, and its operations.

    `mtus`: device -> MTU of every device of its chain, when the hypervisor's
    MTU rule was applied to it (`mtu_rule`), else None.
    """

    __slots__ = ("nic", "status", "reason", "operations", "devices", "mtus")

    def __init__(self, nic, status: str, reason: str = "", operations=None, devices=(), mtus=None):
        self.nic = nic
        self.status = status
        self.reason = reason
        self.operations = list(operations or [])
        self.devices = tuple(devices)
        self.mtus = mtus

    def failure(self) -> dict:
        return failure(self.reason, self.nic)


def _effective_bridge(host: HostNetwork, nic):
    """(bridge the main port belongs on, whether VLANs go on it, reason if impossible)."""
    main = host.get(nic.bridge)
    if main is None:
        return None, False, f"bridge {nic.bridge} does not exist"
    if not isinstance(main, Bridge):
        return None, False, f"{nic.bridge} is a {main.TYPE}, not a bridge"
    if nic.kind in ("qemu", "lxc") and nic.vlan is not None and not main.vlan_filtering:
        # Proxmox VE's traditional VLAN mode: on a bridge that does not filter
        # VLANs, tag=N puts the port on bridge <bridge>v<N> (uplink <nic>.<N>).
        legacy = f"{nic.bridge}v{nic.vlan}"
        dev = host.get(legacy)
        if not isinstance(dev, Bridge):
            return None, False, (f"{nic.bridge} does not filter VLANs, so tag={nic.vlan} needs Proxmox VE's "
                                 f"VLAN bridge {legacy}, which does not exist")
        return legacy, False, ""
    return nic.bridge, bool(main.vlan_filtering), ""


def not_a_guest_device(dev):
    """Why re-attachment must not touch `dev`, or None.

    Whoever may write a guest config (define a libvirt domain, say) must not
    be able to move, re-MTU or take down the host's uplinks through it: only a
    tun/tap or veth device, or one a guest_patterns entry names (read as a
    guest port), is a guest's device.
    """
    if dev is None or dev.TYPE == "guest" or getattr(dev, "kind", "") in GUEST_KINDS:
        return None
    kind = getattr(dev, "kind", None)
    what = f"a {kind} device" if kind else ("a NIC without a kind (a physical device)" if dev.TYPE == "nic" else
                                            f"a {dev.TYPE}")
    return (f"{dev.name} is {what}, not a guest's tap or veth, and no guest_patterns entry matches its name; "
            f"re-attachment never changes a host device")


def not_the_guests(nic, dev, guests: GuestMatcher):
    """Why the existing `dev` is not `nic`'s guest's own to act on, or None (see nic.py's claims).

    A guest that does not run owns no device. A device only a libvirt
    definition names, with nothing to say whether that guest runs, is taken
    only when guest_patterns names it: a container's veth or another tenant's
    tap that no running guest is known to own is never moved.
    """
    if nic.claim == STOPPED:
        return (f"{nic.guest} is defined but not running (libvirt has no live status XML for it), so it owns no "
                f"device; the existing {dev.name} is someone else's and is left alone")
    if nic.claim == DEFINED and not guests.named(dev.name):
        return (f"only a libvirt definition names {dev.name} (no live status XML says which running guest owns it), "
                f"and no guest_patterns entry matches its name; a device no running guest is known to own is "
                f"never moved")
    return None


def mtu_rule(nic, link, bridge_mtu):
    """The MTU `link`'s device gets when the guest is plugged in now; None when it cannot be known yet.

    The hypervisors' own rule: Proxmox VE's tap_create gives a tap its
    bridge's MTU unless the NIC says mtu=N (mtu=1: the bridge's), and gives
    its firewall chain (fwbr, fwln, fwpr) the bridge's; libvirt sets a tap
    to its <mtu size>, else to the bridge's (virNetDevTapAttachBridge); LXC
    gives a container's veth its mtu, else the bridge's. `bridge_mtu` None
    (a bridge not created yet, or the watcher's first pass): unknown.
    """
    if link.device == nic.device and link.mtu is not None and link.mtu != 1:
        return link.mtu
    return bridge_mtu


def _replugging(host, nic, bridge: str) -> bool:
    """Whether this plan plugs the NIC in again: a device of its chain is not on its bridge, or its fwbr is gone."""
    if nic.fwbr is not None and host.get(nic.fwbr) is None:
        return True
    return any(host.get(link.device).master != (bridge if link.master == nic.bridge else link.master)
               for link in nic.chain())


def _mtu_targets(host, nic, bridge: str, bridge_mtu, sync_mtu: bool, pinned: dict):
    """Device -> MTU for every device of the NIC's chain when the MTU rule applies to it, else None."""
    if pinned.get(nic.device) is not None:
        return pinned[nic.device]
    if not (sync_mtu or nic.device in pinned or _replugging(host, nic, bridge)):
        return None
    targets = {link.device: mtu_rule(nic, link, bridge_mtu) for link in nic.chain()}
    if nic.fwbr is not None:
        targets[nic.fwbr] = bridge_mtu
    return targets


def _plan_nic(host: HostNetwork, nic, warnings: list, guests: GuestMatcher, sync_mtu: bool = False,
              pinned=None, follow_bridge_mtu: bool = True) -> Outcome:
    """The outcome of one NIC; see plan_guests for `sync_mtu`, `pinned` and `follow_bridge_mtu`."""
    if nic.refused:
        return Outcome(nic, FAILED, nic.refused)
    dev = host.get(nic.device)
    if dev is None:
        if nic.running:
            return Outcome(nic, FAILED, f"the guest runs (its live status XML is there) but its device {nic.device} "
                                        f"does not exist")
        return Outcome(nic, NOT_RUNNING)
    if isinstance(dev, Bridge):
        return Outcome(nic, FAILED, f"{nic.device} is a bridge, not a guest port")
    for link in nic.chain():
        problem = not_a_guest_device(host.get(link.device))
        if problem:
            return Outcome(nic, FAILED, problem)
    problem = not_the_guests(nic, dev, guests)
    if problem:
        return Outcome(nic, FAILED, problem)
    bridge, filters_vlans, reason = _effective_bridge(host, nic)
    if reason:
        return Outcome(nic, FAILED, reason)
    created, mtus, masters, ups, port_vlans = [], [], [], [], []
    chain = nic.chain()
    if nic.fwbr is not None:
        missing = [name for name in (nic.fwln, nic.fwpr) if host.get(name) is None]
        if missing:
            return Outcome(nic, FAILED, f"firewall link {' and '.join(missing)} missing; Proxmox VE re-creates the "
                                        f"firewall chain when the NIC is re-plugged or the guest restarted")
        fwbr = host.get(nic.fwbr)
        if fwbr is None:
            created.append(Operation(LINK_ADD, nic.fwbr, {"type": "bridge", "stp": False, "forward_delay": 0},
                                     [Operation(LINK_DEL, nic.fwbr)]))
            ups.append(Operation.setting(nic.fwbr, "up", True, False))
        elif not isinstance(fwbr, Bridge):
            return Outcome(nic, FAILED, f"{nic.fwbr} is a {fwbr.TYPE}, not a bridge")
        elif not fwbr.up:
            ups.append(Operation.setting(nic.fwbr, "up", True, False))
    bridge_mtu = host.get(bridge).mtu if follow_bridge_mtu else None
    targets = _mtu_targets(host, nic, bridge, bridge_mtu, sync_mtu, pinned or {})
    if targets is not None and nic.fwbr is not None and targets.get(nic.fwbr) is not None:
        # Set once it exists, as Proxmox VE does (`ip link set fwbrXiY up mtu N`): the kernel then keeps it.
        fwbr = host.get(nic.fwbr)
        current = fwbr.mtu if fwbr is not None else NEW_BRIDGE_MTU
        if current != targets[nic.fwbr]:
            mtus.append(Operation.setting(nic.fwbr, "mtu", targets[nic.fwbr], current))
    for link in chain:
        port = host.get(link.device)
        master = bridge if link.master == nic.bridge else link.master
        if targets is not None:
            mtu = targets.get(link.device)
        else:   # plugged in already: only what the config says explicitly
            mtu = bridge_mtu if link.mtu == 1 else link.mtu
        if mtu is not None and port.mtu != mtu:
            mtus.append(Operation.setting(link.device, "mtu", mtu, port.mtu))
        if port.master != master:
            masters.append(Operation.setting(link.device, "master", master, port.master))
        if link.up is not None and bool(port.up) != link.up:
            ups.append(Operation.setting(link.device, "up", link.up, bool(port.up)))
        if link.vlans is not None and master == bridge and filters_vlans:
            # A port that is not on the bridge yet joins it with the kernel's default membership.
            current = port.vlans if port.master == master and port.vlans is not None else vlans.default_membership()
            port_vlans += plan_port_vlans(link.device, current, link.vlans)
        elif link.vlans is not None and nic.kind not in ("qemu", "lxc") and not filters_vlans:
            warnings.append(f"{link.device}: {master} does not filter VLANs; VLANs {vlans.describe(link.vlans)} "
                            f"from {nic.origin} are not applied")
    ops = created + mtus + masters + port_vlans + ups
    devices = [link.device for link in chain] + ([nic.fwbr] if nic.fwbr else [])
    return Outcome(nic, REATTACHED if ops else ALREADY_OK, "", ops, devices, targets)


def plan_guests(host: HostNetwork, nics, bridges=None, set_aside=None, only_detached: bool = False,
                guests: GuestMatcher | None = None, sync_mtu: bool = False, pinned=None,
                follow_bridge_mtu: bool = True) -> tuple:
    """(Plan, outcomes) that put every running guest NIC where its config says.

    `bridges` limits the work to NICs configured on those bridges. NICs in
    `set_aside` (device -> reason) are reported as failed and not touched.
    `only_detached` considers only NICs with a device of their chain that has
    no master (the watcher's first pass). `guests`: the task's guest_patterns
    (default ones when None). Operations are ordered across all NICs: new
    firewall bridges, MTUs, masters, VLANs, admin state.

    MTU: a NIC this plan plugs in again gets the hypervisor's rule
    (`mtu_rule`: the config's MTU, else the bridge's) on every device of its
    chain; so does every NIC with `sync_mtu`. A NIC already plugged in gets
    only the MTU its config names. `pinned` (NIC device -> {device: MTU}, or
    None to apply the rule now) is for the plans after the first of one run:
    the kernel lowers a bridge whose MTU was never set to its smallest port's,
    so the rule is worked out once and then held to. `follow_bridge_mtu`
    False leaves the bridge's MTU out (the watcher's first pass, which runs
    before whoever re-creates a bridge may have set its MTU).
    """
    guests = guests or GuestMatcher()
    set_aside = set_aside or {}
    wanted = set(bridges) if bridges else None
    outcomes, warnings = [], []
    for nic in nics:
        if wanted is not None and nic.bridge not in wanted:
            continue
        if nic.device in set_aside:
            outcomes.append(Outcome(nic, FAILED, set_aside[nic.device]))
            continue
        if only_detached and not _detached(host, nic):
            continue
        outcomes.append(_plan_nic(host, nic, warnings, guests, sync_mtu, pinned, follow_bridge_mtu))
    phases: list = [[], [], [], [], []]
    for outcome in outcomes:
        for op in outcome.operations:
            phases[_phase(op)].append(op)
    return Plan([op for phase in phases for op in phase], warnings), outcomes


class _Returned:
    """A host as it will be the moment `bridge` is created again: a new, empty bridge; its old ports on none.

    Only `get()`, which is all the NIC planner asks of a host. Devices that
    are ports of `bridge` now lose their master and VLANs (the kernel's
    defaults come with the new bridge); everything else is as it is.
    """

    def __init__(self, host: HostNetwork, bridge: str, filtering: bool):
        self.host = host
        self.name = bridge
        self.bridge = Bridge(name=bridge, up=True, vlan_filtering=filtering)

    def get(self, name: str):
        if name == self.name:
            return self.bridge
        dev = self.host.get(name)
        if dev is not None and dev.master == self.name:
            return dataclasses.replace(dev, master=None, vlans=None)
        return dev


def plan_return(host: HostNetwork, nics, bridge: str, filtering: bool = False,
                guests: GuestMatcher | None = None) -> tuple:
    """(operations, outcomes) that will put the guests back the moment `bridge` is created again.

    Planned before the bridge is back, so that its RTM_NEWLINK only has to
    fill in the new ifindex (the tap_guard watcher). Covers the running NICs
    with a device that belongs on `bridge` (their master, and the MTU, VLANs
    and admin state that go with it). A NIC whose firewall bridge must be
    created first is left out: creating a device needs its new ifindex
    before later requests can use it; the full pass that follows does it.
    The new bridge's MTU is not known yet, so an MTU that follows the bridge's
    (no MTU in the config, or Proxmox VE's mtu=1) waits for the full pass too.
    """
    returned = _Returned(host, bridge, filtering)
    guests = guests or GuestMatcher()
    outcomes, warnings = [], []
    for nic in nics:
        if nic.bridge != bridge and not (nic.kind in ("qemu", "lxc") and nic.vlan is not None
                                         and f"{nic.bridge}v{nic.vlan}" == bridge):
            continue
        outcome = _plan_nic(returned, nic, warnings, guests)
        if outcome.status != REATTACHED or any(op.action == LINK_ADD for op in outcome.operations):
            continue
        if any(op.action == LINK_SET and op.params.get("master") == bridge for op in outcome.operations):
            outcomes.append(outcome)
    phases: list = [[], [], [], [], []]
    for outcome in outcomes:
        for op in outcome.operations:
            phases[_phase(op)].append(op)
    return [op for phase in phases for op in phase], outcomes


def _detached(host: HostNetwork, nic) -> bool:
    for link in nic.chain():
        dev = host.get(link.device)
        if dev is not None and dev.master is None:
            return True
    return False


def _phase(op: Operation) -> int:
    if op.action == LINK_ADD:
        return 0
    if op.action == LINK_SET and "mtu" in op.params:
        return 1
    if op.action == LINK_SET and "master" in op.params:
        return 2
    if op.action == LINK_SET and "up" in op.params:
        return 4
    return 3


def guests_view(host: HostNetwork, nics, bridges=None) -> dict:
    """Device -> master, admin state, MTU (and VLANs when known) for every device of the chains."""
    wanted = set(bridges) if bridges else None
    view = {}
    for nic in nics:
        if wanted is not None and nic.bridge not in wanted:
            continue
        names = [link.device for link in nic.chain()] + ([nic.fwbr] if nic.fwbr else [])
        for name in names:
            dev = host.get(name)
            if dev is None:
                view[name] = {"present": False}
                continue
            entry = {"present": True, "master": dev.master, "up": dev.up, "mtu": dev.mtu}
            if getattr(dev, "vlans", None) is not None:
                entry["vlans"] = dev.vlans
            view[name] = entry
    return view


def summarize(outcomes) -> dict:
    """The result lists: device names per status, failures with their reasons."""
    lists = {REATTACHED: [], ALREADY_OK: [], NOT_RUNNING: []}
    failed = []
    for outcome in outcomes:
        if outcome.status == FAILED:
            failed.append(outcome.failure())
        else:
            lists[outcome.status].append(outcome.nic.device)
    return {"reattached": lists[REATTACHED], "already_ok": lists[ALREADY_OK],
            "not_running": lists[NOT_RUNNING], "failed_guests": failed}


def restore(namespace, guests, nics, bridges=None, check_mode: bool = False, set_aside=None,
            writer: Writer = Writer(), sync_mtu: bool = False, replugged=()) -> dict:
    """Converge every guest NIC; a guest the kernel refuses is set aside and the rest converge.

    `sync_mtu`: bring every running NIC's MTU to its hypervisor's rule, not
    only those plugged in again. `replugged`: NIC devices plugged in again
    since their bridge came back by someone else (the watcher's first pass),
    which get the rule as if this run plugged them in. Returns converge()'s
    result plus the lists of `summarize`. Raises the core's errors when an
    undo was incomplete or too many guests fail.
    """
    set_aside = dict(set_aside or {})
    while True:
        first: list = []
        last: list = []
        pinned = dict.fromkeys(replugged)

        def planner(snapshot):
            plan, outcomes = plan_guests(snapshot.host, nics, bridges, set_aside, guests=guests, sync_mtu=sync_mtu,
                                         pinned=pinned)
            if not first:
                first.append(outcomes)
                # What the rule said at the first plan is what the checks after the change hold the kernel to.
                pinned.update((o.nic.device, o.mtus) for o in outcomes if o.mtus is not None)
            last[:] = [outcomes]
            return plan

        try:
            result = converge(namespace, guests, planner, lambda host: guests_view(host, nics, bridges), check_mode,
                              writer)
        except ApplyError as exc:
            if exc.undo_errors or len(set_aside) >= MAX_SET_ASIDE:
                raise
            culprit = _owner(first[0], exc.failed.device) if first else None
            if culprit is None or culprit in set_aside:
                raise
            set_aside[culprit] = f"the kernel refused '{exc.failed.command(namespace)}': {exc.error}"
            continue
        except NotConverged as exc:
            stuck = [o.nic.device for o in last[0] if o.operations] if last else []
            if not stuck or len(set_aside) + len(stuck) > MAX_SET_ASIDE:
                raise
            for device in stuck:
                set_aside[device] = f"the kernel accepted the change but did not keep it ({exc})"
            continue
        result.update(summarize(first[0]))
        return result


def _owner(outcomes, device: str):
    for outcome in outcomes:
        if device in outcome.devices or any(op.device == device for op in outcome.operations):
            return outcome.nic.device
    return None
