"""Review (attacker): '²' passes str.isdigit() and int() refuses it (issue 22 item 6's bug class), in the persistence
parsers: ifupdown2._int (and 322/400/453), networkd._vid (reproduced here); keyfile._int and parse_bridge_vlans
have the same pattern (the NetworkManager case below passes: not reproduced). One such value in a stanza or file
net_persist does not even touch (ifupdown2: wlan0; networkd: another VLAN) makes the module end in an uncaught ValueError (a traceback,
"MODULE FAILURE").
"""
from __future__ import annotations

import os

import pytest

import persist_lab
from modrun import run_module

pytestmark = pytest.mark.kernel

BASE = ("auto lo\niface lo inet loopback\n\nauto eno1\niface eno1 inet manual\n\n"
        "auto vmbr0\niface vmbr0 inet static\n\taddress 192.0.2.10/24\n\tgateway 192.0.2.1\n\tbridge-ports eno1\n"
        "\tbridge-stp off\n\tbridge-fd 0\n")
FILES = {
    "ifupdown2": {"etc/network/interfaces": BASE + "\niface wlan0 inet dhcp\n\tmtu ²\n"},
    "networkd": {"etc/systemd/network/50-other.netdev": "[NetDev]\nName=other.9\nKind=vlan\n\n[VLAN]\nId=²\n"},
    "networkmanager": {"etc/NetworkManager/system-connections/other.nmconnection":
                       "[connection]\nid=eno1\ntype=ethernet\ninterface-name=eno1\n\n[ethernet]\nmtu=²\n"},
}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_a_superscript_digit_in_a_file_out_of_scope_is_an_error_naming_the_file_not_a_traceback(namespaces,
                                                                                                tmp_path, fmt):
    ns, _peer = persist_lab.bridges_host(namespaces)
    for path, text in FILES[fmt].items():
        os.makedirs(os.path.dirname(tmp_path / path), exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    try:
        result = run_module("net_persist", {"format": fmt, "namespace": ns, "root": str(tmp_path)})
    except ValueError as exc:
        pytest.fail(f"{fmt}: uncaught {exc!r}")
    print(fmt, result.get("failed"), result.get("msg"))
