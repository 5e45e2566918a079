# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The words of ifupdown2's and Proxmox VE's files that this format reads and writes.

Where ifupdown2 has no key (a fractional forward delay, a bridge's MTU other
than its default, ARP monitoring and ad_select of a bond, the bridge's own
VLAN entry), the format writes an `ip`/`bridge` command on a `pre-up` or
`post-up` line in one fixed form, and reads back only that form
(`command_key`): a line in any other form is the operator's and stays as it is.
"""
from __future__ import annotations

import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import BOND_MODES
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import BRIDGE_OPTIONS, is_seconds


METHODS_WITHOUT_STATIC = ("dhcp", "dhcp6", "ppp", "tunnel", "auto")
BOND_NATIVE = {"miimon": "bond-miimon", "updelay": "bond-updelay", "downdelay": "bond-downdelay",
               "lacp_rate": "bond-lacp-rate", "xmit_hash_policy": "bond-xmit-hash-policy",
               "primary": "bond-primary", "min_links": "bond-min-links"}
BOND_BY_COMMAND = ("ad_select", "arp_interval", "arp_ip_target")   # no ifupdown2 key: an `ip link` pre-up line
BOND_MODE_NUMBERS = {str(i): mode for i, mode in enumerate(BOND_MODES)}
LACP_NUMBERS = {"0": "slow", "1": "fast"}
PORT_VLAN_KEYS = ("bridge-vids", "bridge-trunk", "bridge-pvid", "bridge-access", "bridge-allow-untagged")
# A bridge's options and a bridge port's attributes (_persist/options.py): model attribute -> ifupdown2's key
# (addons/bridge.py). Seconds are whole seconds there (it sends int(value) * 100); a fraction, or an ageing
# time past the key's range, goes on a post-up `ip link` line (RE_BR_SECONDS). A port's keys go on its own
# stanza (render.py says why); the bridge's `port=value` lists are read too.
IFUPDOWN2_WORDS = {
    "ageing_time": "bridge-ageing",
    "mcast_snooping": "bridge-mcsnoop",
    "hello_time": "bridge-hello",
    "max_age": "bridge-maxage",
    "priority": "bridge-bridgeprio",
    "port_cost": "bridge-pathcosts",
    "port_priority": "bridge-portprios",
}
SECONDS_KEY_MAX = 65535   # ifupdown2's validrange of bridge-ageing (bridge-hello and bridge-maxage: 255)
# ifupdown2's own words of a flag (ifupdown/utils.py _string_values; case-sensitive, any other word reads as no).
FLAG_WORDS = {"yes": True, "on": True, "1": True, "no": False, "off": False, "0": False}
_OPTION_KEYS = tuple(IFUPDOWN2_WORDS[a.name] for a in BRIDGE_OPTIONS if a.name in IFUPDOWN2_WORDS)
TYPE_KEYS = {
    "bridge": ("bridge-ports", "bridge-stp", "bridge-fd", "bridge-vlan-aware", "#bridge-fd", "#self-vlan", "#bridge-mtu")
    + _OPTION_KEYS + tuple(f"#{k}" for k in _OPTION_KEYS),
    "bond": ("bond-slaves", "bond-ports", "bond-mode") + tuple(BOND_NATIVE.values())
    + tuple(f"#bond-{k}" for k in BOND_BY_COMMAND),
    "vlan": ("vlan-raw-device", "vlan-id", "vlan-protocol"),
}


# ifupdown2's default_mtu: what `ifup` sets a bridge to when its stanza has no `mtu` (addons/address.py).
IFUPDOWN2_DEFAULT_MTU = 1500


# Proxmox VE's own files: its SDN (pve-network) writes this one, and the staged copy is the main file's name + .new.
SDN_FILE = "/etc/network/interfaces.d/sdn"
STAGED_SUFFIX = ".new"
PRIO = {"lo": 100000, "nic": 200000, "bond": 400000, "bridge": 500000, "vlan": 600000}   # Proxmox VE's writer


# The command lines this format writes where ifupdown2 has no key (and reads back, in exactly this form).
# Numbers in our own lines are ASCII digits ([0-9], not \d, which also matches other scripts' digits that
# iproute2 would refuse): a line with others is not ours and stays as it is.
RE_BR_MTU = re.compile(r"^post-up\s+ip\s+link\s+set\s+dev\s+(\S+)\s+mtu\s+([0-9]+)$")
RE_BR_FD = re.compile(r"^post-up\s+ip\s+link\s+set\s+dev\s+(\S+)\s+type\s+bridge\s+forward_delay\s+([0-9]+)$")
RE_BR_SECONDS = re.compile(r"^post-up\s+ip\s+link\s+set\s+dev\s+(\S+)\s+type\s+bridge\s+([a-z_]+)\s+([0-9]+)$")
# The ip word of each bridge option in seconds (kinds/bridge.py) -> the pseudo key of its post-up line.
SECONDS_COMMANDS = {a.word: f"#{IFUPDOWN2_WORDS[a.name]}" for a in BRIDGE_OPTIONS
                    if is_seconds(a) and a.name in IFUPDOWN2_WORDS}
RE_BOND_CMD = re.compile(r"^pre-up\s+ip\s+link\s+set\s+dev\s+(\S+)\s+type\s+bond\s+(ad_select|arp_interval|arp_ip_target)\s+(\S+)$")
RE_SELF_VLAN = re.compile(r"^post-up\s+bridge\s+vlan\s+(add|del)\s+dev\s+(\S+)\s+vid\s+([0-9]+)(?:-([0-9]+))?((?:\s+(?:pvid|untagged))*)\s+self$")


def command_key(key: str, value: str, name) -> str | None:
    """The pseudo key of a command line this format writes, or None for any other line."""
    if key not in ("pre-up", "post-up"):
        return None
    text = f"{key} {' '.join(value.split())}"
    found = RE_BR_FD.match(text)
    if found and found.group(1) == name:
        return "#bridge-fd"
    found = RE_BR_SECONDS.match(text)
    if found and found.group(1) == name and found.group(2) in SECONDS_COMMANDS:
        return SECONDS_COMMANDS[found.group(2)]
    found = RE_BR_MTU.match(text)
    if found and found.group(1) == name:
        return "#bridge-mtu"
    found = RE_BOND_CMD.match(text)
    if found and found.group(1) == name:
        return f"#bond-{found.group(2)}"
    found = RE_SELF_VLAN.match(text)
    if found and found.group(2) == name:
        return "#self-vlan"
    return None
