# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""What every network module's entry point shares: argument spec parts, input checks and the error edge.

A network module is its argument spec, a `run(module)` that builds a planner
and a view, and `main = lambda: run_network_module(SPEC, run)`. The
collection's own exceptions become `fail_json` here and nowhere else.
"""
from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import (
    DEFAULT_TIMEOUT, Writer, namespace_problem,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import requests
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import DEFAULT_GUEST_PATTERNS, GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_state import plan_state
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import converge

# Mirrors plugins/doc_fragments/network.py.
NETWORK_ARGS = {
    "namespace": {"type": "str"},
    "guest_patterns": {"type": "list", "elements": "str", "default": list(DEFAULT_GUEST_PATTERNS)},
    "lock_timeout": {"type": "float", "default": DEFAULT_TIMEOUT},
}

check_names = requests.check_names   # the one name rule, for modules that take device names but no request


def task_writer(module) -> Writer:
    """The task as a writer of the network: its module name (the lock names it) and its lock_timeout."""
    timeout = module.params["lock_timeout"]
    if timeout < 0:
        raise ValidationError([f"lock_timeout: {timeout:g} is negative; give the seconds to wait for another "
                               f"change of this host's network (0: do not wait)"])
    name = getattr(module, "_name", None) or "netsafe.hypervisor"
    return Writer(f"{name} (ansible task)", timeout)


def converge_task(module, planner, view, guests: GuestMatcher | None = None) -> dict:
    """converge() with the task's namespace, guest patterns (or the task's own matcher), check mode and lock."""
    params = module.params
    guests = guests or GuestMatcher(params["guest_patterns"])
    return converge(params["namespace"], guests, planner, view, module.check_mode, task_writer(module))


def converge_request(module, request) -> dict:
    """A per-device module's task: its one request planned as net_state plans a list of them (plan_state.py), so
    that a device becoming a port gives its addresses to its new master there too."""
    guests = GuestMatcher(module.params["guest_patterns"])
    return converge_task(module, lambda snapshot: plan_state(snapshot.host, [request], [None], guests),
                         lambda host: request.view(host, guests), guests)


def check_namespace(params: dict) -> None:
    """The task's `namespace` to the one rule, before anything is read: '' is refused, never taken for the host."""
    problem = namespace_problem(params.get("namespace"))
    if problem:
        raise ValidationError([problem])


def run_module(module, body) -> None:
    """Call body() once the task's namespace passed the rule; turn the collection's errors into fail_json, report
    warnings."""
    try:
        check_namespace(module.params)
        result = body()
    except NetsafeError as exc:
        # A failed change whose undo did not complete left the host changed: say so.
        module.fail_json(msg=str(exc), changed=exc.host_changed, **exc.details)
    except PermissionError as exc:
        module.fail_json(msg=f"permission denied talking to the kernel ({exc}); run the task as root (become: true)")
    except OSError as exc:
        module.fail_json(msg=f"netlink request failed: {exc}", changed=False)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


def run_network_module(argument_spec: dict, run, **spec_rules) -> None:
    """A network module's main(): parse arguments (check mode supported), call run(module), report."""
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **spec_rules)

    def body():
        task_writer(module)   # a bad lock_timeout fails before anything is read, stopped or changed
        return run(module)

    run_module(module, body)
