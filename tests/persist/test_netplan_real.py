"""netplan's own generator reads what the netplan format writes, and generates what we meant.

Debian 12's `netplan generate` (netplan.io 0.106, unpacked by tests/setup.d/34-netplan.sh, never installed;
tests/realstacks.py) runs on our /etc/netplan/90-netsafe.yaml in a scratch root. Then:

- it exits 0 and prints nothing (no warning: our file is 0600, as netplan asks);
- the systemd-networkd files it generates (/run/systemd/network/10-netplan-*), read by the networkd format's
  own parser, describe exactly the persisted model: bridge ports, STP and timers, port costs, bond mode and
  options, primary, VLAN ids and parents, addresses, gateways, routes, MTU, a device left down;
- netplan's own example files (tests/persist/corpus/netplan, from upstream's examples/) next to ours stay byte
  for byte, generate still accepts the pair, and what it generates for their devices is the same with ours
  there or not; a device such a file defines is refused by name.

Bringing the generated files up with a running networkd or NetworkManager is not done here (the systemd test
host of issue 28 does that).
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile import KeyfileFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile_routes import as_written
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan import NetplanFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

import persist_lab
from persist_hosts import as_read, described_like, proxmox_host, routed_hosts, sayable, small_hosts
from persist_lab import persist, snapshot_files
from realstacks import netplan_available, netplan_generate, nmcli_available, nmcli_offline

GUESTS = GuestMatcher()
OURS = NetplanFormat.DEFAULT_PATH
CORPUS = Path(__file__).parent / "corpus" / "netplan"
HOSTS = {"proxmox host (no vlan-aware bridge)": proxmox_host,
         **{name: (lambda h=h: h) for name, h in {**small_hosts(), **routed_hosts()}.items()}}
EXAMPLES = sorted(p.name for p in CORPUS.glob("*.netplan"))


@pytest.fixture(scope="module", autouse=True)
def netplan_unpacked():
    if not netplan_available():
        pytest.fail("netplan generate is not unpacked: run tests/setup.d/34-netplan.sh (tests/run-all.sh does)")


def generated_model(run) -> HostNetwork:
    """The networkd files netplan generated, read by the networkd format's parser.

    netplan adds `Scope=link` to a route without a gateway (the scope the kernel gives such a route anyway);
    the networkd parser reads only the [Route] keys netsafe writes, so that line is left out here.
    """
    files = {p: re.sub(r"^Scope=link\n", "", t, flags=re.M) for p, t in run.networkd_files().items()}
    return NetworkdFormat("/run/systemd/network", "/nonexistent-root").parse(files)


def meant(want: HostNetwork) -> HostNetwork:
    """What networkd's files should say of `want`: every route proto static (netplan writes no protocol), and a
    device that is down `ActivationPolicy=manual`, which networkd's parser reads as "not managed" (None)."""
    out = HostNetwork()
    for dev in want.devices.values():
        dev = as_written(dev).clone()
        dev.up = None if dev.up is False else dev.up
        out.add(dev)
    return out


@pytest.mark.parametrize("host_name", sorted(HOSTS))
def test_generate_accepts_our_file_and_its_networkd_files_say_what_we_meant(host_name):
    want, _missing = persisted(sayable("netplan", HOSTS[host_name]()), None, GUESTS)
    changes = NetplanFormat(OURS, "/nonexistent-root").render({}, want)
    run = netplan_generate(changes)
    assert (run.returncode, run.stderr) == (0, ""), changes[OURS]
    assert sorted(run.networkd_files()) == sorted(f"/run/systemd/network/10-netplan-{name}.{ext}"
                                                  for name, dev in want.devices.items()
                                                  for ext in (("netdev", "network") if dev.TYPE != "nic" else ("network",)))
    expected = meant(want)
    assert described_like(generated_model(run), expected) == {n: d.to_dict() for n, d in expected.devices.items()}
    for name, dev in want.devices.items():
        if dev.up is False:
            assert "ActivationPolicy=manual" in run.generated[f"/run/systemd/network/10-netplan-{name}.network"]


def test_generate_warns_about_a_file_others_can_read_and_ours_is_0600():
    want, _missing = persisted(small_hosts()["empty bridge, no ports"], None, GUESTS)
    changes = NetplanFormat(OURS, "/nonexistent-root").render({}, want)
    assert "Permissions for" in netplan_generate(changes, mode=0o644).stderr
    assert netplan_generate(changes, mode=0o600).stderr == ""


@pytest.mark.parametrize("example", EXAMPLES)
def test_an_upstream_example_next_to_ours_is_kept_and_generates_the_same(example):
    """Our devices (a routed bridge) do not overlap the example's: ours is added, the example's output is unchanged.
    (Its gateways left out: the static and vlan examples declare the main table's default route, refused next to ours.)"""
    theirs = {"/etc/netplan/01-example.yaml": (CORPUS / example).read_text()}
    host = routed_hosts()[next(iter(routed_hosts()))]
    host.get("vmbr5").ip.gateway4 = host.get("vmbr5").ip.gateway6 = None
    want, _missing = persisted(host, None, GUESTS)
    changes = NetplanFormat(OURS, "/nonexistent-root").render(theirs, want)
    assert list(changes) == [OURS]
    alone, both = netplan_generate(theirs), netplan_generate({**theirs, **changes})
    assert alone.returncode == 0 and both.returncode == 0, both.stderr
    assert "Conflicting" not in both.stderr and "Error" not in both.stderr, both.stderr
    assert {p: t for p, t in both.generated.items() if p in alone.generated and "netplan.rules" not in p} == \
        {p: t for p, t in alone.generated.items() if "netplan.rules" not in p}
    ours = {p: t for p, t in both.networkd_files().items() if p not in alone.generated}
    expected = meant(want)
    assert described_like(generated_model(type(both)(0, "", ours)), expected) == \
        {n: d.to_dict() for n, d in expected.devices.items()}


@pytest.mark.parametrize("example", ["bridge.netplan", "bonding.netplan"])
def test_a_device_an_example_defines_is_refused_naming_the_file(example):
    theirs = {"/etc/netplan/01-example.yaml": (CORPUS / example).read_text()}
    host = HostNetwork()
    for dev in small_hosts()["bridge down, fractional forward delay, address without gateway"].devices.values():
        dev = dev.clone()
        dev.name = {"eth0": "enp3s0"}.get(dev.name, dev.name)
        host.add(dev)
    host.get("vmbr0").up = True
    want, _missing = persisted(host, None, GUESTS)
    with pytest.raises(ValidationError, match=r"enp3s0: /etc/netplan/01-example.yaml \(not netsafe's\) defines it too"):
        NetplanFormat(OURS, "/nonexistent-root").render(theirs, want)


@pytest.mark.kernel
def test_saved_writes_our_file_0600_atomically_keeps_the_others_and_generate_accepts_the_result(namespaces, tmp_path):
    ns, _peer = persist_lab.bridges_host(namespaces)
    netplan_dir = tmp_path / "etc" / "netplan"
    netplan_dir.mkdir(parents=True)
    # The static example's enp3s0 has the default route our vmbr0 has: netplan flags two, so the save refuses.
    (netplan_dir / "01-static.yaml").write_text((CORPUS / "static.netplan").read_text())
    before = snapshot_files(tmp_path)
    refused = persist(ns, tmp_path, "netplan")
    assert refused["failed"] and "is also declared by enp3s0 in /etc/netplan/01-static.yaml" in refused["msg"], refused
    assert snapshot_files(tmp_path) == before
    (netplan_dir / "01-static.yaml").unlink()
    for example in ("bridge", "route_metric"):   # br0 on enp3s0, DHCP NICs: not ours
        (netplan_dir / f"01-{example}.yaml").write_text((CORPUS / f"{example}.netplan").read_text())
        os.chmod(netplan_dir / f"01-{example}.yaml", 0o600)
    before = snapshot_files(tmp_path)
    check = persist(ns, tmp_path, "netplan", check=True)
    assert check["changed"] and [f["path"] for f in check["files"]] == [str(tmp_path) + OURS]
    assert check["diff"] and "vmbr0:" in check["diff"][0]["after"]
    assert snapshot_files(tmp_path) == before   # check mode writes nothing
    saved = persist(ns, tmp_path, "netplan")
    assert saved["changed"] and not saved.get("failed"), saved
    assert stat.S_IMODE(os.stat(str(tmp_path) + OURS).st_mode) == 0o600
    after = snapshot_files(tmp_path)
    assert {p: v for p, v in after.items() if p in before} == before   # the other files: same bytes, same mtime
    assert sorted(set(after) - set(before)) == [str(tmp_path) + OURS]
    assert not any(name.startswith(".") for name in os.listdir(netplan_dir))   # no temporary file left
    run = netplan_generate({f"/etc/netplan/{p.name}": p.read_text() for p in netplan_dir.iterdir()})
    assert (run.returncode, run.stderr) == (0, "")
    assert {"/run/systemd/network/10-netplan-vmbr0.netdev", "/run/systemd/network/10-netplan-br0.netdev"} \
        <= set(run.generated)
    assert not persist(ns, tmp_path, "netplan")["changed"]
    # format auto on this host: netplan, also with its renderer's service enabled.
    wants = tmp_path / "etc" / "systemd" / "system" / "multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "systemd-networkd.service").symlink_to("/lib/systemd/system/systemd-networkd.service")
    auto = persist(ns, tmp_path, "auto")
    assert (auto["format"], auto["changed"], auto.get("failed", False)) == ("netplan", False, False), auto
    # The other files are none of the task's business: `rendered` shows ours only.
    rendered = persist(ns, tmp_path, "netplan", state="rendered")
    assert list(rendered["rendered"]) == [str(tmp_path) + OURS]


def test_names_yaml_would_read_as_something_else_stay_names():
    """`on`, `null`, `123`, `1e3` are valid interface names that YAML 1.1 reads as a boolean, null or number
    unquoted: written quoted, netplan generates their files under those names, and our parser reads them back."""
    names = ["null", "on", "yes", "123", "1e3", "0x10"]
    host = HostNetwork()
    host.add(Bridge(name="vmbr0", mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=False, ip=IpConfig([])))
    for name in names:
        host.add(Nic(name=name, mtu=1500, up=True, master="vmbr0", kind="", ip=IpConfig([])))
    want, _missing = persisted(as_read(host), None, GUESTS)
    changes = NetplanFormat(OURS, "/nonexistent-root").render({}, want)
    run = netplan_generate(changes)
    assert (run.returncode, run.stderr) == (0, "")
    assert {f"/run/systemd/network/10-netplan-{name}.network" for name in names} <= set(run.networkd_files())
    assert sorted(generated_model(run).devices) == sorted(names + ["vmbr0"])
    assert sorted(NetplanFormat(OURS, "/nonexistent-root").parse(changes).devices) == sorted(names + ["vmbr0"])


# -- netplan's NetworkManager renderer ------------------------------------------------------------------------------

GATEWAY_ROUTE = re.compile(r"^(route[0-9]+)=(?:0\.0\.0\.0/0,([0-9.]+),0|::/0,([0-9a-f:]+),1024)\n", re.M)
NM_RENDERER = {"/etc/netplan/01-network-manager-all.yaml": "network:\n  version: 2\n  renderer: NetworkManager\n"}


def nm_expected(want: HostNetwork) -> dict:
    """What NetworkManager's profiles should say of `want`: all of it, routes proto static, except one difference
    NetworkManager makes itself: a forward delay NetworkManager cannot take (0, below its 2-30 s) on a bridge
    without STP is its default 15 (the kernel ignores the forward delay without STP)."""
    out = {}
    for name, dev in want.devices.items():
        dev = as_written(dev).clone()
        if isinstance(dev, Bridge) and not dev.stp and dev.forward_delay < 2:
            dev.forward_delay = 15.0
        out[name] = dev.to_dict()
    return out


@pytest.mark.parametrize("host_name", sorted(h for h in HOSTS if not h.startswith("bridge down, fractional")))
def test_with_the_networkmanager_renderer_netplans_profiles_say_what_we_meant(host_name):
    """The host's own file makes NetworkManager the renderer (as Ubuntu desktop images do): netplan generates one
    keyfile per device from ours; NetworkManager's own reader (nmcli --offline) takes each, and the keyfile
    format's parser (NetworkManager's semantics: a route without a metric gets the device type's) reads them as
    we meant: our routes say their metric, so NetworkManager's per-type metric never applies."""
    if not nmcli_available():
        pytest.fail("nmcli is not unpacked: run tests/setup.d/31-networkmanager.sh (tests/run-all.sh does)")
    want, _missing = persisted(sayable("netplan", HOSTS[host_name]()), None, GUESTS)
    changes = NetplanFormat(OURS, "/nonexistent-root").render(NM_RENDERER, want)
    run = netplan_generate({**NM_RENDERER, **changes})
    assert (run.returncode, run.stderr) == (0, "")
    profiles = {p.replace("/run/", "/etc/"): t for p, t in run.generated.items() if p.endswith(".nmconnection")}
    assert sorted(profiles) == sorted(f"/etc/NetworkManager/system-connections/netplan-{n}.nmconnection"
                                      for n in want.devices)
    for text in profiles.values():
        nmcli_offline(text)   # raises NmcliRefused when NetworkManager's reader or verify() refuses it
    # A gateway comes as `routeN=0.0.0.0/0,GW,0` (metric said: the kernel's 0, not NetworkManager's 425 of a
    # `gateway=`). The keyfile parser keeps only `gateway=` as a gateway: such lines are taken out and read here.
    gateways = {}
    for path, text in profiles.items():
        name = path.rsplit("netplan-", 1)[1][:-len(".nmconnection")]
        for match in GATEWAY_ROUTE.finditer(text):
            if re.search(rf"^{match.group(1)}_options=", text, re.M):
                continue   # in another table (or with on-link): a route of its own, not the gateway
            gateways.setdefault(name, {})["gateway4" if match.group(2) else "gateway6"] = match.group(2) or match.group(3)
            text = text.replace(match.group(0), "")
        profiles[path] = text
    got = KeyfileFormat(KeyfileFormat.DEFAULT_PATH, "/nonexistent-root").parse(profiles)
    for name, found in gateways.items():
        for key, gw in found.items():
            setattr(got.get(name).ip, key, gw)
    have, expected = described_like(got, want), nm_expected(want)
    assert {n: {k: v for k, v in d.items() if expected.get(n, {}).get(k) != v} for n, d in have.items()} == \
        {n: {} for n in have}
    assert have == expected


def test_with_the_networkmanager_renderer_a_fraction_of_a_second_is_refused():
    want, _missing = persisted(small_hosts()["bridge down, fractional forward delay, address without gateway"], None,
                               GUESTS)
    with pytest.raises(ValidationError, match=r"vmbr0: forward_delay: 2.5 seconds cannot be written: "
                                              r"/etc/netplan/01-network-manager-all.yaml makes NetworkManager"):
        NetplanFormat(OURS, "/nonexistent-root").render(NM_RENDERER, want)
    assert NetplanFormat(OURS, "/nonexistent-root").render({}, want)   # networkd, netplan's default, takes 2.5
