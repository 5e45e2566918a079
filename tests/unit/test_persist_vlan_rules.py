"""The persistence formats share the VLAN rules of the core (issue 25): one range parser, one PVID rule.

Each format's syntax is a flag of `parse_entries`: ifupdown2's `bridge-vids 10 20-30` (white space or commas,
every separator between two ranges), NetworkManager's `vlans=1 pvid untagged,20-30` (words after a range),
networkd's `VLAN=10-20` (one range a line); users and Proxmox VE keep theirs (`10;20-22;`). "A new PVID moves the
old one" is _network/vlans.py's `add_vids`, for the simulation and for what each format's file leaves on a port.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import (
    ANY_SEPARATOR, merge, parse_entries, parse_ranges, ranges_of,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import vlans
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bridge, HostNetwork, IpConfig
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.ops import BRIDGE_VLAN_ADD, Operation
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.simulate import predict
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


# -- the one PVID rule: a new PVID moves the old one ----------------------------------------------------------

def test_a_new_pvid_moves_the_old_one():
    flags = {1: (True, True), 5: (False, False)}
    assert vlans.add_vids(flags, [10], pvid=True, untagged=True) is flags
    assert flags == {1: (False, True), 5: (False, False), 10: (True, True)}
    # Listed again without pvid, the PVID's VLAN loses it (its flags are replaced): no PVID is left.
    assert vlans.add_vids(flags, [10]) == {1: (False, True), 5: (False, False), 10: (False, False)}
    # Over a range the last VLAN keeps it, as the kernel leaves it after one VLAN at a time.
    assert vlans.add_vids({}, range(20, 23), pvid=True) == {20: (False, False), 21: (False, False), 22: (True, False)}
    assert vlans.add_vids({1: (True, True)}, [], pvid=True) == {1: (True, True)}   # nothing added, nothing moved
    assert vlans.del_vids({1: (True, True), 2: (False, False), 3: (False, True)}, range(1, 3)) == {3: (False, True)}


MOVED = {"pvid": 10, "untagged": [[1, 1], [10, 10]], "tagged": [[20, 20]]}   # VLAN 1 stays, untagged, not pvid
FILES = {
    "ifupdown2": {"/etc/network/interfaces": BRIDGE + "\tpost-up bridge vlan add dev vmbr0 vid 10 pvid untagged self\n"
                  "\tpost-up bridge vlan add dev vmbr0 vid 20 self\n"},
    "networkmanager": {"/etc/NetworkManager/system-connections/vmbr0.nmconnection":
                       "[connection]\nid=vmbr0\ntype=bridge\ninterface-name=vmbr0\n[bridge]\nvlan-filtering=true\n"
                       "vlans=10 pvid untagged,20\n"},
    "networkd": {"/etc/systemd/network/50-vmbr0.netdev": "[NetDev]\nName=vmbr0\nKind=bridge\n[Bridge]\nVLANFiltering=yes\n",
                 "/etc/systemd/network/50-vmbr0.network":
                 "[Match]\nName=vmbr0\n[BridgeVLAN]\nPVID=10\nEgressUntagged=10\nVLAN=20\n"},
}


def test_the_kernel_simulation_and_every_format_move_the_pvid_alike():
    """One table from `bridge vlan add ... pvid` in the simulation and from each format's file."""
    host = HostNetwork()
    host.add(Bridge(name="vmbr0", vlan_filtering=True, vlans=vlans.default_membership(), ip=IpConfig(addresses=[])))
    ops = [Operation(BRIDGE_VLAN_ADD, "vmbr0", {"vids": [10, 10], "pvid": True, "untagged": True, "self": True}),
           Operation(BRIDGE_VLAN_ADD, "vmbr0", {"vids": [20, 20], "pvid": False, "untagged": False, "self": True})]
    assert predict(host, ops).get("vmbr0").vlans == MOVED
    assert vlans.from_flags(vlans.add_vids(vlans.add_vids({1: (True, True)}, [10], True, True), [20])) == MOVED
    for fmt, files in FILES.items():
        cls = FORMATS[fmt]
        assert cls(cls.DEFAULT_PATH, root="/nonexistent-root").parse(files).get("vmbr0").vlans == MOVED, fmt


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 4094), max_size=60), st.lists(st.tuples(st.integers(1, 4094), st.booleans()), max_size=40))
def test_the_one_pass_decoders_match_the_merge(vids, table):
    """ranges_of and from_flags, rewritten in one pass for 4,094-VLAN trunks, give what merging singletons gave."""
    assert ranges_of(vids) == merge([[v, v] for v in vids])
    flags = {vid: (False, untagged) for vid, untagged in table}
    if flags:
        flags[min(flags)] = (True, flags[min(flags)][1])
    member = vlans.from_flags(flags)
    assert member == {"pvid": min(flags) if flags else None,
                      "untagged": merge([[v, v] for v, (_p, u) in flags.items() if u]),
                      "tagged": merge([[v, v] for v, (_p, u) in flags.items() if not u])}
    assert vlans.flags_by_vid(member) == flags
