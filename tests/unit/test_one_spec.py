"""One specification per device kind: the per-device modules and net_state's lists cannot drift apart, in the
argument spec or in the documentation (hacking/net_state_docs.py writes net_state's from the modules' own)."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.module import NETWORK_ARGS
from ansible_collections.netsafe.hypervisor.plugins.modules import net_bond, net_bridge, net_nic, net_state, net_vlan

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("list_name, module", [("nics", net_nic), ("bonds", net_bond), ("vlans", net_vlan),
                                               ("bridges", net_bridge)])
def test_each_list_of_net_state_takes_exactly_its_module_options(list_name, module):
    entry = net_state.ARGUMENT_SPEC[list_name]
    own = {k: v for k, v in module.ARGUMENT_SPEC.items() if k not in NETWORK_ARGS}
    assert entry["options"] == own
    assert set(module.ARGUMENT_SPEC) == set(own) | set(NETWORK_ARGS)


def test_net_state_documentation_is_written_from_the_modules_own():
    done = subprocess.run([sys.executable, str(ROOT / "hacking/net_state_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
