# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Run normalised probes in order, each by the runner its type names in the table (kinds.KINDS)."""
from __future__ import annotations

import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.kinds import KINDS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.neighbour import default_gateways
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.spec import normalize


def new_result(probe: dict) -> dict:
    return {
        "name": probe["name"], "type": probe["type"], "target": probe["target"], "port": probe["port"],
        "server": probe["server"], "record": probe["record"], "required": probe["required"],
        "ok": False, "attempts": 0, "replies": 0, "latency_ms": None, "error": None, "elapsed_ms": 0.0,
        "detail": {},
    }


def run_target(probe: dict, namespace, deadline, index) -> dict:
    """The result of one probe for one target (`index`: the gateway's ifindex, or None)."""
    result = new_result(probe)
    started = time.monotonic()
    if deadline is not None and started >= deadline:
        result["error"] = "not run: the overall deadline had passed"
        return result
    try:
        KINDS[probe["type"]].run(probe, namespace, deadline, result, index)
    finally:
        result["elapsed_ms"] = round((time.monotonic() - started) * 1000, 3)
    return result


def run_one(probe: dict, namespace, deadline, gateways=None) -> list:
    """The result(s) of one normalized probe (a neighbour probe without target: one per default gateway)."""
    return [run_target(one, namespace, deadline, index)
            for one, index in KINDS[probe["type"]].targets(probe, namespace, gateways)]


def resolve(specs, namespace: str | None = None) -> list:
    """The normalized probes `run_probes` runs: `specs`, or icmp to each default gateway when there are none.

    A change window runs the same resolved list before the change, after it
    and in the host's watchdog, so "the default gateways" means the gateways
    of the host as it was before the change.
    """
    probes = normalize(specs or [])
    nl.require_namespace(namespace)
    if probes:
        return probes
    gateways = default_gateways(namespace)
    if not gateways:
        where = f"namespace {namespace}" if namespace else "the host"
        raise NetsafeError(f"no probe was given and {where} has no default gateway (no default route in the "
                           f"main table) to probe; give probes, e.g. [{{type: icmp, target: <address>}}]")
    return normalize([{"type": "icmp", "target": address} for _index, address in gateways])


def run_resolved(probes, namespace: str | None = None, deadline: float | None = None) -> list:
    """Run probes `resolve` returned (normalized, not checked again); one result dict each."""
    results = []
    for probe in probes:
        results.extend(run_one(probe, namespace, deadline))
    return results


def run_probes(specs, namespace: str | None = None, deadline: float | None = None) -> list:
    """Run the probes in order inside `namespace` (None: this process's own); one result dict each.

    No specs: icmp to each default gateway of the namespace (NetsafeError when
    there is none; see resolve). `deadline` is a time.monotonic() value bounding
    the whole run: attempts are cut short at it, and a probe it has passed
    reports "not run". Invalid specs raise ValidationError; a missing namespace
    NamespaceNotFound; a raw socket refused (not root) PermissionError.
    """
    return run_resolved(resolve(specs, namespace), namespace, deadline)
