# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The characters a name we are given may use: interface names and network namespace names alike.

The kernel allows nearly any byte in both. We take in only characters that
mean nothing to a shell, a glob (networkd's `Name=`, ifupdown2's
`bridge-ports`), a path or iproute2's option parser, so that a name never
matches more than itself wherever it is written or shown. Every name Proxmox
VE, libvirt and the kernel make fits (vmbr0v100, fwpr101p0, bond0.100,
vxlan_x, virbr0-nic, enp5s0f1, cni-0d3c...).
"""
from __future__ import annotations

import re

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SAFE_CHARACTERS = "ASCII letters, digits, '-', '_' and '.', starting with a letter or digit"


def is_safe(name: str) -> bool:
    return SAFE_NAME.fullmatch(name) is not None
