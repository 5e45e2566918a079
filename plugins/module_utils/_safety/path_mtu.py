# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The probes that prove an MTU a change raises: what a change window adds to its own.

A host that goes to MTU 9000 toward a switch port still at 1500 passes every
small ping; its first large NFS or migration packet is black-holed hours
later. So when the change raises the MTU of a device on the path to a
default gateway - the device holding the default route and every device
under it that carries its packets (a bridge's or bond's uplink ports, a
VLAN's parent) - the window also proves, after the change and in the
watchdog's gate, that the gateway is reached with packets of the new MTU and
don't-fragment set.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.route import RT_TABLE_MAIN
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Vlan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.neighbour import gateway_target

DEFAULT_MTU = 1500   # what the kernel gives an Ethernet device nobody set


def carriers(host, name: str, guests) -> list:
    """Device `name` and every device under it its packets leave through, top first; guests' ports are not."""
    seen, order, todo = set(), [], [name]
    while todo:
        current = todo.pop(0)
        dev = host.get(current)
        if dev is None or current in seen:
            continue
        seen.add(current)
        order.append(dev)
        if isinstance(dev, Vlan) and dev.parent:
            todo.append(dev.parent)
        todo.extend(port.name for port in host.ports_of(current) if not guests.is_guest_device(port))
    return order


def gateways(dev, others=()) -> list:
    """The default gateways `dev` holds: its gateway4/gateway6, and every other main-table default route via a
    gateway through it - at another metric (dhclient's 100, NetworkManager's 425: a route of the device in the
    model) or of another protocol (`others`: the routes netsafe does not manage, read.Snapshot.other_routes)."""
    found = [gw for gw in (dev.ip.gateway4, dev.ip.gateway6) if gw]
    for route in [*(dev.ip.routes or []), *(route for route, _why in others)]:
        if route.via and route.table in (None, RT_TABLE_MAIN) and route.is_default():
            found.append(route.via)
    return list(dict.fromkeys(found))


def _holder(host, gateway: str, others: dict):
    """The device holding default gateway `gateway` in `host`, or None."""
    return next((dev for dev in host.devices.values() if gateway in gateways(dev, others.get(dev.name, ()))), None)


def mtu_probes(before, after, guests, others: dict | None = None, only=None, caps: dict | None = None,
               unproven: list | None = None) -> list:
    """Probe specs proving the MTU the change from `before` to `after` raises on the path to each default gateway.

    A device on the path is raised when `after` gives it a larger MTU than
    `before` (a new device: larger than that of the device that held the
    gateway before, else than 1500). The probe's size is the MTU of the device
    holding the route after the change: the largest packet the host now sends
    toward the gateway. A route that moves to a device of a larger MTU than
    its old holder's raises that device too, whether its own MTU changed or
    not. `others`: device name -> [(Route, why)], the default routes netsafe
    does not manage, which stay on their device. `only`: the devices whose
    raise counts (None: all). `caps`: device name -> {gateway: MTU} of the
    default routes with an MTU of their own (read.Snapshot.gateway_mtus): no
    packet larger than that leaves toward the gateway, so the probe proves
    at most that, and none when it was the limit before the change too (jumbo
    on the LAN, the router at 1500: review 27). The LAN itself then carries
    the device's MTU unproven (the router's port may rightly be smaller):
    each such case is appended to `unproven` as {device, mtu, gateway, cap,
    raised} (review 27b).
    """
    others = others or {}
    specs = []
    for dev in sorted(after.devices.values(), key=lambda d: d.name):
        for gateway in gateways(dev, others.get(dev.name, ())):
            if not dev.mtu:
                continue
            old_holder = _holder(before, gateway, others)
            fallback = (old_holder.mtu if old_holder is not None else None) or DEFAULT_MTU
            raised = []
            for carrier in carriers(after, dev.name, guests):
                old = before.get(carrier.name)
                was = (old.mtu if old is not None else None) or fallback
                moved_up = carrier is dev and old_holder is not None and old_holder.name != dev.name and dev.mtu > fallback
                if carrier.mtu and (carrier.mtu > was or moved_up) and (only is None or carrier.name in only):
                    raised.append(carrier.name)
            cap = (caps or {}).get(dev.name, {}).get(gateway)
            size = min(dev.mtu, cap) if cap else dev.mtu
            if raised and cap and cap < dev.mtu and unproven is not None:
                unproven.append({"device": dev.name, "mtu": dev.mtu, "gateway": gateway, "cap": cap, "raised": raised})
            if cap and size <= min(fallback, cap):
                continue   # the route's own MTU was the limit before and still is
            if raised:
                target = gateway_target(gateway, dev.name)
                specs.append({"type": "icmp", "target": target, "mtu": size, "name": f"path mtu {target}",
                              "raised": raised})
    return specs


def window_probes(before, after, guests, given: list, others: dict | None = None, only=None,
                  caps: dict | None = None) -> tuple:
    """(probe specs to add to a window's `given` normalized probes, what they prove for the report, warnings).

    A probe the window was given already (icmp, same target and mtu) is not added twice. `before` is the host
    before the change, or for a window that changes nothing but writes the files, what the files say (`only`: the
    devices it writes): an MTU the files get is proven like an MTU the kernel gets. A warning names each MTU a
    default route's own MTU leaves unproven on the LAN, unless a given required probe proves that size.
    """
    # Only a required one covers it: an optional probe that fails does not roll back (review 27).
    required = [g for g in given if g.get("type") == "icmp" and g.get("required", True)]
    covered = {(g.get("target"), g.get("mtu")) for g in required}
    capped: list = []
    found = [s for s in mtu_probes(before, after, guests, others, only, caps, capped)
             if (s["target"], s["mtu"]) not in covered]
    warnings = [f"path MTU {c['mtu']} of {c['device']} not proven: the default route via {c['gateway']} has its own "
                f"mtu {c['cap']}, so its gateway proves no more than that (raised: {', '.join(c['raised'])}); give a "
                f"probe with mtu: {c['mtu']} to an address on that network (a storage or migration peer)"
                for c in capped if not any((g.get("mtu") or 0) >= c["mtu"] for g in required)]
    return ([{k: v for k, v in s.items() if k != "raised"} for s in found],
            [{"target": s["target"], "mtu": s["mtu"], "raised": s["raised"]} for s in found], warnings)
