"""The change_window role's argument specs of its device lists are net_state's own spec (hacking/change_window_specs.py).

The role passes change_window_nics, _bonds, _vlans, _bridges and _routes to net_state unchanged; its argument
specs must take exactly what net_state's entries take, or a key net_state knows would be refused (or one it
does not know let through). The first test fails when the committed file is not what the script writes from
the spec today; the second compares the committed specs with the requests' SPEC key by key, independently of
the script's own code.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import requests
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import probes

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "roles" / "change_window" / "meta" / "argument_specs.yml"
KEYS = ("type", "elements", "required", "default", "choices")


def test_the_committed_argument_specs_are_what_the_script_writes():
    proc = subprocess.run([sys.executable, str(ROOT / "hacking" / "change_window_specs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def _same(role: dict, spec: dict, where: str) -> list:
    """What differs; an alias is an option of its own in the role's specs (ansible-lint's schema has no `aliases`),
    of its option's type and without its default."""
    problems = []
    aliases = {alias: key for key, arg in spec.items() for alias in arg.get("aliases", [])}
    if set(role) != set(spec) | set(aliases):
        problems.append(f"{where}: role has {sorted(set(role) - set(spec) - set(aliases))}, "
                        f"spec has {sorted(set(spec) | set(aliases) - set(role))}")
    for alias, key in aliases.items():
        wanted = {k: spec[key][k] for k in ("type", "elements") if k in spec[key]}
        if alias in role and {k: v for k, v in role[alias].items() if k != "description"} != wanted:
            problems.append(f"{where}.{alias}: {role[alias]} is not an alias of {key} ({wanted})")
    for key in set(role) & set(spec):
        theirs = {k: spec[key][k] for k in KEYS if k in spec[key]}
        ours = {k: role[key][k] for k in KEYS if k in role[key]}
        if theirs != ours:
            problems.append(f"{where}.{key}: role {ours} != spec {theirs}")
        if "options" in spec[key] or "options" in role[key]:
            problems += _same(role[key].get("options", {}), spec[key].get("options", {}), f"{where}.{key}")
        if not role[key].get("description"):
            problems.append(f"{where}.{key}: no description")
    return problems


def test_each_list_takes_exactly_net_states_entries():
    options = yaml.safe_load(SPECS.read_text())["argument_specs"]["main"]["options"]
    lists = {"change_window_nics": requests.NicRequest.SPEC, "change_window_bonds": requests.BondRequest.SPEC,
             "change_window_vlans": requests.VlanRequest.SPEC, "change_window_bridges": requests.BridgeRequest.SPEC,
             "change_window_routes": dict(device=dict(type="str", required=True), **requests.ROUTE_SPEC)}
    problems = []
    for name, spec in lists.items():
        assert (options[name]["type"], options[name]["elements"]) == ("list", "dict"), name
        problems += _same(options[name]["options"], spec, name)
    assert problems == []
    assert options["change_window_bonds"]["options"]["slaves"]["type"] == "list"
    assert options["change_window_vlans"]["required_if"] == json.loads(json.dumps(requests.VlanRequest.RULES["required_if"]))


def test_the_probes_take_exactly_a_probes_keys():
    """change_window_probes goes to net_state's checkpoint.probes: each entry has the probe spec (PROBE_OPTIONS)."""
    options = yaml.safe_load(SPECS.read_text())["argument_specs"]["main"]["options"]
    assert (options["change_window_probes"]["type"], options["change_window_probes"]["elements"]) == ("list", "dict")
    assert _same(options["change_window_probes"]["options"], probes.PROBE_OPTIONS, "change_window_probes") == []
    assert "mtu" in options["change_window_probes"]["options"]
