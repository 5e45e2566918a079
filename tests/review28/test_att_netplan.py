"""Review of issue 28 (attacker): format netplan and the other formats' netplan checks against what netplan reads.

Each test here shows a defect and is xfail(strict): it passes once the defect is fixed.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.detect import detect
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan import NetplanFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

from persist_hosts import as_read
from realstacks import NETPLAN_GENERATE, NETPLAN_ROOT, netplan_available, netplan_generate

ENO1 = "network:\n  version: 2\n  ethernets:\n    eno1:\n      addresses: [192.0.2.10/24]\n"


def bridge_on_eno1() -> HostNetwork:
    host = HostNetwork()
    host.add(Nic(name="eno1", mtu=1500, up=True, master="vmbr0", kind="", ip=IpConfig([])))
    host.add(Bridge(name="vmbr0", mtu=1500, up=True, ip=IpConfig(["198.51.100.2/24"]), stp=False, forward_delay=0.0,
                    vlan_filtering=False))
    return persisted(as_read(host), None, GuestMatcher())[0]


@pytest.mark.parametrize("directory", ["lib/netplan", "run/netplan"])
def test_att_networkd_refuses_a_device_netplan_defines_outside_etc(tmp_path, directory):
    if netplan_available():   # the real generator: the device is netplan's
        run = netplan_generate({f"/{directory}/10-vendor.yaml": ENO1})
        assert run.returncode == 0 and "/run/systemd/network/10-netplan-eno1.network" in run.networkd_files()
    (tmp_path / directory).mkdir(parents=True)
    (tmp_path / directory / "10-vendor.yaml").write_text(ENO1)
    with pytest.raises(ValidationError, match="eno1: netplan owns it"):
        NetworkdFormat(NetworkdFormat.DEFAULT_PATH, root=str(tmp_path)).render({}, bridge_on_eno1())


def test_att_auto_sees_netplan_configuration_outside_etc(tmp_path):
    wants = tmp_path / "etc" / "systemd" / "system" / "multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "systemd-networkd.service").symlink_to("/lib/systemd/system/systemd-networkd.service")
    (tmp_path / "run" / "netplan").mkdir(parents=True)
    (tmp_path / "run" / "netplan" / "50-cloud-init.yaml").write_text(ENO1)
    assert detect(str(tmp_path))[0] == "netplan"


def test_att_netplan_save_refused_while_run_shadows_our_file(tmp_path):
    if netplan_available():   # the real generator: /run's file of the same name is the one used, ours is ignored
        ours = "network:\n  version: 2\n  ethernets:\n    eno1:\n      addresses: [198.51.100.1/24]\n"
        run = netplan_generate({"/etc/netplan/90-netsafe.yaml": ours, "/run/netplan/90-netsafe.yaml": ENO1})
        assert "192.0.2.10/24" in run.networkd_files()["/run/systemd/network/10-netplan-eno1.network"]
    (tmp_path / "etc" / "netplan").mkdir(parents=True)
    (tmp_path / "run" / "netplan").mkdir(parents=True)
    (tmp_path / "run" / "netplan" / "90-netsafe.yaml").write_text(ENO1)
    fmt = NetplanFormat(NetplanFormat.DEFAULT_PATH, root=str(tmp_path))
    with pytest.raises(ValidationError, match="/run/netplan/90-netsafe.yaml"):
        fmt.render(fmt.read(), bridge_on_eno1())


def test_att_networkd_with_a_latin1_netplan_file_is_a_clear_error(tmp_path):
    (tmp_path / "etc" / "netplan").mkdir(parents=True)
    (tmp_path / "etc" / "netplan" / "00-installer-config.yaml").write_bytes(
        b"# r\xe9seau du datacenter\n" + ENO1.replace("eno1", "eno9").encode())
    try:
        NetworkdFormat(NetworkdFormat.DEFAULT_PATH, root=str(tmp_path)).render({}, bridge_on_eno1())
    except ValidationError as exc:
        assert "00-installer-config.yaml" in str(exc)
    # (no refusal at all would also do: the file defines no device of the change)


BOMB = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 29, 1 << 29))
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan import NetplanFormat
lines = ["network:", "  version: 2", "  ethernets:", "    eno1:", "      b0: &b0 {x: '1'}"]
for i in range(1, 40):
    lines.append(f"      b{i}: &b{i} {{l: *b{i - 1}, r: *b{i - 1}}}")
try:
    NetplanFormat(NetplanFormat.DEFAULT_PATH, "/nonexistent-root").parse_lenient(
        {"/etc/netplan/00-bomb.yaml": "\\n".join(lines) + "\\n"})
except ValidationError:
    pass
print("done")
"""


def test_att_netplan_alias_bomb_is_refused_quickly():
    proc = subprocess.run([sys.executable, "-c", BOMB], capture_output=True, text=True, timeout=50, check=False,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CPU, (40, 40)))
    assert proc.stdout.strip() == "done", proc.stderr[-300:]


def _generate_with(tmp_path, make) -> int:
    """Debian's netplan generate on a scratch root holding a good file and what `make(dir)` puts next to it."""
    root = tmp_path / "generate-root"
    (root / "etc" / "netplan").mkdir(parents=True)
    (root / "etc" / "netplan" / "10-a.yaml").write_text(ENO1)
    (root / "etc" / "netplan" / "10-a.yaml").chmod(0o600)
    make(root / "etc" / "netplan")
    env = dict(os.environ, LD_LIBRARY_PATH=str(NETPLAN_ROOT / "usr" / "lib" / "x86_64-linux-gnu"), LC_ALL="C")
    return subprocess.run([str(NETPLAN_GENERATE), "--root-dir", str(root)], capture_output=True, env=env, timeout=60,
                          check=False).returncode


ODD_ENTRIES = {
    "broken-symlink": lambda directory: (directory / "50-gone.yaml").symlink_to("/nonexistent/50-gone.yaml"),
    "directory": lambda directory: (directory / "50-gone.yaml").mkdir(),
}


@pytest.mark.parametrize("odd", sorted(ODD_ENTRIES))
def test_att_netplan_save_refused_next_to_what_netplan_generate_fails_on(tmp_path, odd):
    if netplan_available():
        assert _generate_with(tmp_path, ODD_ENTRIES[odd]) == 1
    (tmp_path / "etc" / "netplan").mkdir(parents=True)
    ODD_ENTRIES[odd](tmp_path / "etc" / "netplan")
    fmt = NetplanFormat(NetplanFormat.DEFAULT_PATH, root=str(tmp_path))
    with pytest.raises(ValidationError, match="50-gone.yaml"):
        fmt.render(fmt.read(), bridge_on_eno1())
