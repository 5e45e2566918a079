"""net_persist and a number that is not ASCII digits in the host's files (review finding 7), module and kernel:
out of the save's scope ('²', which crashed int()) the save goes on and that file or stanza stays byte for byte; in
scope ('١', which int() read as 1) the save is refused naming the file and line, and no file changes.
"""
from __future__ import annotations

import os

import pytest

import persist_lab

pytestmark = pytest.mark.kernel

BASE = ("auto lo\niface lo inet loopback\n\nauto eno1\niface eno1 inet manual\n{eno1}\nauto vmbr0\n"
        "iface vmbr0 inet static\n\taddress 192.0.2.10/24\n\tgateway 192.0.2.1\n\tbridge-ports eno1\n"
        "\tbridge-stp off\n\tbridge-fd 0\n")
NM = "etc/NetworkManager/system-connections"
# format: (files with a bad number about a device out of scope, files with one about eno1, the line named)
FILES = {
    "ifupdown2": ({"etc/network/interfaces": BASE.format(eno1="") + "\niface wlan0 inet dhcp\n\tmtu 1{n}00\n"},
                  {"etc/network/interfaces": BASE.format(eno1="\tmtu 1{n}00\n")},
                  "/etc/network/interfaces line 6: mtu '1١00' is not a number in 68-65535 (ASCII digits)"),
    "networkd": ({"etc/systemd/network/50-other.netdev": "[NetDev]\nName=other.9\nKind=vlan\n\n[VLAN]\nId={n}\n"},
                 {"etc/systemd/network/50-eno1.network": "[Match]\nName=eno1\n\n[Link]\nMTUBytes=1{n}00\n"},
                 "/etc/systemd/network/50-eno1.network:5: [Link] MTUBytes=1١00: not a byte count like 9000 or 1K "
                 "(ASCII digits)"),
    "networkmanager": ({f"{NM}/other.nmconnection": "[connection]\nid=other\ntype=ethernet\ninterface-name=eno9\n\n"
                                                    "[ethernet]\nmtu=1{n}00\n"},
                       {f"{NM}/eno1.nmconnection": "[connection]\nid=eno1\ntype=ethernet\ninterface-name=eno1\n\n"
                                                   "[ethernet]\nmtu=1{n}00\n"},
                       f"/{NM}/eno1.nmconnection: [ethernet] mtu='1١00' is not a whole number in 0-65535 "
                       f"(ASCII digits)"),
}


def write(root, files: dict, digit: str) -> dict:
    """The files under `root` (0600: NetworkManager loads no other), with `digit` in place; {path: text}."""
    written = {}
    for path, text in files.items():
        full = root / path
        os.makedirs(full.parent, exist_ok=True)
        full.write_text(text.format(n=digit), encoding="utf-8")
        full.chmod(0o600)
        written[str(full)] = text.format(n=digit)
    return written


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_a_bad_number_out_of_scope_is_kept_and_in_scope_is_refused_naming_its_line(namespaces, tmp_path, fmt):
    ns, _peer = persist_lab.bridges_host(namespaces)
    outside, inside, line = FILES[fmt]
    kept = write(tmp_path / "out", outside, "²")
    result = persist_lab.persist(ns, tmp_path / "out", fmt)
    assert not result.get("failed") and result["changed"], result.get("msg")
    for path, text in kept.items():   # the whole file; ifupdown2's one file keeps the stanza byte for byte
        now = open(path, encoding="utf-8").read()
        assert (text.split("\n\n")[-1] in now and now != text) if fmt == "ifupdown2" else now == text
    write(tmp_path / "in", inside, "١")
    before = persist_lab.snapshot_files(tmp_path / "in")
    result = persist_lab.persist(ns, tmp_path / "in", fmt)
    assert result.get("failed") and line in result["msg"], result.get("msg")
    assert persist_lab.snapshot_files(tmp_path / "in") == before
