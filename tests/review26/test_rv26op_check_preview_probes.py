"""Review 26 (op): net_state's check mode with `checkpoint` must refuse what the real run refuses before any change.

The role's `--check` is the operator's preview (issue 26: "net_state in check mode (preview + preflight)"). A host
with no default gateway and no `checkpoint.probes` (change_window_probes left at its default) previews fine in
check mode, then the real run refuses it ("no probe was given and ... has no default gateway"). Whether there is a
gateway to probe is known from the routes check mode already reads; nothing needs to be probed to say so.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import iproute, kernel_state, state_diff

pytestmark = pytest.mark.kernel

HOST = [
    "ip link set lo up",
    "ip link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "ip link set vmbr0 up",
    "ip address add 192.0.2.10/24 dev vmbr0",
]


def test_check_mode_refuses_a_checkpoint_without_probes_and_without_a_gateway_like_the_real_run(netns, tmp_path):
    iproute(netns, HOST)
    task = {"namespace": netns, "bridges": [{"name": "vmbr0", "mtu": 1400}],
            "checkpoint": {"timeout": 60, "root": str(tmp_path / "root")}}
    before = kernel_state(netns)
    preview = run_module("net_state", task, check=True)
    real = run_module("net_state", task)
    assert state_diff(before, kernel_state(netns)) == [] or not real.get("failed")
    assert bool(preview.get("failed")) == bool(real.get("failed")), (preview.get("msg"), real.get("msg"))
