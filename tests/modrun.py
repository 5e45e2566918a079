"""Run a collection module's real entry point in-process: AnsibleModule, argument spec, check mode, JSON result.

Used inside the full-kernel VM, where every module run through Ansible pays
Python's start-up and the AnsiballZ imports under software emulation (about
ten seconds): in-process, a scenario can be repeated and inspected cheaply.
The same scenarios also run through ansible-playbook against the VM
(tests/netdev/test_bond_vlan_playbooks.py).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings


def run_module(name: str, args: dict, check: bool = False) -> dict:
    """The result dict of netsafe.hypervisor.<name> called with `args` ('failed' set on failure)."""
    module = importlib.import_module(f"ansible_collections.netsafe.hypervisor.plugins.modules.{name}")
    # Ansible keeps a module's warnings in a process-wide list: a run must not report the runs before it.
    for kept in ("_global_warnings", "_global_deprecations"):
        getattr(module_warnings, kept, {}).clear()
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=True)}
    basic._ANSIBLE_ARGS = json.dumps(payload).encode()  # pylint: disable=protected-access
    basic._ANSIBLE_PROFILE = "legacy"  # pylint: disable=protected-access
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    text = out.getvalue()
    return json.loads(text[text.index("{"):])
