"""The persistence formats read VLAN ranges through the one parser, _common/vlan_ranges.py (issue 25).

Each format's syntax is a flag of `parse_entries`: ifupdown2's `bridge-vids 10 20-30` (white space or commas,
every separator between two ranges), NetworkManager's `vlans=1 pvid untagged,20-30` (words after a range),
networkd's `VLAN=10-20` (one range a line); users and Proxmox VE keep theirs (`10;20-22;`).
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import (
    ANY_SEPARATOR, parse_entries, parse_ranges,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS

IFUPDOWN2 = {"separators": r",\s", "strict": True}
KEYFILE = {"separators": ",", "flags": ("pvid", "untagged")}
NETWORKD = {"separators": "", "strict": True}
EMPTY = "has an empty entry; write a VLAN id or range like 10 or 20-30 between separators"


@pytest.mark.parametrize("text, syntax, want", [
    ("10 20-30", IFUPDOWN2, [(10, 10, ()), (20, 30, ())]),
    (" 10,20-30\t40 ", IFUPDOWN2, [(10, 10, ()), (20, 30, ()), (40, 40, ())]),
    ("1 pvid untagged,20, 300-400 untagged,", KEYFILE,
     [(1, 1, ("pvid", "untagged")), (20, 20, ()), (300, 400, ("untagged",))]),
    ("10-20", NETWORKD, [(10, 20, ())]),
    ("10;20-22;", {"separators": ANY_SEPARATOR}, [(10, 10, ()), (20, 22, ())]),
])
def test_every_syntax_reads_through_the_shared_parser(text, syntax, want):
    assert parse_entries(text, "f", **syntax) == want
    flagless = {k: v for k, v in syntax.items() if k != "flags"}
    if "flags" not in syntax:
        assert parse_ranges(text, "f", **flagless) == [[a, b] for a, b, _w in want]


@pytest.mark.parametrize("text, syntax, message", [
    ("10,", IFUPDOWN2, f"f: '10,' {EMPTY}"),
    ("", NETWORKD, f"f: '' {EMPTY}"),
    ("10 20", NETWORKD, "f: '10 20' is not a VLAN id or range like 10 or 20-30 (ASCII digits)"),
    ("10-5000", NETWORKD, "f: '10-5000' is out of range; VLAN ids are 1-4094, first <= last"),
    ("\u00b20-20", IFUPDOWN2, "f: '\u00b20-20' is not a VLAN id or range like 10 or 20-30 (ASCII digits)"),
    ("10 tagged", KEYFILE, "f: '10 tagged': after the VLAN only 'pvid' and 'untagged' may follow, each once"),
    ("10 pvid pvid", KEYFILE, "f: '10 pvid pvid': after the VLAN only 'pvid' and 'untagged' may follow, each once"),
])
def test_what_a_syntax_refuses_is_named(text, syntax, message):
    with pytest.raises(ValidationError) as caught:
        parse_entries(text, "f", **syntax)
    assert caught.value.problems == [message]


def test_a_user_list_still_skips_empty_entries():
    assert parse_ranges(["10;", "", ";20"], "trunks") == [[10, 10], [20, 20]]


BRIDGE = "auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports eno1\n\tbridge-vlan-aware yes\n"


@pytest.mark.parametrize("fmt, files, message", [
    ("ifupdown2", {"/etc/network/interfaces": BRIDGE + "\tbridge-vids 10,\n"},
     f"/etc/network/interfaces line 5: bridge-vids: '10,' {EMPTY}"),
    ("networkmanager", {"/etc/NetworkManager/system-connections/vmbr0.nmconnection":
                        "[connection]\nid=vmbr0\ntype=bridge\ninterface-name=vmbr0\n[bridge]\n"
                        "vlan-filtering=true\nvlans=10 tagged\n"},
     "/etc/NetworkManager/system-connections/vmbr0.nmconnection: [bridge] vlans: '10 tagged': after the VLAN "
     "only 'pvid' and 'untagged' may follow, each once"),
    ("networkd", {"/etc/systemd/network/50-vmbr0.network": "[Match]\nName=vmbr0\n[BridgeVLAN]\nVLAN=10 20\n"},
     "/etc/systemd/network/50-vmbr0.network:4: [BridgeVLAN] VLAN: '10 20' is not a VLAN id or range like 10 or "
     "20-30 (ASCII digits)"),
])
def test_each_format_names_its_file_and_key(fmt, files, message):
    cls = FORMATS[fmt]
    _model, problems = cls(cls.DEFAULT_PATH, root="/nonexistent-root").parse_lenient(files)
    assert [p.message for p in problems] == [message]
