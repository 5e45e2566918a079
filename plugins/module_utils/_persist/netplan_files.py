# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""netplan's files as every format sees them: YAML read as netplan reads it, and the devices netplan owns.

On a host with netplan (Ubuntu), the files in /etc/netplan are the network's
source: netplan's generator turns them into /run/systemd/network/10-netplan-*
(networkd renderer) or /run/NetworkManager/system-connections/netplan-*
(NetworkManager renderer) at every boot. networkd applies the first .network
in lexical order of the file name, and 10-netplan-* sorts before
10-netsafe-*: a networkd file netsafe writes for a device netplan defines is
never applied. A NetworkManager profile netsafe writes competes with
netplan's own profile for the same interface, and which one NetworkManager
activates at boot is not ours to decide. So the networkd and keyfile formats
refuse such a device (`refuse_netplan_owned`), naming the netplan file and
suggesting `format: netplan`. See docs/net_persist_netplan.md.
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


def netplan_devices(root: str, ours: str = "") -> dict:
    """{device: [files]} of the devices the files in /etc/netplan under `root` define, leaving out the file `ours`
    (as the host sees it). A file that is not YAML netplan can read is refused: it cannot pass for "no device"."""
    real = under_root(root, NETPLAN_DIR, "root")
    if not os.path.isdir(real):
        return {}
    found: dict = {}
    for entry in sorted(os.listdir(real)):
        path = os.path.join(NETPLAN_DIR, entry)
        if not entry.endswith(".yaml") or path == ours or not os.path.isfile(os.path.join(real, entry)):
            continue
        with open(os.path.join(real, entry), encoding="utf-8") as handle:
            network = load_text(path, handle.read())
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
                f"netplan (netsafe then writes /etc/netplan/{OUR_FILE}), or remove {name} from that file"
                for name in sorted(set(names)) if name in owned]
    if problems:
        raise ValidationError(problems)
