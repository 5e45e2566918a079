"""net_persist of a bridge that lost a port, naming only the bridge: the files must lose the port too (issue 24).

Found by the power-cut test (tests/checkpoint/test_power_cut_lane.py): a
change window moved vmbr0 off bond0.10 and persisted the devices it changed
(vmbr0, not bond0.10); ifupdown2's file kept `bridge-ports bond0.10 eno3`,
and the host booted with bond0.10 back on vmbr0. In NetworkManager and
networkd the membership lives in the port's own file, which was not
rewritten either. For every format: the files of a host whose vmbr0 had eno1
and eno3 are saved, eno3 leaves vmbr0, the files are saved again for
`devices: [vmbr0]`, and `restored` into a fresh namespace (NICs only) must
give the kernel's complete state dump: eno3 on no bridge.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS

import persist_lab
from modrun import run_module
from nstools import ip, settled_state, state_diff

pytestmark = pytest.mark.kernel


def persist(ns, root, fmt, **args) -> dict:
    result = run_module("net_persist", dict(format=fmt, namespace=ns, root=str(root), **args))
    assert not result.get("failed"), result
    return result


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_port_released_from_a_saved_bridge_leaves_the_files(namespaces, tmp_path, fmt):
    ns, peer = namespaces.new(), namespaces.new()
    persist_lab.nics(ns, peer, persist_lab.BRIDGES_NICS)
    persist_lab.bridges(ns)
    ip("link", "set", "eno3", "master", "vmbr0", ns=ns)
    ip("link", "set", "eno3", "up", ns=ns)
    persist(ns, tmp_path, fmt)
    ip("link", "set", "eno3", "nomaster", ns=ns)
    saved = persist(ns, tmp_path, fmt, devices=["vmbr0"])
    assert saved["changed"] and "eno3" in saved["devices"], saved
    fresh, fresh_peer = namespaces.new(), namespaces.new()
    persist_lab.nics(fresh, fresh_peer, persist_lab.BRIDGES_NICS)
    persist(fresh, tmp_path, fmt, state="restored")
    diff = state_diff(settled_state(ns), settled_state(fresh))
    assert diff == [], "the files do not describe the kernel:\n" + "\n".join(diff)
