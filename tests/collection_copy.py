"""A copy of the collection under .../ansible_collections/netsafe/hypervisor, as the linters want it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collection_files() -> list:
    """Tracked files plus new ones not ignored: what a commit of this tree would hold."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def copy_collection(base: Path) -> Path:
    """Copy those files to base/ansible_collections/netsafe/hypervisor; return that directory."""
    dest = base / "ansible_collections" / "netsafe" / "hypervisor"
    for rel in collection_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    return dest
