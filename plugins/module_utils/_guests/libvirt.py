# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Guest NICs of libvirt domains, from the live status XML of running guests or the persistent definitions.

Where libvirt keeps what (qemu driver, system instance):

- `/run/libvirt/qemu/<name>.xml`: the *live status XML* of a running guest,
  a `<domstatus>` document with the running `<domain>` inside. It names every
  device libvirt picked (`<target dev='vnet3'/>`) and, for
  `<interface type='network'>`, what the network resolved to:
  `<actual type='bridge|network|direct|...'>` with `<source bridge=.../>`,
  its `<virtualport>` and `<vlan>`. The file exists exactly while the guest
  runs, so its presence is the honest answer to "is this guest running".
- `/etc/libvirt/qemu/<name>.xml`: the *persistent definition*. libvirt drops
  auto-generated device names (`vnetN`) from it, so most of its interfaces
  cannot be matched to a device; `networks/<net>.xml` beside it defines the
  networks.

`discover_libvirt` reads the live XML by default and lists the interfaces of
guests that are defined but have no live XML as stopped. The persistent
definitions are read instead only when asked, or when there is no live
directory (libvirt not running on this host, or an unusual layout).
"""
from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import parse_vid
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    DEFINED, LIVE, STOPPED, ConfigProblem, Discovery, GuestNic, entry, parse_mtu, read_cached, read_config,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import name_problem

LIVE_DIR = "/run/libvirt/qemu"
PERSISTENT_DIR = "/etc/libvirt/qemu"
READ_MODES = ("auto", "live", "persistent")

# <virtualport type=...> that make an interface a port of something other than a Linux bridge.
_NOT_LINUX_BRIDGE = {
    "openvswitch": "Open vSwitch port (<virtualport type='openvswitch'>); OVS restores its own ports",
    "midonet": "MidoNet port (<virtualport type='midonet'>), not a Linux bridge port",
    "802.1Qbg": "802.1Qbg (VEPA) port profile (<virtualport type='802.1Qbg'>), not a Linux bridge port",
    "802.1Qbh": "802.1Qbh (VN-Tag) port profile (<virtualport type='802.1Qbh'>), not a Linux bridge port",
}
# Network forward modes whose guests get a macvtap or a host device, not a tap on a bridge.
_DIRECT_FORWARD = ("passthrough", "private", "vepa", "hostdev")


class _Skip(Exception):
    """This interface is not a Linux bridge port; the message says why."""


def _domain_of(root):
    """The <domain> of a persistent definition or of a live <domstatus> document."""
    if root.tag == "domain":
        return root
    if root.tag == "domstatus":
        return root.find("domain")
    return None


def _virtualport_reason(*elements):
    """Why a <virtualport> makes the interface not ours, or None (none, or one without a type)."""
    for element in elements:
        port = element.find("virtualport") if element is not None else None
        if port is None:
            continue
        kind = port.get("type")
        if kind is None:
            continue
        return _NOT_LINUX_BRIDGE.get(kind, f"<virtualport type={kind!r}>, not a Linux bridge port")
    return None


def network_name_problem(name: str):
    """Why `name` cannot be a libvirt network's name, or None.

    libvirt refuses a '/' in a network name (virNetworkDefParseXML), so no
    real network has one; a domain that says `<source network='../../x'/>`
    must not make us read a file outside networks/.
    """
    if name in (".", "..") or "/" in name or any(ord(c) < 32 for c in name):
        return (f"network {name!r} is not a libvirt network name (no '/' or control characters, not '.' or '..'); "
                f"nothing was read for it")
    return None


def network_bridge(name: str, networks_dir: str):
    """(bridge, skip reason) of libvirt network `name` from its definition in `networks_dir`.

    Raises ConfigProblem when the name cannot be a network's (nothing is
    read then) or the definition cannot be read. A network whose guests get
    macvtap devices or host devices has a skip reason; an Open vSwitch
    network too.
    """
    problem = network_name_problem(name)
    if problem:
        raise ConfigProblem(problem)
    path = os.path.join(networks_dir, f"{name}.xml")
    try:
        root = ET.fromstring(read_config(path))
    except OSError as exc:
        raise ConfigProblem(f"network {name!r}: cannot read {path} ({exc.strerror})") from None
    except ET.ParseError as exc:
        raise ConfigProblem(f"network {name!r}: {path} is not valid XML ({exc})") from None
    if root.tag == "networkstatus":
        root = root.find("network") if root.find("network") is not None else root
    forward = root.find("forward")
    mode = forward.get("mode", "nat") if forward is not None else None
    bridge_el = root.find("bridge")
    bridge = (bridge_el.get("name") or "").strip() if bridge_el is not None else ""
    reason = _virtualport_reason(root)
    if reason:
        return bridge or None, f"network {name!r}: {reason}"
    if mode in _DIRECT_FORWARD or (mode == "bridge" and not bridge):
        return None, f"network {name!r} (forward mode {mode!r}) gives guests macvtap or host devices, not bridge ports"
    if not bridge:
        raise ConfigProblem(f"network {name!r}: {path} names no <bridge name=...>")
    return bridge, None


def _interface(iface, networks_dir):
    """(bridge, vlan element, virtualport reason source) of one interface; raises _Skip or ConfigProblem."""
    kind = iface.get("type")
    source = iface.find("source")
    if kind == "bridge":
        bridge = (source.get("bridge") or "").strip() if source is not None else ""
        if not bridge:
            raise ConfigProblem("no <source bridge=...>")
        reason = _virtualport_reason(iface)
        if reason:
            raise _Skip(reason)
        return bridge, iface.find("vlan")
    if kind == "network":
        network = (source.get("network") or "").strip() if source is not None else ""
        actual = iface.find("actual")
        if actual is not None:
            actual_type = actual.get("type")
            if actual_type not in ("bridge", "network"):
                what = "a macvtap device" if actual_type == "direct" else f"type {actual_type!r}"
                raise _Skip(f"network {network!r} gave this interface {what} (<actual type={actual_type!r}>), "
                            f"not a Linux bridge port")
            reason = _virtualport_reason(actual, iface)
            if reason:
                raise _Skip(f"network {network!r}: {reason}")
            actual_source = actual.find("source")
            bridge = (actual_source.get("bridge") or "").strip() if actual_source is not None else ""
            if not bridge:
                raise ConfigProblem(f"network {network!r}: <actual> names no <source bridge=...>")
            vlan = actual.find("vlan")
            return bridge, vlan if vlan is not None else iface.find("vlan")
        reason = _virtualport_reason(iface)
        if reason:
            raise _Skip(f"network {network!r}: {reason}")
        bridge = (source.get("bridge") or "").strip() if source is not None else ""
        if bridge:   # `virsh dumpxml` of a running guest shows the network's bridge here
            return bridge, iface.find("vlan")
        if not network:
            raise ConfigProblem("type='network' without <source network=...>")
        if networks_dir is None:
            raise ConfigProblem(f"network {network!r}: the live XML has no <actual> element naming its bridge")
        bridge, reason = network_bridge(network, networks_dir)
        if reason:
            raise _Skip(reason)
        return bridge, iface.find("vlan")
    if kind == "direct":
        dev = source.get("dev") if source is not None else None
        raise _Skip(f"type='direct': a macvtap device on {dev or 'a host device'}, not a Linux bridge port")
    raise _Skip(f"type={kind!r}: not a Linux bridge port")


def parse_libvirt_domain(text: str, origin: str = "", networks_dir: str | None = None, running: bool = False) -> Discovery:
    """The interfaces of one domain: a live <domstatus> document or a persistent <domain>.

    Interfaces of type 'bridge', and of type 'network' through what the
    network resolved to (`<actual>` in the live XML; the network's definition
    in `networks_dir` for a persistent one), become GuestNics; VLAN tags come
    from `<vlan>` in either place (`<actual>`'s first), the MTU from
    `<mtu size>`, the admin state from `<link state>`. Everything else is
    skipped with its reason (macvtap, Open vSwitch, MidoNet, 802.1Qbg/Qbh, user
    networking, ...). An interface that cannot be used (no device name, a name
    that cannot be a Linux interface, a bad VLAN) is a problem of its guest.
    `running`: the document says the guest runs (the live XML).
    """
    found = Discovery()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigProblem(f"{origin}: not valid XML ({exc})") from None
    domain = _domain_of(root)
    if domain is None:
        raise ConfigProblem(f"{origin}: no <domain> element (a <{root.tag}> document)")
    name = (domain.findtext("name") or "").strip() or os.path.splitext(os.path.basename(origin))[0]
    devices = domain.find("devices")
    interfaces = devices.findall("interface") if devices is not None else []
    for position, iface in enumerate(interfaces):
        label = f"interface {position}"
        target = iface.find("target")
        device = (target.get("dev") or "").strip() if target is not None else ""
        try:
            bridge, vlan_el = _interface(iface, networks_dir)
        except _Skip as skip:
            found.skipped.append(entry(name, "libvirt", label, origin, str(skip), device))
            continue
        except ConfigProblem as exc:
            found.problems.append({"guest": name, "nic": label, "origin": origin, "reason": f"{label}: {exc}"})
            continue
        if not device:
            found.problems.append({"guest": name, "nic": label, "bridge": bridge, "origin": origin,
                                   "reason": f"{label} on {bridge}: no <target dev=...>, so its device cannot be known; "
                                             f"the live status XML ({LIVE_DIR}) of a running guest names it"})
            continue
        try:
            for problem in (name_problem(bridge, "bridge"), name_problem(device, "target dev")):
                if problem:
                    raise ConfigProblem(problem)
            vlan, trunks, native_tagged = _libvirt_vlans(vlan_el)
            mtu_el = iface.find("mtu")
            mtu = parse_mtu(mtu_el.get("size", "")) if mtu_el is not None else None
        except ValidationError as exc:
            found.problems.append({"guest": name, "nic": label, "origin": origin, "reason": f"{label}: {exc}"})
            continue
        link = iface.find("link")
        found.nics.append(GuestNic(
            guest=name, kind="libvirt", nic=label, device=device, bridge=bridge, vlan=vlan,
            trunks=trunks, native_tagged=native_tagged, mtu=mtu,
            link_down=link is not None and link.get("state") == "down", origin=origin,
            claim=LIVE if running else DEFINED))
    return found


def _libvirt_vlans(vlan_el) -> tuple:
    """(access/native VLAN, tagged VLANs, native sent tagged) from a <vlan> element.

    One <tag> without trunk='yes' is an access port: that VLAN untagged. With
    several tags, or trunk='yes', tags are tagged; the one with
    nativeMode='untagged' (or 'tagged') is the native VLAN.
    """
    if vlan_el is None:
        return None, (), False
    tags = vlan_el.findall("tag")
    if not tags:
        raise ConfigProblem("<vlan> without <tag id=...>")
    trunk = vlan_el.get("trunk") == "yes" or len(tags) > 1
    native, native_tagged, tagged = None, False, []
    for tag in tags:
        vid = parse_vid(tag.get("id", ""), "vlan tag id")
        mode = tag.get("nativeMode")
        if mode in ("untagged", "tagged"):
            if native is not None:
                raise ConfigProblem("<vlan> has two native tags")
            native, native_tagged = vid, mode == "tagged"
        elif not trunk:
            native = vid
        else:
            tagged.append(vid)
    return native, tuple(sorted(set(tagged) - {native})), native_tagged


def _xml_files(directory: str, found: Discovery) -> list:
    """Sorted *.xml names directly in `directory` (autostart/ and networks/ hold no domains).

    One that is not a regular file is its guest's problem, told by the
    reader (nic.read_config), like any file that cannot be read.
    """
    try:
        return sorted(n for n in os.listdir(directory) if n.endswith(".xml"))
    except FileNotFoundError:
        return []
    except OSError as exc:
        found.problems.append({"guest": None, "origin": directory, "reason": f"cannot list: {exc.strerror}"})
        return []


def _read_dir(directory: str, cache, found: Discovery, networks_dir, running: bool) -> dict:
    """Parse every domain file of `directory` into `found`; returns {domain name: Discovery} per file."""
    per_guest = {}
    for name in _xml_files(directory, found):
        path = os.path.join(directory, name)
        try:
            parsed = read_cached(cache, path, lambda text, n=name[:-4], p=path: _libvirt_file(
                text, n, p, networks_dir, running))
        except OSError as exc:
            found.problems.append({"guest": name[:-4], "origin": path, "reason": f"cannot read: {exc.strerror}"})
            continue
        per_guest[parsed[0]] = parsed[1]
    return per_guest


def _libvirt_file(text: str, name: str, path: str, networks_dir, running: bool) -> tuple:
    """(domain name, Discovery) of one file; a file that cannot be used is a problem of its guest, never the others'.

    libvirtd names every file after its domain (<name>.xml), and refuses a
    second domain of the same name; a file whose <name> is another's was not
    written by libvirt and must not speak for that domain (its running state
    or its devices), so it is a problem of its own.
    """
    try:
        found = parse_libvirt_domain(text, path, networks_dir, running)
    except ValidationError as exc:
        return name, Discovery(problems=[{"guest": name, "origin": path, "reason": str(exc)}])
    except ValueError as exc:
        return name, Discovery(problems=[{"guest": name, "origin": path, "reason": f"{path}: cannot be parsed ({exc})"}])
    guest = found.nics[0].guest if found.nics else next(
        (item["guest"] for item in found.skipped + found.problems), name)
    if guest != name:
        return name, Discovery(problems=[{"guest": name, "origin": path, "reason": (
            f"{path} holds domain {guest!r}; libvirt keeps each domain in a file named after it ({guest}.xml), "
            f"so this file is not libvirt's and is not read")}])
    return guest, found


def choose_mode(read: str, live_dir: str) -> str:
    """`live` or `persistent` for the `libvirt_read` setting: auto is live when the live directory exists."""
    if read not in READ_MODES:
        raise ConfigProblem(f"libvirt_read: {read!r} is not allowed; allowed {', '.join(READ_MODES)}")
    if read == "auto":
        return "live" if os.path.isdir(live_dir) else "persistent"
    return read


def _not_running(found: Discovery, guest: str, parsed: Discovery) -> None:
    """A defined guest without live status XML: it does not run, so it owns no device (claim STOPPED).

    Its NICs go to the planner, which lists them as not running while their
    device is absent and refuses them when a device of that name exists
    (someone else's). An interface without a device name is simply stopped.
    """
    found.nics.extend(dataclasses.replace(nic, claim=STOPPED) for nic in parsed.nics)
    for problem in parsed.problems:
        if problem.get("nic"):
            # A definition without device names is normal for a stopped guest: it is simply not running.
            found.stopped.append(entry(guest, "libvirt", problem["nic"], problem["origin"], None, None,
                                       problem.get("bridge")))
        else:
            found.problems.append(problem)   # the whole definition cannot be read
    found.skipped.extend(parsed.skipped)
    found.warnings.extend(parsed.warnings)


def _running(found: Discovery, parsed: Discovery, live: Discovery) -> None:
    """A running guest's definition (libvirt_read persistent): a device is its own only when its live XML names it."""
    owned = {nic.device for nic in live.nics}
    where = live.nics[0].origin if live.nics else "its live status XML"
    for nic in parsed.nics:
        if nic.device in owned:
            found.nics.append(dataclasses.replace(nic, claim=LIVE))
        else:
            found.nics.append(dataclasses.replace(nic, refused=(
                f"the definition names {nic.device}, but the running guest's live status XML ({where}) does not: "
                f"a running guest owns only the devices libvirt gave it")))
    found.problems.extend(parsed.problems)
    found.skipped.extend(parsed.skipped)
    found.warnings.extend(parsed.warnings)


def discover_libvirt(xml_dir: str = PERSISTENT_DIR, cache: dict | None = None, live_dir: str | None = None,
                     read: str = "persistent") -> Discovery:
    """Every libvirt guest interface: from the live status XML (`live`) or the persistent definitions.

    `live`: each *.xml of `live_dir` is a running guest (claim LIVE); the
    guests defined in `xml_dir` without a live file are not running (claim
    STOPPED; interfaces without a device name are listed in `stopped`).
    `persistent`: each *.xml of `xml_dir`, with type='network' interfaces
    resolved through `xml_dir/networks`; when `live_dir` exists it still
    tells which guests run and which devices they own, else nothing does
    (claim DEFINED). Parsed files come from `cache` and are never changed.
    """
    found = Discovery()
    networks_dir = os.path.join(xml_dir, "networks")
    if read == "live":
        running = _read_dir(live_dir or LIVE_DIR, cache, found, None, True)
        for parsed in running.values():
            found.extend(parsed)
        defined = _read_dir(xml_dir, cache, Discovery(), networks_dir, False) if os.path.isdir(xml_dir) else {}
        for guest, parsed in defined.items():
            if guest not in running:
                _not_running(found, guest, parsed)
        return found
    live = _read_dir(live_dir, cache, Discovery(), None, True) if live_dir and os.path.isdir(live_dir) else None
    for guest, parsed in _read_dir(xml_dir, cache, found, networks_dir, False).items():
        if live is None:
            found.extend(parsed)
        elif guest in live:
            _running(found, parsed, live[guest])
        else:
            _not_running(found, guest, parsed)
    return found


def has_libvirt(xml_dir: str, live_dir: str | None = None) -> bool:
    for directory in (live_dir, xml_dir):
        if not directory:
            continue
        try:
            if any(n.endswith(".xml") for n in os.listdir(directory)):
                return True
        except OSError:
            continue
    return False
