# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""A bridge's options and a bridge port's attributes, as every format persists them.

The rows are the bridge kind's (kinds/bridge.py BRIDGE and BRIDGE_PORT).
Each format keeps ONE table next to its code that maps a model attribute to
its own word (ifupdown2 `IFUPDOWN2_WORDS`, NetworkManager `NM_WORDS`,
networkd `NETWORKD_WORDS`); the value's syntax follows the attribute's row:
a duration in seconds (codec Centiseconds), a flag (Flag), else a number,
each checked against the kernel's range the row holds. So persisting a new
bridge attribute is one line per format that has a word for it (see
docs/architecture.md). stp, forward_delay and vlan_filtering keep the rules
each format already had for them (their own keys, defaults and fallbacks).

A value the file leaves out means the format's default: the kind's default
(what the kernel gives a new bridge or a joining port) unless the format
applies another one (NetworkManager sets a port's path cost to 100). A port's
cost has no kernel default (it derives it from the port's speed): left out,
it is None, "not said".
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.attrs import Centiseconds, Flag
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE, BRIDGE_PORT
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bridge

# Bridge attributes with rules of their own in every format (not in the option tables).
OWN_RULES = ("stp", "forward_delay", "vlan_filtering")
BRIDGE_OPTIONS = tuple(a for a in BRIDGE.attrs if a.name not in OWN_RULES)
PORT_OPTIONS = BRIDGE_PORT.attrs


def is_seconds(attr) -> bool:
    return isinstance(attr.codec, Centiseconds)


def is_flag(attr) -> bool:
    return isinstance(attr.codec, Flag)


def out_of_range(attr, value):
    """The kind's check of `value` (a problem message naming the attribute), or None."""
    return attr.check.problem(attr.name, value) if attr.check is not None else None


def persisted_options(dev, master) -> dict:
    """The option values a file says of `dev` (scope.persisted_device): a bridge's options as the kernel has them
    (its default where it is not known), and a port's attributes when `master` is a bridge; None elsewhere."""
    values = {}
    if isinstance(dev, Bridge):
        values.update({a.name: a.default if getattr(dev, a.name) is None else getattr(dev, a.name)
                       for a in BRIDGE_OPTIONS})
    port = isinstance(master, Bridge)
    values.update({a.name: (a.default if getattr(dev, a.name) is None else getattr(dev, a.name)) if port else None
                   for a in PORT_OPTIONS})
    return values


def port_values(host, defaults=None) -> None:
    """A parsed model's port attributes as the format applies them: for a port of a bridge the files describe,
    the format's default for what the files leave out (`defaults`, else the kind's); for any other device none
    (a bridge-port key on a device that is not one is ignored by every format)."""
    defaults = defaults or {}
    for dev in host.devices.values():
        port = isinstance(host.get(dev.master or ""), Bridge)
        for attr in PORT_OPTIONS:
            if not port:
                setattr(dev, attr.name, None)
            elif getattr(dev, attr.name) is None:
                setattr(dev, attr.name, defaults.get(attr.name, attr.default))


def as_parsed(dev, master) -> dict:
    """`dev` as a parser reads it back once written: an option left None (not said) is the kind's default, so a
    render's check (ifupdown2's _verify) holds a hand-built device to what its file means."""
    out = dev.to_dict()
    if isinstance(dev, Bridge):
        out.update({a.name: a.default for a in BRIDGE_OPTIONS if out[a.name] is None})
    if isinstance(master, Bridge):
        out.update({a.name: a.default for a in PORT_OPTIONS if out[a.name] is None})
    return out


def zero_read(attr, value, zero_unset, defaults=None):
    """`value` as a format applies it: 0 for an attribute in `zero_unset` (the format sends nothing, or its
    default, for 0) is the format's default."""
    if value == 0 and not isinstance(value, bool) and attr.name in zero_unset:
        return (defaults or {}).get(attr.name, attr.default)
    return value


def zero_problem(attr, value, zero_unset, defaults=None, where: str = "") -> str | None:
    """Why a format cannot write `value`: 0 of an attribute in `zero_unset` that is not its default."""
    if value == 0 and not isinstance(value, bool) and attr.name in zero_unset and not unsaid(attr, value, defaults):
        default = (defaults or {}).get(attr.name, attr.default)
        return f"{where}{attr.name}: 0 cannot be written: the format reads 0 as its default ({default})"
    return None


def unsaid(attr, value, defaults=None) -> bool:
    """Whether a file need not write `value` of `attr`: None, or what the format applies without the key."""
    return value is None or value == (defaults or {}).get(attr.name, attr.default)
