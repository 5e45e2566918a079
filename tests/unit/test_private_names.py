"""No file of the collection reaches into another file's private names (issue 25: the watcher took the
configurator's `_Unresolved`, which `_network/apply.py` now names `UnresolvedDevice` for both).

A leading underscore marks what a file keeps to itself; another file that uses such a name breaks when the
owner renames it. Packages and modules named `_x` (the private packages) are not such names.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "ansible_collections.netsafe.hypervisor."


def _is_module(dotted: str) -> bool:
    """`dotted` (a name under ansible_collections.netsafe.hypervisor) is a module or package file of ours."""
    path = ROOT.joinpath(*dotted[len(PREFIX):].split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _borrowed(path: Path) -> list:
    """Private names `path` takes from another of our modules: `from m import _x`, or `alias._x` of `import m`."""
    tree = ast.parse(path.read_text(), str(path))
    aliases, found = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(PREFIX):
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if _is_module(dotted):
                    aliases[alias.asname or alias.name] = dotted
                elif _private(alias.name):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {dotted}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PREFIX) and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and _private(node.attr) and not _is_module(f"{aliases[node.value.id]}.{node.attr}")):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_file_of_the_collection_uses_another_files_private_names():
    found = [hit for path in sorted((ROOT / "plugins").rglob("*.py")) for hit in _borrowed(path)]
    assert found == [], "\n".join(found)
