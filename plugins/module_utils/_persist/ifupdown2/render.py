# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""What a stanza says of a device, and the devices as they will be once rendered.

`stanza_fields` gives, per attribute, the keys that hold it and the lines
that say its value; the editor compares them with the current device to touch
only what changed. `Context` holds the rendered whole: which devices are ports
of a vlan-aware bridge, and which ones `ifup -a` will bring up.
"""
from __future__ import annotations

import copy

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bond, Bridge, HostNetwork, Vlan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.vlans import flags_by_vid, runs
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.devices import yes_no
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.host import Host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.keywords import (
    BOND_NATIVE, IFUPDOWN2_DEFAULT_MTU, IFUPDOWN2_WORDS, PORT_VLAN_KEYS, SECONDS_KEY_MAX, TYPE_KEYS,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import (
    BRIDGE_OPTIONS, PORT_OPTIONS, is_flag, is_seconds, unsaid,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.routes import ROUTE_KEYS, route_lines
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import (
    BOND_DEFAULTS, DEFAULT_VLAN_PROTOCOL,
)


def _vid_words(ranges) -> str:
    return " ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _port_vlan_lines(dev, bridge_has_vids: bool) -> list:
    """Port keys that give `dev.vlans` whatever the bridge's own bridge-vids/bridge-pvid say."""
    member = dev.vlans
    pvid, untagged, tagged = member.get("pvid"), member.get("untagged") or [], member.get("tagged") or []
    if pvid and untagged == [[pvid, pvid]] and not tagged:
        return [f"bridge-access {pvid}"]
    if pvid and untagged == [[pvid, pvid]]:
        return [f"bridge-vids {_vid_words(tagged)}", f"bridge-pvid {pvid}"]
    if not pvid and not untagged and (tagged or not bridge_has_vids):
        return ([f"bridge-vids {_vid_words(tagged)}"] if tagged else []) + ["bridge-allow-untagged no"]
    raise ValidationError([f"{dev.name}: ifupdown2 gives a port of a vlan-aware bridge one untagged VLAN, its PVID, "
                           f"and tagged ones; it cannot say pvid {pvid}, untagged {untagged}, tagged {tagged}"
                           + ("" if tagged or pvid else " (the bridge's own bridge-vids would apply)")])


def _self_vlan_lines(dev, svi_vids) -> list:
    want = flags_by_vid(dev.vlans)
    for vid in svi_vids:
        if want.get(vid) != (False, False):
            raise ValidationError([f"{dev.name}: its VLAN device for VLAN {vid} makes ifupdown2 add VLAN {vid} to the "
                                   f"bridge's own entry tagged; it cannot be {'absent' if vid not in want else 'pvid/untagged'}"])
    base = {1: (True, True)}
    lines = [f"post-up bridge vlan del dev {dev.name} vid {vid} self"
             for vid in sorted(base) if vid not in want and vid not in svi_vids]
    adds = [(vid, flags) for vid, flags in sorted(want.items()) if vid not in svi_vids and base.get(vid) != flags]
    for first, last, (pvid, untagged) in runs(adds):
        words = (" pvid" if pvid else "") + (" untagged" if untagged else "")
        span = str(first) if first == last else f"{first}-{last}"
        lines.append(f"post-up bridge vlan add dev {dev.name} vid {span}{words} self")
    return lines


def _vlan_lines(dev) -> list:
    lines = []
    if dev.name != f"{dev.parent}.{dev.vlan_id}":
        lines += [f"vlan-raw-device {dev.parent}", f"vlan-id {dev.vlan_id}"]
    if dev.protocol not in (None, DEFAULT_VLAN_PROTOCOL):
        lines.append(f"vlan-protocol {dev.protocol}")
    return lines


def _bond_option_lines(dev, field: str) -> list:
    value = getattr(dev, field)
    if field == "mode":
        return [f"bond-mode {value}"]
    if value is None:
        return []
    if field == "miimon":
        return [f"bond-miimon {value}"]
    if value == BOND_DEFAULTS[field] and field != "primary":
        return []
    if field in BOND_NATIVE:
        return [f"{BOND_NATIVE[field]} {value}"]
    if field == "arp_ip_target":
        value = ",".join(value) if value else "0"
    return [f"pre-up ip link set dev {dev.name} type bond {field} {value}"]


def _option_lines(dev, attr, key: str) -> list:
    """A bridge option's line: its key in ifupdown2's words (whole seconds up to its range), else a post-up line."""
    value = getattr(dev, attr.name)
    if unsaid(attr, value):
        return []
    if is_flag(attr):
        return [f"{key} {'yes' if value else 'no'}"]
    if not is_seconds(attr) or (float(value).is_integer() and value <= SECONDS_KEY_MAX):
        return [f"{key} {int(value)}"]
    return [f"post-up ip link set dev {dev.name} type bridge {' '.join(BRIDGE.words({attr.name: value}))}"]


def _port_fields(dev, ctx) -> list:
    """A bridge port's attributes, on the port's own stanza: ifupdown2 takes a port's key before the bridge's
    `port=value` list, so a changed port touches only its own stanza and a list the operator wrote stays. A value
    the bridge's list says for it is written on the port too, the default included (else the list would win)."""
    out = []
    master = ctx.final.get(dev.master) if dev.master else None
    for attr in PORT_OPTIONS:
        key = IFUPDOWN2_WORDS.get(attr.name)
        value = getattr(dev, attr.name)
        if key is None:
            continue
        listed = isinstance(master, Bridge) and ctx.host.last(master.name, key)[1] is not None
        lines = [] if not isinstance(master, Bridge) or (unsaid(attr, value) and not listed) or value is None \
            else [f"{key} {value}"]
        out.append((attr.name, value, (key,), lines))
    return out


def stanza_fields(dev, ctx) -> list:
    """(field, value, keys, lines) for everything a stanza says of `dev` besides addresses, ports and admin state."""
    out = []
    if isinstance(dev, Bond):
        for field in ("miimon", "mode") + tuple(f for f in BOND_DEFAULTS if f not in ("mode", "miimon")):
            keys = ("bond-mode",) if field == "mode" else (BOND_NATIVE[field],) if field in BOND_NATIVE \
                else (f"#bond-{field}",)
            out.append((field, getattr(dev, field), keys, _bond_option_lines(dev, field)))
    if isinstance(dev, Bridge):
        out.append(("stp", dev.stp, ("bridge-stp",), [f"bridge-stp {'on' if dev.stp else 'off'}"]))
        fd = dev.forward_delay
        fd_lines = [] if fd is None else [f"bridge-fd {int(fd)}"] if float(fd) == int(fd) else \
            [f"post-up ip link set dev {dev.name} type bridge {' '.join(BRIDGE.words({'forward_delay': fd}))}"]
        out.append(("forward_delay", fd, ("bridge-fd", "#bridge-fd"), fd_lines))
        out.append(("vlan_filtering", dev.vlan_filtering, ("bridge-vlan-aware",),
                    ["bridge-vlan-aware yes"] if dev.vlan_filtering else []))
        for attr in BRIDGE_OPTIONS:
            key = IFUPDOWN2_WORDS.get(attr.name)
            value = getattr(dev, attr.name)
            if key is None:
                if not unsaid(attr, value):
                    raise ValidationError([f"{dev.name}: ifupdown2 has no key for {attr.name} (only its default "
                                           f"{attr.default!r} can be saved)"])
                continue
            out.append((attr.name, value, (key, f"#{key}"), _option_lines(dev, attr, key)))
    out += _port_fields(dev, ctx)
    if isinstance(dev, Vlan):
        out.append(("vlan", (dev.parent, dev.vlan_id, dev.protocol), TYPE_KEYS["vlan"], _vlan_lines(dev)))
    if isinstance(dev, Bridge):
        # ifupdown2's syntax check refuses `mtu` on a bridge ("bridge inherits mtu from its ports"), yet sets a
        # bridge without it to its default: the default needs no line, any other MTU a post-up line. A stanza
        # that already says `mtu` (Proxmox VE's web UI writes it) keeps saying it: that file never passed the check.
        if dev.mtu is not None and ctx.host.values(dev.name, "mtu"):
            lines = [f"mtu {dev.mtu}"]
        elif dev.mtu in (None, IFUPDOWN2_DEFAULT_MTU):
            lines = []
        else:
            lines = [f"post-up ip link set dev {dev.name} mtu {dev.mtu}"]
        out.append(("mtu", dev.mtu, ("mtu", "#bridge-mtu"), lines))
    else:
        out.append(("mtu", dev.mtu, ("mtu",), [] if dev.mtu is None else [f"mtu {dev.mtu}"]))
    if isinstance(dev, Bridge):
        lines = [] if dev.vlans is None or not dev.vlan_filtering else _self_vlan_lines(dev, ctx.svis(dev.name))
        out.append(("self_vlans", dev.vlans, ("#self-vlan",), lines))
    else:
        port = dev.vlans is not None and ctx.filtering_master(dev)
        lines = _port_vlan_lines(dev, ctx.bridge_has_vids(dev.master)) if port else []
        out.append(("port_vlans", dev.vlans, PORT_VLAN_KEYS, lines))
    if dev.ip.routes is not None:   # None: not managed, the route lines stay as they are
        out.append(("routes", dev.ip.routes, ROUTE_KEYS, route_lines(dev)))
    return out


class Context:
    """The devices as they will be once rendered (the files' plus `desired`, less `remove`)."""

    def __init__(self, host: Host, desired: HostNetwork, remove):
        self.host, self.remove = host, set(remove)
        self.final = {n: d for n, d in host.model.devices.items() if n not in remove}
        self.final.update(desired.devices)
        for name, dev in list(self.final.items()):
            if dev.master and (dev.master in remove or not isinstance(self.final.get(dev.master), (Bridge, Bond))):
                if name not in desired.devices:
                    self.final[name] = copy.copy(dev)
                    self.final[name].master = None

    def svis(self, bridge: str) -> list:
        return sorted(d.vlan_id for d in self.final.values() if isinstance(d, Vlan) and d.parent == bridge)

    def filtering_master(self, dev) -> bool:
        upper = self.final.get(dev.master) if dev.master else None
        return isinstance(upper, Bridge) and bool(upper.vlan_filtering)

    def bridge_has_vids(self, bridge) -> bool:
        return bool(self.host.bridge_level.get(bridge, (None, None))[0])

    def ports(self, name: str, current) -> list:
        """Ports of bridge/bond `name`: those listed now that stay, in their order, then new ones by name.

        A listed port net_persist does not model (an Open vSwitch port, a stanza it cannot read) stays listed:
        it is not ours to drop; only a removed one leaves."""
        members = [n for n, d in self.final.items() if d.master == name]
        kept = [p for p in current if p in members or (p not in self.final and p not in self.remove)]
        return kept + sorted(p for p in members if p not in kept)

    def reach(self, desired: HostNetwork, new, remove) -> None:
        """Which devices `ifup -a` will bring up without any `auto` added by this render (`self.auto_reached`:
        `auto` ones, new ones, and what they stand on), and which will get an `auto` line of their own.

        A port that leaves its bridge (a swapped uplink) is no longer brought up with it: whether its own
        stanza needs `auto` or `link-down` follows from this, not from what the files said before."""
        self._lowers: dict = {}
        for name, dev in self.final.items():
            if dev.master:
                self._lowers.setdefault(dev.master, []).append(name)
            if isinstance(dev, Vlan) and dev.parent:
                self._lowers.setdefault(name, []).append(dev.parent)
        base = (set(self.host.auto) - set(remove)) | set(new)
        self.auto_reached = self._closure(base)
        # Devices that will get an `auto` line of their own (_edit_up): what they stand on is reached too.
        self._own_auto = {n for n, d in desired.devices.items() if n not in self.auto_reached
                          and (d.up or (d.up is False and d.TYPE != "nic"))}

    def _closure(self, roots) -> set:
        """`roots` and everything they stand on (ports, slaves, a VLAN's parent): what `ifup` brings up with them."""
        found, todo = set(), list(roots)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo += self._lowers.get(name, [])
        return found

    def up_after(self, host: Host, dev):
        """What the rendered files say of dev.up before its own `auto`/`link-down` lines are edited.

        Reached through an `auto` line, an added one included, but never through the `auto` line this device
        would get itself: a NIC Proxmox VE wrote without one (`iface eno1 inet manual`), left up when a swap took
        it out of its bridge, needs it added, or nothing brings it up at boot."""
        st, opt = host.last(dev.name, "link-down")
        down = opt is not None and yes_no(st, opt)
        if dev.name in self.auto_reached or dev.name in self._closure(self._own_auto - {dev.name}):
            return not down
        return False if dev.TYPE == "nic" else None
