# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Guest NICs listed by the user (tap_reenslave's `ports`, the watcher's settings)."""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import parse_vid
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    LISTED, ConfigProblem, Discovery, GuestNic, parse_mtu, parse_trunks,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import name_problem

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
            problem = name_problem(device, "device") or name_problem(bridge, "bridge")
            if problem:
                raise ConfigProblem(problem)
            nic = GuestNic(
                guest=device, kind="explicit", nic=device, device=device, bridge=bridge,
                vlan=parse_vid(item["vlan"], "vlan") if item.get("vlan") not in (None, "") else None,
                trunks=parse_trunks(item["trunks"]) if item.get("trunks") not in (None, "", []) else (),
                mtu=parse_mtu(item["mtu"]) if item.get("mtu") not in (None, "") else None,
                link_down=bool(item.get("link_down")),
                firewall=bool(item.get("firewall")),
                origin=where,
                claim=LISTED,
            )
        except ValidationError as exc:
            found.problems.append({"guest": device if isinstance(device, str) else None, "origin": where,
                                   "reason": f"{where}: {exc}"})
            continue
        found.nics.append(nic)
    return found
