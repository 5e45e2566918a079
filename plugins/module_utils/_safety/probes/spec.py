# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""A probe, validated and normalised once: every key filled in, each type's own keys checked by its kind.

`PROBE_OPTIONS` is the argument spec of one probe (the suboptions of every
module option that takes probes: net_probe's, net_checkpoint's and
net_state's checkpoint.probes), so Ansible converts the types and refuses a
misspelt key; `probe_problems` and `normalize` check what a spec means (and
are what the watchdog, which runs without Ansible, checks its record with).
"""
from __future__ import annotations

import math

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.kinds import KINDS

PROBE_TYPES = tuple(KINDS)
PROBE_KEYS = ("type", "target", "port", "server", "record", "size", "dont_fragment", "mtu", "required", "count",
              "timeout", "name")
# Keys that mean something for one type only: each kind's own.
ONLY_FOR = {key: kind.name for kind in KINDS.values() for key in kind.keys}
DEFAULT_COUNT = 3
DEFAULT_TIMEOUT = 1.0
# The longest a probe may take: a gate probe must not hold a watchdog past its deadline (the watchdog
# also gives its probes only the time left), and a task's probes must end in reasonable time.
MAX_COUNT = 100
MAX_PROBE_SECONDS = 300.0

PROBE_OPTIONS = dict(
    type=dict(type="str", required=True, choices=list(PROBE_TYPES)),
    target=dict(type="str"),
    port=dict(type="int"),
    server=dict(type="str"),
    record=dict(type="str"),
    size=dict(type="int"),
    dont_fragment=dict(type="bool"),
    mtu=dict(type="int"),
    required=dict(type="bool", default=True),
    count=dict(type="int", default=DEFAULT_COUNT),
    timeout=dict(type="float", default=DEFAULT_TIMEOUT),
    name=dict(type="str"),
)


def longest(kind: str, count: int, timeout: float, extra: int = 0) -> float:
    """The longest one probe (one target) can take: count (+ extra) attempts of timeout each, and the waits."""
    return round((count + extra) * timeout + KINDS[kind].waits(count), 3)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _common_problems(spec: dict, where: str, kind, extra: int) -> list:
    problems = []
    if spec.get("required") is not None and not isinstance(spec["required"], bool):
        problems.append(f"{where}.required: must be true or false, got {spec['required']!r}")
    count = spec.get("count", DEFAULT_COUNT)
    count = DEFAULT_COUNT if count is None else count
    if not _whole(count) or not 1 <= count <= MAX_COUNT:
        problems.append(f"{where}.count: must be a whole number from 1 to {MAX_COUNT}, got {spec['count']!r}")
        count = None
    timeout = spec.get("timeout", DEFAULT_TIMEOUT)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    if not _number(timeout) or timeout <= 0:
        problems.append(f"{where}.timeout: must be a number of seconds greater than 0, got {spec['timeout']!r}")
        timeout = None
    if kind is not None and count is not None and timeout is not None:
        most = longest(kind.name, count, timeout, extra)
        if most > MAX_PROBE_SECONDS:
            waits = kind.waits(count)
            between = f", plus {waits:g} s between them," if waits else ""
            more = f", and {extra} at a smaller size," if extra else ""
            problems.append(f"{where}.count and {where}.timeout: {count} attempts of up to {timeout:g} s{between}{more}"
                            f" may take {most:g} s; a probe may take at most {MAX_PROBE_SECONDS:g} s: lower count or "
                            f"timeout")
    name = spec.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(f"{where}.name: must be a non-empty string, got {name!r}")
    return problems


def _spec_problems(spec: dict, where: str) -> list:
    problems = [f"{where}.{key}: unknown key; a probe takes {', '.join(PROBE_KEYS)}" for key in spec
                if key not in PROBE_KEYS]
    name = spec.get("type")
    kind = KINDS.get(name) if isinstance(name, str) else None
    if name is None:
        problems.append(f"{where}.type: required, one of {', '.join(PROBE_TYPES)}")
    elif kind is None:
        problems.append(f"{where}.type: must be one of {', '.join(PROBE_TYPES)}, got {name!r}")
    if kind is not None:
        problems += [f"{where}.{key}: only for type {owner}, not {kind.name}; remove it"
                     for key, owner in ONLY_FOR.items() if owner != kind.name and spec.get(key) is not None]
        own = kind.problems(spec, where)
        problems += own
        extra = 0 if own else kind.extra_attempts(spec)   # icmp's try at a smaller size needs a valid target
    else:
        extra = 0
    return problems + _common_problems(spec, where, kind, extra)


def probe_problems(specs, param: str = "probes") -> list:
    """Every problem with a list of probe specs, one line each, naming `param[i].key`. Pure: no I/O."""
    if specs is None:
        return []
    if not isinstance(specs, (list, tuple)):
        return [f"{param}: must be a list of probes (each a dict with a type), got {type(specs).__name__}"]
    problems = []
    for index, spec in enumerate(specs):
        where = f"{param}[{index}]"
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be a dict with a type ({', '.join(PROBE_TYPES)}), "
                            f"got {type(spec).__name__}")
            continue
        problems.extend(_spec_problems(spec, where))
    return problems


def normalize(specs, param: str = "probes") -> list:
    """The specs with every key filled in (defaults); ValidationError when any is invalid.

    Idempotent: a normalized list normalizes to itself. Keys that do not apply
    to a probe's type are None. Pure: no I/O (a dns probe's default server is
    looked up when it runs).
    """
    problems = probe_problems(specs, param)
    if problems:
        raise ValidationError(problems)
    result = []
    for spec in specs or []:
        kind = KINDS[spec["type"]]
        target = spec.get("target")
        probe = {key: None for key in PROBE_KEYS}
        probe.update(kind.fill(spec))
        probe.update(
            type=kind.name,
            target=target.strip() if isinstance(target, str) else target,
            required=True if spec.get("required") is None else spec["required"],
            count=DEFAULT_COUNT if spec.get("count") is None else spec["count"],
            timeout=float(DEFAULT_TIMEOUT if spec.get("timeout") is None else spec["timeout"]),
        )
        name = spec.get("name")
        probe["name"] = name.strip() if name else kind.default_name(probe)
        result.append(probe)
    return result
