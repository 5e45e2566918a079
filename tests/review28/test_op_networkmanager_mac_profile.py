"""Operator review of issue 28: a NIC whose NetworkManager profile is bound by MAC address, not by interface name.

Kickstarts and admins bind profiles to a NIC by `[ethernet] mac-address=` (no `interface-name`). The keyfile format
skips such a profile ("bound by MAC only: not ours to read") and writes a second profile for the same NIC. Seen on the
systemd host: a window moves vmbr0 onto eno2, confirmed with persist format networkmanager, is accepted; after a
power cut NetworkManager activates the old MAC-bound profile on eno2 (it was used before, netsafe's never was), eno2
is no port of vmbr0 and the host is cut off. The save must either refuse, naming the other profile, or the host must
boot what was confirmed.
"""
from __future__ import annotations

import pytest

from op28lab import MOVE_VMBR0_TO_ENO2, boot_with, run, task, wait_for
from realhost.conftest import systemd_host, systemd_host_factory  # noqa: F401  pylint: disable=unused-import

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

UPLINK2 = """[connection]
id=uplink2
uuid=6f0a1c52-1111-4a8e-9a55-3c2f0e9b0a02
type=ethernet

[ethernet]
mac-address={mac}

[ipv4]
method=disabled

[ipv6]
method=ignore
"""


def test_op_a_mac_bound_profile_does_not_win_the_boot(systemd_host):
    host = systemd_host
    mac = host.exec("cat /sys/class/net/eno2/address", check=True).stdout.strip()
    host.write("/etc/NetworkManager/system-connections/uplink2.nmconnection", UPLINK2.format(mac=mac), mode="0600")
    boot_with(host, "networkmanager")
    wait_for("uplink2 active on eno2", lambda: ":uplink2" in host.exec("nmcli -t -f DEVICE,CONNECTION device").stdout)
    results = run(host, MOVE_VMBR0_TO_ENO2, check=False, finish="confirmed", persist="networkmanager")
    finish = task(results, "Finish")
    confirm = finish["result"]
    if finish["status"] == "failed":   # refused, naming the other profile: fine
        assert "uplink2" in confirm.get("msg", ""), confirm
        return
    assert confirm["persist"]["changed"], confirm
    host.reboot(wait_ssh=False)
    wait_for("NetworkManager's startup", lambda: host.exec("nm-online -s -q -t 1").returncode == 0, timeout=30)
    wait_for("eno2 a port of vmbr0 after the power cut, as confirmed and persisted",
             lambda: "master vmbr0" in host.exec("bridge link show dev eno2").stdout, timeout=15)
