"""Persistence on a bad day (issue 23), the pure parts: secrets, ports the kernel no longer has, MTU lines,
odd stanzas outside the scope, guest plumbing and Proxmox VE's SDN file, backups.

The same faults on a real kernel, through the module, are in tests/persist/test_persist_bad_days.py; the
real ifupdown2's syntax check over a corpus of other people's files in tests/persist/test_ifupdown2_corpus.py.
"""
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import files as fileops
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, GuestPort, HostNetwork, IpConfig, Nic, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import engine
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted, scope

from persist_hosts import applied
from persist_secrets import FILES, SECRETS, leaked

GUESTS = GuestMatcher()
MAIN = "/etc/network/interfaces"
SDN = "/etc/network/interfaces.d/sdn"


def fmt_of(name: str, root="/nonexistent-root"):
    cls = FORMATS[name]
    return cls(cls.DEFAULT_PATH, root=str(root))


def _ip(*addresses) -> IpConfig:
    return IpConfig(addresses=list(addresses), gateway4=None, gateway6=None)


def nic(name, master=None, up=True, mtu=1500) -> Nic:
    return Nic(name=name, mtu=mtu, up=up, master=master, kind="", ip=_ip())


def bridge(name, mtu=1500, up=True, stp=False) -> Bridge:
    return Bridge(name=name, mtu=mtu, up=up, stp=stp, forward_delay=0.0, vlan_filtering=False, ip=_ip())


def host_of(*devices) -> HostNetwork:
    host = HostNetwork()
    for dev in devices:
        host.add(dev)
    return host


# -- secrets ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FILES))
def test_every_secret_key_of_a_format_is_redacted_and_nothing_else(name):
    fmt = fmt_of(name)
    for path, text in FILES[name].items():
        shown = fmt.redact(text)
        assert leaked(shown) == [], (path, shown)
        assert len(shown.splitlines()) == len(text.splitlines())
        # Only the values of secret keys change: every other line is as it was.
        changed = [(a, b) for a, b in zip(text.splitlines(), shown.splitlines()) if a != b]
        assert all(b.endswith("********") and a.split(a.strip()[0], 1)[0] == b.split(b.strip()[0], 1)[0]
                   for a, b in changed), changed
        assert {v for v in SECRETS.values() if v in text} <= fmt.secret_values(text)
    assert fmt.redact(None) is None


def test_flags_and_paths_are_not_secrets():
    nm, nd, eni = fmt_of("networkmanager"), fmt_of("networkd"), fmt_of("ifupdown2")
    assert not nm.secret_key("wifi-security", "psk-flags") and nm.secret_key("wifi-security", "psk")
    assert nm.secret_key("vpn-secrets", "anything") and not nm.secret_key("802-1x", "identity")
    assert not nd.secret_key("WireGuard", "PrivateKeyFile") and nd.secret_key("MACsecReceiveAssociation", "Key")
    assert eni.secret_key("", "wpa_psk") and eni.secret_key("", "wireless-key1") and not eni.secret_key("", "wpa-ssid")


DESCRIBING = {
    "networkmanager": {"/etc/NetworkManager/system-connections/eno1.nmconnection",
                       "/etc/NetworkManager/system-connections/vmbr0.nmconnection"},
    "networkd": {"/etc/systemd/network/10-netsafe-eno1.network", "/etc/systemd/network/10-netsafe-vmbr0.netdev",
                 "/etc/systemd/network/10-netsafe-vmbr0.network"},
    "ifupdown2": {MAIN},   # the one file: its other stanzas are shown, secrets redacted
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_only_the_files_of_the_devices_in_scope_are_described(name):
    fmt = fmt_of(name)
    files = dict(FILES[name])
    want, _m = persisted(host_of(nic("eno1", "vmbr0"), bridge("vmbr0")), None, GUESTS)
    after = applied(files, fmt.render(files, want))
    assert fmt.describing(after, ["eno1", "vmbr0"]) == DESCRIBING[name]


# -- the files describe the kernel for every port they give a device in scope -----------------------------------

def _ports(model: HostNetwork, master: str) -> list:
    return sorted(d.name for d in model.devices.values() if d.master == master)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_swapped_uplink_leaves_the_files_and_a_missing_one_is_removed(name):
    """The files say vmbr0 has eth0 and eth9; the kernel moved vmbr0 to eth1, eth0 is up on its own, eth9 is gone."""
    fmt = fmt_of(name)
    before = host_of(nic("eth0", "vmbr0"), nic("eth9", "vmbr0"), bridge("vmbr0"), nic("eth1", up=False))
    files = applied({}, fmt.render({}, persisted(before, None, GUESTS)[0]))
    assert _ports(fmt.parse(files), "vmbr0") == ["eth0", "eth9"]
    now = host_of(nic("eth0"), nic("eth1", "vmbr0"), bridge("vmbr0"))
    job = engine.plan_files(fmt, now, ["vmbr0"], GUESTS, files)
    after = fmt.parse(applied(files, job["changes"]))
    assert _ports(after, "vmbr0") == ["eth1"]
    assert after.get("eth0").master is None and after.get("eth0").up is True
    assert after.get("eth9") is None and job["removed_devices"] == ["eth9"]
    assert any("eth9: the files make it a port of vmbr0" in w for w in job["warnings"])
    assert engine.plan_files(fmt, now, ["vmbr0"], GUESTS, applied(files, job["changes"]))["changes"] == {}


def test_a_guest_port_the_file_lists_stays_whether_its_guest_runs_or_not():
    fmt = Ifupdown2Format(MAIN)
    files = {MAIN: "auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports eth0 tap100i0\n\tbridge-stp off\n"
                   "\tbridge-fd 0\n"}
    now = host_of(nic("eth1", "vmbr0"), bridge("vmbr0"), nic("eth0"))   # VM 100 stopped, uplink swapped
    job = engine.plan_files(fmt, now, ["vmbr0"], GUESTS, files)
    assert "\tbridge-ports tap100i0 eth1\n" in job["changes"][MAIN] and job["removed_devices"] == []


# -- ifupdown2: MTU lines that pass Debian's syntax check --------------------------------------------------------

def test_a_bridge_gets_no_mtu_line_at_ifupdown2s_default_and_a_post_up_line_otherwise():
    fmt = Ifupdown2Format(MAIN)
    plain = fmt.render({}, host_of(nic("eno1", "vmbr0", mtu=1500), bridge("vmbr0", mtu=1500)))[MAIN]
    assert "mtu" not in plain.split("iface vmbr0")[1]
    assert fmt.parse({MAIN: plain}).get("vmbr0").mtu == 1500
    jumbo = fmt.render({}, host_of(nic("eno1", "vmbr0", mtu=9000), bridge("vmbr0", mtu=9000)))[MAIN]
    stanza = jumbo.split("iface vmbr0")[1]
    assert "\tpost-up ip link set dev vmbr0 mtu 9000\n" in stanza and "\tmtu" not in stanza
    assert fmt.parse({MAIN: jumbo}).get("vmbr0").mtu == 9000
    # A stanza that already says `mtu` (Proxmox VE's web UI writes it) keeps its own style.
    owner = {MAIN: "auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports none\n\tbridge-stp off\n\tbridge-fd 0\n"
                   "\tmtu 9000\n"}
    again = fmt.render(owner, host_of(bridge("vmbr0", mtu=9100)))[MAIN]
    assert "\tmtu 9100\n" in again and "post-up" not in again


# -- ifupdown2: what it cannot read, outside the scope ---------------------------------------------------------

ODD = """\
auto lo
iface lo inet loopback

auto eno1
iface eno1 inet manual
\tmtu 1500

auto vmbr0
iface vmbr0 inet manual
\tbridge-ports eno1
\tbridge-stp off
\tbridge-fd 0

%for v in range(10, 20):
auto vmbr${v}
iface vmbr${v} inet manual
\tbridge-ports eno2.${v}
%endfor

auto vmbr5
iface vmbr5 inet manual
\tbridge-ports glob eno5-6 eth7
\tbridge-stp off

auto eno9
iface eno9 inet static
\taddress 10.0.0.9/24
\tgateway <GATEWAY>
"""


def test_odd_stanzas_outside_the_scope_stay_verbatim_and_do_not_block_the_save():
    fmt = Ifupdown2Format(MAIN)
    with pytest.raises(ValidationError):
        fmt.parse({MAIN: ODD})   # read strictly (state=restored of everything), each problem is an error
    _model, problems = fmt.parse_lenient({MAIN: ODD})
    assert len(problems) == 4   # the generated auto and iface lines, the glob list, the gateway
    changes = fmt.render({MAIN: ODD}, host_of(nic("eno1", "vmbr0"), bridge("vmbr0", stp=True)))
    new = changes[MAIN]
    assert new == ODD.replace("\tbridge-ports eno1\n\tbridge-stp off\n", "\tbridge-ports eno1\n\tbridge-stp on\n", 1)


@pytest.mark.parametrize("device, line", [
    ("eno6", "line 22: 'bridge-ports glob eno5-6 eth7' of vmbr5 is a glob list"),   # matched by the glob
    ("eth7", "line 22: 'bridge-ports glob eno5-6 eth7' of vmbr5"),                  # listed next to it
    ("eno9", "line 28: gateway '<GATEWAY>' is not an IP address"),
    ("vmbr12", "line 16: 'iface vmbr${v}' is generated"),                         # what the template makes
])
def test_a_save_that_uses_an_odd_stanza_is_refused_naming_its_line(device, line):
    fmt = Ifupdown2Format(MAIN)
    dev = bridge(device) if device.startswith("vmbr") else nic(device)
    with pytest.raises(ValidationError) as exc:
        fmt.render({MAIN: ODD}, host_of(dev))
    assert f"{MAIN} {line}" in str(exc.value)


def test_every_bridge_ports_line_counts_and_a_bonds_first():
    fmt = Ifupdown2Format(MAIN)
    text = ("auto br0\niface br0\n\tbridge-ports swp1 swp2\n\tbridge-ports swp3\n\n"
            "auto bond0\niface bond0\n\tbond-slaves eno1\n\tbond-slaves eno2\n")
    model = fmt.parse({MAIN: text})
    assert _ports(model, "br0") == ["swp1", "swp2", "swp3"] and _ports(model, "bond0") == ["eno1"]


# -- guest plumbing and Proxmox VE's SDN ------------------------------------------------------------------------

def plumbed_host() -> HostNetwork:
    """vmbr0 with its uplink, a guest behind Proxmox VE's firewall bridge, a tagged guest on vmbr0v100, an SDN vnet."""
    return host_of(
        nic("eno1", "vmbr0"), bridge("vmbr0"),
        Nic(name="fwpr100p0", mtu=1500, up=True, master="vmbr0", kind="veth", ip=_ip()),
        bridge("fwbr100i0"), Nic(name="fwln100i0", mtu=1500, up=True, master="fwbr100i0", kind="veth", ip=_ip()),
        GuestPort(name="tap100i0", mtu=1500, up=True, master="fwbr100i0", kind="tap", ip=_ip()),
        Nic(name="vethabc", mtu=1500, up=True, master="vmbr0", kind="veth", ip=_ip()),
        nic("eno2"), bridge("vmbr0v100"),
        Vlan(name="eno2.100", mtu=1500, up=True, master="vmbr0v100", parent="eno2", vlan_id=100, protocol="802.1Q",
             ip=_ip()),
        bridge("myvnet"), Nic(name="vxlan_myvnet", mtu=1450, up=True, master="myvnet", kind="vxlan", ip=_ip()),
    )


def test_the_default_scope_leaves_out_guest_plumbing_and_sdn_devices():
    reserved = {"myvnet": "is defined in the SDN file", "vxlan_myvnet": "is defined in the SDN file"}
    names, missing = scope(plumbed_host(), None, GUESTS, reserved)
    assert (names, missing) == (["eno1", "vmbr0"], [])
    for named, words in (("fwbr100i0", "guest plumbing"), ("vmbr0v100", "guest plumbing"),
                         ("eno2.100", "guest plumbing"), ("vethabc", "guest plumbing"), ("myvnet", "SDN file")):
        with pytest.raises(ValidationError, match=words):
            scope(plumbed_host(), [named], GUESTS, reserved)


def test_the_sdn_file_is_proxmox_ves_own():
    fmt = Ifupdown2Format(MAIN)
    files = {MAIN: "auto eno1\niface eno1 inet manual\n\nsource /etc/network/interfaces.d/*\n",
             SDN: "#version:1\n\nauto myvnet\niface myvnet\n\tbridge_ports vxlan_myvnet\n\tmtu 1450\n\n"
                  "auto eno7\niface eno7\n\tmtu 1500\n"}
    assert set(fmt.reserved(files)) == {"myvnet", "eno7"}
    with pytest.raises(ValidationError, match="interfaces.d/sdn: Proxmox VE's SDN writes this file"):
        fmt.render(files, host_of(nic("eno7", mtu=9000)))


# -- backups ----------------------------------------------------------------------------------------------------

def test_two_runs_in_one_second_get_two_backup_directories_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        top = str(tmp_path / "var/lib/netsafe")
        first = fileops.BackupRun(top + "/backups", stamp=1700000000.5, top=top)
        second = fileops.BackupRun(top + "/backups", stamp=1700000000.5, top=top)
        a = first.save("/etc/network/interfaces", b"first", 0o644)
        b = second.save("/etc/network/interfaces", b"second", 0o644)
    finally:
        os.umask(old)
    assert a != b and open(a, "rb").read() == b"first" and open(b, "rb").read() == b"second"
    assert os.path.basename(first.directory) == "20231114T221320.500000Z"
    assert os.path.basename(second.directory) == "20231114T221320.500000Z-2"
    for path in (tmp_path / "var/lib/netsafe", tmp_path / "var/lib/netsafe/backups", first.directory,
                 os.path.dirname(a)):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    for path in (tmp_path / "var", tmp_path / "var/lib"):   # the system's levels above it: made 0755, not 0777
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o755, path
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o600


@pytest.mark.parametrize("keep, left", [(2, ["r3", "r4"]), (1, ["r4"]), (0, ["r1", "r2", "r3", "r4"])])
def test_old_backup_runs_are_pruned_to_backup_keep(tmp_path, keep, left):
    root = tmp_path / "backups"
    (root / "notes").mkdir(parents=True)   # not a run: never touched
    runs = {}
    for index, stamp in enumerate((100.0, 100.0, 3600.25, 7200.5), start=1):
        run = fileops.BackupRun(str(root), keep, stamp=stamp)
        run.save("/etc/x", b"x", 0o600)
        runs[f"r{index}"] = os.path.basename(run.directory)
        run.prune()
    assert sorted(os.listdir(root)) == sorted([runs[r] for r in left] + ["notes"])


@pytest.mark.parametrize("keep", [-1, True, "10"])
def test_a_bad_backup_keep_is_refused_by_name_before_anything_is_read(keep):
    with pytest.raises(ValidationError, match=r"^backup_keep: .* must be a whole number, 0 \(keep every backup\) or more"):
        engine.saved(Ifupdown2Format(MAIN, "/nonexistent-root"), "no-such-namespace", None, GUESTS, False,
                     backup_keep=keep)
