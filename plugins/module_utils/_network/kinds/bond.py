# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The bond kind: its options, which mode uses which, and what the kernel refuses together."""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.attrs import (
    U32, Attr, Enum, Ifindex, Ipv4List, Ipv4Targets, Kind, OneOf, Range,
)


BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")
# The kernel's mode of a bond made without one.
DEFAULT_BOND_MODE = BOND_MODES[0]
BOND_ENUMS = {
    "mode": BOND_MODES,
    "lacp_rate": ("slow", "fast"),
    "xmit_hash_policy": ("layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"),
    "ad_select": ("stable", "bandwidth", "count"),
}
BOND_INTS = ("miimon", "updelay", "downdelay", "arp_interval", "min_links")
# Which modes an option means something in (the kernel refuses or ignores it elsewhere).
BOND_OPTION_MODES = {
    "lacp_rate": ("802.3ad",),
    "ad_select": ("802.3ad",),
    "xmit_hash_policy": ("balance-xor", "802.3ad", "balance-tlb"),
    "primary": ("active-backup", "balance-tlb", "balance-alb"),
    "arp_interval": ("balance-rr", "active-backup", "balance-xor", "broadcast"),
    "arp_ip_target": ("balance-rr", "active-backup", "balance-xor", "broadcast"),
}
# Options the kernel only changes while the bond is down (mode also needs no slaves).
BOND_NEEDS_DOWN = ("mode", "lacp_rate", "ad_select")

# IFLA_BOND_* of each option (include/uapi/linux/if_link.h).
_IFLA_OF = {"mode": 1, "miimon": 3, "updelay": 4, "downdelay": 5, "arp_interval": 7, "arp_ip_target": 8,
            "primary": 11, "xmit_hash_policy": 14, "min_links": 18, "lacp_rate": 21, "ad_select": 22}

BOND = Kind("bond", tuple(
    Attr(name, _IFLA_OF[name], Enum(names), check=OneOf(names)) for name, names in BOND_ENUMS.items()
) + tuple(
    Attr(name, _IFLA_OF[name], U32(), check=Range(0, 2**31 - 1, allowed="0 or more")) for name in BOND_INTS
) + (
    # primary is a port, named by the caller's name check (model.Bond); sent as 0 to clear it.
    Attr("primary", _IFLA_OF["primary"], Ifindex(), clears=True, on_create="never"),
    Attr("arp_ip_target", _IFLA_OF["arp_ip_target"], Ipv4List(), check=Ipv4Targets(16), absent=[]),
))
BOND_OPTIONS = BOND.names


def mode_of(bond) -> str:
    """The bond's mode, the kernel's default when the model does not say."""
    return bond.mode or DEFAULT_BOND_MODE


def bond_options_for_mode(bond) -> dict:
    """The bond's options that mean something in its mode (the kernel reports all of them in every mode).

    The one rule for holding a bond to its mode: what the files say of a bond, what the rebuild of a deleted
    bond sends, and what a rollback restores.
    """
    mode = mode_of(bond)
    out = {}
    for key in BOND_OPTIONS:
        value = getattr(bond, key)
        if mode not in BOND_OPTION_MODES.get(key, (mode,)):
            continue
        if key in ("updelay", "downdelay") and not bond.miimon:
            continue  # meaningless (and refused by the kernel) without MII monitoring
        if key == "arp_ip_target" and not bond.arp_interval:
            continue
        if key == "primary" and not value:
            continue
        out[key] = value
    return out


def bond_create_params(bond) -> dict:
    """What a `link add` sends to rebuild `bond`: only options its mode uses (updelay and downdelay only with MII
    monitoring: without it the kernel refuses them, even as 0); primary once its ports are back."""
    return {k: v for k, v in bond_options_for_mode(bond).items() if v not in (None, []) and k != "primary"}


def combination_problems(bond, given=BOND_OPTIONS) -> list:
    """Options that contradict each other, judged on the bond's effective settings.

    `given` names the options the task sets: the kernel reports values such
    as lacp_rate in every mode, so only options asked for are held to the mode.
    """
    found = []
    mode = mode_of(bond)
    for name, modes in BOND_OPTION_MODES.items():
        value = getattr(bond, name)
        if name in given and value and mode not in modes:
            found.append(f"{name}: only applies to mode {', '.join(modes)}; the bond's mode is {mode}")
    if (bond.miimon or 0) > 0 and (bond.arp_interval or 0) > 0:
        found.append("arp_interval: cannot be used together with miimon; set one of them to 0")
    if "arp_ip_target" in given and bond.arp_ip_target and (bond.arp_interval or 0) <= 0:
        found.append("arp_ip_target: needs arp_interval above 0")
    for name in ("updelay", "downdelay"):
        value = getattr(bond, name) or 0
        if value and (name in given or "miimon" in given):
            if (bond.miimon or 0) <= 0:
                found.append(f"{name}: needs miimon above 0")
            elif value % bond.miimon:
                found.append(f"{name}: {value} is not a multiple of miimon {bond.miimon}; the kernel would round it down")
    return found
