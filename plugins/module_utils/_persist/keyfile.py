# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""NetworkManager keyfiles: one profile per device in /etc/NetworkManager/system-connections.

Written as NetworkManager 1.42 (Debian 12, RHEL 9) writes them itself:
`master=`/`slave-type=` for ports (newer NetworkManager reads those as
aliases of `controller=`/`port-type=`; both are read here), a gateway after
the first address (`address1=192.0.2.10/24,192.0.2.1`), bond options one
key each in [bond]. A profile already on the host for a device (matched by
`interface-name`, as the installer writes it) is edited in place: only the
keys listed in KEYS_WE_OWN change, every other line stays as it was. The
meaning of each key, and where it is not what the model says (forward delay,
the default PVID, `up`), is in docs/net_persist_networkmanager.md; the
comments below say why each rule is what NetworkManager's own code does.
"""
from __future__ import annotations

import ipaddress
import os
import re
import stat
import uuid

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_decimal, ascii_int
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import parse_entries
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    BOND_ENUMS, BOND_MODES, BOND_OPTIONS, Bond, Bridge, HostNetwork, IpConfig, Nic, Vlan, bond_options_for_mode,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.vlans import (
    add_vids, flags_by_vid, from_flags, runs,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import PersistFormat, Problem, refuse
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile_routes import (
    as_written, fill_routes, profile_routes,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan_files import refuse_netplan_owned
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import (
    BRIDGE_OPTIONS, PORT_OPTIONS, is_flag, is_seconds, out_of_range, port_values, unsaid, zero_problem, zero_read,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import (
    DEFAULT_BOND_MODE, DEFAULT_VLAN_PROTOCOL, VLAN_PROTOCOLS, description, options_in_mode,
)

SUFFIX = ".nmconnection"
# uuid5 namespace of the profiles we create: the same device always gets the same uuid.
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/netsafe/hypervisor/net_persist/networkmanager")
# Section aliases NetworkManager's keyfile reader accepts (it writes the short one).
SECTION_ALIASES = {"802-3-ethernet": "ethernet"}
TYPES = {"ethernet": "nic", "802-3-ethernet": "nic", "bridge": "bridge", "bond": "bond", "vlan": "vlan"}
# NetworkManager's own names of bond option values (it accepts the kernel's numbers too).
# The model's names are in the kernel's order, so a value's position is its number.
BOND_NUMBERS = {"mode": BOND_MODES, **{key: BOND_ENUMS[key] for key in ("lacp_rate", "ad_select", "xmit_hash_policy")}}
# libnm-core's defaults for a bond option the profile leaves out (nm-setting-bond.c, 1.42.4).
NM_BOND_DEFAULTS = {"updelay": 0, "downdelay": 0, "lacp_rate": "slow", "xmit_hash_policy": "layer2",
                    "ad_select": "stable", "arp_interval": 0, "arp_ip_target": [], "min_links": 0, "primary": None}
NM_FORWARD_DELAY_DEFAULT = 15      # what the kernel gets for a missing or 0 bridge.forward-delay
NM_FORWARD_DELAY_RANGE = (2, 30)   # whole seconds, checked by libnm's verify() (0 allowed only without STP)
# The exact forward delay when NetworkManager's key cannot hold it (STP off, so the kernel ignores it):
# NetworkManager keeps [user] data untouched and never acts on it.
USER_FORWARD_DELAY = "netsafe.forward-delay"
# A bridge's options ([bridge]) and a bridge port's attributes ([bridge-port]): model attribute -> NetworkManager's
# property (_persist/options.py). Seconds are whole seconds, a flag true/false. NetworkManager applies a default for
# a key the profile leaves out, also to a port (nm-device-bridge.c, commit_port_options): the kind's, except a
# port's path cost, which it sets to 100 whatever the port's speed (NM_DEFAULTS).
NM_WORDS = {
    "ageing_time": "ageing-time",
    "mcast_snooping": "multicast-snooping",
    "hello_time": "hello-time",
    "max_age": "max-age",
    "priority": "priority",
    "port_cost": "path-cost",
    "port_priority": "priority",
}
NM_DEFAULTS = {"port_cost": 100}
# NetworkManager applies its default for 0 of these (nm-device-bridge.c: _DEFAULT_IF_ZERO, commit_port_options).
NM_ZERO_IS_DEFAULT = ("hello_time", "max_age", "port_cost", "port_priority")
KEYS_WE_OWN = {
    "connection": ("type", "interface-name", "autoconnect", "master", "slave-type", "controller", "port-type"),
    "ethernet": ("mtu",),
    "bridge": ("stp", "forward-delay", "vlan-filtering", "vlan-default-pvid", "vlans")
    + tuple(NM_WORDS[a.name] for a in BRIDGE_OPTIONS if a.name in NM_WORDS),
    "bridge-port": ("vlans",) + tuple(NM_WORDS[a.name] for a in PORT_OPTIONS if a.name in NM_WORDS),
    "bond": BOND_OPTIONS + ("active_slave",),
    "vlan": ("parent", "id", "protocol"),
    "user": (USER_FORWARD_DELAY,),
}
_ADDRESS_KEY = re.compile(r"^addresse?s?[0-9]*$")   # ASCII digits: NetworkManager reads no others
# NetworkManager's secret properties (NM_SETTING_PARAM_SECRET in libnm-core, 1.42), by the shape of their names:
# psk, leap-password, wep-key0-3 ([wifi-security]); password, password-raw, pin, *-password, private-key(-password)
# ([802-1x], [gsm], [pppoe]...); private-key, preshared-key ([wireguard], its peers); mka-cak ([macsec]); and
# every key of [vpn-secrets]. A *-flags key only says where a secret is kept.
_SECRET_KEY = re.compile(r"^(?:.*-)?(?:psk|password|password-raw|pin|secret|secrets|private-key|preshared-key|mka-cak)$"
                         r"|^wep-key\d$")
_MKSTEMP = re.compile(r"\.[A-Za-z0-9]{6}$")


# -- the file: GLib's key file syntax, every line kept -------------------------

def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(value[i + 1], "\\" + value[i + 1]))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _escape(value: str) -> str:
    text = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return "\\s" + text[1:] if text.startswith(" ") else text


class KeyFile:
    """A keyfile as lines: groups with their key lines, comments and blank lines kept where they are."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.head: list = []      # lines before the first group (comments, blank)
        self.groups: list = []    # [name, header line, [line, ...]]; a line is a str or [key, raw line]
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                (self.groups[-1][2] if self.groups else self.head).append(raw)
            elif line.startswith("[") and line.endswith("]"):
                self.groups.append([line[1:-1], raw, []])
            elif "=" in line and self.groups:
                key = line.split("=", 1)[0].rstrip()
                if not key:
                    raise ValidationError([f"{path}: line {number}: a key is missing before '='"])
                self.groups[-1][2].append([key, raw])
            elif not self.groups:
                raise ValidationError([f"{path}: line {number}: {raw!r} comes before the first [section]; "
                                       f"NetworkManager cannot read this file"])
            else:
                raise ValidationError([f"{path}: line {number}: {raw!r} is neither key=value, [section] nor a comment; "
                                       f"NetworkManager cannot read this file"])
        seen: dict = {}
        for group in self.groups:
            name = SECTION_ALIASES.get(group[0], group[0])
            if name in seen and seen[name] != group[0]:
                raise ValidationError([f"{path}: sections [{seen[name]}] and [{group[0]}] are the same setting; "
                                       f"keep one of them"])
            seen[name] = group[0]

    def _group(self, section: str):
        for group in self.groups:
            if SECTION_ALIASES.get(group[0], group[0]) == section:
                return group
        return None

    def has(self, section: str) -> bool:
        return self._group(section) is not None

    def keys(self, section: str) -> list:
        group = self._group(section)
        return [] if group is None else [line[0] for line in group[2] if isinstance(line, list)]

    def get(self, section: str, key: str):
        """The value (unescaped) of the last `key` in `section`, as GLib reads it; None when absent."""
        group = self._group(section)
        found = None
        for line in group[2] if group else ():
            if isinstance(line, list) and line[0] == key:
                found = _unescape(line[1].split("=", 1)[1].lstrip())
        return found

    def set(self, section: str, key: str, value: str) -> None:
        """Change the key in place (its last line; earlier duplicates go), or add it to the section."""
        group = self._group(section)
        if group is None:
            group = [section, f"[{section}]", []]
            self.groups.append(group)
        lines = group[2]
        where = [i for i, line in enumerate(lines) if isinstance(line, list) and line[0] == key]
        new = [key, f"{key}={_escape(value)}"]
        if where:
            if lines[where[-1]][1].split("=", 1)[1].lstrip() != new[1].split("=", 1)[1]:
                lines[where[-1]] = new
            for i in reversed(where[:-1]):
                del lines[i]
            return
        last = max([i for i, line in enumerate(lines) if isinstance(line, list)], default=-1)
        lines.insert(last + 1, new)

    def remove(self, section: str, key_or_test) -> None:
        group = self._group(section)
        if group is None:
            return
        test = key_or_test if callable(key_or_test) else (lambda k: k == key_or_test)
        group[2] = [line for line in group[2] if not (isinstance(line, list) and test(line[0]))]

    def remove_section(self, section: str) -> None:
        self.groups = [g for g in self.groups if SECTION_ALIASES.get(g[0], g[0]) != section]

    def text(self) -> str:
        out = list(self.head)
        for index, (_name, header, lines) in enumerate(self.groups):
            if index and out and out[-1].strip():
                out.append("")
            out.append(header)
            out.extend(line[1] if isinstance(line, list) else line for line in lines)
        while out and not out[-1].strip():
            out.pop()
        return "\n".join(out) + "\n"


# -- values -------------------------------------------------------------------

def _bool(kf: KeyFile, section: str, key: str, default: bool) -> bool:
    value = kf.get(section, key)
    if value is None:
        return default
    if value.strip().lower() in ("true", "1"):
        return True
    if value.strip().lower() in ("false", "0"):
        return False
    raise ValidationError([f"{kf.path}: [{section}] {key}={value!r} is not a boolean (true or false)"])


def _int(kf: KeyFile, section: str, key: str, low: int = 0, high: int = 2 ** 31 - 1):
    value = kf.get(section, key)
    if value is None:
        return None
    number = ascii_int(value)
    if number is None or not low <= number <= high:
        raise ValidationError([f"{kf.path}: [{section}] {key}={value!r} is not a whole number in {low}-{high} "
                               f"(ASCII digits)"])
    return number


def parse_bridge_vlans(text: str, where: str) -> list:
    """NetworkManager's `vlans=` ('1 pvid untagged,20,300-400 untagged') -> [(first, last, pvid, untagged)].

    Beyond the syntax, NetworkManager refuses a VLAN listed twice and more than one PVID (a single VLAN)."""
    out, seen, pvids = [], set(), 0
    for low, high, flags in parse_entries(text, where, separators=",", flags=("pvid", "untagged")):
        if "pvid" in flags:
            pvids += 1
            if low != high or pvids > 1:
                entry = " ".join((str(low) if low == high else f"{low}-{high}",) + flags)
                raise ValidationError([f"{where}: only one single VLAN can be the PVID (NetworkManager refuses {entry!r})"])
        vids = set(range(low, high + 1))
        if vids & seen:
            raise ValidationError([f"{where}: VLAN {min(vids & seen)} is listed twice (NetworkManager refuses that)"])
        seen |= vids
        out.append((low, high, "pvid" in flags, "untagged" in flags))
    return out


def membership_after(entries, default_pvid: int) -> dict:
    """The kernel's VLANs on a port (or the bridge) after NetworkManager 1.42 set it up.

    The kernel gives a joining port the bridge's default PVID (untagged); then
    NetworkManager adds the listed VLANs, and a listed VLAN replaces the flags of
    the same VLAN (the PVID moves to the entry marked pvid): nm-device-bridge.c.
    """
    flags = {default_pvid: (True, True)} if default_pvid else {}
    for low, high, is_pvid, untagged in entries:
        add_vids(flags, range(low, high + 1), is_pvid, untagged)
    return from_flags(flags)


def format_bridge_vlans(member: dict, where: str) -> str:
    """A membership -> NetworkManager's `vlans=` text listing every VLAN (sorted, one single-VLAN pvid entry)."""
    by_vid = flags_by_vid(member)
    pvid = member.get("pvid")
    if pvid is not None and pvid not in by_vid:
        raise ValidationError([f"{where}: pvid {pvid} is neither untagged nor tagged; NetworkManager makes the PVID a "
                               f"member of the port, so this membership cannot be written"])
    return ",".join((f"{a}" if a == b else f"{a}-{b}") + (" pvid" if p else "") + (" untagged" if u else "")
                    for a, b, (p, u) in runs(sorted(by_vid.items())))


def _has_vid1(member) -> bool:
    return 1 in flags_by_vid(member)


def _options(kf: KeyFile, section: str, attrs, absent: bool = False) -> dict:
    """The options of `attrs` a profile's `section` says (NM_WORDS), in the kernel's range; where it says none,
    the kind's default (`absent`), else None."""
    values = {}
    for attr in attrs:
        key = NM_WORDS.get(attr.name)
        raw = kf.get(section, key) if key else None
        if raw is None:
            values[attr.name] = attr.default if absent else None
            continue
        value = _bool(kf, section, key, False) if is_flag(attr) else _int(kf, section, key)
        value = zero_read(attr, value, NM_ZERO_IS_DEFAULT, NM_DEFAULTS)
        value = float(value) if is_seconds(attr) else value
        problem = out_of_range(attr, value)
        if problem:
            raise ValidationError([f"{kf.path}: [{section}] {key}={raw.strip()}: {problem} (the kernel refuses it)"])
        values[attr.name] = value
    return values


def _fill_options(kf: KeyFile, values: dict, section: str, attrs, where: str) -> None:
    """Write `values` of `attrs` in `section` (NM_WORDS), leaving out what NetworkManager applies without."""
    for attr in attrs:
        key = NM_WORDS.get(attr.name)
        value = values.get(attr.name)
        if unsaid(attr, value, NM_DEFAULTS):
            if key:
                kf.remove(section, key)
            continue
        if key is None:
            raise ValidationError([f"{where}.{attr.name}: NetworkManager has no property for it (only "
                                   f"{NM_DEFAULTS.get(attr.name, attr.default)!r} can be saved)"])
        problem = zero_problem(attr, value, NM_ZERO_IS_DEFAULT, NM_DEFAULTS, f"{where}.")
        if problem:
            raise ValidationError([f"{problem} (NetworkManager applies its default for {section}.{key}=0)"])
        if is_seconds(attr) and not float(value).is_integer():
            raise ValidationError([f"{where}.{attr.name}: {value:g} seconds cannot be written: NetworkManager keeps "
                                   f"{section}.{key} in whole seconds"])
        kf.set(section, key, ("true" if value else "false") if is_flag(attr) else str(int(value)))


def _forward_delay_text(fd) -> str:
    return f"{fd:g}"


# -- profiles -----------------------------------------------------------------

class Profile:
    """One keyfile: its path, the document, and what identifies it."""

    def __init__(self, path: str, kf: KeyFile):
        self.path = path
        self.kf = kf
        raw_type = (kf.get("connection", "type") or "").strip()
        self.raw_type = raw_type
        self.kind = TYPES.get(raw_type)
        self.ifname = (kf.get("connection", "interface-name") or "").strip() or None
        self.uuid = (kf.get("connection", "uuid") or "").strip().lower() or None
        controller = kf.get("connection", "master")
        if controller is None:
            controller = kf.get("connection", "controller")
        self.master_ref = (controller or "").strip() or None
        port_type = kf.get("connection", "slave-type")
        if port_type is None:
            port_type = kf.get("connection", "port-type")
        self.port_type = (port_type or "").strip() or None


def refuse_mac_bound(files: dict, desired: HostNetwork) -> None:
    """A profile that binds a device netsafe writes by its MAC address only (no interface-name) competes with ours
    at boot, and NetworkManager may pick it (seen on the systemd test host: the bridge port lost after a power
    cut): refused, naming it, before anything is written."""
    # NICs only: a bridge, bond or VLAN has the MAC of a port or parent, which is not what the profile binds.
    macs = {dev.mac.lower(): name for name, dev in desired.devices.items() if dev.mac and isinstance(dev, Nic)}
    problems = []
    for path in sorted(files):
        if files[path] is None:
            continue
        kf = KeyFile(path, files[path])
        if (kf.get("connection", "interface-name") or "").strip():
            continue
        mac = (kf.get("ethernet", "mac-address") or "").strip().lower()
        if mac in macs:
            name = macs[mac]
            problems.append(f"{name}: {path} binds this device by its MAC address ({mac}) without interface-name: "
                            f"NetworkManager may activate it at boot instead of the profile netsafe writes. Add "
                            f"interface-name={name} to it (netsafe then reads and updates it), or delete it")
    if problems:
        raise ValidationError(problems + ["nothing was written"])


class KeyfileFormat(PersistFormat):
    """NetworkManager keyfiles, one profile per device, `<ifname>.nmconnection` for the profiles we create."""

    NAME = "networkmanager"
    DEFAULT_PATH = "/etc/NetworkManager/system-connections"
    PATH_IS_DIR = True
    NEW_FILE_MODE = 0o600   # NetworkManager ignores a keyfile with any group or other permission bit

    # -- secrets and scope -------------------------------------------------------

    def secret_key(self, section: str, key: str) -> bool:
        key = key.lower()
        return not key.endswith("-flags") and (section == "vpn-secrets" or bool(_SECRET_KEY.match(key)))

    def as_written(self, dev):
        return as_written(dev)

    def describing(self, files: dict, names) -> set:
        profiles = self._profiles(files)
        return {profiles[name].path for name in names if name in profiles}

    # -- reading ---------------------------------------------------------------

    @staticmethod
    def ignored_name(name: str) -> bool:
        """NetworkManager's own rule for /etc (nm_keyfile_utils_ignore_filename, 1.42): no extension required."""
        return (not name or name.startswith(".") or name.endswith("~") or bool(_MKSTEMP.search(name))
                or name.lower().endswith((".pem", ".der")))

    def profile_path(self, ifname: str) -> str:
        return os.path.join(self.path, ifname + SUFFIX)

    def read(self) -> dict:
        """Every file NetworkManager would load from the directory: regular, owned by root (or us), mode without
        group/other bits, not a name it ignores. A file it would refuse for its mode is left out, as it does."""
        self.check_path()
        real = self.host_path(self.path)
        files: dict = {}
        if not os.path.isdir(real):
            return files
        for name in sorted(os.listdir(real)):
            if self.ignored_name(name) or not self._loadable(os.path.join(real, name)):
                continue
            with open(os.path.join(real, name), encoding="utf-8") as handle:
                files[os.path.join(self.path, name)] = handle.read()
        return files

    def _loadable(self, real: str) -> bool:
        try:
            st = os.stat(real)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o077

    def _profiles(self, files: dict) -> dict:
        """ifname -> Profile for the profiles of the types we model; refuses two profiles for one device."""
        by_name: dict = {}
        for path in sorted(files):
            if files[path] is None:
                continue
            profile = Profile(path, KeyFile(path, files[path]))
            if not profile.kf.has("connection"):
                raise ValidationError([f"{path}: has no [connection] section; NetworkManager cannot read it"])
            if profile.kind is None or profile.ifname is None:
                continue   # another kind of profile (wifi, team, ...) or one bound by MAC only: not ours to read
            by_name.setdefault(profile.ifname, []).append(profile)
        out = {}
        for name, found in by_name.items():
            if len(found) > 1:
                raise ValidationError([f"{self.path}: {len(found)} profiles are for interface {name}: "
                                       f"{', '.join(p.path for p in found)}; NetworkManager picks one at boot by "
                                       f"autoconnect-priority and by when each was last used, which no file says. "
                                       f"Delete or merge the others first"])
            out[name] = found[0]
        return out

    def parse(self, files: dict) -> HostNetwork:
        return self._parse_profiles(self._profiles(files))

    def parse_lenient(self, files: dict) -> tuple:
        problems: list = []
        return self._parse_profiles(self._profiles(files), problems), problems

    def _master_name(self, profile: Profile, by_uuid: dict):
        ref = profile.master_ref
        if ref is None:
            return None
        if profile.port_type not in ("bridge", "bond"):
            raise ValidationError([f"{profile.path}: [connection] slave-type={profile.port_type!r}: only ports of a "
                                   f"bridge or a bond are supported"])
        return by_uuid.get(ref.lower(), ref)

    def _parse_profiles(self, profiles: dict, problems: list | None = None) -> HostNetwork:
        """The model of the profiles. With `problems` (a list), a profile that cannot be read is left out and
        recorded there as a Problem of its device, for a save to refuse only when it writes that device;
        without, the first one raises."""
        by_uuid = {p.uuid: name for name, p in profiles.items() if p.uuid}
        host = HostNetwork()

        def unreadable(name, exc):
            if problems is None:
                raise exc
            problems.append(Problem("; ".join(exc.problems), [name]))
            host.devices.pop(name, None)

        for name, profile in sorted(profiles.items()):
            try:
                host.add(self._device(profile, self._master_name(profile, by_uuid), by_uuid))
            except ValidationError as exc:
                unreadable(name, exc)
        port_values(host, NM_DEFAULTS)
        # Port VLANs need the bridge's default PVID: a second pass.
        for name, profile in profiles.items():
            dev = host.get(name)
            if dev is None:
                continue
            bridge_profile = profiles.get(dev.master) if dev.master else None
            try:
                if isinstance(dev, Bridge) and dev.vlan_filtering:
                    dev.vlans = membership_after(self._vlans(profile, "bridge"), self._default_pvid(profile))
                elif isinstance(host.get(dev.master or ""), Bridge) and host.get(dev.master).vlan_filtering:
                    dev.vlans = membership_after(self._vlans(profile, "bridge-port"),
                                                 self._default_pvid(bridge_profile))
            except ValidationError as exc:
                unreadable(name, exc)
        return host

    def _vlans(self, profile: Profile, section: str) -> list:
        text = profile.kf.get(section, "vlans")
        return parse_bridge_vlans(text, f"{profile.path}: [{section}] vlans") if text else []

    def _default_pvid(self, profile: Profile) -> int:
        value = _int(profile.kf, "bridge", "vlan-default-pvid", 0, 4094)
        return 1 if value is None else value

    def _device(self, profile: Profile, master, by_uuid: dict):
        kf, path = profile.kf, profile.path
        common = {"name": profile.ifname, "master": master, "up": _bool(kf, "connection", "autoconnect", True),
                  "mtu": _int(kf, "ethernet", "mtu", 0, 65535) or None, "ip": self._ip(profile, master),
                  **(_options(kf, "bridge-port", PORT_OPTIONS) if profile.port_type == "bridge" else {})}
        if profile.kind == "bridge":
            stp = _bool(kf, "bridge", "stp", True)
            fd = _int(kf, "bridge", "forward-delay", 0, 30)
            kept = kf.get("user", USER_FORWARD_DELAY)
            if kept is not None and not stp:
                forward_delay = ascii_decimal(kept)
                if forward_delay is None:
                    raise ValidationError([f"{path}: [user] {USER_FORWARD_DELAY}={kept!r} is not a number of seconds "
                                           f"(ASCII digits)"])
            else:
                forward_delay = float(fd or NM_FORWARD_DELAY_DEFAULT)
            options = _options(kf, "bridge", BRIDGE_OPTIONS, absent=True)
            return Bridge(stp=stp, forward_delay=forward_delay,
                          vlan_filtering=_bool(kf, "bridge", "vlan-filtering", False), **options, **common)
        if profile.kind == "bond":
            return self._bond(profile, common)
        if profile.kind == "vlan":
            parent = (kf.get("vlan", "parent") or "").strip()
            if not parent:
                raise ValidationError([f"{path}: [vlan] parent is missing"])
            vlan_id = _int(kf, "vlan", "id", 1, 4094)
            if vlan_id is None:
                raise ValidationError([f"{path}: [vlan] id is missing"])
            protocol = (kf.get("vlan", "protocol") or DEFAULT_VLAN_PROTOCOL).strip()
            if protocol not in VLAN_PROTOCOLS:
                raise ValidationError([f"{path}: [vlan] protocol={protocol!r}; allowed {', '.join(VLAN_PROTOCOLS)}"])
            return Vlan(parent=by_uuid.get(parent.lower(), parent), vlan_id=vlan_id, protocol=protocol, **common)
        return Nic(**common)

    def _bond(self, profile: Profile, common: dict) -> Bond:
        """Options as NetworkManager applies them: its defaults for what is left out (miimon 100 unless ARP
        monitoring is set), and ARP monitoring dropped when miimon is set (nm-setting-bond.c)."""
        kf, path = profile.kf, profile.path
        values = {}
        for key in BOND_OPTIONS + ("active_slave",):
            raw = kf.get("bond", key)
            if raw is None:
                continue
            raw = raw.strip()
            if key in BOND_NUMBERS:
                names = BOND_NUMBERS[key]
                number = ascii_int(raw)
                if number is not None and number < len(names):
                    raw = names[number]
                if raw not in names:
                    raise ValidationError([f"{path}: [bond] {key}={raw!r} is not allowed; allowed {', '.join(names)} "
                                           f"(or their numbers 0-{len(names) - 1} in ASCII digits)"])
                values[key] = raw
            elif key in ("primary", "active_slave"):
                values[key] = raw or None
            elif key == "arp_ip_target":
                values[key] = [t.strip() for t in raw.split(",") if t.strip()]
            else:
                values[key] = _int(kf, "bond", key)
        if "mode" not in values:
            raise ValidationError([f"{path}: [bond] mode is missing; NetworkManager refuses a bond profile without it"])
        options = dict(NM_BOND_DEFAULTS)
        options.update({k: v for k, v in values.items() if k != "active_slave"})
        if options["primary"] is None and values.get("active_slave"):
            options["primary"] = values["active_slave"]
        if "miimon" not in values:
            options["miimon"] = 0 if values.get("arp_interval") else 100
        elif values["miimon"]:
            options["arp_interval"], options["arp_ip_target"] = 0, []
        bond = Bond(**options, **common)
        problems = [f"{path}: [bond] {p}" for p in bond.problems() if not p.startswith(("name", "mtu", "addresses"))]
        if problems:
            raise ValidationError(problems)
        return Bond(**options_in_mode(bond), **common)

    def _ip(self, profile: Profile, master) -> IpConfig:
        """Ports have no IP configuration (NetworkManager drops it); `manual` lists the addresses,
        `disabled`/`ignore`/`link-local` none, and `auto`/`dhcp` leave them to DHCP or RA: not said (None)."""
        if master is not None:
            return IpConfig(addresses=[], gateway4=None, gateway6=None, routes=[])
        addresses, gateways, dynamic, routes = [], {}, False, []
        for family, section in ((4, "ipv4"), (6, "ipv6")):
            kf, path = profile.kf, profile.path
            method = (kf.get(section, "method") or "auto").strip()
            if method in ("auto", "dhcp", "shared"):
                dynamic = True
            elif method not in ("manual", "disabled", "ignore", "link-local"):
                raise ValidationError([f"{path}: [{section}] method={method!r} is not a method NetworkManager knows"])
            gateway = (kf.get(section, "gateway") or "").strip() or None
            for key in sorted((k for k in kf.keys(section) if _ADDRESS_KEY.match(k)), key=_address_order):
                raw = kf.get(section, key)
                for item in (i.strip() for i in raw.split(";") if i.strip()):
                    address, _sep, via = item.partition(",")
                    iface = self._of_family(ipaddress.ip_interface, address.strip(), family,
                                            f"{path}: [{section}] {key}=", "address with prefix")
                    if method == "manual":
                        addresses.append(iface)
                    if via.strip() and gateway is None:
                        gateway = via.strip()
            if method != "manual":
                gateway = None
            if gateway is not None:
                gateways[family] = self._of_family(ipaddress.ip_address, gateway, family,
                                                   f"{path}: [{section}] gateway ", "address")
            routes += profile_routes(profile, section, family)
        ip = IpConfig(addresses=None if dynamic else addresses, gateway4=gateways.get(4), gateway6=gateways.get(6),
                      routes=None if dynamic else routes)
        return ip.normalized()

    @staticmethod
    def _of_family(parse, text: str, family: int, where: str, what: str) -> str:
        """`text` read by `parse` (ipaddress.ip_interface or ip_address) as an IPv`family` value, else an error
        naming `where` (the file, section and key)."""
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or value.version != family:
            raise ValidationError([f"{where}{text!r} is not an IPv{family} {what}"])
        return str(value)

    # -- writing ---------------------------------------------------------------

    def refuse_competing(self, files: dict, kernel: HostNetwork) -> None:
        refuse_mac_bound(files, kernel)

    def render(self, files: dict, desired: HostNetwork, remove=()) -> dict:
        # netplan with the NetworkManager renderer makes its own profile of the device (netplan_files.py).
        refuse_netplan_owned(self, desired.devices)
        profiles = self._profiles(files)
        unreadable: list = []
        current = self._parse_profiles(profiles, unreadable)
        # A profile that cannot be read stays as it is, unless the save writes its device or a master of one.
        refuse(unreadable, set(desired.devices) | set(remove) | {d.master for d in desired.devices.values() if d.master})
        final = HostNetwork(devices=dict(current.devices))
        for name in remove:
            final.devices.pop(name, None)
        final.devices.update(desired.devices)
        changes: dict = {}
        for name in sorted(remove):
            if name in profiles and name not in desired.devices:
                changes[profiles[name].path] = None
        texts = {}
        for name, dev in sorted(desired.devices.items()):
            mine = current.get(name)
            if mine is not None and description(mine, as_written(dev)) == as_written(dev).to_dict() \
                    and not self._pvid_change(profiles.get(name), dev, final):
                continue
            path, text = self._render_one(files, profiles.get(name), dev, final)
            texts[path] = text
        # A bridge whose ports changed may need another default PVID (see _default_pvid_for).
        for name, dev in sorted(final.devices.items()):
            if name in desired.devices or not isinstance(dev, Bridge) or name not in profiles:
                continue
            if self._pvid_change(profiles[name], dev, final):
                path, text = self._render_one(files, profiles[name], dev, final)
                texts[path] = text
        for path, text in texts.items():
            if files.get(path) != text:
                changes[path] = text
        return changes

    @staticmethod
    def _default_pvid_for(bridge: Bridge, final: HostNetwork) -> int:
        """1 (the kernel's and NetworkManager's default) when the bridge and every port of it in the files
        have VLAN 1, else 0: NetworkManager 1.42 can add port VLANs but never remove the default one, and a
        default of 0 makes the listed VLANs exact. With 0 a guest port that joins later gets no VLAN until its
        hypervisor gives it one."""
        members = [bridge.vlans] + [p.vlans for p in final.ports_of(bridge.name) if p.vlans is not None]
        return 1 if all(_has_vid1(m) for m in members) else 0

    def _pvid_change(self, profile, dev, final) -> bool:
        if profile is None or not isinstance(dev, Bridge) or not dev.vlan_filtering:
            return False
        return self._default_pvid(profile) != self._default_pvid_for(dev, final)

    def _render_one(self, files: dict, profile, dev, final: HostNetwork) -> tuple:
        kind = dev.TYPE
        if kind not in ("nic", "bridge", "bond", "vlan"):
            raise ValidationError([f"devices: {dev.name!r} is a {kind} device; NetworkManager keyfiles are written "
                                   f"for NICs, bridges, bonds and VLANs"])
        if dev.name.startswith("."):
            raise ValidationError([f"devices: {dev.name!r}: NetworkManager ignores a keyfile whose name starts with '.'"])
        if profile is None:
            path = self.profile_path(dev.name)
            if path in files or os.path.lexists(self.host_path(path)):
                raise ValidationError([f"{path}: exists but does not hold a profile NetworkManager loads for "
                                       f"interface {dev.name} (another interface's profile, or a mode with group/other "
                                       f"permissions, which NetworkManager ignores); fix or move it first"])
            kf = KeyFile(path, "")
            ident = dev.name
            uid = str(uuid.uuid5(UUID_NAMESPACE, dev.name))
        else:
            path, kf = profile.path, KeyFile(profile.path, files[profile.path])
            if TYPES.get(profile.raw_type) != kind:
                ident = kf.get("connection", "id") or dev.name
                uid = profile.uuid or str(uuid.uuid5(UUID_NAMESPACE, dev.name))
                kf = KeyFile(path, "")   # another type of device now: a new profile under the same id and uuid
            else:
                ident, uid = None, None
        if ident is not None:
            kf.set("connection", "id", ident)
            kf.set("connection", "uuid", uid)
        self._fill(kf, dev, final)
        return path, kf.text()

    def _fill(self, kf: KeyFile, dev, final: HostNetwork) -> None:
        kind = dev.TYPE
        where = f"devices[{dev.name}]"
        kf.set("connection", "type", {"nic": "ethernet"}.get(kind, kind))
        kf.set("connection", "interface-name", dev.name)
        if dev.up:
            kf.remove("connection", "autoconnect")
        else:
            kf.set("connection", "autoconnect", "false")
        master = final.get(dev.master) if dev.master else None
        for key in ("controller", "port-type"):
            kf.remove("connection", key)
        if dev.master:
            if not isinstance(master, (Bridge, Bond)):
                raise ValidationError([f"{where}: its master {dev.master!r} is not a bridge or bond described in the files"])
            kf.set("connection", "master", dev.master)
            kf.set("connection", "slave-type", master.TYPE)
        else:
            kf.remove("connection", "master")
            kf.remove("connection", "slave-type")
        if dev.mtu is not None:
            kf.set("ethernet", "mtu", str(dev.mtu))
        else:
            kf.remove("ethernet", "mtu")
        for section in ("bridge", "bond", "vlan"):
            if section != kind:
                kf.remove_section(section)
        if kind == "bridge":
            self._fill_bridge(kf, dev, final, where)
        elif kind == "bond":
            self._fill_bond(kf, dev, where)
        elif kind == "vlan":
            kf.set("vlan", "parent", dev.parent)
            kf.set("vlan", "id", str(dev.vlan_id))
            kf.set("vlan", "protocol", dev.protocol or DEFAULT_VLAN_PROTOCOL)
        if kind != "bridge":
            kf.remove("user", USER_FORWARD_DELAY)
        text = ""
        if isinstance(master, Bridge) and master.vlan_filtering and dev.vlans is not None:
            text = format_bridge_vlans(dev.vlans, f"{where}.vlans")
        if text:
            kf.set("bridge-port", "vlans", text)
        else:
            kf.remove("bridge-port", "vlans")
        port = {a.name: getattr(dev, a.name) for a in PORT_OPTIONS} if isinstance(master, Bridge) else {}
        _fill_options(kf, port, "bridge-port", PORT_OPTIONS, where)
        self._fill_ip(kf, dev, where)
        for section in ("user", "bridge-port"):
            if kf.has(section) and not kf.keys(section):
                kf.remove_section(section)

    def _fill_bridge(self, kf: KeyFile, dev: Bridge, final: HostNetwork, where: str) -> None:
        kf.set("bridge", "stp", "true" if dev.stp else "false")
        fd = dev.forward_delay
        low, high = NM_FORWARD_DELAY_RANGE
        if fd is None:
            kf.remove("bridge", "forward-delay")
            kf.remove("user", USER_FORWARD_DELAY)
        elif float(fd).is_integer() and low <= fd <= high:
            kf.set("bridge", "forward-delay", str(int(fd)))
            kf.remove("user", USER_FORWARD_DELAY)
        elif dev.stp:
            raise ValidationError([f"{where}.forward_delay: {_forward_delay_text(fd)} seconds cannot be written: "
                                   f"NetworkManager keeps the forward delay of a bridge with STP in whole seconds "
                                   f"{low}-{high}; use {max(low, int(fd))} or {min(high, int(fd) + 1)}"])
        else:
            # STP off: the kernel puts ports straight into forwarding and never waits for the delay. NetworkManager
            # cannot set 0 or a fraction (0 in its key means the kernel's default of 15 s), so the key is left out
            # and the exact value is kept as user data, which NetworkManager keeps and never applies.
            kf.remove("bridge", "forward-delay")
            kf.set("user", USER_FORWARD_DELAY, _forward_delay_text(fd))
        kf.set("bridge", "vlan-filtering", "true" if dev.vlan_filtering else "false")
        _fill_options(kf, {a.name: getattr(dev, a.name) for a in BRIDGE_OPTIONS}, "bridge", BRIDGE_OPTIONS, where)
        if dev.vlan_filtering:
            kf.set("bridge", "vlan-default-pvid", str(self._default_pvid_for(dev, final)))
            text = format_bridge_vlans(dev.vlans or {"pvid": None, "untagged": [], "tagged": []}, f"{where}.vlans")
            if text:
                kf.set("bridge", "vlans", text)
            else:
                kf.remove("bridge", "vlans")
        else:
            kf.remove("bridge", "vlan-default-pvid")
            kf.remove("bridge", "vlans")

    def _fill_bond(self, kf: KeyFile, dev: Bond, where: str) -> None:
        options = bond_options_for_mode(dev)
        options["mode"] = dev.mode or DEFAULT_BOND_MODE
        if options.get("arp_interval") and options.get("miimon"):
            raise ValidationError([f"{where}: miimon and arp_interval are both set; NetworkManager would drop ARP "
                                   f"monitoring. Set one of them to 0"])
        if options.get("arp_interval") and not options.get("arp_ip_target"):
            raise ValidationError([f"{where}.arp_ip_target: NetworkManager refuses arp_interval without targets"])
        options.setdefault("miimon", 0)   # NetworkManager's own default would be 100: always say it
        kf.remove("bond", lambda key: key in KEYS_WE_OWN["bond"] and key not in options)
        for key in ("mode",) + tuple(sorted(k for k in options if k != "mode")):
            value = options[key]
            if key == "arp_ip_target":
                if not value:
                    kf.remove("bond", key)
                    continue
                value = ",".join(value)
            kf.set("bond", key, str(value))

    def _fill_ip(self, kf: KeyFile, dev, where: str) -> None:
        if dev.master:
            if dev.ip.routes:
                raise ValidationError([f"{where}.routes: {dev.name} is a port of {dev.master}; NetworkManager gives a "
                                       f"port no IP configuration, so its routes cannot be written"])
            kf.remove_section("ipv4")
            kf.remove_section("ipv6")
            return
        addresses = list(dev.ip.addresses or [])
        for family, section, gateway in ((4, "ipv4", dev.ip.gateway4), (6, "ipv6", dev.ip.gateway6)):
            mine = [a for a in addresses if (":" in a) == (family == 6)]
            if gateway and not mine:
                raise ValidationError([f"{where}.gateway{family}: {gateway} needs an IPv{family} address on the device; "
                                       f"NetworkManager refuses a gateway without one"])
            kf.remove(section, lambda key: bool(_ADDRESS_KEY.match(key)) or key == "gateway")
            kf.set(section, "method", "manual" if mine else "disabled")
            for index, address in enumerate(mine, start=1):
                kf.set(section, f"address{index}", address + (f",{gateway}" if index == 1 and gateway else ""))
            if dev.ip.routes is not None:   # None: not managed, the route keys stay as they are
                fill_routes(kf, section, [r for r in dev.ip.routes if r.family == family])


def _address_order(key: str):
    digits = re.sub(r"[^0-9]", "", key)
    return (int(digits) if digits else 0, key)
