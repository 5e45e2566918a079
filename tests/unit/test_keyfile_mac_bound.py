"""A NetworkManager profile bound to a NIC by its MAC address only competes with ours at boot: the save refuses.

Seen for real on the systemd test host (tests/review28/test_op_networkmanager_mac_profile.py): NetworkManager
booted the old MAC-bound profile on the new bridge port, and the host was cut off.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import HostNetwork, Nic
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile import refuse_mac_bound

MAC_BOUND = "[connection]\nid=uplink2\ntype=ethernet\n\n[ethernet]\nmac-address={mac}\n"
DESIRED = HostNetwork(devices={"eno2": Nic(name="eno2", mac="02:77:00:00:01:02")})


def test_a_profile_bound_by_the_mac_of_a_device_written_is_refused_naming_it():
    files = {"/etc/NetworkManager/system-connections/uplink2.nmconnection": MAC_BOUND.format(mac="02:77:00:00:01:02".upper())}
    with pytest.raises(ValidationError) as refused:
        refuse_mac_bound(files, DESIRED)
    text = str(refused.value)
    assert "eno2: /etc/NetworkManager/system-connections/uplink2.nmconnection binds this device by its MAC" in text
    assert "interface-name=eno2" in text and "nothing was written" in text


def test_a_profile_with_an_interface_name_or_another_mac_is_not_refused():
    named = MAC_BOUND.format(mac="02:77:00:00:01:02").replace("type=ethernet\n", "type=ethernet\ninterface-name=eno2\n")
    other = MAC_BOUND.format(mac="02:77:00:00:01:09")
    refuse_mac_bound({"/a.nmconnection": named, "/b.nmconnection": other, "/c.nmconnection": None}, DESIRED)
