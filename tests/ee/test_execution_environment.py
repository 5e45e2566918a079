"""The collection in an execution environment (issue 13, item 1): the definition AWX users write.

ansible-builder reads meta/execution-environment.yml from every collection it
puts into an image. Here: the collection is built into its tarball, a schema
version 3 EE definition installs it, `ansible-builder create` writes the build
context, and the context's own steps that need no container run on this
machine: its `ansible-galaxy collection install -r requirements.yml` (the
galaxy stage) and its introspect.py (the builder stage), which must report
the collection's Python and system dependencies. That definition's base image
(quay.io) is out of reach here; test_ee_image.py builds a real image from a
local base instead (docs/awx.md).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"

DEFINITION = """\
---
version: 3
images:
  base_image:
    name: quay.io/ansible/awx-ee:24.6.1
dependencies:
  galaxy:
    collections:
      - name: /build/collections/{tarball}
        type: file
additional_build_files:
  - src: {built}
    dest: collections
"""


def run(*args, cwd=None) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_the_build_context_installs_the_collection_and_finds_its_dependencies(tmp_path):
    built = tmp_path / "built"
    run(BIN / "ansible-galaxy", "collection", "build", "--output-path", built, ROOT)
    tarball = next(built.glob("netsafe-hypervisor-*.tar.gz"))
    (tmp_path / "execution-environment.yml").write_text(DEFINITION.format(tarball=tarball.name, built=tarball))
    context = tmp_path / "context"
    run(BIN / "ansible-builder", "create", "-f", tmp_path / "execution-environment.yml", "-c", context)
    containerfile = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()).read_text()
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert "introspect.py introspect" in containerfile
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements == {"collections": [{"name": f"/build/collections/{tarball.name}", "type": "file"}]}
    assert (context / "_build" / "collections" / tarball.name).read_bytes() == tarball.read_bytes()

    # The galaxy stage, with the context's /build where it is here.
    local = tmp_path / "requirements.yml"
    local.write_text((context / "_build" / "requirements.yml").read_text().replace("/build/", f"{context / '_build'}/"))
    installed = tmp_path / "collections"
    run(BIN / "ansible-galaxy", "collection", "install", "-r", local, "-p", installed)
    assert (installed / "ansible_collections/netsafe/hypervisor/meta/execution-environment.yml").is_file()

    # The builder stage: the context's own introspect.py over what was installed.
    report = yaml.safe_load(run(BIN / "python", context / "_build/scripts/introspect.py", "introspect", installed))
    assert [line.split("#")[0].strip() for line in report["python"]] == ["pyvmomi>=8.0.3"], report
    assert {line.split("#")[0].strip() for line in report["system"]} == {
        "openssh-clients [platform:rpm]", "openssh-client [platform:dpkg]"}, report
