"""The one exporter of code shipped to long-lived processes (issue 25, item 5): what it ships and how it writes it.

`export.closure` follows imports; this file checks it against its own walk of the sources (any import
statement, at any depth), and that a lazy import (the watchdog's probes) ships. `export.sync` and the
tap_guard_code module write the tree: only what differs, modes whatever the umask, stale code removed,
nothing in check mode. That the copy runs alone under `python3 -I -S`: tests/checkpoint/test_exported_watchdog.py
and tests/tap_reenslave/test_exported_watcher.py.
"""
from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import export
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests import watcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import watchdog
from modrun import run_module

ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
PREFIX = "ansible_collections.netsafe.hypervisor.plugins.module_utils"
ABOVE = ["ansible_collections/__init__.py", "ansible_collections/netsafe/__init__.py",
         "ansible_collections/netsafe/hypervisor/__init__.py", "ansible_collections/netsafe/hypervisor/plugins/__init__.py",
         "ansible_collections/netsafe/hypervisor/plugins/module_utils/__init__.py"]


def _imports(name: str) -> set:
    """Modules of module_utils that `name` ('_guests/watcher') imports anywhere, as paths like it (ast.walk: every node)."""
    tree = ast.parse((MODULE_UTILS / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX + "."):
            package = node.module[len(PREFIX) + 1:].replace(".", "/")
            for alias in node.names:  # `from ..._network import netlink` names a module (or a package: probes)
                if (MODULE_UTILS / package / f"{alias.name}.py").is_file():
                    found.add(f"{package}/{alias.name}")
                elif (MODULE_UTILS / package / alias.name / "__init__.py").is_file():
                    found.add(f"{package}/{alias.name}/__init__")
            if (MODULE_UTILS / f"{package}.py").is_file():
                found.add(package)
        elif isinstance(node, ast.Import):
            found.update(a.name[len(PREFIX) + 1:].replace(".", "/") for a in node.names if a.name.startswith(PREFIX + "."))
    # Importing a module of a package inside a package (_network/kinds/bond) runs that package's __init__ first.
    for module in list(found):
        package = module.rsplit("/", 1)[0]
        if "/" in package and (MODULE_UTILS / package / "__init__.py").is_file():
            found.add(f"{package}/__init__")
    return found


def expected_tree(entry: str) -> set:
    """Paths the tree of `entry` must hold: the walk's closure, each package's __init__.py, the levels above."""
    seen, todo = set(), [entry]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imports(name))
    packages = {name.split("/")[0] for name in seen}
    mu = "ansible_collections/netsafe/hypervisor/plugins/module_utils"
    return {f"{mu}/{name}.py" for name in seen} | {f"{mu}/{p}/__init__.py" for p in packages} | set(ABOVE)


@pytest.mark.parametrize("module, entry", [(watcher, "_guests/watcher"), (watchdog, "_safety/watchdog")])
def test_the_closure_is_every_module_the_entry_point_imports(module, entry):
    files = export.closure(module.__name__)
    assert set(files) == expected_tree(entry)
    for path, text in files.items():
        if path not in ABOVE:
            assert text == (ROOT / "plugins" / path.split("/plugins/", 1)[1]).read_text(), path
    assert {files[path] for path in ABOVE} == {""}


def test_a_lazy_import_ships_and_other_products_do_not():
    """The watchdog imports its probes only when gated (inside a function): the copy has them all the same."""
    top_level = {node.module for node in ast.parse(Path(watchdog.__file__).read_text()).body
                 if isinstance(node, ast.ImportFrom)}
    assert f"{PREFIX}._safety.probes" not in top_level and f"{PREFIX}._safety" in top_level
    files = export.closure(watchdog.__name__)
    package = "ansible_collections/netsafe/hypervisor/plugins/module_utils/_safety/probes"
    assert {path.rsplit("/", 1)[1] for path in files if path.startswith(package + "/")} == {
        path.name for path in (MODULE_UTILS / "_safety" / "probes").glob("*.py")}
    assert {"__init__.py", "spec.py", "runner.py", "icmp.py", "dns.py"} <= {
        path.name for path in (MODULE_UTILS / "_safety" / "probes").glob("*.py")}
    assert not any(f"/{product}/" in path for path in files for product in ("_guests", "_persist", "_vcenter", "_failover"))


def test_what_cannot_be_exported_is_refused_by_name():
    with pytest.raises(export.ExportError, match="json is not under ansible_collections"):
        export.closure("json")
    with pytest.raises(export.ExportError, match=r"cannot find the source of .*_guests\.nope"):
        export.closure(f"{PREFIX}._guests.nope")


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    yield
    os.umask(old)


def modes(top: Path) -> dict:
    return {str(p.relative_to(top)): stat.S_IMODE(p.lstat().st_mode) for p in sorted(top.rglob("*"))}


def test_sync_writes_what_differs_with_shared_modes_and_removes_stale_code(tmp_path, umask_077):
    files = export.closure(watcher.__name__)
    dest = tmp_path / "deep" / "lib"
    assert export.plan_sync(files, str(dest)) == {"write": sorted(files), "remove": []}
    assert not dest.exists()   # planning writes nothing
    assert export.sync(files, str(dest)) == {"write": sorted(files), "remove": []}
    found = modes(tmp_path)
    assert {m for p, m in found.items() if p.endswith(".py")} == {0o644}
    assert {m for p, m in found.items() if not p.endswith(".py")} == {0o755}
    assert export.sync(files, str(dest)) == {"write": [], "remove": []}

    mu = dest / "ansible_collections/netsafe/hypervisor/plugins/module_utils"
    (mu / "_guests/watcher.py").write_text("# changed by hand\n")
    (mu / "_network/netlink.py").chmod(0o600)
    (mu / "_network/old_gone.py").write_text("x = 1\n")          # a module a previous version shipped
    (mu / "_network/__pycache__").mkdir()
    (mu / "_network/__pycache__/old_gone.cpython-311.pyc").write_bytes(b"")   # Python's own: left alone
    (dest / "README").write_text("mine")                           # outside the tree: left alone
    outside = tmp_path / "outside.py"
    outside.write_text("target")
    (mu / "_common/errors.py").unlink()
    (mu / "_common/errors.py").symlink_to(outside)                 # replaced by a file, its target untouched
    wanted = {"write": sorted(f"ansible_collections/netsafe/hypervisor/plugins/module_utils/{p}"
                              for p in ("_common/errors.py", "_guests/watcher.py", "_network/netlink.py")),
              "remove": ["ansible_collections/netsafe/hypervisor/plugins/module_utils/_network/old_gone.py"]}
    assert export.plan_sync(files, str(dest)) == wanted
    assert export.sync(files, str(dest)) == wanted
    assert (mu / "_guests/watcher.py").read_text() == files[wanted["write"][1]]
    assert not (mu / "_common/errors.py").is_symlink() and outside.read_text() == "target"
    assert stat.S_IMODE((mu / "_network/netlink.py").stat().st_mode) == 0o644
    assert not (mu / "_network/old_gone.py").exists() and (mu / "_network/__pycache__/old_gone.cpython-311.pyc").exists()
    assert (dest / "README").read_text() == "mine"
    assert export.sync(files, str(dest)) == {"write": [], "remove": []}


def test_the_private_copy_refuses_a_planted_symlink(tmp_path):
    files = {"ansible_collections/__init__.py": "", "ansible_collections/x.py": "y = 1\n"}
    top = tmp_path / "run"
    dest = top / "lib"
    export.sync(files, str(dest), private_top=str(top))
    assert modes(top) == {"lib": 0o700, "lib/ansible_collections": 0o700,
                          "lib/ansible_collections/__init__.py": 0o600, "lib/ansible_collections/x.py": 0o600}
    target = tmp_path / "target"
    target.write_text("")
    (dest / "ansible_collections/x.py").unlink()
    (dest / "ansible_collections/x.py").symlink_to(target)
    with pytest.raises(OSError):
        export.sync(files, str(dest), private_top=str(top))
    assert target.read_text() == ""


def test_the_role_module_installs_the_watchers_code_once(tmp_path, umask_077):
    dest = tmp_path / "lib"
    relative = run_module("tap_guard_code", {"dest": "lib"})
    assert relative.get("failed") and relative["msg"].startswith("dest: 'lib' is not an absolute path"), relative
    check = run_module("tap_guard_code", {"dest": str(dest)}, check=True)
    assert check["changed"] and check["written"] == check["files"] and not dest.exists(), check
    assert sorted(check["files"]) == sorted(expected_tree("_guests/watcher"))
    first = run_module("tap_guard_code", {"dest": str(dest)})
    assert first["changed"] and first["written"] == first["files"] and first["removed"] == []
    assert first["diff"]["before"].count("absent") == len(first["files"]) and "absent" not in first["diff"]["after"]
    second = run_module("tap_guard_code", {"dest": str(dest)})
    assert second["changed"] is False and second["written"] == [] and "diff" not in second
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*.py")) == sorted(first["files"])


def dump(statements) -> list:
    return sorted(ast.dump(node) for node in statements)


def test_the_quick_reading_of_imports_is_the_full_parse_or_gives_way_to_it():
    """export reads a file's imports from the lines that hold the word; where that cannot stand for the file it
    says so (None) and the file is parsed whole. Never a different answer."""
    quick = 0
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        source = path.read_text()
        lines = export._import_lines(source)
        if lines is not None:
            quick += 1
            assert dump(lines) == dump(export._import_statements(ast.parse(source))), path
    assert quick > 40   # the quick reading serves nearly every file (arming pays for the rest)
    kept = ["def f():\n    from a.b import (\n        c,\n        d)\n    return c\n",
            "if x: import a; import b\n", '"""Other modules must not import this: it is private."""\nimport os\n',
            "msg = 'state: import failed'\n"]
    for source in kept:
        assert dump(export._import_lines(source)) == dump(export._import_statements(ast.parse(source))), source
    parsed_whole = ["from a \\\n    import b\n", "try: import a\nexcept ImportError: pass\n",
                    'T = """\nfrom {base} import main\n"""\n', "x = (1,\n     2); import os; from \\\n  a import b\n"]
    for source in parsed_whole:
        assert export._import_lines(source) is None, source
