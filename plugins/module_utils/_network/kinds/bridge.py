# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The bridge kind, and the bridge port (a device enslaved to a bridge): attributes, kernel ranges and defaults.

Durations are seconds in the model (Proxmox VE's bridge-fd), hundredths in
the kernel and in iproute2 (attrs.Centiseconds). Ranges are the kernel's
(net/bridge/br_private.h, br_stp_if.c): hello_time 1-10 s, max_age 6-40 s,
forward_delay 2-30 s while STP runs, port cost 1-65535, port priority 0-63.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.attrs import (
    U16, U32, Attr, Centiseconds, Flag, IsBool, Kind, Range, seconds,
)

IFLA_BR_FORWARD_DELAY = 1
IFLA_BR_HELLO_TIME = 2
IFLA_BR_MAX_AGE = 3
IFLA_BR_AGEING_TIME = 4
IFLA_BR_STP_STATE = 5
IFLA_BR_PRIORITY = 6
IFLA_BR_VLAN_FILTERING = 7
IFLA_BR_TOPOLOGY_CHANGE = 14
IFLA_BR_MCAST_SNOOPING = 23
IFLA_BRPORT_PRIORITY = 2
IFLA_BRPORT_COST = 3

FORWARD_DELAY_STP = (2, 30)

BRIDGE = Kind("bridge", (
    Attr("stp", IFLA_BR_STP_STATE, Flag("=I"), "stp_state", default=False),
    Attr("forward_delay", IFLA_BR_FORWARD_DELAY, Centiseconds(), check=seconds(0, 30), default=15.0),
    # Off is a new bridge's default, and a kernel without bridge VLAN filtering refuses it even as 0.
    Attr("vlan_filtering", IFLA_BR_VLAN_FILTERING, Flag("=B"), default=False, on_create="on"),
    Attr("ageing_time", IFLA_BR_AGEING_TIME, Centiseconds(), check=seconds(0, 1000000), default=300.0),
    Attr("mcast_snooping", IFLA_BR_MCAST_SNOOPING, Flag("=B"), check=IsBool(), default=True),
    Attr("hello_time", IFLA_BR_HELLO_TIME, Centiseconds(), check=seconds(1, 10), default=2.0),
    Attr("max_age", IFLA_BR_MAX_AGE, Centiseconds(), check=seconds(6, 40), default=20.0),
    Attr("priority", IFLA_BR_PRIORITY, U16(), check=Range(0, 65535), default=32768),
))

# A bridge port's own attributes: on the port device, set once it is a port (`type bridge_slave`). A joining
# port gets priority 32; its cost the kernel derives from its speed (no default the model can predict).
BRIDGE_PORT = Kind("bridge", (
    Attr("port_cost", IFLA_BRPORT_COST, U32(), "cost", check=Range(1, 65535)),
    Attr("port_priority", IFLA_BRPORT_PRIORITY, U16(), "priority", check=Range(0, 63), default=32),
), ip_type="bridge_slave", slave=True)


def bridge_problems(bridge) -> list:
    """The table's checks plus the one that ties two attributes: a forward delay STP can run with."""
    found = BRIDGE.problems(bridge)
    fd = bridge.forward_delay
    fd_bad = any(problem.startswith("forward_delay:") for problem in found)
    if bridge.stp and not fd_bad and fd is not None and fd < FORWARD_DELAY_STP[0]:
        found.append(f"forward_delay: {fd:g} is too short with stp enabled; allowed 2-30 seconds (0 only without STP)")
    return found


def stp_ageing_time(values: dict, data: dict):
    """The ageing time a read may trust: None while STP's topology change shows its stand-in.

    During a topology change (about max_age + forward_delay after a port
    starts forwarding) the kernel ages entries after 2 x forward_delay and
    reports that as IFLA_BR_AGEING_TIME; the configured value comes back
    after it. A snapshot taken then must not record the stand-in (a rollback
    would make it permanent), so it is unknown (None: left alone). A value
    set during the change is reported as set, and kept.
    """
    ageing, fd = values.get("ageing_time"), values.get("forward_delay")
    change = data.get(IFLA_BR_TOPOLOGY_CHANGE)
    if change is not None and change[0] and ageing is not None and fd is not None and ageing == 2 * fd:
        return None
    return ageing
