"""Run a collection module's real entry point in-process: AnsibleModule, argument spec, check mode, JSON result.

Used where ansible-playbook is too slow to repeat (the full-kernel lane runs
under software emulation, where one playbook run costs minutes). The
controller side (templating, AnsiballZ transfer) is covered by the playbook
tests on the host.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json

from ansible.module_utils import basic


def run_module(name: str, args: dict, check: bool = False) -> dict:
    """The result dict of netsafe.hypervisor.<name> called with `args` ('failed' set on failure)."""
    module = importlib.import_module(f"ansible_collections.netsafe.hypervisor.plugins.modules.{name}")
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
