"""Input at the edges (issue 23, items 5-7): one name rule, quoted commands, namespaces and roots that cannot
escape, private directories whatever the umask, one error tree.

Pure logic and scratch directories only; the module runs on a real kernel are tests/kernel/test_edge_inputs.py
and tests/checkpoint/test_private_dirs.py.
"""
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import files, hostlock
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._failover.rules import FailoverInputError, build_world
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.explicit import parse_explicit
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.libvirt import parse_libvirt_domain
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import ConfigProblem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.proxmox import parse_proxmox_config
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, HostNetwork, Nic, name_problem,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import NamespaceNotFound
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import LINK_SET, Operation
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety.rollback import plan_rollback
from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.connect import VcenterConnectError

ALLOWED = "allowed ASCII letters, digits, '-', '_' and '.', starting with a letter or digit, at most 15 bytes"

# Proxmox VE (bridges, VLAN bridges, guest taps/veths, the firewall chain, SDN), libvirt, the kernel and
# common neighbours on a hypervisor.
REAL_NAMES = [
    "vmbr0", "vmbr0v100", "vmbr0.100", "tap101i0", "veth101i0", "fwbr101i0", "fwpr101p0", "fwln101i0",
    "bond0", "bond0.100", "enp5s0f1", "eno1", "ens18", "eth0", "lo", "vxlan_x", "vrf_zone1", "vrfbr_zone1",
    "vrfvx_zone1", "xvrf_zone1", "xvrfp_zone1", "ln_vnet1", "z_qinq1", "virbr0", "virbr0-nic", "vnet12",
    "macvtap0", "docker0", "br-0a1b2c3d4e5f", "wg0", "flannel.1", "cni0", "abcdefghijklmno",
]
HOSTILE_NAMES = [
    "vm*", "vm?", "vm[0-9]", "a;b", "$x", "eth%d", "a'b", 'a"b', "a`b`", "a b", "a\tb", "a\nb", "a/b", ".", "..",
    "-x", ".x", "_x", "a:1", "a@b", "a\\b", "a|b", "a&b", "a(b)", "a{b}", "a~", "a!b", "a#b", "a,b", "a=b",
    "a+b", "a<b", "a>b", "ü",
]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_every_name_proxmox_libvirt_and_the_kernel_make_is_accepted(name):
    assert name_problem(name, "ports") is None


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_that_could_glob_split_or_escape_is_refused_naming_the_parameter_and_the_rule(name):
    assert name_problem(name, "ports") == f"ports: {name!r} is not a valid interface name; {ALLOWED}"


@pytest.mark.parametrize("name, message", [
    ("", "bridge: an interface name is required"),
    ("abcdefghijklmnop", "bridge: 'abcdefghijklmnop' is 16 characters long; Linux allows at most 15"),
    ("vmbrüüüüüüü", "bridge: 'vmbrüüüüüüü' is 18 bytes long; Linux allows at most 15"),
])
def test_the_length_is_the_kernels_in_bytes(name, message):
    assert name_problem(name, "bridge") == message


def test_the_guest_readers_use_the_same_rule():
    with pytest.raises(ConfigProblem) as caught:
        parse_proxmox_config("net0: virtio=BC:24:11:00:00:01,bridge=vm*\n", "101", "qemu", "101.conf")
    assert str(caught.value) == f"101.conf:1: net0: bridge: 'vm*' is not a valid interface name; {ALLOWED}"
    domain = ("<domain type='kvm'><name>g1</name><devices><interface type='bridge'><source bridge='virbr0'/>"
              "<target dev='vnet$1'/></interface></devices></domain>")
    libvirt = parse_libvirt_domain(domain, "g1.xml")
    assert libvirt.nics == [] and libvirt.problems[0]["reason"] == (
        f"interface 0: target dev: 'vnet$1' is not a valid interface name; {ALLOWED}")
    explicit = parse_explicit([{"device": "tap1i0", "bridge": "vmbr?"}])
    assert explicit.nics == [] and explicit.problems[0]["reason"] == (
        f"ports[0]: bridge: 'vmbr?' is not a valid interface name; {ALLOWED}")


def test_every_command_shown_is_shell_quoted_word_by_word():
    # A name the kernel already has is planned as it is (below); what we show must still paste safely.
    op = Operation(LINK_SET, "x;reboot", {"master": "vm br", "up": True})
    assert op.command("ns-1") == "ip -n ns-1 link set dev 'x;reboot' master 'vm br' up"
    assert op.batch_line() == "link set dev 'x;reboot' master 'vm br' up"
    assert op.inverse == [] and Operation.setting("eth1", "mtu", 9000, 1500).command() == "ip link set dev eth1 mtu 9000"


def test_a_device_the_kernel_already_has_is_planned_back_whatever_its_name():
    """The rule guards what we are given; a rollback must restore what another tool named, not refuse it."""
    snapshot = HostNetwork()
    snapshot.add(Bridge(name="br*x", up=True, stp=False, forward_delay=0.0))
    snapshot.add(Nic(name="eth1", master="br*x", up=True))
    changed = HostNetwork()
    changed.add(Bridge(name="br*x", up=True, stp=False, forward_delay=0.0))
    changed.add(Nic(name="eth1", up=True))
    plan = plan_rollback(changed, snapshot, GuestMatcher())
    assert [op.command() for op in plan.operations] == ["ip link set dev eth1 master 'br*x'"]


# -- namespaces ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["x/../../tmp/y", "..", ".", "a/b", "ns*", "ns 1", "-ns", "n" * 245, "ns\n"])
def test_a_namespace_name_outside_the_rule_is_refused_before_any_path_is_built(tmp_path, name):
    with pytest.raises(ValidationError, match="^namespace: .* is not a valid namespace name; allowed ASCII"):
        cp.Store(name, str(tmp_path))
    with pytest.raises(ValidationError, match="^namespace: "):
        hostlock.HostLock(name, "test")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["nstest1x0", "sl1-hv", "cni-0d3c1c2e-4b4a-e0c4-58ba-4e5b07a3e0c6", "n" * 244, "lab_1.a"])
def test_namespace_names_iproute2_and_cni_make_are_accepted(name):
    assert hostlock.namespace_problem(name) is None
    assert hostlock.scope_of(name) == f"netns-{name}"


# -- root -------------------------------------------------------------------------

def test_a_root_a_symlink_leads_out_of_is_refused_with_the_path(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "var/lib").mkdir(parents=True)
    outside.mkdir()
    (root / "run").symlink_to(outside)
    with pytest.raises(ValidationError, match=f"^root: {root}/run/netsafe leads out of {root} \\(to {outside}/netsafe\\)"):
        cp.Store("ns1", str(root))
    (root / "var/lib/inside").mkdir()
    (root / "etc").symlink_to("var/lib/inside")    # a symlink that stays inside root is followed
    assert files.under_root(str(root), "/etc/network/interfaces") == f"{root}/etc/network/interfaces"
    with pytest.raises(ValidationError, match="^root: .* leads out of"):
        files.under_root(str(root), "/../outside/x")
    assert list(outside.iterdir()) == []


# -- private directories ------------------------------------------------------------

@pytest.fixture
def umask_000():
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def modes_below(top) -> dict:
    return {str(p): stat.S_IMODE(p.lstat().st_mode) for p in [top] + sorted(top.rglob("*")) if p.is_dir()}


def test_every_level_is_created_0700_whatever_the_umask(tmp_path, umask_000):
    top = tmp_path / "run/netsafe"
    files.private_directory(str(top / "checkpoint/netns-a/lib/x"), str(top))
    assert set(modes_below(top).values()) == {0o700} and len(modes_below(top)) == 5
    os.umask(0o777)   # a umask that takes every bit: still 0700
    files.private_directory(str(top / "lock"), str(top))
    assert modes_below(top)[str(top / "lock")] == 0o700


def test_the_host_lock_directory_is_private_whatever_the_umask(tmp_path, monkeypatch, umask_000):
    monkeypatch.setattr(hostlock, "RUN_TOP", str(tmp_path / "run/netsafe"), raising=False)
    monkeypatch.setattr(hostlock, "LOCK_DIR", str(tmp_path / "run/netsafe/lock"))
    with hostlock.HostLock(None, "test"):
        pass
    assert modes_below(tmp_path / "run/netsafe") == {str(tmp_path / "run/netsafe"): 0o700,
                                                     str(tmp_path / "run/netsafe/lock"): 0o700}


def test_a_backup_gets_private_directories_from_the_top_down(tmp_path, umask_000):
    top = tmp_path / "var/lib/netsafe"
    assert files.netsafe_top(str(top / "backups"), str(tmp_path)) == str(top)
    backup = files.BackupRun(str(top / "backups"), stamp=0, top=str(top)).save("/etc/network/interfaces", b"old", 0o644)
    assert set(modes_below(top).values()) == {0o700}
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_a_symlink_planted_at_any_level_is_refused_with_its_path(tmp_path, depth):
    top, outside = tmp_path / "run/netsafe", tmp_path / "outside"
    levels = [top, top / "checkpoint", top / "checkpoint/netns-a"]
    outside.mkdir()
    for level in levels[:depth]:
        level.mkdir(mode=0o700, parents=True)
    levels[depth].parent.mkdir(parents=True, exist_ok=True)
    levels[depth].symlink_to(outside)
    with pytest.raises(files.UnsafeDirectory, match=f"^{levels[depth]} is a symlink \\(to {outside}\\)"):
        files.private_directory(str(levels[-1]), str(top))
    assert list(outside.iterdir()) == []


def test_a_level_another_user_owns_or_can_write_is_refused(tmp_path):
    top = tmp_path / "var/lib/netsafe"
    top.mkdir(parents=True, mode=0o700)
    (top / "checkpoint").mkdir(mode=0o700)
    os.chown(top / "checkpoint", 1234, 1234)
    with pytest.raises(files.UnsafeDirectory, match=f"^{top}/checkpoint is owned by uid 1234, not root"):
        files.private_directory(str(top / "checkpoint/host"), str(top))
    os.chown(top / "checkpoint", 0, 0)
    os.chmod(top / "checkpoint", 0o777)
    with pytest.raises(files.UnsafeDirectory, match=f"^{top}/checkpoint is writable by others \\(mode 0777\\)"):
        files.private_directory(str(top / "checkpoint/host"), str(top))
    assert not (top / "checkpoint/host").exists()
    os.chmod(top / "checkpoint", 0o755)   # what older versions left: readable, not writable, accepted as it is
    files.private_directory(str(top / "checkpoint/host"), str(top))
    assert stat.S_IMODE((top / "checkpoint/host").stat().st_mode) == 0o700


# -- one error tree ---------------------------------------------------------------------

def test_the_collections_errors_are_one_tree():
    for cls in (ConfigProblem, FailoverInputError, VcenterConnectError, NamespaceNotFound, files.UnsafeDirectory):
        assert issubclass(cls, NetsafeError), cls
    assert issubclass(ConfigProblem, ValidationError) and issubclass(FailoverInputError, ValidationError)
    assert issubclass(NamespaceNotFound, LookupError)   # callers that catch "not found" keep working


def test_errors_are_raised_once_not_converted():
    """A discovery setting's problem and a bad VLAN id reach the edge as what they are, with their parameter."""
    with pytest.raises(ConfigProblem) as caught:
        discover("bogus")
    assert isinstance(caught.value, ValidationError) and caught.value.problems == [
        "source: 'bogus' is not allowed; allowed auto, proxmox, libvirt, explicit"]
    with pytest.raises(FailoverInputError) as caught:
        build_world([{"uuid": "a", "hypervisor": "", "memory_mb": 1, "vcpus": 1}], [])
    assert caught.value.param == "vms[0].hypervisor" and caught.value.problems == [str(caught.value)]
