"""A guest config names a device only for the guest that owns it (review finding 5), on the real kernel: tap_reenslave
with libvirt's live status XML, and tap_guard as a process with the persistent definitions alone.

The tenant "evil" may define a domain (never start it) naming a Docker container's veth and web's running tap on a
bridge of its choosing; "spoof.xml" says it is web. Neither moves anything, and each says why.
"""
from __future__ import annotations

import pytest

from conftest import add_bridge, batch, links, reenslave, restart_bridge
from nstools import kernel_state, state_diff
from tapguard_proc import ENV, Watcher, watcher_argv

pytestmark = pytest.mark.kernel

DOMAIN = "<domain type='kvm'><name>{name}</name><devices>{nics}</devices></domain>"
NIC = "<interface type='bridge'><source bridge='{bridge}'/><target dev='{dev}'/></interface>"
EVIL = DOMAIN.format(name="evil", nics=NIC.format(bridge="vmbr9", dev="vethd0cker1") + NIC.format(bridge="vmbr9",
                                                                                                  dev="vnet0"))
WEB = DOMAIN.format(name="web", nics=NIC.format(bridge="vmbr0", dev="vnet0"))
SPOOF = DOMAIN.format(name="web", nics=NIC.format(bridge="vmbr9", dev="vnet0"))


def tenants(ns: str, tmp_path, live: bool) -> tuple:
    """docker0 with a container's veth, web's vnet0 on vmbr0, an empty vmbr9; evil, web and spoof defined."""
    etc, run = tmp_path / "etc", tmp_path / "run"
    etc.mkdir()
    for name, text in (("evil", EVIL), ("web", WEB), ("spoof", SPOOF)):
        (etc / f"{name}.xml").write_text(text)
    if live:
        run.mkdir()
        (run / "web.xml").write_text(f"<domstatus state='running' reason='booted' pid='4242'>{WEB}</domstatus>")
    for bridge in ("docker0", "vmbr0", "vmbr9"):
        add_bridge(ns, bridge)
    batch(ns, ["link add vethd0cker1 type veth peer name eth0c", "link set vethd0cker1 master docker0",
               "link set vethd0cker1 up", "tuntap add vnet0 mode tap", "link set vnet0 master vmbr0",
               "link set vnet0 up"])
    return str(etc), str(run)


def test_only_the_running_guests_live_xml_gives_a_device_a_bridge(netns, tmp_path):
    etc, run = tenants(netns, tmp_path, live=True)
    restart_bridge(netns, "vmbr0", None)   # vnet0 on no bridge now: web's to take back, nobody else's
    before = kernel_state(netns)
    result = reenslave(netns, source="libvirt", libvirt_xml_dir=etc, libvirt_status_dir=run)
    now = links(netns)
    assert now["vnet0"]["master"] == "vmbr0" and now["vethd0cker1"]["master"] == "docker0"
    assert result["reattached"] == ["vnet0"] and result["not_running"] == []
    failed = {(f["guest"], f["device"]): f["reason"] for f in result["failed_guests"]}
    stopped = ("evil is defined but not running (libvirt has no live status XML for it), so it owns no device; "
               "the existing {} is someone else's and is left alone")
    assert failed == {("evil", "vethd0cker1"): stopped.format("vethd0cker1"), ("evil", "vnet0"): stopped.format("vnet0"),
                      ("spoof", None): f"{etc}/spoof.xml holds domain 'web'; libvirt keeps each domain in a file "
                                       f"named after it (web.xml), so this file is not libvirt's and is not read"}
    assert {line.split()[1] for line in state_diff(before, kernel_state(netns))} == {"vnet0", "vmbr0"}


def test_tap_guard_moves_nothing_two_definitions_claim_or_no_running_guest_owns(netns, tmp_path):
    etc, run = tenants(netns, tmp_path, live=False)
    before = kernel_state(netns)
    watcher = Watcher(watcher_argv("--source", "libvirt", "--libvirt-xml-dir", etc, "--libvirt-status-dir", run,
                                   "--namespace", netns), tmp_path, ENV)
    try:
        watcher.wait_ready()
        assert state_diff(before, kernel_state(netns)) == [], watcher.log   # the start's full pass moved nothing
        restart_bridge(netns, "vmbr9", None)
        watcher.wait_log("bridge vmbr9 appeared, full pass")
        assert links(netns)["vethd0cker1"]["master"] == "docker0" and links(netns)["vnet0"]["master"] == "vmbr0"
        log = watcher.log
        assert ("guest port(s) not restored: only a libvirt definition names vethd0cker1 (no live status XML says "
                "which running guest owns it), and no guest_patterns entry matches its name") in log
        assert "vnet0 is also named by web (" in log and "vnet0 is also named by evil (" in log
        assert "holds domain 'web'" in log and "Traceback" not in log
    finally:
        code = watcher.stop()
    assert code == 0, watcher.log
