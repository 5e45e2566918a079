# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The VLAN kind: id, protocol and loose binding of an 802.1Q/802.1ad device on its parent (IFLA_LINK)."""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.attrs import (
    U16, Attr, Ethertype, FlagBit, Kind, OneOf, Range,
)

IFLA_VLAN_ID = 1
IFLA_VLAN_FLAGS = 2
IFLA_VLAN_PROTOCOL = 5
VLAN_FLAG_LOOSE_BINDING = 0x4

VLAN_PROTOCOLS = ("802.1Q", "802.1ad")
DEFAULT_VLAN_PROTOCOL = VLAN_PROTOCOLS[0]
_ETHERTYPES = {"802.1Q": 0x8100, "802.1ad": 0x88A8}

VLAN = Kind("vlan", (
    # iproute2 writes `protocol P id N`; the protocol goes with the id (vlan_params).
    Attr("protocol", IFLA_VLAN_PROTOCOL, Ethertype(_ETHERTYPES, DEFAULT_VLAN_PROTOCOL), check=OneOf(VLAN_PROTOCOLS),
         default=DEFAULT_VLAN_PROTOCOL, absent=DEFAULT_VLAN_PROTOCOL),
    Attr("vlan_id", IFLA_VLAN_ID, U16(), "id", check=Range(1, 4094)),
    # Loose binding: the VLAN's admin state does not follow its parent's (off by default).
    Attr("loose_binding", IFLA_VLAN_FLAGS, FlagBit(VLAN_FLAG_LOOSE_BINDING), default=False, absent=False,
         on_create="on"),
))


def vlan_params(params: dict) -> dict:
    """A request's VLAN attributes as sent: the protocol only with an id, 802.1Q unless given."""
    out = {k: v for k, v in params.items() if k != "protocol"}
    if params.get("vlan_id") is not None:
        out["protocol"] = params.get("protocol") or DEFAULT_VLAN_PROTOCOL
    return out
