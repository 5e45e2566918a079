"""Review 26 (attacker): a huge net_state request on a big host must not cost a copy of the whole host per entry.

Measured on the host kernel (/tmp scratch, not a test): 250 bridges + 250 NICs on a namespace with 1,000 guest
taps took 51 s to apply and 37 s as a no-op; planning alone copies the whole host model about three times per
entry, twice per run (plan, then the verification's re-plan). 1,000 entries would take minutes. Counted here
without a clock: model copies while planning, against the size of the host and the request."""
from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import model
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_state import plan_state
from ansible_collections.netsafe.hypervisor.plugins.modules import net_state

ENTRIES = 100     # of each kind: 100 bridges on 100 NICs, 100 NIC entries (the measured case had 250 of each)
GUESTS = 500


def big_host() -> HostNetwork:
    host = HostNetwork()
    for i in range(ENTRIES):
        for side in "ab":
            host.add(Nic(name=f"v{i}{side}", mtu=1500, up=True, ip=IpConfig(addresses=[], routes=[])))
    host.add(Bridge(name="vmbr0", mtu=1500, up=True, stp=False, forward_delay=0, ip=IpConfig(addresses=[], routes=[])))
    for g in range(GUESTS):
        host.add(GuestPort(name=f"tap{100 + g}i0", mtu=1500, up=True, kind="tun", master="vmbr0",
                           ip=IpConfig(addresses=[], routes=[])))
    return host


def test_planning_a_huge_request_copies_the_host_a_bounded_number_of_times(monkeypatch):
    host = big_host()
    lists = {"bridges": [{"name": f"br{i}", "ports": [f"v{i}a"]} for i in range(ENTRIES)],
             "nics": [{"name": f"v{i}b", "mtu": 1400} for i in range(ENTRIES)]}
    params = ArgumentSpecValidator(net_state.ARGUMENT_SPEC).validate(lists).validated_parameters
    requests, places = net_state.requests_of(params)
    copies = []
    real_clone = model.HostNetwork.clone

    def counted(self):
        copies.append(len(self.devices))
        return real_clone(self)

    monkeypatch.setattr(model.HostNetwork, "clone", counted)
    plan = plan_state(host, requests, places, GuestMatcher())
    assert len(plan.operations) >= 2 * ENTRIES
    # Linear: a few dozen copies of the host in all, however many entries; today it is about three per entry.
    assert sum(copies) <= 50 * len(host.devices), (len(copies), sum(copies))
