"""NetworkManager's own keyfile reader judges the keyfiles we write (docs/net_persist_networkmanager.md).

Every file goes through Debian 12's `nmcli --offline` (NetworkManager 1.42.4,
tests/realstacks.py): libnm reads it, normalises and verifies it and prints
the profile back. Its reader silently drops values it cannot use, so the
exit code proves little; two comparisons do:
- what NetworkManager printed, read by our parser, is exactly the model we
  rendered (so nothing it dropped or changed mattered);
- every key we wrote is in its output with the same value, or left out
  because it is NetworkManager's default (NM_OMITS), and it added only keys
  that change nothing (NM_ADDS).
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork, IpConfig, Nic
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile import KeyFile, KeyfileFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile_routes import as_written
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

from persist_hosts import described_like, proxmox_host, routed_hosts, small_hosts
from realstacks import NmcliRefused, nmcli_available, nmcli_offline

HOSTS = {"proxmox host": proxmox_host,
         **{name: (lambda h=h: h) for name, h in {**small_hosts(), **routed_hosts()}.items()}}
DIR = KeyfileFormat.DEFAULT_PATH
# Values NetworkManager's writer leaves out because they are its defaults (libnm-core, 1.42.4).
NM_OMITS = {("bridge", "stp"): "true", ("bridge", "vlan-filtering"): "false", ("bridge", "vlan-default-pvid"): "1",
            ("bridge", "forward-delay"): "15", ("connection", "autoconnect"): "true", ("vlan", "protocol"): "802.1Q"}
# What NetworkManager adds on its own and what it means: VLAN header reordering (its default), empty settings.
NM_ADDS = {("vlan", "flags"): "1"}


@pytest.fixture(scope="module", autouse=True)
def nmcli_unpacked():
    if not nmcli_available():
        pytest.fail("nmcli is not unpacked: run tests/setup.d/31-networkmanager.sh (tests/run-all.sh does)")


def described(model: HostNetwork) -> dict:
    return {name: dev.to_dict() for name, dev in model.devices.items()}


def entries(text: str) -> dict:
    """{(section, key): value} of a keyfile, section aliases folded as NetworkManager reads them."""
    kf = KeyFile("x", text)
    return {(KeyFile_section(group[0]), key): kf.get(KeyFile_section(group[0]), key)
            for group in kf.groups for key in kf.keys(KeyFile_section(group[0]))}


def KeyFile_section(name: str) -> str:  # noqa: N802  (reads as the alias table it is)
    return {"802-3-ethernet": "ethernet"}.get(name, name)


def fmt() -> KeyfileFormat:
    return KeyfileFormat(DIR, root="/nonexistent-root")


@pytest.mark.parametrize("host_name", sorted(HOSTS))
def test_networkmanager_reads_back_exactly_what_we_meant(host_name):
    want, _missing = persisted(HOSTS[host_name](), None, GuestMatcher())
    ours = fmt().render({}, want)
    theirs = {path: nmcli_offline(text) for path, text in ours.items()}
    # The one difference allowed: NetworkManager 1.42 writes no route protocol; its routes are proto static.
    assert described_like(fmt().parse(theirs), want) == {n: as_written(d).to_dict() for n, d in want.devices.items()}
    for path, text in ours.items():
        wrote, printed = entries(text), entries(theirs[path])
        for key, value in wrote.items():
            if key in printed:
                assert printed[key] == value, f"{path}: NetworkManager changed [{key[0]}] {key[1]}={value} to {printed[key]}"
            else:
                assert NM_OMITS.get(key) == value, f"{path}: NetworkManager dropped [{key[0]}] {key[1]}={value}"
        added = {k: v for k, v in printed.items() if k not in wrote}
        assert all(NM_ADDS.get(k) == v for k, v in added.items()), f"{path}: NetworkManager added {added}"


def installer_profile() -> str:
    """A profile as NetworkManager and an installer leave it: DHCP, its own uuid, timestamp, extra settings."""
    return ("# written by the installer\n"
            "[connection]\nid=System ens5\nuuid=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03\ntype=ethernet\n"
            "interface-name=ens5\ntimestamp=1700000000\nautoconnect-priority=5\n\n"
            "[ethernet]\nwake-on-lan=64\n\n"
            "[ipv4]\nmethod=auto\ndns=192.0.2.53;\nmay-fail=false\n\n"
            "[ipv6]\naddr-gen-mode=eui64\nmethod=auto\n\n[proxy]\n")


def test_an_installer_profile_is_edited_in_place_and_networkmanager_keeps_its_keys():
    path = f"{DIR}/System-ens5.nmconnection"
    files = {path: installer_profile()}
    assert described(fmt().parse(files))["ens5"]["ip"]["addresses"] is None   # DHCP: the files do not say
    want = HostNetwork()
    want.add(Nic(name="ens5", mtu=9000, up=True, ip=IpConfig(addresses=["192.0.2.20/24"], gateway4="192.0.2.1").normalized()))
    changes = fmt().render(files, want)
    assert list(changes) == [path]
    text = changes[path]
    for line in ("# written by the installer", "id=System ens5", "uuid=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03",
                 "timestamp=1700000000", "autoconnect-priority=5", "wake-on-lan=64", "dns=192.0.2.53;",
                 "may-fail=false", "addr-gen-mode=eui64"):
        assert line in text.splitlines()
    printed = nmcli_offline(text)
    assert described_like(fmt().parse({path: printed}), want) == described(want)
    kept = entries(printed)
    for key in (("connection", "timestamp"), ("connection", "autoconnect-priority"), ("ethernet", "wake-on-lan"),
                ("ipv4", "dns"), ("ipv4", "may-fail"), ("ipv6", "addr-gen-mode")):
        assert kept[key] == entries(text)[key]


# Forms other writers (older NetworkManager, hand-written files) use: our parser must read them as NetworkManager does.
VARIANTS = {
    "long section name, gateway key, addresses1, numeric bond mode": (
        "[connection]\nid=b\nuuid=11111111-2222-3333-4444-555555555555\ntype=bond\ninterface-name=bond9\n"
        "[802-3-ethernet]\nmtu=1500\n[bond]\nmode=4\nmiimon=100\nlacp_rate=1\n"
        "[ipv4]\nmethod=manual\naddresses1=192.0.2.9/24\ngateway=192.0.2.1\n[ipv6]\nmethod=ignore\n"),
    "bridge with defaults left out, unsorted vlans": (
        "[connection]\nid=br\nuuid=11111111-2222-3333-4444-555555555556\ntype=bridge\ninterface-name=br9\n"
        "[bridge]\nvlan-filtering=true\nvlans=300,20 untagged,5 pvid untagged\n[ipv4]\nmethod=disabled\n[ipv6]\nmethod=disabled\n"),
    "port by the master's uuid, 1/0 booleans": (
        "[connection]\nid=p\nuuid=11111111-2222-3333-4444-555555555557\ntype=ethernet\ninterface-name=ens9\n"
        "master=11111111-2222-3333-4444-555555555556\nslave-type=bridge\nautoconnect=0\n[bridge-port]\nvlans=7\n"),
    "bond with ARP monitoring and no miimon, active_slave": (
        "[connection]\nid=b\nuuid=11111111-2222-3333-4444-555555555558\ntype=bond\ninterface-name=bond8\n"
        "[bond]\nmode=active-backup\narp_interval=500\narp_ip_target=192.0.2.1,192.0.2.2\nactive_slave=ens8\n"
        "[ipv4]\nmethod=disabled\n[ipv6]\nmethod=disabled\n"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_we_read_other_writers_forms_as_networkmanager_does(variant):
    """NetworkManager rewrites each form into its own; our reading of both must agree."""
    text = VARIANTS[variant]
    bridge = VARIANTS["bridge with defaults left out, unsorted vlans"]
    files = {f"{DIR}/br9.nmconnection": bridge}
    if text != bridge:
        files[f"{DIR}/x.nmconnection"] = text
    printed = {path: nmcli_offline(t) for path, t in files.items()}
    assert described(fmt().parse(files)) == described(fmt().parse(printed))


def test_what_we_refuse_networkmanager_refuses_or_drops():
    """forward delay 1 with STP: libnm's verify() refuses whole seconds below 2, and a fraction is dropped."""
    base = "[connection]\nid=br\nuuid=11111111-2222-3333-4444-555555555559\ntype=bridge\ninterface-name=br7\n[bridge]\n"
    with pytest.raises(NmcliRefused, match="forward-delay"):
        nmcli_offline(base + "stp=true\nforward-delay=1\n")
    assert "forward-delay" not in nmcli_offline(base + "stp=true\nforward-delay=2.5\n")
    want = HostNetwork()
    from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bridge
    want.add(Bridge(name="br7", mtu=1500, up=True, stp=True, forward_delay=2.5, vlan_filtering=False,
                    ip=IpConfig(addresses=[])))
    with pytest.raises(ValidationError, match="whole seconds"):
        fmt().render({}, want)


def test_bridge_options_out_of_the_kernels_range_networkmanager_refuses_or_drops_and_we_refuse():
    """NetworkManager refuses max-age 5 with STP and silently drops hello-time 11 and a port priority of 64 (its
    reader's ranges are the kernel's): our parser names the key instead of guessing."""
    base = "[connection]\nid=br\nuuid=11111111-2222-3333-4444-555555555560\ntype=bridge\ninterface-name=br6\n[bridge]\nstp=true\n"
    with pytest.raises(NmcliRefused, match="max-age"):
        nmcli_offline(base + "max-age=5\n")
    assert "hello-time" not in nmcli_offline(base + "hello-time=11\n")
    port = ("[connection]\nid=p\nuuid=11111111-2222-3333-4444-555555555561\ntype=ethernet\ninterface-name=ens6\n"
            "master=br6\nslave-type=bridge\n[bridge-port]\npriority=64\n")
    assert "priority" not in nmcli_offline(port)
    for text, key in ((base + "max-age=5\n", "max-age"), (base + "hello-time=11\n", "hello-time"),
                      (port, "priority")):
        with pytest.raises(ValidationError, match=f"{key}=.*out of range"):
            fmt().parse({f"{DIR}/x.nmconnection": text})


def test_a_nics_mtu_and_admin_state_read_back_by_networkmanager():
    want = HostNetwork()
    want.add(Nic(name="ens7", mtu=4000, up=False, ip=IpConfig(addresses=[])))
    want, _m = persisted(want, ["ens7"], GuestMatcher())
    ours = fmt().render({}, want)
    theirs = {path: nmcli_offline(text) for path, text in ours.items()}
    assert described_like(fmt().parse(theirs), want) == described(want)
    assert {("ethernet", "mtu"): "4000", ("connection", "autoconnect"): "false"}.items() <= \
        entries(next(iter(theirs.values()))).items()
