#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: put running guests' tap/veth devices back on the bridges their configs name."""
from __future__ import annotations

DOCUMENTATION = r"""
module: tap_reenslave
short_description: Re-attach running guests' network devices to their bridges after bridge maintenance
version_added: 0.1.0
description:
  - When a bridge is deleted and re-created (for example C(ifdown)/C(ifup) with Debian's legacy ifupdown on
    Proxmox VE), every guest device on it loses its master and the guests lose their network. This module
    puts each running guest's device back where the guest's configuration says it belongs.
  - Reads the guests' configurations from Proxmox VE (C(qemu-server/<vmid>.conf), C(lxc/<vmid>.conf)),
    libvirt domain XML files, or an explicit list, and compares them with the kernel in one netlink dump.
  - For each guest device that exists and is not where its configuration says, sets its master, and restores
    Proxmox VE's firewall chain (C(tap)/C(veth) and C(fwln) on C(fwbr), C(fwpr) on the bridge), MTU, admin
    state (C(link_down=1) keeps it down) and, on VLAN-aware bridges, its VLAN membership.
  - A device it plugs in again gets the MTU its hypervisor gives it when the guest starts, set before it joins
    the bridge. That is the MTU the configuration names (Proxmox VE C(mtu=N), where C(mtu=1) means the bridge's;
    libvirt C(<mtu size='N'/>); O(ports[].mtu)), else the bridge's MTU, as Proxmox VE (C(tap_create)),
    libvirt and LXC do. Proxmox VE's firewall chain (C(fwbr), C(fwln), C(fwpr)) gets the bridge's MTU.
  - A device already on its bridge keeps its MTU unless its configuration names one, or O(sync_mtu=true).
  - Devices already right are not touched. Configured guests without a device are reported as not running.
    A guest whose bridge does not exist, or whose change the kernel refuses, is reported in RV(failed_guests);
    every other guest is still restored.
  - One task handles all guests of a host; the changes are pipelined through netlink and verified by reading
    the kernel again.
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
extends_documentation_fragment:
  - netsafe.hypervisor.network
attributes:
  check_mode:
    support: full
    description: Reports what would be re-attached and the equivalent commands; changes nothing.
  diff_mode:
    support: full
    description: Shows master, admin state and MTU of every guest device before and after.
  platform:
    support: full
    platforms: linux
    description: Needs rtnetlink and CAP_NET_ADMIN on the target.
options:
  source:
    description:
      - Where the guests' configurations come from.
      - V(auto) reads every source present on the host; O(ports) when given, Proxmox VE when O(proxmox_dir)
        has C(qemu-server/) or C(lxc/), libvirt when O(libvirt_status_dir) or O(libvirt_xml_dir) has domain XML files.
        An entry of O(ports) wins over a configuration naming the same device.
      - A device named in a configuration is acted on only for the guest that owns it. Two configurations naming
        the same device are both reported in RV(failed_guests), unless one is the live status XML of a running
        libvirt guest (which then owns it). See O(libvirt_read) for libvirt's definitions.
      - V(auto) that finds none of these (a host without Proxmox VE or libvirt, or whose guests another tool
        manages) has nothing to re-attach; the task is C(ok), C(changed=false), with a warning naming the places
        it looked at.
      - V(proxmox), V(libvirt) and V(explicit) read only that source, and fail the task when it is not there
        (O(proxmox_dir) without C(qemu-server/) or C(lxc/); neither libvirt directory; no O(ports)).
    type: str
    choices: [auto, proxmox, libvirt, explicit]
    default: auto
  proxmox_dir:
    description:
      - The Proxmox VE node directory holding C(qemu-server/) and C(lxc/).
      - Device names follow Proxmox VE, C(tap<vmid>i<n>) for VMs and C(veth<vmid>i<n>) for containers.
      - Only the current configuration counts; snapshot and pending sections are ignored, as are templates
        (C(template=1) in the config), which never run. Lines are read by Proxmox VE's own rules; a key given twice counts once,
        the last one.
    type: path
    default: /etc/pve/local
  libvirt_read:
    description:
      - Which libvirt domain XML describes the guests.
      - V(live) reads the live status XML of running guests in O(libvirt_status_dir) (a C(<domstatus>) document
        per running guest, which names every device and, for C(<interface type='network'>), the bridge the network
        gave it). Guests defined in O(libvirt_xml_dir) without a live file are reported in RV(not_running).
      - V(persistent) reads the persistent definitions in O(libvirt_xml_dir). libvirt drops auto-generated device
        names (C(vnet0), ...) from them, so most interfaces there cannot be matched to a device and are reported
        in RV(failed_guests). When O(libvirt_status_dir) exists it still tells which guests run and which devices
        they own; a definition naming a device its running guest's live XML does not name is refused.
      - A guest that does not run owns no device; a device of the name its definition gives that exists anyway
        is someone else's and is reported in RV(failed_guests). Without live status XML, a definition moves a
        device only when O(guest_patterns) names it and no other configuration names it.
      - V(auto) is V(live) when O(libvirt_status_dir) exists, else V(persistent). RV(libvirt_xml) says which was read.
    type: str
    choices: [auto, live, persistent]
    default: auto
  libvirt_status_dir:
    description:
      - Directory of libvirt's live status XML of running guests (qemu driver, system instance).
    type: path
    default: /run/libvirt/qemu
  libvirt_xml_dir:
    description:
      - Directory of libvirt's persistent domain definitions (C(*.xml)); C(networks/) in it defines the networks.
      - Read for every defined guest that has no live status XML (reported as not running), or instead of the
        live XML with O(libvirt_read=persistent).
    type: path
    default: /etc/libvirt/qemu
  ports:
    description:
      - Guest devices and their bridges, listed explicitly.
    type: list
    elements: dict
    suboptions:
      device:
        description: The guest's device (tap or veth).
        type: str
        required: true
      bridge:
        description: The bridge it belongs on.
        type: str
        required: true
      vlan:
        description: On a VLAN-aware bridge, the port's untagged VLAN (its PVID).
        type: int
      trunks:
        description: On a VLAN-aware bridge, tagged VLANs; IDs or ranges like V(20-29).
        type: list
        elements: str
      mtu:
        description: MTU of the device. Without it, a device plugged in again gets its bridge's MTU.
        type: int
      link_down:
        description: Keep the device administratively down.
        type: bool
        default: false
  bridges:
    description:
      - Only restore guests configured on these bridges. Omit for every bridge.
    type: list
    elements: str
  sync_mtu:
    description:
      - Also bring the MTU of running guests already on their bridges to their hypervisor's rule now (the
        configuration's MTU, else the bridge's), for example after the bridge went to MTU 9000. A device whose
        configuration names a lower MTU stays at it.
      - V(false) changes the MTU of a device already on its bridge only when its configuration names one.
      - The guest's own interface MTU is the guest's business; this sets the host side (tap, veth, firewall chain).
    type: bool
    default: false
notes:
  - A second run reports no change and sends nothing to the kernel.
  - A guest configuration that cannot be read or parsed puts that guest in RV(failed_guests); bad O(ports)
    entries fail the task before any change.
  - Interfaces that are not ports of a Linux bridge (macvtap C(type='direct'), Open vSwitch, MidoNet, 802.1Qbg and
    802.1Qbh ports, user-mode networking) and NICs of Proxmox VE templates are listed in RV(skipped_guests) with the
    reason.
  - On a bridge that does not filter VLANs, Proxmox VE puts a guest with C(tag=N) on its own bridge
    C(<bridge>v<N>); the module follows that.
  - "MTU and the kernel: a bridge port's MTU may be above its bridge's (the kernel allows it; a tap takes up to
    65521). A bridge whose MTU was never set with C(ip link set ... mtu) (one created with C(mtu) counts as never
    set) takes the smallest MTU of its ports, and follows it up and down: a guest whose configuration names a
    lower MTU lowers such a bridge when it joins, as it does when Proxmox VE or libvirt starts that guest. Set
    the MTU of a bridge that exists (C(ip link set vmbr0 mtu 9000)) to keep it. The MTU a device gets is worked
    out once per run, from the bridge's MTU before the change."
  - An MTU in a configuration that is not a number from 68 to 65535 (or C(mtu=1) for a Proxmox VE VM) puts that
    guest in RV(failed_guests), with a warning naming the guest, its file and the value; nothing is changed for it.
seealso:
  - name: docs/tap_reenslave.md
    description: The collection's guide to tap_reenslave and the tap_guard watcher.
    link: https://example.invalid/netsafe/hypervisor/docs/tap_reenslave.md
"""

EXAMPLES = r"""
- name: After restarting vmbr0, put every running Proxmox VE guest back
  netsafe.hypervisor.tap_reenslave:
    source: proxmox
    bridges: [vmbr0]
  register: guests

- name: Show who was re-attached and who could not be
  ansible.builtin.debug:
    msg: "{{ guests.reattached }} / failed: {{ guests.failed_guests }}"

- name: Fail the play when a guest could not be restored
  ansible.builtin.assert:
    that: guests.failed_guests | length == 0

- name: libvirt guests, from the live status XML of the running guests (the default)
  netsafe.hypervisor.tap_reenslave:
    source: libvirt
  register: guests

- name: Show the libvirt interfaces that are not Linux bridge ports, and why
  ansible.builtin.debug:
    msg: "{{ guests.skipped_guests }}"

- name: After vmbr0 went to MTU 9000, give running guests' taps the MTU Proxmox VE would give them now
  netsafe.hypervisor.tap_reenslave:
    source: proxmox
    bridges: [vmbr0]
    sync_mtu: true

- name: An explicit list, in a lab namespace, previewed first
  netsafe.hypervisor.tap_reenslave:
    source: explicit
    ports:
      - {device: tap100i0, bridge: vmbr0}
      - {device: veth101i0, bridge: vmbr0, mtu: 1450}
    namespace: hv1
  check_mode: true
"""

RETURN = r"""
changed:
  description: Whether any guest device was (or in check mode would be) changed.
  returned: always
  type: bool
reattached:
  description: Guest devices that were (or would be) restored, whether their master, firewall chain, VLANs, MTU
    or admin state was wrong.
  returned: always
  type: list
  elements: str
  sample: [tap100i0, veth101i0]
already_ok:
  description: Guest devices that were already where their configuration says.
  returned: always
  type: list
  elements: str
  sample: [tap102i0]
not_running:
  description:
    - Configured guest devices that do not exist (the guest is stopped); nothing is done for them.
    - A configuration whose device cannot exist (a Proxmox VE vmid so long that C(tap<vmid>i<n>) breaks the
      interface name rule) is in RV(failed_guests) instead.
    - For a libvirt guest that is defined but not running, its interfaces; one whose device libvirt names only at
      start appears as C(<domain>/interface <n>).
  returned: always
  type: list
  elements: str
  sample: [tap103i0, "web2/interface 0"]
skipped_guests:
  description:
    - Guest NICs that are not restored on purpose, with the reason, for example a macvtap or Open vSwitch
      interface of a libvirt guest, a Proxmox VE NIC without a bridge or of a template.
    - Not named C(skipped), which Ansible reads as the task's own status.
  returned: always
  type: list
  elements: dict
  sample: [{"guest": "web1", "kind": "libvirt", "nic": "interface 2", "device": "macvtap0", "bridge": null,
            "origin": "/run/libvirt/qemu/web1.xml", "reason": "type='direct': a macvtap device on eth0, not a Linux bridge port"}]
libvirt_xml:
  description: Which libvirt domain XML was read, C(live) or C(persistent), and from where.
  returned: when libvirt guests were read
  type: dict
  sample: {"read": "live", "dir": "/run/libvirt/qemu"}
failed_guests:
  description:
    - Guest NICs that could not be restored, with the reason; the others were restored.
    - Not named C(failed), which Ansible reserves for the task's own status.
  returned: always
  type: list
  elements: dict
  sample: [{"guest": "104", "kind": "qemu", "nic": "net0", "device": "tap104i0", "bridge": "vmbr9",
            "origin": "/etc/pve/local/qemu-server/104.conf:7", "reason": "bridge vmbr9 does not exist"}]
commands:
  description: The C(ip) commands equivalent to the change, in order; empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: ["ip link set dev tap100i0 master vmbr0"]
operations:
  description: The planned operations as data (action, device, params), in order.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "link_set", "device": "tap100i0", "params": {"master": "vmbr0"}}]
sources:
  description: The configuration sources that were read; empty when O(source=auto) found none.
  returned: always
  type: list
  elements: str
  sample: [proxmox]
state:
  description: Every guest device of the considered guests after the task (predicted in check mode),
    by name, with C(present), C(master), C(up) and C(mtu).
  returned: always
  type: dict
  sample: {"tap100i0": {"present": true, "master": "vmbr0", "up": true, "mtu": 1500}, "tap103i0": {"present": false}}
diff:
  description: The guest devices before and after (same shape as RV(state)).
  returned: always
  type: dict
"""

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.reenslave import failure, restore
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, name_problem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import NETWORK_ARGS, run_network_module, task_writer

ARGUMENT_SPEC = dict(
    source=dict(type="str", choices=["auto", "proxmox", "libvirt", "explicit"], default="auto"),
    proxmox_dir=dict(type="path", default="/etc/pve/local"),
    libvirt_read=dict(type="str", choices=["auto", "live", "persistent"], default="auto"),
    libvirt_status_dir=dict(type="path", default="/run/libvirt/qemu"),
    libvirt_xml_dir=dict(type="path", default="/etc/libvirt/qemu"),
    ports=dict(type="list", elements="dict", options=dict(
        device=dict(type="str", required=True),
        bridge=dict(type="str", required=True),
        vlan=dict(type="int"),
        trunks=dict(type="list", elements="str"),
        mtu=dict(type="int"),
        link_down=dict(type="bool", default=False),
    )),
    bridges=dict(type="list", elements="str"),
    sync_mtu=dict(type="bool", default=False),
    **NETWORK_ARGS,
)


def guest_nics(params: dict):
    """(Discovery, failures) from the task's options; bad input raises ValidationError."""
    problems = [p for p in (name_problem(b, "bridges") for b in params["bridges"] or []) if p]
    if params["source"] not in ("auto", "explicit") and params["ports"]:
        problems.append(f"ports: only read with source=explicit or auto, not with source={params['source']}")
    if problems:
        raise ValidationError(problems)
    found = discover(params["source"], params["proxmox_dir"], params["libvirt_xml_dir"], params["ports"],
                     libvirt_status_dir=params["libvirt_status_dir"], libvirt_read=params["libvirt_read"])
    bad_input = [p["reason"] for p in found.problems if p["origin"].startswith("ports[")]
    if bad_input:
        raise ValidationError(bad_input)
    failures = [failure(p["reason"], guest=p["guest"], origin=p["origin"]) for p in found.problems]
    return found, failures


def stopped_label(item: dict) -> str:
    """How a NIC of a guest its source says is stopped appears in `not_running`: its device, else guest/nic."""
    return item["device"] or f"{item['guest']}/{item['nic']}"


def run(module) -> dict:
    params = module.params
    guests = GuestMatcher(params["guest_patterns"])
    found, failures = guest_nics(params)
    wanted = set(params["bridges"] or [])
    result = restore(params["namespace"], guests, found.nics, params["bridges"], module.check_mode,
                     writer=task_writer(module), sync_mtu=params["sync_mtu"])
    result["failed_guests"] = failures + result["failed_guests"]
    result["not_running"] = result["not_running"] + [
        stopped_label(item) for item in found.stopped if not wanted or item["bridge"] in wanted]
    result["skipped_guests"] = [item for item in found.skipped if not wanted or item["bridge"] in wanted or not item["bridge"]]
    result["warnings"] = found.warnings + result["warnings"] + [
        f"{f['device'] or f['guest'] or f['origin']}: not restored: {f['reason']}" for f in result["failed_guests"]]
    result["sources"] = found.sources
    if found.libvirt is not None:
        result["libvirt_xml"] = found.libvirt
    return result


def main():
    run_network_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
