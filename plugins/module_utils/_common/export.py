# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The code a long-lived process runs on the host: its entry point and every module of ours it imports.

The checkpoint watchdog and the tap_guard watcher run outside Ansible, from a
copy of the collection's module_utils on the host. `closure` decides what
that copy holds by reading the import statements of the entry point, then of
every module they name, and so on; imports inside functions count too (the
watchdog imports its probes only when gated). No list is kept by hand, so a
new import ships with the code that makes it. Sources come from each
module's loader: files on disk and Ansible's zipped module payload alike.

The copy is a tree rooted at `ansible_collections/`, each package with its
`__init__.py` (empty ones above the collection's own packages), so the
directory alone on `sys.path` imports it, whatever else the host has
installed. `sync` writes such a tree: only what differs, each file replaced
atomically, and what the tree no longer has removed; or, for the watchdog,
directories private to root and files 0600.
"""
from __future__ import annotations

import ast
import importlib.util
import os
import re
import stat

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.files import private_directory, write_atomic

BASE = "ansible_collections.netsafe.hypervisor.plugins.module_utils"
TOP = BASE.split(".", maxsplit=1)[0]   # the tree's one entry at the top of the directory given to sync
FILE_MODE, DIR_MODE = 0o644, 0o755   # a shared copy (the tap_guard role's): root writes, everyone reads
PRIVATE_FILE_MODE = 0o600           # the watchdog's copy (directories come from private_directory: 0700)
_IMPORT_WORD = re.compile(r"\bimport\b")
_STATEMENT_START = re.compile(r"(?:^|[:;])\s*(?:import|from)\b")   # where an import statement can begin on a line


class ExportError(NetsafeError):
    """An entry point or a module it imports has no source here (a payload that lacks it)."""


def closure(*entries: str) -> dict:
    """{path under the tree: source} for `entries` (dotted names under BASE) and every module of ours they import.

    Every package on the way has its `__init__.py`; the levels from
    `ansible_collections` down to module_utils get empty ones.
    """
    found, todo = {}, list(entries)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        if not name.startswith(BASE + "."):
            raise ExportError(f"{name} is not under {BASE}: only the collection's module_utils can be exported")
        source, package = _source(name)
        found[name] = (source, package)
        todo.extend(_parents(name))
        todo.extend(_imported(name, source, package))
    files = {_path(name, package): source for name, (source, package) in found.items()}
    parts = BASE.split(".")
    for depth in range(1, len(parts) + 1):
        files.setdefault("/".join(parts[:depth] + ["__init__.py"]), "")
    return files


def _source(name: str):
    """(source text, is a package) of module `name`, from its loader."""
    spec = _spec(name)
    get_source = getattr(spec.loader, "get_source", None) if spec is not None else None
    source = get_source(name) if get_source is not None else None
    if source is None:
        raise ExportError(f"cannot find the source of {name} to export (is it in this copy of the collection?)")
    return source, spec.submodule_search_locations is not None


def _spec(name: str):
    """The import spec of `name`, or None when no module has that name (a class or function imported by name)."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, AttributeError, ValueError):
        return None


def _parents(name: str) -> list:
    """The packages between module_utils and `name`: importing `name` runs their __init__.py."""
    parts = name.split(".")
    return [".".join(parts[:depth]) for depth in range(len(BASE.split(".")) + 1, len(parts))]


def _imported(name: str, source: str, package: bool) -> set:
    """Modules of ours that `source` (module `name`) imports anywhere in it.

    The quick reading (_import_lines) is taken when it can stand for the
    whole file: it parsed every line that holds the word `import` and each
    module it found exists. Otherwise the whole file is parsed (a fifth of
    the files here, the package docstrings' "must not import" among them; parsing all of them made the
    watchdog's export at arming about 5x slower).
    """
    here = name if package else name.rpartition(".")[0]
    statements = _import_lines(source)
    if statements is not None:
        found = _modules(statements, here)
        if all(_spec(module) is not None for module in found):
            return found
    return _modules(_import_statements(ast.parse(source, filename=name)), here)


def _modules(statements, here: str) -> set:
    """The modules of ours that import statements name (`from package import module` names two)."""
    found = set()
    for node in statements:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(BASE + "."))
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(here, node.module, node.level)
            if not module.startswith(BASE + "."):
                continue   # the standard library, or module_utils itself (its empty __init__.py is always there)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names
                         if _spec(f"{module}.{alias.name}") is not None)
    return found


def _import_lines(source: str):
    """The import statements of `source`, read from the lines that hold the word `import`, or None.

    An import statement starts a line (after its indent), or follows `:` or
    `;` on it, unless a backslash continued the line before. Each line where
    the word stands so is parsed alone, with the lines its brackets or a
    backslash carry on to; where it stands elsewhere it is prose (a docstring,
    a message). None (parse the whole file) when a line before such a word
    ends in a backslash, or a statement line does not parse alone (a `try`
    clause on one line, a code template in a string).
    """
    lines = source.splitlines(keepends=True)
    statements, number = [], 0
    while number < len(lines):
        line = lines[number]
        if "import" not in line or not _IMPORT_WORD.search(line):
            number += 1
            continue
        if number and lines[number - 1].rstrip("\r\n").endswith("\\"):
            return None
        text, number = line.lstrip(), number + 1
        if not _STATEMENT_START.search(text):
            continue
        while text.count("(") > text.count(")") or text.rstrip("\r\n").endswith("\\"):
            if number == len(lines):
                return None
            text, number = text + lines[number], number + 1
        try:
            statements.extend(_import_statements(ast.parse(text)))
        except SyntaxError:
            return None
    return statements


def _import_statements(tree):
    """Every import statement of a module, at any depth (in functions, `if`, `try`...); expressions cannot hold
    one, so only statement bodies are walked (a tenth of the nodes)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                todo.extend(children)


def _absolute(here: str, module, level: int) -> str:
    """The absolute name of an import's module (`from ..x import y` in package `here`)."""
    if level == 0:
        return module or ""
    base = here.rsplit(".", level - 1)[0] if level > 1 else here
    return f"{base}.{module}" if module else base


def _path(name: str, package: bool) -> str:
    parts = name.split(".")
    return "/".join(parts + ["__init__.py"]) if package else "/".join(parts) + ".py"


def write_private(path: str, text: str) -> None:
    """A file only root can read or change (the mode does not depend on the umask; a symlink is not followed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        handle.write(text)


def plan_sync(files: dict, dest: str, mode: int = FILE_MODE) -> dict:
    """What sync(files, dest) would do: {"write": [paths], "remove": [paths]}, relative to dest, sorted."""
    write = [path for path in sorted(files) if _differs(os.path.join(dest, path), files[path], mode)]
    remove = [path for path in _existing(dest) if path not in files]
    return {"write": write, "remove": remove}


def sync(files: dict, dest: str, private_top=None) -> dict:
    """Make the tree under `dest` hold exactly `files`; returns what changed (as plan_sync).

    Shared (the default): directories 0755, files 0644, each replaced atomically.
    With `private_top` (the watchdog's run directory's top): directories through
    private_directory (0700, no symlink), files 0600, written in place.
    """
    changes = plan_sync(files, dest, FILE_MODE if private_top is None else PRIVATE_FILE_MODE)
    made = set()
    for path in changes["write"]:
        target = os.path.join(dest, path)
        if os.path.dirname(target) not in made:
            _make_dirs(os.path.dirname(target), private_top)
            made.add(os.path.dirname(target))
        if private_top is not None:
            write_private(target, files[path])
        else:
            write_atomic(target, files[path].encode("utf-8"), FILE_MODE)
            os.chmod(target, FILE_MODE)   # write_atomic keeps an old file's mode
    for path in changes["remove"]:
        os.unlink(os.path.join(dest, path))
    return changes


def _make_dirs(directory: str, private_top) -> None:
    """`directory` and the levels above it that are missing: private ones, or 0755 whatever the umask."""
    if private_top is not None:
        private_directory(directory, private_top)
        return
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for level in reversed(missing):
        os.mkdir(level, DIR_MODE)
        os.chmod(level, DIR_MODE)   # mkdir's mode passes through the umask


def _differs(path: str, text: str, mode: int) -> bool:
    """The file is missing, not a plain file (a symlink is not one), not `text`, or not of `mode`."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return True
        with open(path, "rb") as handle:
            same = handle.read() == text.encode("utf-8")
    except OSError:
        return True
    return not same or stat.S_IMODE(st.st_mode) != mode


def _existing(dest: str) -> list:
    """The .py files under dest's tree now (bytecode caches are Python's own and left alone)."""
    found = []
    for directory, subdirs, names in os.walk(os.path.join(dest, TOP)):
        subdirs[:] = [sub for sub in subdirs if sub != "__pycache__"]
        found.extend(os.path.relpath(os.path.join(directory, name), dest) for name in names if name.endswith(".py"))
    return sorted(found)
