"""Write the change_window role's argument specs of its device lists from net_state's own spec.

change_window_nics, _bonds, _vlans, _bridges and _routes are passed to
netsafe.hypervisor.net_state as they are, so their entries take exactly
net_state's entries: the per-device requests' SPEC (and ROUTE_SPEC) in
plugins/module_utils/_network/requests.py, the one source of net_state and of
net_nic, net_bond, net_vlan and net_bridge. This script copies that spec
(types, choices, defaults, aliases, required keys, nested options) into
roles/change_window/meta/argument_specs.yml as each list's `options`, with
the descriptions net_state documents for them (hacking/net_state_docs.py), so
Ansible's role argument validation refuses a misspelt key in an entry before
the role runs a task, naming it, and accepts the aliases (net_bond's `slaves`, written as options of
their own: ansible-lint's schema of role argument specs has no `aliases`).
change_window_probes goes to net_state's checkpoint.probes: its entries get
the probe spec (PROBE_OPTIONS, plugins/module_utils/_safety/probes/spec.py)
with net_state's descriptions of checkpoint.probes, the same way.

    python3 hacking/change_window_specs.py          # rewrite the role's argument specs
    python3 hacking/change_window_specs.py --check  # exit 1 when they are not up to date (tests/unit runs this)
"""
from __future__ import annotations

import ast
import atexit
import importlib
import pathlib
import re
import shutil
import sys
import tempfile

import yaml

import generated  # hacking/generated.py, beside this script

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "roles/change_window/meta/argument_specs.yml"
BEGIN, END = "      # BEGIN device lists: written by hacking/change_window_specs.py\n", "      # END device lists\n"
# (role variable, net_state's option, request class in requests.py or None for routes, what the entries are)
LISTS = (
    ("change_window_nics", "nics", "NicRequest", "NICs"),
    ("change_window_bonds", "bonds", "BondRequest", "Bonds"),
    ("change_window_vlans", "vlans", "VlanRequest", "VLAN devices"),
    ("change_window_bridges", "bridges", "BridgeRequest", "Bridges"),
    ("change_window_routes", "routes", None, "Static routes of devices no other list describes"),
)
PROBES_BEGIN, PROBES_END = "      # BEGIN probes: written by hacking/change_window_specs.py\n", "      # END probes\n"
SPEC_KEYS = ("type", "elements", "required", "default", "choices")


class _Dumper(yaml.SafeDumper):
    """Plain YAML as yamllint wants it: no anchors (a choices list shared by two options is written out twice),
    list items indented under their key."""

    def ignore_aliases(self, data):
        return True

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)   # list items indented under their key (yamllint)


_ON_PATH = []   # the directory put on sys.path to import the collection, once


def _collection_module(name: str):
    """plugins/module_utils/<name>, imported as the collection's own module."""
    if not _ON_PATH:
        if ROOT.parent.name == "netsafe" and ROOT.parent.parent.name == "ansible_collections":
            _ON_PATH.append(str(ROOT.parent.parent.parent))
        else:
            top = pathlib.Path(tempfile.mkdtemp(prefix="netsafe-specs-"))
            atexit.register(shutil.rmtree, top, True)
            (top / "ansible_collections" / "netsafe").mkdir(parents=True)
            (top / "ansible_collections" / "netsafe" / "hypervisor").symlink_to(ROOT)
            _ON_PATH.append(str(top))
        sys.path.insert(0, _ON_PATH[0])
    return importlib.import_module(f"ansible_collections.netsafe.hypervisor.plugins.module_utils.{name}")


def _requests_module():
    """plugins/module_utils/_network/requests.py."""
    return _collection_module("_network.requests")


def _net_state_options() -> dict:
    """net_state's documented options (its entries are written by hacking/net_state_docs.py)."""
    for node in ast.parse((ROOT / "plugins/modules/net_state.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DOCUMENTATION":
            return yaml.safe_load(node.value.value)["options"]
    raise LookupError("net_state.py: no DOCUMENTATION")


def _rewrite(text, option: str, variable: str):
    """O(bridges[].ports) in net_state's text is O(change_window_bridges[].ports) here."""
    if isinstance(text, list):
        return [_rewrite(t, option, variable) for t in text]
    return re.sub(rf"O\({re.escape(option)}\[\]", f"O({variable}[]", text)


def _options(spec: dict, docs: dict, option: str, variable: str, where: str) -> dict:
    """The role's options for `spec`. An alias is an option of its own (ansible-lint's schema of role argument
    specs has no `aliases`), of the same type, without a default: net_state resolves it."""
    out = {}
    for key, arg in spec.items():
        if key not in docs:
            raise LookupError(f"{where}.{key}: in the spec but not documented by net_state")
        entry = {"description": _rewrite(docs[key]["description"], option, variable)}
        entry.update({name: arg[name] for name in SPEC_KEYS if name in arg and name != "aliases"})
        if "options" in arg:
            entry["options"] = _options(arg["options"], docs[key].get("suboptions", {}), option, variable,
                                        f"{where}.{key}")
        out[key] = entry
        for alias in arg.get("aliases", []):
            out[alias] = {"description": [f"Alias of O({variable}[].{key}), as net_state takes it; give one of "
                                          f"the two."],
                          **{name: arg[name] for name in ("type", "elements") if name in arg}}
    return out


def lists_yaml() -> str:
    requests = _requests_module()
    docs = _net_state_options()
    out = {}
    for variable, option, cls_name, what in LISTS:
        if cls_name is None:
            spec, rules = dict(device=dict(type="str", required=True), **requests.ROUTE_SPEC), {}
        else:
            cls = getattr(requests, cls_name)
            spec, rules = cls.SPEC, cls.RULES
        entry = {
            "description": [
                f"{what}, each with exactly the options of an entry of M(netsafe.hypervisor.net_state)'s "
                f"O(netsafe.hypervisor.net_state#module:{option}), which the role passes them to as they are.",
                "An entry with an option not listed here (a misspelt key) fails the role before any task runs, "
                "naming it; aliases work.",
            ],
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": _options(spec, docs[option]["suboptions"], option, variable, variable),
        }
        entry.update({name: [list(rule) for rule in value] for name, value in rules.items()})
        out[variable] = entry
    text = yaml.dump(out, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return "".join(f"      {line}\n" if line else "\n" for line in text.splitlines())


def probes_yaml() -> str:
    """change_window_probes: net_state's checkpoint.probes, each entry with the probe spec."""
    spec = _collection_module("_safety.probes.spec").PROBE_OPTIONS
    docs = _net_state_options()["checkpoint"]["suboptions"]["probes"]
    out = {"change_window_probes": {
        "description": [
            "Probes run on the host before and after the change, and by the host's watchdog until the confirmation: "
            "M(netsafe.hypervisor.net_state)'s O(netsafe.hypervisor.net_state#module:checkpoint.probes), which the "
            "role passes them to as they are.",
            "An entry with a key not listed here (a misspelt key) fails the role before any task runs, naming it.",
            "Empty, ICMP to the host's default gateways.",
        ],
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": _options(spec, docs["suboptions"], "checkpoint.probes", "change_window_probes",
                            "change_window_probes"),
    }}
    text = yaml.dump(out, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return "".join(f"      {line}\n" if line else "\n" for line in text.splitlines())


def render(source: str) -> str:
    source = generated.replace_block(source, BEGIN, END, lists_yaml())
    return generated.replace_block(source, PROBES_BEGIN, PROBES_END, probes_yaml())


if __name__ == "__main__":
    sys.exit(generated.main(sys.argv[1:], TARGET, render, "hacking/change_window_specs.py"))
