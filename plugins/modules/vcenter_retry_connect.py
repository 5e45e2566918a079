#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vcenter_retry_connect
short_description: Log in to vCenter through network trouble and fail fast on real errors
version_added: 0.1.0
description:
  - Logs in to a vCenter Server (or ESXi) with pyVmomi, reads who answered (product, version,
    API version, instance UUID), logs out, and reports how many attempts it took.
  - Transient failures (connection refused or reset, timeouts, a temporary name-resolution
    failure, HTTP 502/503/504 from the endpoint or a load balancer, a session dropped mid-call)
    are retried with exponential backoff and full jitter, bounded by O(max_attempts) and an
    overall O(deadline).
  - Permanent failures (invalid login, missing permission, certificate verification failure,
    unknown host name, bad argument) fail at once, after exactly one attempt, with a message
    that says which it was and what to check.
  - Errors are classified by exception type, never by words in the error message.
  - With O(required_interfaces), a netlink link monitor pauses the attempts while any of those
    links is down (the pause is not counted as an attempt) and starts the next attempt as soon as
    the link-up event arrives, instead of at the next backoff tick.
  - The version probe that starts every attempt is bounded by O(connect_timeout); pyVmomi's own
    SmartConnect probe is not, and hangs on a peer that accepts TCP but never answers.
  - The password never appears in results, logs or error messages.
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
requirements:
  - pyvmomi (tested with 9.1)
  - pyroute2 (only with O(required_interfaces); 0.7.2 and 0.9.7 tested)
attributes:
  check_mode:
    support: full
    description: Check mode logs in and out exactly as a normal run does; neither changes anything.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to compare.
  platform:
    support: full
    platforms: posix
    description: The link monitor (O(required_interfaces)) needs Linux netlink; the rest runs on any POSIX host.
options:
  hostname:
    description:
      - Name or IP address of the vCenter Server or ESXi host.
      - If not set, the value of the E(VMWARE_HOST) environment variable is used.
    type: str
    required: true
  username:
    description:
      - User name to log in with.
      - If not set, the value of the E(VMWARE_USER) environment variable is used.
    type: str
    required: true
    aliases: [admin, user]
  password:
    description:
      - Password of O(username).
      - If not set, the value of the E(VMWARE_PASSWORD) environment variable is used.
      - Never shown in results, logs or error messages.
    type: str
    required: true
    aliases: [pass, pwd]
  port:
    description:
      - HTTPS port of the vSphere API.
      - If not set, the value of the E(VMWARE_PORT) environment variable is used, else 443.
    type: int
    default: 443
  validate_certs:
    description:
      - Verify the server's TLS certificate and that it matches O(hostname).
      - If not set, the value of the E(VMWARE_VALIDATE_CERTS) environment variable is used, else V(true).
      - Verification is explicit, also for C(localhost) and C(127.0.0.1), where pyVmomi on its own
        would skip it.
      - Set to V(false) only in a lab.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file (or directory of hashed certificates) with the CA certificates to trust for
        O(validate_certs). For a self-signed vCenter certificate, the certificate itself.
      - If not set, the system's default trust store is used.
    type: path
  connect_timeout:
    description:
      - Seconds allowed for each network step of one attempt (TCP and TLS connect, each reply).
      - Never more than the time left before O(deadline).
    type: float
    default: 10.0
  backoff_base:
    description:
      - Ceiling of the first wait between attempts, in seconds. The ceiling doubles after every
        failed attempt up to O(backoff_cap).
    type: float
    default: 1.0
  backoff_cap:
    description:
      - Largest ceiling of a single wait between attempts, in seconds.
    type: float
    default: 60.0
  backoff_jitter:
    description:
      - Full jitter, the wait is drawn at random between 0 and the ceiling. This spreads many
        clients of a recovering vCenter best.
      - With V(false), the wait is the ceiling itself.
    type: bool
    default: true
  max_attempts:
    description:
      - Largest number of attempts. V(0) means no limit (then O(deadline) bounds the run).
      - Attempts that fail because a required link went down are not counted.
    type: int
    default: 10
  deadline:
    description:
      - Overall limit for the whole task in seconds, waits and pauses included. No wait runs past
        it; when the next attempt could only start after it, the task fails at once.
    type: float
    default: 300.0
  required_interfaces:
    description:
      - Network interfaces (in O(namespace) if given) that must be up before an attempt is made.
      - An interface counts as up when its operational state is C(UP), or C(UNKNOWN) with the
        C(UP) and C(LOWER_UP) flags (loopback, tun). C(LOWERLAYERDOWN), a lost carrier, is down.
      - The interfaces must exist when the task starts.
    type: list
    elements: str
    default: []
  max_network_wait:
    description:
      - Longest pause, in seconds, for one outage of the O(required_interfaces) before the task fails.
    type: float
    default: 300.0
  namespace:
    description:
      - Named network namespace (as in C(ip netns)) in which O(required_interfaces) live.
      - The namespace must exist; it is never created. Omitted (or null), the host; an empty string fails, naming
        O(namespace).
      - Only the link monitor looks there; the connection to vCenter is made from the namespace
        the module runs in.
    type: str
notes:
  - The parameters and environment variables match those of the community.vmware modules.
    Proxy settings are not supported.
  - Only the login, the read of the service content and the logout are sent; all of them may be
    repeated safely, so read timeouts are retried.
seealso:
  - name: User guide
    description: docs/vcenter_retry_connect.md in the collection.
    link: https://example.invalid/netsafe/hypervisor/docs/vcenter_retry_connect.md
"""

EXAMPLES = r"""
- name: Reach vCenter, retrying for up to 5 minutes
  netsafe.hypervisor.vcenter_retry_connect:
    hostname: vcenter.example.com
    username: automation@vsphere.local
    password: "{{ vcenter_password }}"
    ca_path: /etc/pki/vcenter-ca.pem
  register: vc

- name: Show who answered
  ansible.builtin.debug:
    msg: "{{ vc.product }} (API {{ vc.api_version }}) after {{ vc.attempts }} attempt(s)"

- name: After moving the uplink to a new bond, wait for it and then for vCenter
  netsafe.hypervisor.vcenter_retry_connect:
    hostname: "{{ vcenter_host }}"
    username: "{{ vcenter_user }}"
    password: "{{ vcenter_password }}"
    required_interfaces: [bond0]
    max_network_wait: 120
    deadline: 180
    backoff_cap: 30

- name: Credentials from VMWARE_HOST, VMWARE_USER and VMWARE_PASSWORD
  netsafe.hypervisor.vcenter_retry_connect:
    max_attempts: 3
  environment:
    VMWARE_HOST: vcenter.example.com
    VMWARE_USER: automation@vsphere.local
    VMWARE_PASSWORD: "{{ vcenter_password }}"
"""

RETURN = r"""
product:
  description: Full product name and build reported by the server.
  returned: success
  type: str
  sample: VMware vCenter Server 8.0.3 build-24022515
product_name:
  description: Product name.
  returned: success
  type: str
  sample: VMware vCenter Server
version:
  description: Product version.
  returned: success
  type: str
  sample: 8.0.3
build:
  description: Product build number.
  returned: success
  type: str
  sample: "24022515"
api_type:
  description: C(VirtualCenter) for vCenter, C(HostAgent) for a stand-alone ESXi host.
  returned: success
  type: str
  sample: VirtualCenter
api_version:
  description: API version of the server.
  returned: success
  type: str
  sample: 8.0.3.0
negotiated_api_version:
  description: API version this client and the server agreed on.
  returned: success
  type: str
  sample: 8.0.3.0
instance_uuid:
  description: Unique ID of this vCenter instance.
  returned: success
  type: str
  sample: 0a8a4f5e-1a2b-4c3d-9e8f-123456789abc
attempts:
  description: Number of counted attempts (failures caused by a required link going down are not counted).
  returned: always
  type: int
  sample: 3
attempt_history:
  description: Every attempt, in order.
  returned: always
  type: list
  elements: dict
  contains:
    number:
      description: Attempt number, from 1.
      type: int
    started:
      description: Wall-clock start time (seconds since the epoch).
      type: float
    offset:
      description: Seconds since the task started.
      type: float
    duration:
      description: Seconds the attempt took.
      type: float
    ok:
      description: Whether the attempt logged in.
      type: bool
    counted:
      description: Whether it counts against O(max_attempts).
      type: bool
    error_class:
      description: Type of the exception, for example C(ConnectionRefusedError) or C(vim.fault.InvalidLogin).
      type: str
    category:
      description: Short name of the failure, for example C(connection_refused), C(http_503), C(invalid_login), C(tls_verify).
      type: str
    transient:
      description: Whether the failure was judged worth retrying.
      type: bool
    message:
      description: The error message.
      type: str
    hint:
      description: What to check.
      type: str
    phase:
      description: Step that failed (C(version_probe), C(retrieve_content), C(login), C(logout)).
      type: str
    wait_after:
      description: Seconds waited before the next attempt.
      type: float
  sample:
    - number: 1
      started: 1763760000.12
      offset: 0.0
      duration: 0.002
      ok: false
      counted: true
      error_class: ConnectionRefusedError
      category: connection_refused
      transient: true
      message: "[Errno 111] Connection refused"
      hint: that vCenter is running and listening on that host and port
      phase: version_probe
      wait_after: 0.61
network_waits:
  description: Pauses while O(required_interfaces) were down.
  returned: always
  type: list
  elements: dict
  contains:
    offset:
      description: Seconds since the task started when the pause began.
      type: float
    duration:
      description: Length of the pause in seconds.
      type: float
    down:
      description: Interfaces that were down, with their operational state.
      type: list
      elements: str
    recovered:
      description: Whether the links came back before the limit.
      type: bool
  sample: []
elapsed:
  description: Seconds the whole task took.
  returned: always
  type: float
  sample: 3.41
reason:
  description:
    - Why the task failed. V(permanent) (an error that retrying cannot fix), V(attempts) (O(max_attempts) used up),
      V(deadline), V(network) (links down longer than O(max_network_wait)) or V(bad_argument).
  returned: failure
  type: str
  sample: permanent
category:
  description: Category of the last failure.
  returned: failure
  type: str
  sample: invalid_login
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import namespace_problem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.connect import (
    ConnectSettings,
    VcenterConnectError,
    connect_with_retry,
)

try:
    import pyVmomi  # noqa: F401 pylint: disable=unused-import
except ImportError:
    HAS_PYVMOMI = False
else:
    HAS_PYVMOMI = True


def argument_spec() -> dict:
    return dict(
        hostname=dict(type="str", required=True, fallback=(env_fallback, ["VMWARE_HOST"])),
        username=dict(type="str", required=True, aliases=["admin", "user"],
                      fallback=(env_fallback, ["VMWARE_USER"])),
        password=dict(type="str", required=True, aliases=["pass", "pwd"], no_log=True,
                      fallback=(env_fallback, ["VMWARE_PASSWORD"])),
        port=dict(type="int", default=443, fallback=(env_fallback, ["VMWARE_PORT"])),
        validate_certs=dict(type="bool", default=True,
                            fallback=(env_fallback, ["VMWARE_VALIDATE_CERTS"])),
        ca_path=dict(type="path"),
        connect_timeout=dict(type="float", default=10.0),
        backoff_base=dict(type="float", default=1.0),
        backoff_cap=dict(type="float", default=60.0),
        backoff_jitter=dict(type="bool", default=True),
        max_attempts=dict(type="int", default=10),
        deadline=dict(type="float", default=300.0),
        required_interfaces=dict(type="list", elements="str", default=[]),
        max_network_wait=dict(type="float", default=300.0),
        namespace=dict(type="str"),
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PYVMOMI:
        module.fail_json(msg=missing_required_lib("pyvmomi"))
    p = module.params
    if p["connect_timeout"] <= 0:
        module.fail_json(msg="connect_timeout must be > 0 seconds", reason="bad_argument")
    if p["max_network_wait"] <= 0:
        module.fail_json(msg="max_network_wait must be > 0 seconds", reason="bad_argument")
    if namespace_problem(p["namespace"]):
        module.fail_json(msg=namespace_problem(p["namespace"]), reason="bad_argument")
    settings = ConnectSettings(
        hostname=p["hostname"], username=p["username"], password=p["password"], port=p["port"],
        validate_certs=p["validate_certs"], ca_path=p["ca_path"],
        connect_timeout=p["connect_timeout"], backoff_base=p["backoff_base"],
        backoff_cap=p["backoff_cap"], backoff_jitter=p["backoff_jitter"],
        max_attempts=p["max_attempts"], deadline=p["deadline"],
        required_interfaces=p["required_interfaces"], max_network_wait=p["max_network_wait"],
        namespace=p["namespace"],
    )
    try:
        result = connect_with_retry(settings, log=module.log)
    except VcenterConnectError as exc:
        details = dict(exc.details)
        for text in details.pop("warnings", []):
            module.warn(text)
        module.fail_json(msg=exc.message, changed=False, **details)
    for text in result.pop("warnings"):
        module.warn(text)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
