#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: failover_plan
short_description: Plan which hypervisors may go into maintenance together without losing VM failover capacity
version_added: 0.1.0
description:
  - Reads a description of VMs and failover reservations (capacity kept free on one hypervisor
    so that a VM from another hypervisor can restart there) and answers three questions,
    without changing anything anywhere.
  - Re-validation. Which allocations no longer hold, because the VM moved off the hypervisor
    recorded in the allocation, no longer fits the reservation's memory or vCPUs, or takes part
    in a violation of the five eligibility rules with that reservation. Offending VMs are
    removed one at a time, so a later check sees the reduced state. See RV(ineligible).
  - Maintenance batches. Ordered batches of hypervisors that cover every host once. All hosts
    of one batch may be down together because every VM running on them can be given its own
    failover slot, a reservation it holds (after re-validation) on a host outside the batch,
    with no reservation given to two VMs. This is decided by an exact bipartite matching.
  - Eligibility, when O(check_vm) is given. Whether that VM may join O(check_reservation), or
    which reservations it may join. Eligibility is judged on the reservations as given, before
    re-validation, so that a violation already present among a reservation's VMs is reported
    (it makes any addition ineligible).
  - The five rules, for a VM v with host H(v) and slot hosts S(v) (the hosts of its
    reservations). 1, H(v) is not in S(v). 2, v's N slots sit on N distinct hosts.
    3, no two VMs using the same reservation run on the same host. 4, no other VM sharing one
    of v's reservations runs on H(v) or on a host in S(v). 5, the other VMs using v's
    reservations run on pairwise distinct hosts, and no other VM uses two of v's reservations.
  - Runs on the controller. Hypervisor names are the names the plan returns, so use the
    inventory hostnames of the hypervisors to feed a rolling play (see the examples and the
    C(netsafe.hypervisor.rolling_maintenance) playbook).
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module never changes anything, so check mode returns the same answer.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: Nothing changes, so there is no diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
options:
  vms:
    description:
      - Every VM that matters for the plan, with the hypervisor it runs on now.
      - A VM named in an allocation must be listed here.
    type: list
    elements: dict
    required: true
    suboptions:
      uuid:
        description: Unique identifier of the VM.
        type: str
        required: true
      hypervisor:
        description: Hypervisor the VM runs on now.
        type: str
        required: true
      memory_mb:
        description: Memory the VM needs, in MiB. Must be 0 or more.
        type: int
        required: true
      vcpus:
        description: Virtual CPUs the VM needs. Must be 0 or more.
        type: int
        required: true
  reservations:
    description:
      - The failover reservations and the VMs allocated to each.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Unique name of the reservation.
        type: str
        required: true
      host:
        description: Hypervisor on which the capacity is reserved.
        type: str
        required: true
      memory_mb:
        description: Reserved memory in MiB. Must be 0 or more.
        type: int
        required: true
      vcpus:
        description: Reserved virtual CPUs. Must be 0 or more.
        type: int
        required: true
      allocations:
        description:
          - VMs allocated to this reservation, as a mapping of VM uuid to the hypervisor the VM
            ran on when it got the slot. A VM whose current hypervisor differs has moved and
            loses the slot in re-validation.
        type: dict
        default: {}
  check_vm:
    description:
      - UUID of a VM (from O(vms)) whose eligibility to answer.
      - Alone, the module returns RV(eligible_reservations). With O(check_reservation), it
        returns RV(eligible) and RV(violations).
    type: str
  check_reservation:
    description:
      - Name of a reservation (from O(reservations)) to check O(check_vm) against.
      - Requires O(check_vm).
    type: str
  max_batch_size:
    description:
      - Largest number of hosts in one batch. Without it, batches are as large as safety allows.
      - Must be 1 or more.
    type: int
  allow_unprotected:
    description:
      - VMs with no usable slot at all are always reported in RV(unprotected).
      - When V(false), their hosts are left out of every batch and reported in RV(blocked_hosts).
      - When V(true), such VMs are accepted as going without failover, and their hosts are planned
        like any other.
    type: bool
    default: false
notes:
  - Batches are built greedily, hardest hosts first; the result is always safe but not
    guaranteed to use the fewest possible batches. See C(docs/failover.md) in the collection.
seealso:
  - name: Rolling maintenance playbook
    description: C(netsafe.hypervisor.rolling_maintenance) runs a role over the planned batches, one batch at a time.
    link: https://example.invalid/netsafe/hypervisor/docs/failover.md
"""

EXAMPLES = r"""
- name: Plan maintenance batches from inventory data
  netsafe.hypervisor.failover_plan:
    vms: "{{ failover_vms }}"
    reservations: "{{ failover_reservations }}"
    max_batch_size: 4
  register: plan

- name: Show the batches
  ansible.builtin.debug:
    msg: "{{ plan.batches }} (blocked: {{ plan.blocked_hosts }})"

- name: May VM 0b4d join reservation res-17?
  netsafe.hypervisor.failover_plan:
    vms:
      - {uuid: 0b4d, hypervisor: hv1, memory_mb: 4096, vcpus: 2}
      - {uuid: 7f21, hypervisor: hv2, memory_mb: 4096, vcpus: 2}
    reservations:
      - name: res-17
        host: hv3
        memory_mb: 8192
        vcpus: 4
        allocations: {7f21: hv2}
    check_vm: 0b4d
    check_reservation: res-17
  register: answer

- name: Which reservations may VM 0b4d join?
  netsafe.hypervisor.failover_plan:
    vms: "{{ failover_vms }}"
    reservations: "{{ failover_reservations }}"
    check_vm: 0b4d
  register: choices

# A rolling maintenance run, one batch at a time: the collection ships this as the
# playbook netsafe.hypervisor.rolling_maintenance, run it with
#   ansible-playbook -i inventory netsafe.hypervisor.rolling_maintenance
# Its shape, in short (the first play plans, the second walks the batches):
#
# - name: Plan the batches
#   hosts: localhost
#   gather_facts: false
#   tasks:
#     - name: Plan
#       netsafe.hypervisor.failover_plan:
#         vms: "{{ failover_vms }}"
#         reservations: "{{ failover_reservations }}"
#       register: failover
#     - name: Hosts in batch order, and the batch sizes
#       ansible.builtin.set_fact:
#         rolling_hosts: "{{ failover.batches | flatten }}"
#         rolling_sizes: "{{ failover.batches | map('length') }}"
#
# - name: Maintain one batch at a time
#   hosts: "{{ hostvars['localhost']['rolling_hosts'] }}"
#   serial: "{{ hostvars['localhost']['rolling_sizes'] }}"
#   max_fail_percentage: 0
#   tasks:
#     - name: Per-host work
#       ansible.builtin.include_role:
#         name: netsafe.hypervisor.maintenance_check
"""

RETURN = r"""
changed:
  description: Always V(false); the module only computes.
  returned: always
  type: bool
  sample: false
batches:
  description:
    - Ordered batches of hypervisor names. Every host named by a VM or a reservation appears in
      exactly one batch, unless it is in RV(blocked_hosts). All hosts of one batch may be down
      together; run the batches one after the other.
  returned: always
  type: list
  elements: list
  sample: [["hv1", "hv4"], ["hv2", "hv5"], ["hv3"]]
unprotected:
  description: UUIDs of the VMs that have no usable failover slot even when only their own host is down.
  returned: always
  type: list
  elements: str
  sample: ["0b4d"]
blocked_hosts:
  description:
    - Hosts carrying an unprotected VM, left out of every batch. Empty when O(allow_unprotected=true).
  returned: always
  type: list
  elements: str
  sample: ["hv7"]
ineligible:
  description:
    - Re-validation result, reservation name to the UUIDs of the VMs that lost their slot in it.
      Reservations that lost no VM are not listed.
  returned: always
  type: dict
  sample: {"res-17": ["7f21"]}
eligible:
  description: Whether O(check_vm) may join O(check_reservation).
  returned: when O(check_vm) and O(check_reservation) are given
  type: bool
  sample: false
violations:
  description:
    - The rule violations among the reservation's VMs once O(check_vm) is added. Empty when RV(eligible).
  returned: when O(check_vm) and O(check_reservation) are given
  type: list
  elements: dict
  contains:
    rule:
      description: Number of the broken rule, 1 to 5.
      type: int
      sample: 3
    vms:
      description: UUIDs of the VMs involved.
      type: list
      elements: str
      sample: ["0b4d", "7f21"]
    hosts:
      description: Hypervisors involved.
      type: list
      elements: str
      sample: ["hv1"]
    reservations:
      description: Reservations involved.
      type: list
      elements: str
      sample: ["res-17"]
    message:
      description: The violation in words.
      type: str
      sample: VMs 0b4d and 7f21 share reservation res-17 and both run on hv1
    existing:
      description:
        - V(true) when the violation was already there before adding O(check_vm). Any such
          violation makes the addition ineligible, whatever the VM.
      type: bool
      sample: false
eligible_reservations:
  description:
    - Names of the reservations O(check_vm) may join, rules and size (memory and vCPUs) considered.
  returned: when O(check_vm) is given without O(check_reservation)
  type: list
  elements: str
  sample: ["res-3", "res-17"]
msg:
  description: A one-line summary of the answer.
  returned: always
  type: str
  sample: 3 batches for 7 hosts; 0 unprotected VMs
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.rules import (
    FailoverInputError,
    build_world,
    check_eligibility,
    eligible_reservations,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.batches import (
    plan_maintenance,
)

ARGUMENT_SPEC = dict(
    vms=dict(type="list", elements="dict", required=True, options=dict(
        uuid=dict(type="str", required=True),
        hypervisor=dict(type="str", required=True),
        memory_mb=dict(type="int", required=True),
        vcpus=dict(type="int", required=True),
    )),
    reservations=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        host=dict(type="str", required=True),
        memory_mb=dict(type="int", required=True),
        vcpus=dict(type="int", required=True),
        allocations=dict(type="dict", default={}),
    )),
    check_vm=dict(type="str"),
    check_reservation=dict(type="str"),
    max_batch_size=dict(type="int"),
    allow_unprotected=dict(type="bool", default=False),
)


def run(params: dict) -> dict:
    """The module's whole job on plain data; raises FailoverInputError on bad input."""
    world = build_world(params["vms"], params["reservations"])
    check_vm, check_res = params["check_vm"], params["check_reservation"]
    if check_vm is not None and check_vm not in world.vms:
        raise FailoverInputError("check_vm", f"no VM with uuid {check_vm!r} in vms")
    if check_res is not None and check_res not in world.reservations:
        raise FailoverInputError("check_reservation", f"no reservation named {check_res!r} in reservations")
    result: dict = {"changed": False}
    summary = []
    if check_vm is not None and check_res is not None:
        answer = check_eligibility(world, check_vm, check_res)
        result["eligible"] = answer.eligible
        result["violations"] = [dict(v.to_dict(), existing=existed) for v, existed in answer.violations]
        summary.append(f"VM {check_vm} and reservation {check_res}: {answer.reason()}")
    elif check_vm is not None:
        result["eligible_reservations"] = eligible_reservations(world, check_vm)
        summary.append(f"VM {check_vm} may join {len(result['eligible_reservations'])} reservation(s)")
    # Eligibility above is judged on the world as given; from here on it may be cleaned in place.
    plan = plan_maintenance(world, params["max_batch_size"], params["allow_unprotected"], in_place=True)
    result.update(batches=plan.batches, unprotected=plan.unprotected,
                  blocked_hosts=plan.blocked_hosts, ineligible=plan.ineligible)
    summary.append(f"{len(plan.batches)} batch(es) for {sum(map(len, plan.batches))} host(s); "
                   f"{len(plan.unprotected)} unprotected VM(s), {len(plan.blocked_hosts)} blocked host(s)")
    result["msg"] = "; ".join(summary)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_by={"check_reservation": "check_vm"},
        supports_check_mode=True,
    )
    try:
        result = run(module.params)
    except FailoverInputError as exc:
        module.fail_json(msg=f"Invalid {exc}", param=exc.param)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
