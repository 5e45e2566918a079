# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""`format: auto`: which network stack owns the host's configuration, judged from its files.

Each stack leaves signs a reader can check without running anything: a
program, an enabled service, a runtime directory of its daemon. The answer
comes with the signs that led to it (the module reports them), and more than
one stack in use, or none, is an error that asks for `format`: writing the
files of a stack the host does not read would be a silent no-op at reboot.

netplan is not a daemon but a generator in front of one: on an Ubuntu host
the *.yaml of /lib/netplan, /etc/netplan and /run/netplan (cloud-init may
write there) are the configuration, and netplan renders it for
systemd-networkd or NetworkManager at every boot, so the signs of that
renderer are there too. netplan then wins over them (it is not "more than one
stack"): its generated files come before anything written for networkd or
NetworkManager (netplan_files.py), so those formats would not be what the
host boots. A host with ifupdown2 as well as netplan files stays ambiguous.
"""
from __future__ import annotations

import os

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan_files import NETPLAN_DIRS

WANTS = ("etc/systemd/system/multi-user.target.wants", "etc/systemd/system/network-online.target.wants")

# format -> ((relative path, what it shows), ...): any one present counts.
SIGNS = {
    "ifupdown2": (
        ("usr/share/ifupdown2/__main__.py", "ifupdown2 is installed"),
        ("etc/pve", "Proxmox VE (its network stack is ifupdown2)"),
    ),
    "networkmanager": (
        ("run/NetworkManager/NetworkManager.pid", "NetworkManager is running"),
        # started by systemd it writes no pid file (Debian 12): its runtime device state is the sign then
        ("run/NetworkManager/devices", "NetworkManager is running"),
        ("etc/systemd/system/multi-user.target.wants/NetworkManager.service", "NetworkManager.service is enabled"),
    ),
    "networkd": (
        ("run/systemd/netif/state", "systemd-networkd is running"),
        ("etc/systemd/system/multi-user.target.wants/systemd-networkd.service", "systemd-networkd.service is enabled"),
    ),
}


# Stacks netplan renders for: their signs on a netplan host are netplan's doing.
NETPLAN_RENDERERS = ("networkd", "networkmanager")


def _netplan_files(root: str) -> list:
    """The *.yaml files (as the host sees them) in every directory netplan reads."""
    found = []
    for netplan_dir in NETPLAN_DIRS:
        directory = os.path.join(root, netplan_dir.lstrip("/"))
        if os.path.isdir(directory):
            found += [os.path.join(netplan_dir, e) for e in sorted(os.listdir(directory))
                      if e.endswith(".yaml") and not e.startswith(".") and os.path.isfile(os.path.join(directory, e))]
    return found


def detect(root: str = "/") -> tuple:
    """(format, [why]) for the host whose / is `root`; ValidationError when it is not exactly one."""
    found = {}
    for name, signs in SIGNS.items():
        reasons = [f"{why} (/{rel})" for rel, why in signs if os.path.lexists(os.path.join(root, rel))]
        if reasons:
            found[name] = reasons
    netplan = _netplan_files(root)
    if netplan:
        rendered = [f"{name}: {', '.join(found.pop(name))}" for name in NETPLAN_RENDERERS if name in found]
        found["netplan"] = [f"netplan configuration ({', '.join(netplan)})"] + [
            f"netplan renders it, so its renderer's signs do not count as another stack ({part})" for part in rendered]
    if len(found) == 1:
        name = next(iter(found))
        return name, found[name]
    if not found:
        classic = os.path.exists(os.path.join(root, "etc/network/interfaces"))
        hint = (" (/etc/network/interfaces exists, but ifupdown2 is not installed: classic ifupdown is not supported; "
                "install ifupdown2 or set format)") if classic else ""
        raise ValidationError([f"format: auto found no network stack it supports{hint}; set format to one of "
                               f"ifupdown2, networkmanager, networkd, netplan"])
    shown = "; ".join(f"{name}: {', '.join(reasons)}" for name, reasons in sorted(found.items()))
    raise ValidationError([f"format: auto found more than one network stack in use ({shown}); set format to the one "
                           f"that configures these devices at boot"])
