# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""What a person reads about probe results: one line each, and which required ones failed."""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.probes.kinds import KINDS


def failed_required(results) -> list:
    """The results of required probes that failed."""
    return [result for result in results if result["required"] and not result["ok"]]


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def summary_line(result: dict) -> str:
    """One line a person reads at 02:00: `icmp 10.77.0.1: ok, 0.21 ms`, `tcp 10.77.0.1:22: FAILED, connection refused after 3 attempts`."""
    kind = KINDS[result["type"]]
    attempts = result["attempts"]
    if result["ok"]:
        parts = []
        if result["latency_ms"] is not None:
            parts.append(f"{_ms(result['latency_ms'])} ms")
        parts += kind.ok_parts(result)
        if kind.retries and attempts > 1:
            parts.append(f"at attempt {attempts}")
        return f"{result['name']}: ok" + "".join(", " + part for part in parts)
    head = "FAILED" if result["required"] else "failed (not required)"
    line = f"{result['name']}: {head}, {result['error']}"
    if kind.retries and attempts:
        line += f" after {attempts} attempt{'' if attempts == 1 else 's'}"
    return line
