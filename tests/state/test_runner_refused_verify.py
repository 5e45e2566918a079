"""The runner undoes a change whose result the planner refuses when it checks it again (review 26: it used to
leave the host changed and report changed: false). Driven with a planner that plans once and refuses the second
time, on the real kernel."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import Operation
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan import Plan
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import NotConverged, converge
from nstools import iproute, kernel_state, state_diff

pytestmark = pytest.mark.kernel


def test_a_result_the_planner_refuses_on_the_second_look_is_undone(netns):
    iproute(netns, ["ip link add eth1 type veth peer name sw1"])
    before = kernel_state(netns)
    calls = []

    def planner(snapshot):
        calls.append(1)
        if len(calls) > 1:
            raise ValidationError(["mtu: refused on the second look"])
        return Plan([Operation.setting("eth1", "mtu", 1400, 1500)])

    with pytest.raises(NotConverged) as caught:
        converge(netns, GuestMatcher(), planner, lambda host: {}, False)
    assert "refused when checked again: mtu: refused on the second look" in str(caught.value)
    assert "the change was undone" in str(caught.value) and not caught.value.host_changed
    assert state_diff(before, kernel_state(netns)) == []
