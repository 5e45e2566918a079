"""The Python the hypervisor needs: 3.8 or later, checked by a tool, and said the same everywhere.

Modules and module_utils run on the target (the hypervisor) with its own
Python. `typing.Protocol` and dataclasses set the floor at 3.8; annotations
such as `str | None` are fine there only because every file defers them with
`from __future__ import annotations`. vermin (PyPI) reads the code and names
the lowest Python each construct needs; it does not evaluate annotations,
which matches what the future import does at run time.
"""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
FLOOR = (3, 8)
# ansible-core 2.18 is the first release whose own target floor is 3.8 (2.16 allows 3.6, 2.17 allows 3.7).
ANSIBLE_FLOOR = "2.18.0"
# Where a Python 3.8 may already be on the machine (this workplace's image has pyenv's); not installed by us.
PYTHON_38_CANDIDATES = sorted(Path("/root/.pyenv/versions").glob("3.8.*/bin/python3.8"))

pytestmark = pytest.mark.ansible


def plugin_files() -> list:
    return sorted((ROOT / "plugins").rglob("*.py"))


def test_vermin_finds_nothing_newer_than_the_floor():
    target = "%d.%d" % FLOOR
    proc = subprocess.run([str(VENV_BIN / "vermin"), "--no-tips", "--violations", f"--target={target}-",
                           "--no-parse-comments", str(ROOT / "plugins")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"code under plugins/ needs a Python newer than {target}:\n{proc.stdout}\n{proc.stderr}"
    assert "Minimum required versions" not in proc.stdout or "Target versions not met" not in proc.stdout


def test_every_plugin_file_with_code_defers_its_annotations():
    """`str | None` in an annotation is a TypeError on 3.8 unless annotations are deferred."""
    missing = []
    for path in plugin_files():
        tree = ast.parse(path.read_text())
        has_code = any(not isinstance(node, ast.Expr) for node in tree.body)  # more than a docstring
        defers = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                     and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
        if has_code and not defers:
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"add `from __future__ import annotations` to: {', '.join(missing)}"


def test_the_floor_is_said_the_same_everywhere():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == f">={ANSIBLE_FLOOR}"
    role_check = (ROOT / "roles" / "tap_guard" / "tasks" / "main.yml").read_text()
    assert f"sys.version_info >= {FLOOR}" in role_check
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"Python %d\.%d or later on the hypervisor" % FLOOR, readme)
    assert f"ansible-core {ANSIBLE_FLOOR.rsplit('.', 1)[0]} or later" in readme


@pytest.mark.skipif(not PYTHON_38_CANDIDATES, reason="no Python 3.8 on this machine (vermin above still checks the code)")
def test_module_utils_import_and_work_on_a_real_python_3_8(tmp_path):
    """Beyond reading the code: import every module_utils file that needs no Ansible under Python 3.8 and plan."""
    script = tmp_path / "on38.py"
    script.write_text(
        "import importlib, pathlib, sys\n"
        f"sys.path.insert(0, {str(ROOT / '.tmp' / 'collections')!r})\n"
        "base = pathlib.Path(sys.argv[1])\n"
        "names = []\n"
        "for path in sorted(base.rglob('*.py')):\n"
        "    parts = path.relative_to(base).with_suffix('').parts\n"
        "    if parts[-1] == '__init__' or parts in (('_network', 'module'), ('_vcenter', 'linkmon')):\n"
        "        continue  # these two import ansible / pyroute2, which this bare interpreter lacks\n"
        "    names.append('ansible_collections.netsafe.hypervisor.plugins.module_utils.' + '.'.join(parts))\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import model, plan_bridge\n"
        "host = model.HostNetwork()\n"
        "host.add(model.Nic(name='eth1', mtu=1500, up=False, ip=model.IpConfig(addresses=[])))\n"
        "plan = plan_bridge.plan_bridge(host, model.Bridge(name='vmbr0', mtu=1400), ['eth1'], True, model.GuestMatcher())\n"
        "print(sys.version_info[:2], len(names), len(plan.operations))\n")
    proc = subprocess.run([str(PYTHON_38_CANDIDATES[-1]), str(script), str(ROOT / "plugins" / "module_utils")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("(3, 8)"), proc.stdout
