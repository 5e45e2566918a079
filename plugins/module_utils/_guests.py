# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Guest discovery: which guest port belongs on which bridge, from the guests' own configs.

Pure parsing (standard library only, no Ansible, no kernel): Proxmox VE guest
configs, libvirt domain XML and an explicit list all become `GuestNic`
records. Each record knows the chain of devices that must be restored when
its bridge comes back (`GuestNic.chain`), including Proxmox VE's firewall
bridge. A file that cannot be read or understood becomes a problem of its
guest only: one broken config must not stop the others.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

MAX_VID = 4094
_NET_KEY = re.compile(r"^net(\d+)$")
_VMID = re.compile(r"^(\d+)\.conf$")
_GUEST_DEVICE = re.compile(r"(?:tap|veth)(\d+)i(\d+)")


class ConfigProblem(Exception):
    """One guest's configuration cannot be used; names the file and what is wrong."""


@dataclass(frozen=True)
class Link:
    """One device of a chain and the bridge it must be a port of."""

    device: str
    master: str
    # VLAN membership on `master` when it filters VLANs (None: not managed).
    vlans: dict | None = None
    mtu: int | None = None
    up: bool | None = True


@dataclass
class GuestNic:
    """One network interface of one guest, as its configuration describes it."""

    guest: str            # vmid (Proxmox VE), domain name (libvirt) or "explicit"
    kind: str             # qemu, lxc, libvirt, explicit
    nic: str              # net0, interface position, or the device name
    device: str           # tap100i0, veth101i0, vnet3, ...
    bridge: str
    vlan: int | None = None
    trunks: tuple = ()
    native_tagged: bool = False   # libvirt nativeMode='tagged': the native VLAN is the PVID, sent tagged
    mtu: int | None = None        # None: leave alone; 1 (Proxmox VE): same as the bridge
    link_down: bool = False
    firewall: bool = False
    origin: str = ""

    def __post_init__(self):
        # Names of Proxmox VE's firewall chain, as pve-common computes them;
        # worked out once, the planner asks for them for every NIC on every run.
        match = _GUEST_DEVICE.fullmatch(self.device) if self.firewall else None
        if match:
            vmid, n = match.groups()
            self._fw = (f"fwbr{vmid}i{n}", f"fwln{vmid}i{n}", f"fwpr{vmid}p{n}")
        else:
            self._fw = (None, None, None)

    @property
    def fwbr(self) -> str | None:
        return self._fw[0]

    @property
    def fwln(self) -> str | None:
        return self._fw[1]

    @property
    def fwpr(self) -> str | None:
        return self._fw[2]

    def vlans(self) -> dict | None:
        """Wanted VLAN membership of the port on the main bridge, or None (not managed).

        In the core's format (_vlans.py): {"pvid", "untagged", "tagged"} with
        [first, last] ranges. Proxmox VE semantics: tag=N makes N the port's
        PVID, untagged (the default VLAN 1 goes away); trunks add tagged
        VLANs. Without tag and trunks the kernel's default is left alone.
        """
        if self.vlan is None and not self.trunks:
            return None
        native = self.vlan if self.vlan is not None else 1
        tagged = [vid for vid in self.trunks if vid != native]
        untagged = [] if self.native_tagged else [[native, native]]
        if self.native_tagged:
            tagged.append(native)
        return {"pvid": native, "untagged": untagged, "tagged": _ranges(tagged)}

    def chain(self) -> list:
        """The links to restore, innermost first.

        Without the firewall: the guest device on the bridge. With it (Proxmox
        VE): the tap/veth and fwln on fwbr, and fwpr on the bridge; VLANs live
        on fwpr, because fwbr does not filter VLANs.
        """
        up = not self.link_down
        if self.fwbr is None:
            return [Link(self.device, self.bridge, self.vlans(), self.mtu, up)]
        return [
            Link(self.device, self.fwbr, None, self.mtu, up),
            Link(self.fwln, self.fwbr, None, None, True),
            Link(self.fwpr, self.bridge, self.vlans(), None, True),
        ]

    def to_dict(self) -> dict:
        return {"guest": self.guest, "kind": self.kind, "nic": self.nic, "device": self.device,
                "bridge": self.bridge, "vlan": self.vlan, "trunks": list(self.trunks),
                "mtu": self.mtu, "link_down": self.link_down, "firewall": self.firewall,
                "origin": self.origin}


@dataclass
class Discovery:
    """What the configs say: guest NICs, guests whose config could not be used, NICs not on a bridge."""

    nics: list = field(default_factory=list)
    problems: list = field(default_factory=list)   # dicts: guest, origin, reason
    skipped: list = field(default_factory=list)    # dicts: guest, nic, origin, reason

    def extend(self, other: Discovery) -> None:
        self.nics.extend(other.nics)
        self.problems.extend(other.problems)
        self.skipped.extend(other.skipped)


# -- small parsers ---------------------------------------------------------------

def _ranges(vids) -> list:
    """Sorted VLAN IDs -> [[first, last], ...] runs."""
    out: list = []
    for vid in sorted(set(vids)):
        if out and vid == out[-1][1] + 1:
            out[-1][1] = vid
        else:
            out.append([vid, vid])
    return out


def parse_vid(value, what: str = "tag") -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_VID:
        raise ConfigProblem(f"{what}: {value!r} is not a VLAN ID (1-{MAX_VID})")
    return int(text)


def parse_trunks(value) -> tuple:
    """'10;20-22' (Proxmox VE), or a list of IDs and 'a-b' ranges, into sorted VLAN IDs."""
    items = value if isinstance(value, (list, tuple)) else re.split(r"[;,\s]+", str(value).strip())
    vids = set()
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if "-" in text:
            low_text, _sep, high_text = text.partition("-")
            low, high = parse_vid(low_text, "trunks"), parse_vid(high_text, "trunks")
            if low > high:
                raise ConfigProblem(f"trunks: range {text!r} runs backwards")
            vids.update(range(low, high + 1))
        else:
            vids.add(parse_vid(text, "trunks"))
    return tuple(sorted(vids))


def parse_mtu(value, allow_one: bool = False) -> int:
    text = str(value).strip()
    if not isinstance(value, bool) and text.isdigit() and (68 <= int(text) <= 65535 or (allow_one and int(text) == 1)):
        return int(text)
    raise ConfigProblem(f"mtu: {value!r} is out of range (68-65535{', or 1 for the bridge MTU' if allow_one else ''})")


# -- Proxmox VE ------------------------------------------------------------------------

def parse_property_string(text: str) -> dict:
    """'virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1' -> dict (keys lower-case)."""
    found = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        found[key.strip().lower()] = value.strip() if sep else ""
    return found


def _flag(props: dict, key: str) -> bool:
    return props.get(key, "0").strip().lower() in ("1", "on", "yes", "true")


def parse_proxmox_config(text: str, vmid: str, kind: str, origin: str = "") -> tuple:
    """(GuestNic list, skipped list) from one qemu-server or lxc config.

    Only the current configuration counts: parsing stops at the first section
    header (a snapshot `[name]`, `[PENDING]`, `[special:cloudinit]`), whose
    netN lines describe other times. Raises ConfigProblem for a NIC that
    names a bridge but cannot be understood.
    """
    if kind not in ("qemu", "lxc"):
        raise ValueError(f"kind must be qemu or lxc, not {kind!r}")
    nics, skipped = [], []
    prefix = "tap" if kind == "qemu" else "veth"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            break
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        match = _NET_KEY.match(key.strip())
        if not sep or not match:
            continue
        n = match.group(1)
        props = parse_property_string(value)
        where = f"{origin}:{number}" if origin else f"line {number}"
        bridge = props.get("bridge", "")
        if not bridge:
            skipped.append({"guest": vmid, "nic": f"net{n}", "origin": where,
                            "reason": "no bridge= (user-mode or other non-bridged networking)"})
            continue
        try:
            nic = GuestNic(
                guest=vmid, kind=kind, nic=f"net{n}", device=f"{prefix}{vmid}i{n}", bridge=bridge,
                vlan=parse_vid(props["tag"]) if props.get("tag") else None,
                trunks=parse_trunks(props["trunks"]) if props.get("trunks") else (),
                mtu=parse_mtu(props["mtu"], allow_one=kind == "qemu") if props.get("mtu") else None,
                link_down=_flag(props, "link_down"),
                firewall=_flag(props, "firewall"),
                origin=where,
            )
        except ConfigProblem as exc:
            raise ConfigProblem(f"{where}: net{n}: {exc}") from None
        nics.append(nic)
    return nics, skipped


def _cached(cache, path: str, parse):
    """parse(text) -> Discovery, reusing `cache[path]` while the file's stat is unchanged.

    The watcher re-reads the configs each time a bridge comes back; with
    1,000 guests, parsing only the files that changed keeps that off the
    guests' outage.
    """
    if cache is None:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse(handle.read())
    st = os.stat(path)
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    with open(path, encoding="utf-8", errors="replace") as handle:
        result = parse(handle.read())
    cache[path] = (key, result)
    return result


def discover_proxmox(node_dir: str, cache: dict | None = None) -> Discovery:
    """Every qemu-server/<vmid>.conf and lxc/<vmid>.conf under a node's directory."""
    found = Discovery()
    for subdir, kind in (("qemu-server", "qemu"), ("lxc", "lxc")):
        directory = os.path.join(node_dir, subdir)
        try:
            names = sorted(os.listdir(directory), key=_vmid_key)
        except FileNotFoundError:
            continue
        except OSError as exc:
            found.problems.append({"guest": None, "origin": directory, "reason": f"cannot list: {exc.strerror}"})
            continue
        for name in names:
            match = _VMID.match(name)
            if not match:
                continue
            vmid = match.group(1)
            path = os.path.join(directory, name)
            try:
                found.extend(_cached(cache, path, lambda text, v=vmid, k=kind, p=path: _proxmox_file(text, v, k, p)))
            except OSError as exc:
                found.problems.append({"guest": vmid, "origin": path, "reason": f"cannot read: {exc.strerror}"})
    return found


def _proxmox_file(text: str, vmid: str, kind: str, path: str) -> Discovery:
    try:
        nics, skipped = parse_proxmox_config(text, vmid, kind, path)
    except ConfigProblem as exc:
        return Discovery(problems=[{"guest": vmid, "origin": path, "reason": str(exc)}])
    return Discovery(nics=nics, skipped=skipped)


def _vmid_key(name: str):
    match = _VMID.match(name)
    return (0, int(match.group(1)), name) if match else (1, 0, name)


def has_proxmox(node_dir: str) -> bool:
    return any(os.path.isdir(os.path.join(node_dir, sub)) for sub in ("qemu-server", "lxc"))


# -- libvirt ------------------------------------------------------------------------

def parse_libvirt_domain(text: str, origin: str = "") -> Discovery:
    """Bridged interfaces of one domain XML (persistent <domain> or live <domstatus>).

    Interfaces without <target dev=...> cannot be matched to a device (the
    persistent XML usually lets libvirt pick vnetN; the live XML under
    /run/libvirt/qemu names it): they are reported as problems of their guest.
    Open vSwitch ports (<virtualport type='openvswitch'/>) belong to OVS and
    are skipped, as are interfaces of other types.
    """
    found = Discovery()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigProblem(f"{origin}: not valid XML ({exc})") from None
    domain = root if root.tag == "domain" else root.find(".//domain")
    if domain is None:
        raise ConfigProblem(f"{origin}: no <domain> element")
    name = (domain.findtext("name") or "").strip() or os.path.splitext(os.path.basename(origin))[0]
    devices = domain.find("devices")
    interfaces = devices.findall("interface") if devices is not None else []
    for position, iface in enumerate(interfaces):
        label = f"interface {position}"
        if iface.get("type") != "bridge":
            found.skipped.append({"guest": name, "nic": label, "origin": origin,
                                  "reason": f"type={iface.get('type')!r}, not a bridge interface"})
            continue
        port = iface.find("virtualport")
        if port is not None and port.get("type") == "openvswitch":
            found.skipped.append({"guest": name, "nic": label, "origin": origin,
                                  "reason": "Open vSwitch port; OVS restores its own ports"})
            continue
        source = iface.find("source")
        bridge = source.get("bridge", "").strip() if source is not None else ""
        target = iface.find("target")
        device = target.get("dev", "").strip() if target is not None else ""
        if not bridge:
            found.problems.append({"guest": name, "origin": origin, "reason": f"{label}: no <source bridge=...>"})
            continue
        if not device:
            found.problems.append({"guest": name, "origin": origin,
                                   "reason": f"{label} on {bridge}: no <target dev=...>, so its device cannot be "
                                             f"known; use the live XML (/run/libvirt/qemu) or name the device"})
            continue
        try:
            vlan, trunks, native_tagged = _libvirt_vlans(iface.find("vlan"))
            mtu_el = iface.find("mtu")
            mtu = parse_mtu(mtu_el.get("size", "")) if mtu_el is not None else None
        except ConfigProblem as exc:
            found.problems.append({"guest": name, "origin": origin, "reason": f"{label}: {exc}"})
            continue
        link = iface.find("link")
        found.nics.append(GuestNic(
            guest=name, kind="libvirt", nic=label, device=device, bridge=bridge, vlan=vlan,
            trunks=trunks, native_tagged=native_tagged, mtu=mtu,
            link_down=link is not None and link.get("state") == "down", origin=origin))
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


def discover_libvirt(xml_dir: str, cache: dict | None = None) -> Discovery:
    """Every *.xml directly in `xml_dir` (networks/ and autostart/ hold no domains)."""
    found = Discovery()
    try:
        names = sorted(n for n in os.listdir(xml_dir) if n.endswith(".xml"))
    except FileNotFoundError:
        return found
    except OSError as exc:
        found.problems.append({"guest": None, "origin": xml_dir, "reason": f"cannot list: {exc.strerror}"})
        return found
    for name in names:
        path = os.path.join(xml_dir, name)
        if not os.path.isfile(path):
            continue
        try:
            found.extend(_cached(cache, path, lambda text, n=name[:-4], p=path: _libvirt_file(text, n, p)))
        except OSError as exc:
            found.problems.append({"guest": name[:-4], "origin": path, "reason": f"cannot read: {exc.strerror}"})
    return found


def _libvirt_file(text: str, name: str, path: str) -> Discovery:
    try:
        return parse_libvirt_domain(text, path)
    except ConfigProblem as exc:
        return Discovery(problems=[{"guest": name, "origin": path, "reason": str(exc)}])


def has_libvirt(xml_dir: str) -> bool:
    try:
        return any(n.endswith(".xml") for n in os.listdir(xml_dir))
    except OSError:
        return False


# -- an explicit list ---------------------------------------------------------------

EXPLICIT_KEYS = ("device", "bridge", "vlan", "trunks", "mtu", "link_down", "firewall")


def parse_explicit(items, param: str = "ports") -> Discovery:
    """[{device, bridge, vlan, trunks, mtu, link_down, firewall}] -> Discovery.

    Problems here are the user's input, so they name the list position.
    """
    found = Discovery()
    for position, item in enumerate(items or []):
        where = f"{param}[{position}]"
        if not isinstance(item, dict):
            found.problems.append({"guest": None, "origin": where, "reason": f"{where}: expected a dict, got {item!r}"})
            continue
        item = {k: v for k, v in item.items() if v is not None}
        unknown = sorted(set(item) - set(EXPLICIT_KEYS))
        device, bridge = item.get("device"), item.get("bridge")
        try:
            if unknown:
                raise ConfigProblem(f"unknown keys {', '.join(unknown)}; allowed {', '.join(EXPLICIT_KEYS)}")
            if not device or not isinstance(device, str):
                raise ConfigProblem("device: required (the guest's tap or veth device)")
            if not bridge or not isinstance(bridge, str):
                raise ConfigProblem("bridge: required")
            nic = GuestNic(
                guest=device, kind="explicit", nic=device, device=device, bridge=bridge,
                vlan=parse_vid(item["vlan"], "vlan") if item.get("vlan") not in (None, "") else None,
                trunks=parse_trunks(item["trunks"]) if item.get("trunks") not in (None, "", []) else (),
                mtu=parse_mtu(item["mtu"]) if item.get("mtu") not in (None, "") else None,
                link_down=bool(item.get("link_down")),
                firewall=bool(item.get("firewall")),
                origin=where,
            )
        except ConfigProblem as exc:
            found.problems.append({"guest": device if isinstance(device, str) else None, "origin": where,
                                   "reason": f"{where}: {exc}"})
            continue
        found.nics.append(nic)
    return found


def dedupe(nics) -> tuple:
    """First definition of each device wins; returns (nics, warnings about later, different ones)."""
    seen: dict = {}
    kept, warnings = [], []
    for nic in nics:
        first = seen.get(nic.device)
        if first is None:
            seen[nic.device] = nic
            kept.append(nic)
        elif (first.bridge, first.vlans(), first.firewall, first.mtu) != (nic.bridge, nic.vlans(), nic.firewall, nic.mtu):
            warnings.append(f"{nic.device} is configured twice ({first.origin}: {first.bridge}; "
                            f"{nic.origin}: {nic.bridge}); the first one is used")
    return kept, warnings


SOURCES = ("auto", "proxmox", "libvirt", "explicit")


def discover(source: str = "auto", proxmox_dir: str = "/etc/pve/local",
             libvirt_xml_dir: str = "/etc/libvirt/qemu", ports=None, cache: dict | None = None) -> tuple:
    """(nics, problems, warnings, sources used) for a module's or the watcher's settings.

    `auto` reads every source that is there: the explicit `ports` when given,
    Proxmox VE when the node directory has qemu-server/ or lxc/, libvirt when
    the XML directory has domain files. An explicit entry wins over a config
    naming the same device. `cache` (a dict the caller keeps) skips parsing
    files that did not change. Raises ConfigProblem when nothing can be read.
    """
    if source not in SOURCES:
        raise ConfigProblem(f"source: {source!r} is not allowed; allowed {', '.join(SOURCES)}")
    found = Discovery()
    used = []
    if source == "explicit" and not ports:
        raise ConfigProblem("ports: source=explicit needs a list of {device, bridge} entries")
    if ports and source in ("auto", "explicit"):
        found.extend(parse_explicit(ports))
        used.append("explicit")
    if source == "proxmox" or (source == "auto" and has_proxmox(proxmox_dir)):
        if source == "proxmox" and not os.path.isdir(proxmox_dir):
            raise ConfigProblem(f"proxmox_dir: {proxmox_dir} does not exist (is this a Proxmox VE node?)")
        found.extend(discover_proxmox(proxmox_dir, cache))
        used.append("proxmox")
    if source == "libvirt" or (source == "auto" and has_libvirt(libvirt_xml_dir)):
        if source == "libvirt" and not os.path.isdir(libvirt_xml_dir):
            raise ConfigProblem(f"libvirt_xml_dir: {libvirt_xml_dir} does not exist")
        found.extend(discover_libvirt(libvirt_xml_dir, cache))
        used.append("libvirt")
    if not used:
        raise ConfigProblem(
            f"source: auto found no guest configuration (no qemu-server/ or lxc/ in {proxmox_dir}, no domain XML "
            f"in {libvirt_xml_dir}, no ports); set source and the matching path, or list ports")
    nics, warnings = dedupe(found.nics)
    return nics, found.problems, warnings, used
