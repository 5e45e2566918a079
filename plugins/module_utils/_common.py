# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""What every network module's entry point shares: argument spec parts and the error edge."""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._model import (
    DEFAULT_GUEST_PATTERNS, IpConfig, NetsafeError, ValidationError, normalize_mac,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._netlink import NamespaceNotFound

# Mirrors plugins/doc_fragments/network.py.
NETWORK_ARGS = {
    "namespace": {"type": "str"},
    "guest_patterns": {"type": "list", "elements": "str", "default": list(DEFAULT_GUEST_PATTERNS)},
}

# Mirrors plugins/doc_fragments/device.py.
DEVICE_ARGS = {
    "mtu": {"type": "int"},
    "mac": {"type": "str"},
    "addresses": {"type": "list", "elements": "str"},
    "gateway4": {"type": "str"},
    "gateway6": {"type": "str"},
    "admin_state": {"type": "str", "choices": ["up", "down"], "default": "up"},
}


def desired_ip(params: dict) -> IpConfig:
    return IpConfig(addresses=params["addresses"], gateway4=params["gateway4"], gateway6=params["gateway6"])


def desired_mac(params: dict):
    """The `mac` option normalized, or None; a bad one is a ValidationError naming it."""
    if params["mac"] is None:
        return None
    try:
        return normalize_mac(params["mac"])
    except ValueError as exc:
        raise ValidationError([f"mac: {exc}"]) from None


def run_module(module, body) -> None:
    """Call body(); turn the collection's errors into fail_json, report warnings."""
    try:
        result = body()
    except NetsafeError as exc:
        # A failed change whose undo did not complete left the host changed: say so.
        module.fail_json(msg=str(exc), changed=getattr(exc, "host_changed", False))
    except NamespaceNotFound as exc:
        module.fail_json(msg=str(exc), changed=False)
    except PermissionError as exc:
        module.fail_json(msg=f"permission denied talking to the kernel ({exc}); run the task as root (become: true)")
    except OSError as exc:
        module.fail_json(msg=f"netlink request failed: {exc}", changed=False)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)
