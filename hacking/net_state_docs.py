"""Write net_state's documentation of its nics, bonds, vlans and bridges from the per-device modules' own.

net_state's entries take exactly the options of net_nic, net_bond, net_vlan
and net_bridge (one spec, requests.py); their documentation is copied from
those modules (and the device fragment) so that it cannot drift either.
References are rewritten for their new place: O(ports) in net_bridge's text
becomes O(bridges[].ports), RV(state) points at the per-device module.
The keys of checkpoint.probes are copied the same way from the probes doc
fragment (O(probes[].mtu) becomes O(checkpoint.probes[].mtu)).

    python3 hacking/net_state_docs.py          # rewrite plugins/modules/net_state.py
    python3 hacking/net_state_docs.py --check  # exit 1 when it is not up to date (tests/unit runs this)
"""
from __future__ import annotations

import ast
import pathlib
import re
import sys

import yaml

import generated  # hacking/generated.py, beside this script

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "plugins/modules/net_state.py"
BEGIN, END = "  # BEGIN entries: written by hacking/net_state_docs.py\n", "  # END entries\n"
PROBES_BEGIN = "        # BEGIN probe keys: written by hacking/net_state_docs.py\n"
PROBES_END = "        # END probe keys\n"
LISTS = (("nics", "net_nic", "NICs"), ("bonds", "net_bond", "Bonds"), ("vlans", "net_vlan", "VLAN devices"),
         ("bridges", "net_bridge", "Bridges"))


def _assigned(path: pathlib.Path, name: str) -> str:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return node.value.value
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Assign) and any(getattr(t, "id", None) == name for t in item.targets):
                    return item.value.value
    raise LookupError(f"{path}: no {name}")


def _rewrite(text, list_name: str, module: str, names: set):
    if isinstance(text, list):
        return [_rewrite(t, list_name, module, names) for t in text]
    if not isinstance(text, str):
        return text

    def option(match):
        ref = match.group(1)
        head = re.split(r"[.\[=]", ref, maxsplit=1)[0]
        return f"O({list_name}[].{ref})" if "#" not in ref and head in names else match.group(0)

    text = re.sub(r"O\(([^)]+)\)", option, text)
    return re.sub(r"RV\(([^)#]+)\)", lambda m: f"RV(netsafe.hypervisor.{module}#module:{m.group(1)})", text)


def _walk(options: dict, list_name: str, module: str, names: set) -> dict:
    out = {}
    for key, spec in options.items():
        spec = dict(spec)
        spec["description"] = _rewrite(spec.get("description"), list_name, module, names)
        if "suboptions" in spec:
            spec["suboptions"] = _walk(spec["suboptions"], list_name, module, names)
        out[key] = spec
    return out


def entries_yaml() -> str:
    device = yaml.safe_load(_assigned(ROOT / "plugins/doc_fragments/device.py", "DOCUMENTATION"))["options"]
    out = {}
    for list_name, module, what in LISTS:
        doc = yaml.safe_load(_assigned(ROOT / f"plugins/modules/{module}.py", "DOCUMENTATION"))
        options = dict(doc["options"], **device) if "netsafe.hypervisor.device" in doc.get(
            "extends_documentation_fragment", []) else dict(doc["options"])
        names = set(options)
        out[list_name] = {
            "description": [f"{what} to make what they describe, each with exactly the options of "
                            f"M(netsafe.hypervisor.{module}) (the network options - namespace, guest patterns, lock "
                            f"timeout - are this module's own).",
                            "Omit, or leave a device out, to leave it alone."],
            "type": "list",
            "elements": "dict",
            "suboptions": _walk(options, list_name, module, names),
        }
    text = yaml.safe_dump(out, sort_keys=False, width=110, allow_unicode=True)
    return "".join(f"  {line}\n" if line else "\n" for line in text.splitlines())


def probe_keys_yaml() -> str:
    """The suboptions of checkpoint.probes: the probes fragment's keys of a probe, their references moved."""
    fragment = yaml.safe_load(_assigned(ROOT / "plugins/doc_fragments/probes.py", "DOCUMENTATION"))
    keys = fragment["options"]["probes"]["suboptions"]

    def moved(text):
        if isinstance(text, list):
            return [moved(t) for t in text]
        return re.sub(r"O\(probes\[\]\.", "O(checkpoint.probes[].", text) if isinstance(text, str) else text

    out = {key: dict(spec, description=moved(spec["description"])) for key, spec in keys.items()}
    text = yaml.safe_dump(out, sort_keys=False, width=110, allow_unicode=True)
    return "".join(f"          {line}\n" if line else "\n" for line in text.splitlines())


def render(source: str) -> str:
    source = generated.replace_block(source, BEGIN, END, entries_yaml())
    return generated.replace_block(source, PROBES_BEGIN, PROBES_END, probe_keys_yaml())


if __name__ == "__main__":
    sys.exit(generated.main(sys.argv[1:], TARGET, render, "hacking/net_state_docs.py"))
