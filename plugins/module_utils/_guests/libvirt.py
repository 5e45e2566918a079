# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Guest NICs of libvirt domains, from their domain XML."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    ConfigProblem, Discovery, GuestNic, parse_mtu, parse_vid, read_cached,
)


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
            found.extend(read_cached(cache, path, lambda text, n=name[:-4], p=path: _libvirt_file(text, n, p)))
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
