"""galaxy-importer, the checker Galaxy runs on an upload, accepts the built tarball: no error, no warning.

It runs from its own virtual environment (.tmp/galaxy-importer-venv, made by
tests/setup.d/45-galaxy-importer.sh from tests/galaxy-importer/requirements.txt)
with tests/galaxy-importer/galaxy-importer.cfg: the manifest and FILES.json
checks, ansible-doc on every plugin, the README and docs/ rendered, the
changelog, the required tags, meta/execution-environment.yml's files, and
ansible-lint's production profile as Galaxy runs it (its own ansible-lint and
rule set). Not ansible-test in a container: its image comes from a registry these machines
cannot reach, and tests/sanity/test_ansible_test_sanity.py runs ansible-test sanity itself.

The importer exits 0 even when it warns (lint findings are warnings), so its
log is read: a line starting ERROR:, WARNING: or CRITICAL: fails the test
unless ALLOWED lists it with the reason it is not ours to fix.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
IMPORTER_VENV = ROOT / ".tmp" / "galaxy-importer-venv"
CONFIG = ROOT / "tests" / "galaxy-importer" / "galaxy-importer.cfg"
pytestmark = [pytest.mark.ansible, pytest.mark.slow]

# Warnings that are not ours to fix, each a regular expression for one log line
# and the reason. Empty: galaxy-importer 0.4.44 reports nothing on this collection.
# Add an entry only for what the collection cannot change (a message about
# Galaxy's own server, say), never for a finding in our files.
ALLOWED: list[tuple[str, str]] = []

PROBLEM = re.compile(r"^(?:ERROR|WARNING|CRITICAL):")


def importer_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment without what would steer the importer or its tools elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "GALAXY_IMPORTER_", "PYTHON", "VIRTUAL_ENV"))}
    # The importer finds ansible-doc and ansible-lint on PATH: its own, never .venv's.
    path = [p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p and Path(p) != BIN]
    env.update(PATH=os.pathsep.join([str(IMPORTER_VENV / "bin"), *path]),
               GALAXY_IMPORTER_CONFIG=str(CONFIG), HOME=str(tmp_path / "home"), NO_COLOR="1")
    return env


def test_galaxy_importer_accepts_the_tarball_without_errors_or_warnings(tmp_path):
    python = IMPORTER_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: tests/setup.d/45-galaxy-importer.sh makes it "
                    "(run tests/setup/bootstrap.sh)")
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(ROOT), "--output-path",
                            str(tmp_path)], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    tarballs = list(tmp_path.glob("netsafe-hypervisor-*.tar.gz"))
    assert len(tarballs) == 1

    # Nothing git ignores (caches, build output) is in the tarball: galaxy.yml's build_ignore keeps it out.
    members = subprocess.run(["tar", "-tzf", str(tarballs[0])], capture_output=True, text=True, check=True)
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--stdin"], input=members.stdout,
                             capture_output=True, text=True, check=False)
    assert ignored.returncode in (0, 1), ignored.stderr
    assert not ignored.stdout.strip(), f"files git ignores are in the tarball (galaxy.yml build_ignore):\n{ignored.stdout}"

    proc = subprocess.run([str(python), "-m", "galaxy_importer.main", str(tarballs[0])], cwd=tmp_path,
                          env=importer_env(tmp_path), capture_output=True, text=True, check=False, timeout=900)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and "Importer processing completed successfully" in lines, (
        f"galaxy-importer failed (exit {proc.returncode}):\n{proc.stdout[-20000:]}\n{proc.stderr[-5000:]}")
    problems = [line for line in lines if PROBLEM.match(line)]
    unexpected = [line for line in problems if not any(re.search(rx, line) for rx, _reason in ALLOWED)]
    assert not unexpected, "galaxy-importer reported:\n" + "\n".join(unexpected)
    assert not proc.stderr.strip(), f"galaxy-importer wrote to stderr:\n{proc.stderr[-5000:]}"

    # It did the work: ansible-lint ran, ansible-doc read every module, the README and docs/ rendered.
    assert any(line.startswith("Linting collection via ansible-lint") for line in lines), proc.stdout[-5000:]
    assert "...ansible-lint run complete" in lines
    result = json.loads((tmp_path / "importer_result.json").read_text())
    meta = result["metadata"]
    assert (meta["namespace"], meta["name"]) == ("netsafe", "hypervisor")
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert result["requires_ansible"] == runtime["requires_ansible"]
    modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))
    documented = {c["content_name"]: c["doc_strings"] for c in result["docs_blob"]["contents"]
                  if c["content_type"] == "module"}
    assert sorted(documented) == modules
    assert all(doc and doc.get("doc", {}).get("short_description") for doc in documented.values()), documented
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta").is_dir() or (p / "tasks").is_dir())
    assert sorted(c["name"] for c in result["contents"] if c["content_type"] == "role") == roles
    assert result["docs_blob"]["collection_readme"]["name"] == "README.md"
    assert result["docs_blob"]["collection_readme"]["html"]
