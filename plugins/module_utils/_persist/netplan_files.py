# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""netplan's files as every format sees them: YAML read as netplan reads it, and the devices netplan owns.

On a host with netplan (Ubuntu), the *.yaml files of /lib/netplan, /etc/netplan
and /run/netplan are the network's source (one file of each name: /run's
shadows /etc's, which shadows /lib's; `netplan_files`). netplan's generator turns them into /run/systemd/network/10-netplan-*
(networkd renderer) or /run/NetworkManager/system-connections/netplan-*
(NetworkManager renderer) at every boot. networkd applies the first .network
in lexical order of the file name, and 10-netplan-* sorts before
10-netsafe-*: a networkd file netsafe writes for a device netplan defines is
never applied. A NetworkManager profile netsafe writes competes with
netplan's own profile for the same interface, and which one NetworkManager
activates at boot is not ours to decide. So the networkd and keyfile formats
refuse such a device (`refuse_netplan_owned`), naming the netplan file and
suggesting `format: netplan`. An entry netplan generate fails on (a broken
symlink, a directory named *.yaml, a file that is not UTF-8 YAML) is refused
naming it: it cannot pass for "no device". See docs/net_persist_netplan.md.
"""
from __future__ import annotations

import os

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.files import under_root

try:
    import yaml
    HAS_YAML = True
except ImportError:   # Ubuntu's netplan.io depends on python3-yaml: a netplan host has it
    yaml = None
    HAS_YAML = False

NETPLAN_DIR = "/etc/netplan"
# Where netplan (0.106, and later versions alike) reads *.yaml, in its order: a file of the same name in a later
# directory shadows the earlier one whole (checked with netplan generate).
NETPLAN_DIRS = ("/lib/netplan", NETPLAN_DIR, "/run/netplan")
# The values (mappings, lists, scalars) a file may expand to through YAML aliases: far above any real netplan file,
# far below what a "billion laughs" file expands to (2**40 values from 40 lines).
MAX_VALUES = 100000
OUR_FILE = "90-netsafe.yaml"
# netplan's sections of device definitions: those net_persist writes, and the others (never written by netsafe,
# but netplan owns their devices all the same).
DEVICE_SECTIONS = ("ethernets", "bonds", "vlans", "bridges")
OTHER_SECTIONS = ("wifis", "modems", "tunnels", "vrfs", "nm-devices", "dummy-devices", "virtual-ethernets")


def need_yaml() -> None:
    if not HAS_YAML:
        raise ValidationError(["format: reading netplan's files needs PyYAML (Debian/Ubuntu python3-yaml, which "
                               "netplan.io itself depends on) on the host"])


def load_text(path: str, text: str) -> dict:
    """A file's `network` mapping as netplan's parser sees it: every scalar a string (yaml BaseLoader)."""
    need_yaml()
    try:
        doc = yaml.load(text, Loader=yaml.BaseLoader)   # nosec B506: BaseLoader builds only str, list and dict
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ValidationError([f"{where}: not YAML netplan can read ({getattr(exc, 'problem', None) or exc})"]) from None
    _bounded(path, doc)
    if doc in (None, ""):
        return {}
    if not isinstance(doc, dict) or not isinstance(doc.get("network", {}), dict):
        raise ValidationError([f"{path}: a netplan file is a mapping with one key, network"])
    network = doc.get("network") or {}
    if network.get("version", "2") != "2":
        raise ValidationError([f"{path}: network.version {network.get('version')!r}; netplan reads version 2"])
    for section in DEVICE_SECTIONS:
        if not isinstance(network.get(section, {}), dict):
            raise ValidationError([f"{path}: network.{section} is not a mapping of device definitions"])
    return network


def _bounded(path: str, doc) -> None:
    """Refuse a document whose aliases expand to more than MAX_VALUES values: reading it as netplan merges files
    (a copy of every aliased mapping) would exhaust memory. (PyYAML itself refuses an alias inside what it names.)"""
    sizes: dict = {}

    def size(value) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        if id(value) not in sizes:
            total = 1
            for item in value.values() if isinstance(value, dict) else value:
                total += size(item)
                if total > MAX_VALUES:
                    raise ValidationError([f"{path}: its YAML aliases (*name) expand to more than {MAX_VALUES} values "
                                           f"(a \"billion laughs\" document); netsafe refuses to expand it: write the "
                                           f"values out, or remove the aliases"])
            sizes[id(value)] = total
        return sizes[id(value)]

    size(doc)


def directories(ours: str = NETPLAN_DIR) -> tuple:
    """netplan's directories in its order; `ours` (the directory of format netplan's path) stands for /etc/netplan
    when it is none of them."""
    return tuple(ours if d == NETPLAN_DIR and ours not in NETPLAN_DIRS else d for d in NETPLAN_DIRS)


def netplan_files(root: str, dirs: tuple = NETPLAN_DIRS) -> dict:
    """{path as the host sees it: path on this machine} of the files netplan reads under `root`: every *.yaml of
    `dirs` (netplan's glob: not the hidden ones), one of each name, a later directory's shadowing an earlier one's.
    An entry named *.yaml that is not a file netplan can open (a broken symlink, a directory) is refused naming it:
    netplan generate fails on it whole, so nothing of netplan's would be generated at boot."""
    chosen, problems = {}, []
    for directory in dirs:
        real = under_root(root, directory, "root")
        if not os.path.isdir(real):
            continue
        for entry in sorted(os.listdir(real)):
            if not entry.endswith(".yaml") or entry.startswith("."):
                continue
            full, path = os.path.join(real, entry), os.path.join(directory, entry)
            if os.path.isfile(full):
                chosen[entry] = (path, full)
                continue
            if os.path.islink(full) and not os.path.exists(full):
                what = f"a broken symlink (to {os.readlink(full)})"
            else:
                what = "a directory" if os.path.isdir(full) else "not a regular file"
            problems.append(f"{path} is {what}: netplan generate reads every *.yaml of {', '.join(NETPLAN_DIRS)} and "
                            f"fails on it whole (nothing of netplan's is generated at boot). Remove it, or make it a "
                            f"netplan file; nothing was written")
    if problems:
        raise ValidationError(problems)
    return {path: full for _name, (path, full) in sorted(chosen.items())}


def read_text(path: str, real: str) -> str:
    """A netplan file's text; a clear error naming it when it is not UTF-8 (netplan's YAML parser refuses it)."""
    with open(real, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError([f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}), and "
                               f"netplan reads UTF-8 YAML only (netplan generate fails on this file). Write that "
                               f"byte in UTF-8 or remove it; nothing was written"]) from None


def read_files(root: str, dirs: tuple = NETPLAN_DIRS) -> dict:
    """{path as the host sees it: text} of every file netplan reads (`netplan_files`)."""
    return {path: read_text(path, real) for path, real in netplan_files(root, dirs).items()}


def netplan_devices(root: str, ours: str = "") -> dict:
    """{device: [files]} of the devices the files netplan reads under `root` define (/lib, /etc and /run/netplan),
    leaving out the file `ours` (as the host sees it). A file that is not YAML netplan can read is refused: it
    cannot pass for "no device"."""
    found: dict = {}
    for path, real in netplan_files(root).items():
        if path == ours:
            continue
        network = load_text(path, read_text(path, real))
        for section in DEVICE_SECTIONS + OTHER_SECTIONS:
            if isinstance(network.get(section), dict):
                for name in network[section]:
                    found.setdefault(name, []).append(path)
    return found


def refuse_netplan_owned(fmt, names) -> None:
    """ValidationError for every one of `names` a netplan file under fmt.root defines (format networkd, keyfile)."""
    owned = netplan_devices(fmt.root)
    problems = [f"{name}: netplan owns it ({', '.join(owned[name])} defines it), and what netplan generates from "
                f"that file at boot wins over a {fmt.NAME} file netsafe writes; nothing was written. Use format: "
                f"netplan (netsafe then writes {NETPLAN_DIR}/{OUR_FILE}), or remove {name} from that file"
                for name in sorted(set(names)) if name in owned]
    if problems:
        raise ValidationError(problems)
