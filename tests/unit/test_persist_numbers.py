"""Numbers in persistence files are ASCII digits, and a bad one is a Problem of its stanza or file (review finding 7).

'²' passes str.isdigit() and int() refuses it (a ValueError, a module traceback); int() reads '١٥٠٠' (Arabic-Indic)
and '１５００' (fullwidth) as 1500, which no ifupdown2 (iproute2), NetworkManager or networkd would. For each format:
out of the save's scope the file or stanza stays byte for byte and the save goes on; in scope the save is refused,
naming the file and line; a strict read raises the collection's ValidationError, never ValueError.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS

NOT_ASCII = ("²", "١", "１")   # superscript, Arabic-Indic and fullwidth digits: int() reads the last two
MAIN = "/etc/network/interfaces"
NETWORKD = "/etc/systemd/network"
NM = "/etc/NetworkManager/system-connections"
BASE = ("auto lo\niface lo inet loopback\n\nauto eno1\niface eno1 inet manual\n\nauto vmbr0\niface vmbr0 inet static\n"
        "\taddress 192.0.2.10/24\n\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n\n")

VLAN7 = "auto vlan7\niface vlan7\n\tvlan-raw-device eno1\n\tvlan-id {n}\n"
VMBR5 = "auto vmbr5\niface vmbr5\n\tbridge-ports none\n\tbridge-vlan-aware yes\n\tbridge-vids {n}0-20\n"
BOND5 = "auto bond5\niface bond5\n\tbond-slaves none\n\tbond-mode 802.3ad\n\tbond-miimon {n}\n"
NM_HEAD = "[connection]\nid={name}\ntype={kind}\ninterface-name={name}\n\n"
# (format, device the bad number is about, its kind, {path: text with {n}}, the line that names it)
CASES = [
    ("ifupdown2", "wlan0", "nic", {MAIN: BASE + "iface wlan0 inet dhcp\n\tmtu 1{n}0\n"}, f"{MAIN} line 15: mtu"),
    ("ifupdown2", "vlan7", "vlan", {MAIN: BASE + VLAN7}, f"{MAIN} line 17: vlan-id"),
    ("ifupdown2", "vmbr5", "bridge", {MAIN: BASE + VMBR5}, f"{MAIN} line 18: bridge-vids: '"),
    ("ifupdown2", "bond5", "bond", {MAIN: BASE + BOND5}, f"{MAIN} line 18: bond-miimon"),
    ("networkd", "other.9", "vlan", {f"{NETWORKD}/50-other.netdev": "[NetDev]\nName=other.9\nKind=vlan\n\n[VLAN]\nId={n}\n"},
     f"{NETWORKD}/50-other.netdev:6: [VLAN] Id="),
    ("networkd", "eno5", "nic", {f"{NETWORKD}/50-eno5.network": "[Match]\nName=eno5\n\n[Link]\nMTUBytes=1{n}0\n"},
     f"{NETWORKD}/50-eno5.network:5: [Link] MTUBytes="),
    ("networkd", "eno5", "nic", {f"{NETWORKD}/50-eno.network": "[Match]\nName=eno[4-6]\n\n[BridgeVLAN]\nPVID={n}\n"},
     f"{NETWORKD}/50-eno.network:5: [BridgeVLAN] PVID="),
    ("networkd", "br5", "bridge", {f"{NETWORKD}/50-br5.netdev": "[NetDev]\nName=br5\nKind=bridge\n\n[Bridge]\nForwardDelaySec={n}s\n"},
     f"{NETWORKD}/50-br5.netdev:6: [Bridge] ForwardDelaySec="),
    ("networkd", "bond5", "bond", {f"{NETWORKD}/50-bond5.netdev": "[NetDev]\nName=bond5\nKind=bond\n\n[Bond]\nMinLinks={n}\n"},
     f"{NETWORKD}/50-bond5.netdev:6: [Bond] MinLinks="),
    ("networkmanager", "eno5", "nic", {f"{NM}/other.nmconnection": NM_HEAD.replace("{name}", "eno5").replace(
        "{kind}", "ethernet") + "[ethernet]\nmtu=1{n}0\n"}, f"{NM}/other.nmconnection: [ethernet] mtu="),
    ("networkmanager", "br5", "bridge", {f"{NM}/br5.nmconnection": NM_HEAD.replace("{name}", "br5").replace(
        "{kind}", "bridge") + "[bridge]\nstp=false\nvlan-filtering=true\nvlans={n}0-20\n"},
     f"{NM}/br5.nmconnection: [bridge] vlans: '"),
    ("networkmanager", "vlan7", "vlan", {f"{NM}/vlan7.nmconnection": NM_HEAD.replace("{name}", "vlan7").replace(
        "{kind}", "vlan") + "[vlan]\nparent=eno1\nid={n}\n"}, f"{NM}/vlan7.nmconnection: [vlan] id="),
    ("networkmanager", "bond5", "bond", {f"{NM}/bond5.nmconnection": NM_HEAD.replace("{name}", "bond5").replace(
        "{kind}", "bond") + "[bond]\nmode={n}\n"}, f"{NM}/bond5.nmconnection: [bond] mode="),
]
IDS = [f"{fmt}-{device}-{line.split()[-1].strip(':=')}" for fmt, device, _k, _f, line in CASES]


def fmt_of(name):
    cls = FORMATS[name]
    return cls(cls.DEFAULT_PATH, root="/nonexistent-root")


def _ip():
    return IpConfig(addresses=[], gateway4=None, gateway6=None)


def device(kind: str, name: str):
    common = {"name": name, "mtu": 1500, "up": True, "ip": _ip()}
    if kind == "bridge":
        return Bridge(stp=False, forward_delay=0.0, vlan_filtering=False, **common)
    if kind == "vlan":
        return Vlan(parent="eno1", vlan_id=7, protocol="802.1Q", **common)
    if kind == "bond":
        return Bond(mode="active-backup", **common)
    return Nic(kind="", **common)


def host_of(*devices) -> HostNetwork:
    host = HostNetwork()
    for dev in devices:
        host.add(dev)
    return host


def files_with(files: dict, digits: str) -> dict:
    return {path: text.format(n=digits) for path, text in files.items()}


@pytest.mark.parametrize("digits", NOT_ASCII)
@pytest.mark.parametrize("fmt_name, name, kind, files, line", CASES, ids=IDS)
def test_a_bad_number_out_of_scope_stays_verbatim_and_the_save_goes_on(fmt_name, name, kind, files, line, digits):
    fmt, files = fmt_of(fmt_name), files_with(files, digits)
    _model, problems = fmt.parse_lenient(files)
    assert [line in p.message and p.concerns(name) for p in problems] == [True], [p.message for p in problems]
    with pytest.raises(ValidationError, match="ASCII digits"):
        fmt.parse(files)
    vmbr0 = device("bridge", "vmbr0")
    vmbr0.stp, vmbr0.forward_delay = True, 2.0   # a change the save must write
    changes = fmt.render(files, host_of(Nic(name="eno1", mtu=1500, up=True, master="vmbr0", kind="", ip=_ip()), vmbr0))
    assert changes
    for path, text in files.items():
        if fmt_name == "ifupdown2":   # one file: the stanza with the bad number is in it byte for byte
            assert text.split("\n\n")[-1] in changes[path] and "bridge-stp on" in changes[path]
        else:
            assert path not in changes   # a file that is not ours and not about the save stays as it is


@pytest.mark.parametrize("digits", NOT_ASCII)
@pytest.mark.parametrize("fmt_name, name, kind, files, line", CASES, ids=IDS)
def test_a_save_of_the_device_a_bad_number_is_about_is_refused_naming_the_line(fmt_name, name, kind, files, line,
                                                                               digits):
    fmt, files = fmt_of(fmt_name), files_with(files, digits)
    with pytest.raises(ValidationError) as exc:
        fmt.render(files, host_of(device(kind, name)))
    assert line in str(exc.value) and "ASCII digits" in str(exc.value)


def test_a_networkd_file_about_a_glob_of_names_concerns_each_name_it_matches():
    files = files_with(CASES[6][3], "²")   # Name=eno[4-6]
    _model, problems = fmt_of("networkd").parse_lenient(files)
    assert [problems[0].concerns(n) for n in ("eno4", "eno6", "eno7", "vmbr0")] == [True, True, False, False]


def test_ascii_numbers_are_still_read():
    model = fmt_of("ifupdown2").parse({MAIN: BASE + VLAN7.format(n=7) + "\tmtu 1400\n"})
    assert (model.get("vlan7").vlan_id, model.get("vlan7").mtu) == (7, 1400)
    model = fmt_of("networkd").parse(files_with(CASES[4][3], "9"))
    assert model.get("other.9").vlan_id == 9


@pytest.mark.parametrize("text, inside, outside", [
    ("%for v in range(0, 10000000000):\nauto vmbr${v}\niface vmbr${v}\n\tbridge-ports none\n%endfor\n",
     "vmbr123456789", "eno1"),
    ("auto vmbr9\niface vmbr9\n\tbridge-ports glob swp1-99999999999\n", "swp77", "eno1"),
    ("auto vmbr9\niface vmbr9\n\tbridge-ports glob swp[1-99999]s[0-99999]\n", "swp5s7", "swp5"),
])
def test_a_huge_template_or_glob_range_is_a_pattern_not_a_list_of_names(text, inside, outside):
    """Ranges are numbers read from a file too: ten billion names would never finish (nor fit in memory)."""
    _model, problems = fmt_of("ifupdown2").parse_lenient({MAIN: BASE + text})
    assert problems and any(p.concerns(inside) for p in problems)
    assert not any(p.concerns(outside) for p in problems)
    assert all(len(p.names) < 10 for p in problems)


@pytest.mark.parametrize("value", ["nan", "inf", "١٥", "1e1", "-2"])
def test_our_own_forward_delay_key_in_a_keyfile_is_ascii_digits_too(value):
    files = {f"{NM}/br5.nmconnection": "[connection]\nid=br5\ntype=bridge\ninterface-name=br5\n\n[bridge]\nstp=false\n"
                                       f"\n[user]\nnetsafe.forward-delay={value}\n"}
    _model, problems = fmt_of("networkmanager").parse_lenient(files)
    assert [p.message for p in problems] == [f"{NM}/br5.nmconnection: [user] netsafe.forward-delay={value!r} is not a "
                                             f"number of seconds (ASCII digits)"]
    model = fmt_of("networkmanager").parse({f"{NM}/br5.nmconnection": files[f"{NM}/br5.nmconnection"].replace(
        value, "2.5")})
    assert model.get("br5").forward_delay == 2.5
