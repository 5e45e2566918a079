"""Who owns a device a guest config names (review findings 5, 8 and 9 of the guests): pure rules, no kernel.

A name in a config is a claim: the live status XML of a running libvirt guest, Proxmox VE's vmid-derived name and
the task's own `ports` own their device; a libvirt definition does only when nothing else names the device and
guest_patterns does, or (live directory there) when its running guest's live XML names it; a guest that does not
run owns nothing. Config files are read without blocking, and a network name cannot lead out of networks/.
"""
from __future__ import annotations

import os
import threading

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.discovery import discover, resolve_claims
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.libvirt import (
    discover_libvirt, parse_libvirt_domain,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import (
    DEFINED, DERIVED, LISTED, LIVE, MAX_CONFIG_BYTES, STOPPED, ConfigProblem, GuestNic, read_cached,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.proxmox import parse_proxmox_config
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.reenslave import (
    ALREADY_OK, FAILED, NOT_RUNNING, REATTACHED, plan_guests,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, GuestPort, HostNetwork, Nic,
)


def nic(guest, device, bridge="vmbr9", claim=DEFINED, kind="libvirt"):
    return GuestNic(guest, kind, "interface 0", device, bridge, origin=f"/etc/libvirt/qemu/{guest}.xml", claim=claim)


def host() -> HostNetwork:
    """vmbr0 with web's vnet0 and a container's veth on docker0; vmbr9 empty; a stray tap named like no guest."""
    net = HostNetwork()
    for name in ("vmbr0", "vmbr9", "docker0"):
        net.add(Bridge(name=name, mtu=1500, up=True))
    net.add(GuestPort(name="vnet0", master="vmbr0", mtu=1500, up=True, kind="tun"))
    net.add(Nic(name="vethd0cker1", master="docker0", mtu=1500, up=True, kind="veth"))
    net.add(GuestPort(name="mytap0", master="vmbr0", mtu=1500, up=True, kind="tun"))
    return net


def outcome_of(nics, net=None):
    net = net or host()
    plan, outcomes = plan_guests(net, nics, guests=GuestMatcher())
    return plan, {(o.nic.guest, o.nic.device): (o.status, o.reason) for o in outcomes}


# -- two configs, one device -------------------------------------------------------------------------------------

def test_two_definitions_naming_one_device_are_both_refused_each_naming_the_other():
    evil, web = nic("evil", "vnet0"), nic("web", "vnet0", "vmbr0")
    kept, warnings = resolve_claims([evil, web])
    assert warnings == [] and [n.guest for n in kept] == ["evil", "web"]
    assert "vnet0 is also named by web (/etc/libvirt/qemu/web.xml)" in kept[0].refused
    assert "vnet0 is also named by evil (/etc/libvirt/qemu/evil.xml)" in kept[1].refused
    assert evil.refused == "" and web.refused == "", "the parsed (cached) NICs themselves are never changed"
    plan, found = outcome_of(kept)
    assert plan.operations == [] and {k: v[0] for k, v in found.items()} == {("evil", "vnet0"): FAILED,
                                                                             ("web", "vnet0"): FAILED}


def test_a_running_guests_live_xml_owns_its_device_and_every_other_claim_is_refused_naming_it():
    live = nic("web", "vnet0", "vmbr0", LIVE)
    kept, _warnings = resolve_claims([nic("evil", "vnet0"), live, nic("100", "vnet0", claim=DERIVED, kind="qemu")])
    assert kept[1] is live
    for other in (kept[0], kept[2]):
        assert other.refused.startswith("vnet0 belongs to the running guest web (/etc/libvirt/qemu/web.xml)")
    _plan, found = outcome_of(kept)
    assert found[("web", "vnet0")][0] == ALREADY_OK and found[("evil", "vnet0")][0] == FAILED


def test_two_live_claims_on_one_device_own_nothing():
    kept, _warnings = resolve_claims([nic("a", "vnet0", claim=LIVE), nic("b", "vnet0", claim=LIVE)])
    assert all(n.refused.startswith("vnet0 is also named by") for n in kept)


def test_a_ports_entry_still_wins_over_any_config_with_a_warning():
    listed = nic("vnet0", "vnet0", "vmbr0", LISTED, "explicit")
    kept, warnings = resolve_claims([listed, nic("web", "vnet0", claim=LIVE)])
    assert kept == [listed] and warnings == [
        "vnet0 is configured twice (/etc/libvirt/qemu/vnet0.xml: vmbr0; /etc/libvirt/qemu/web.xml: vmbr9); "
        "the ports entry is used"]


def test_a_stopped_guest_does_not_contend_and_owns_nothing():
    stopped, defined = nic("old", "vnet0", claim=STOPPED), nic("web", "vnet0", "vmbr0")
    kept, _warnings = resolve_claims([stopped, defined])
    assert [n.refused for n in kept] == ["", ""]
    _plan, found = outcome_of(kept)
    assert found[("web", "vnet0")][0] == ALREADY_OK
    assert found[("old", "vnet0")] == (FAILED, "old is defined but not running (libvirt has no live status XML for "
                                               "it), so it owns no device; the existing vnet0 is someone else's and "
                                               "is left alone")
    _plan, found = outcome_of([nic("old", "vnet7", claim=STOPPED)])
    assert found[("old", "vnet7")] == (NOT_RUNNING, "")


# -- a device no running guest is known to own ---------------------------------------------------------------------

@pytest.mark.parametrize("device", ["vethd0cker1", "mytap0"])
def test_a_definition_alone_moves_no_device_guest_patterns_do_not_name(device):
    plan, found = outcome_of([nic("evil", device)])
    assert plan.operations == []
    status, reason = found[("evil", device)]
    assert status == FAILED and reason == (
        f"only a libvirt definition names {device} (no live status XML says which running guest owns it), and no "
        f"guest_patterns entry matches its name; a device no running guest is known to own is never moved")


@pytest.mark.parametrize("claim", [LIVE, DERIVED, LISTED])
def test_an_owner_moves_a_tap_or_veth_of_any_name(claim):
    plan, found = outcome_of([nic("g", "vethd0cker1", claim=claim), nic("h", "mytap0", claim=claim)])
    assert found[("g", "vethd0cker1")][0] == REATTACHED and found[("h", "mytap0")][0] == REATTACHED
    assert sorted(op.device for op in plan.operations) == ["mytap0", "vethd0cker1"]


def test_a_definition_alone_may_move_a_device_guest_patterns_name():
    _plan, found = outcome_of([nic("web", "vnet0")])
    assert found[("web", "vnet0")][0] == REATTACHED
    plan, outcomes = plan_guests(host(), [nic("web", "mytap0")], guests=GuestMatcher([r"^mytap[0-9]+$"]))
    assert outcomes[0].status == REATTACHED and [op.device for op in plan.operations] == ["mytap0"]


# -- libvirt: which claim each file makes --------------------------------------------------------------------------

DOMAIN = ("<domain type='kvm'><name>{name}</name><devices><interface type='bridge'><source bridge='{bridge}'/>"
          "<target dev='{dev}'/></interface></devices></domain>")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def libvirt_host(tmp_path, live=True):
    """web runs (live XML names vnet0); evil is defined only, naming vnet0 on vmbr9; spoof.xml says it is web."""
    etc, run = tmp_path / "etc", tmp_path / "run"
    write(etc / "web.xml", DOMAIN.format(name="web", bridge="vmbr0", dev="vnet0"))
    write(etc / "evil.xml", DOMAIN.format(name="evil", bridge="vmbr9", dev="vnet0"))
    write(etc / "spoof.xml", DOMAIN.format(name="web", bridge="vmbr9", dev="vnet0"))
    if live:
        write(run / "web.xml", "<domstatus state='running'>" + DOMAIN.format(name="web", bridge="vmbr0", dev="vnet0")
              + "</domstatus>")
    return str(etc), str(run)


@pytest.mark.parametrize("read", ["live", "persistent"])
def test_with_live_status_xml_only_the_running_guest_owns_its_device(tmp_path, read):
    etc, run = libvirt_host(tmp_path)
    found = discover("libvirt", libvirt_xml_dir=etc, libvirt_status_dir=run, libvirt_read=read)
    claims = {(n.guest, n.device): (n.claim, n.refused) for n in found.nics}
    assert claims[("web", "vnet0")] == (LIVE, "")
    assert claims[("evil", "vnet0")] == (STOPPED, "")
    assert ("web", "vnet0") in claims and len(claims) == 2, "spoof.xml speaks for no one"
    spoof = [p for p in found.problems if p["origin"].endswith("spoof.xml")]
    assert spoof[0]["reason"].endswith("holds domain 'web'; libvirt keeps each domain in a file named after it "
                                       "(web.xml), so this file is not libvirt's and is not read")
    plan, outcomes = plan_guests(host(), found.nics, guests=GuestMatcher())
    assert plan.operations == [] and {o.nic.guest: o.status for o in outcomes} == {"web": ALREADY_OK, "evil": FAILED}


def test_a_running_guests_definition_owns_only_what_its_live_xml_names(tmp_path):
    etc, run = libvirt_host(tmp_path)
    write(tmp_path / "etc" / "web.xml", DOMAIN.format(name="web", bridge="vmbr9", dev="vethd0cker1"))
    found = discover_libvirt(etc, None, run, "persistent")
    web = [n for n in found.nics if n.guest == "web"][0]
    assert web.refused == (f"the definition names vethd0cker1, but the running guest's live status XML "
                           f"({run}/web.xml) does not: a running guest owns only the devices libvirt gave it")


def test_without_live_status_xml_definitions_claim_but_own_nothing_by_themselves(tmp_path):
    etc, run = libvirt_host(tmp_path, live=False)
    found = discover("libvirt", libvirt_xml_dir=etc, libvirt_status_dir=run)
    assert found.libvirt["read"] == "persistent"
    expected = {("web", DEFINED, True), ("evil", DEFINED, True)}
    assert {(n.guest, n.claim, bool(n.refused)) for n in found.nics} == expected


# -- Proxmox VE ------------------------------------------------------------------------------------------------------

def test_proxmox_names_its_devices_from_the_vmid_and_a_name_outside_the_rule_fails_its_guest():
    found = parse_proxmox_config("net0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n", "100", "qemu")
    assert [(n.device, n.claim) for n in found.nics] == [("tap100i0", DERIVED)]
    with pytest.raises(ConfigProblem, match=r"line 1: net0: device: 'tap11111111111111111111i0' is 25 characters long"):
        parse_proxmox_config("net0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n", "11111111111111111111", "qemu")
    with pytest.raises(ConfigProblem, match=r"net0: firewall device: 'fwbr1234567890i0' is 16 characters long"):
        parse_proxmox_config("net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1\n", "1234567890", "qemu")


def test_a_proxmox_guest_whose_device_name_breaks_the_rule_is_failed_not_not_running(tmp_path):
    node = tmp_path / "pve"
    write(node / "qemu-server" / "100.conf", "net0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n")
    write(node / "qemu-server" / "11111111111111111111.conf", "net0: virtio=BC:24:11:00:00:02,bridge=vmbr0\n")
    found = discover("proxmox", proxmox_dir=str(node))
    assert [n.device for n in found.nics] == ["tap100i0"] and found.stopped == []
    assert [(p["guest"], "Linux allows at most 15" in p["reason"]) for p in found.problems] == [
        ("11111111111111111111", True)]


# -- the files themselves --------------------------------------------------------------------------------------------

def unblocked(fn, fifos, seconds=5.0):
    """fn()'s result (or the exception it raised), failing the test if it is still blocked after `seconds`."""
    out: dict = {}

    def call():
        try:
            out["result"] = fn()
        except Exception as exc:   # noqa: BLE001 (handed back to the test)
            out["error"] = exc

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    hung = worker.is_alive()
    if hung:   # let the reader go (ENXIO: nobody reads that one)
        for fifo in fifos:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    assert not hung, "blocked on a config that is no regular file: tap_reenslave and tap_guard would hang"
    return out.get("error") or out["result"]


def test_configs_that_are_no_regular_files_are_their_guests_problems_and_nothing_blocks(tmp_path):
    node, etc = tmp_path / "pve", tmp_path / "etc"
    write(node / "qemu-server" / "100.conf", "net0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n")
    os.mkfifo(node / "qemu-server" / "101.conf")
    os.symlink("100.conf", node / "qemu-server" / "102.conf")
    os.mkdir(node / "qemu-server" / "103.conf")
    write(node / "lxc" / "104.conf", "x" * (MAX_CONFIG_BYTES + 1))
    write(etc / "web.xml", DOMAIN.format(name="web", bridge="vmbr0", dev="vnet0"))
    os.mkfifo(etc / "fifo.xml")
    os.symlink("/dev/zero", etc / "zero.xml")
    found = unblocked(lambda: discover("auto", proxmox_dir=str(node), libvirt_xml_dir=str(etc),
                                       libvirt_status_dir=str(tmp_path / "none")),
                      [node / "qemu-server" / "101.conf", etc / "fifo.xml"])
    assert sorted(n.device for n in found.nics) == ["tap100i0", "vnet0"]
    reasons = {os.path.basename(p["origin"]): p["reason"] for p in found.problems}
    rule = "; guest configs are read only from regular files (Proxmox VE and libvirt write nothing else there)"
    assert reasons == {"101.conf": f"cannot read: a FIFO{rule}", "102.conf": f"cannot read: a symbolic link{rule}",
                       "103.conf": f"cannot read: a directory{rule}",
                       "104.conf": f"cannot read: larger than {MAX_CONFIG_BYTES} bytes, which no guest config is",
                       "fifo.xml": f"cannot read: a FIFO{rule}", "zero.xml": f"cannot read: a symbolic link{rule}"}


def test_the_cache_opens_an_unchanged_file_not_again_and_sees_a_file_replaced_by_a_fifo(tmp_path):
    path = tmp_path / "100.conf"
    path.write_text("a")
    cache: dict = {}
    assert read_cached(cache, str(path), str.upper) == "A"
    assert read_cached(cache, str(path), lambda text: "parsed again") == "A"
    path.unlink()
    os.mkfifo(path)
    error = unblocked(lambda: read_cached(cache, str(path), str.upper), [path])
    assert isinstance(error, OSError) and "a FIFO" in error.strerror


@pytest.mark.parametrize("network", ["../../evil", "..", ".", "a/b", "/etc/libvirt/qemu/networks/default",
                                     "evil\nname"])
def test_a_network_name_that_could_leave_networks_is_a_problem_and_nothing_is_read(tmp_path, network):
    networks = tmp_path / "etc" / "networks"
    write(tmp_path / "evil.xml", "<network><name>evil</name><bridge name='vmbr7'/></network>")
    write(networks / "default.xml", "<network><name>default</name><bridge name='virbr0'/></network>")
    write(networks / "..xml", "<network><name>x</name><bridge name='vmbr7'/></network>")
    write(networks / "...xml", "<network><name>x</name><bridge name='vmbr7'/></network>")
    domain = ("<domain type='kvm'><name>dom</name><devices><interface type='network'><source network='{}'/>"
              "<target dev='vnet9'/></interface></devices></domain>").format(network.replace("\n", "&#10;"))
    found = parse_libvirt_domain(domain, "dom.xml", str(networks))
    assert found.nics == []
    assert found.problems[0]["reason"] == (
        f"interface 0: network {network!r} is not a libvirt network name (no '/' or control characters, not '.' "
        f"or '..'); nothing was read for it")


def test_a_plain_network_name_is_still_resolved(tmp_path):
    networks = tmp_path / "networks"
    write(networks / "my net-1.xml", "<network><name>my net-1</name><bridge name='virbr3'/></network>")
    domain = ("<domain type='kvm'><name>dom</name><devices><interface type='network'><source network='my net-1'/>"
              "<target dev='vnet9'/></interface></devices></domain>")
    assert [(n.device, n.bridge) for n in parse_libvirt_domain(domain, "dom.xml", str(networks)).nics] == [
        ("vnet9", "virbr3")]
