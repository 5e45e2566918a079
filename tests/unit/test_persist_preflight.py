"""engine.preflight: the files for the state a change WILL leave, rendered and judged, nothing written.

The files are real ones from Proxmox VE's own tests (tests/persist/corpus/interfaces, origin in its
README), put under a scratch root. The state after the change is what the core predicts:
plan_host(current, desired).predict(current), as net_state does with its snapshot. Every test
compares the whole scratch tree (bytes and mtimes) before and after: preflight writes nothing,
neither when it passes nor when it refuses.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import plan_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import engine, spec
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format

from persist_hosts import as_read, base_host
from persist_lab import snapshot_files

CORPUS = Path(__file__).resolve().parents[1] / "persist" / "corpus" / "interfaces"
MAIN = "/etc/network/interfaces"
GUESTS = GuestMatcher()


def scratch_root(tmp_path, corpus_name: str) -> Path:
    root = tmp_path / "root"
    (root / "etc" / "network").mkdir(parents=True)
    shutil.copy(CORPUS / corpus_name, root / "etc" / "network" / "interfaces")
    return root


def ifupdown2(root: Path) -> Ifupdown2Format:
    fmt, _detected = engine.open_format("ifupdown2", MAIN, str(root))
    return fmt


def brbase_kernel() -> HostNetwork:
    """The host pve-common's `brbase` describes, as read from its kernel: vmbr0 on eth0, 10.0.0.2/24 via 10.0.0.1."""
    host = base_host()
    host.add(Nic(name="eth0", mtu=1500, mac="52:54:00:00:01:01", up=True, master="vmbr0", kind="",
                 ip=IpConfig(addresses=[], routes=[])))
    host.add(Bridge(name="vmbr0", mtu=1500, mac="52:54:00:00:01:01", up=True, stp=False, forward_delay=0.0,
                    vlan_filtering=False, ip=IpConfig(addresses=["10.0.0.2/24"], gateway4="10.0.0.1", routes=[])))
    return as_read(host)


def jumbo(current: HostNetwork) -> HostNetwork:
    """vmbr0 and its port eth0 at MTU 9000, as the core predicts the host after that plan."""
    desired = HostNetwork()
    desired.add(Bridge(name="vmbr0", mtu=9000))
    desired.add(Nic(name="eth0", mtu=9000, master="vmbr0"))
    plan = plan_host(current, desired, GUESTS)
    assert plan.operations, "the change must change something"
    return plan.predict(current)


def test_the_predicted_state_is_rendered_and_nothing_is_written(tmp_path):
    root = scratch_root(tmp_path, "pve-common__brbase")
    before = snapshot_files(tmp_path)
    fmt = ifupdown2(root)
    result = engine.preflight(fmt, jumbo(brbase_kernel()), ["vmbr0"], GUESTS)
    assert snapshot_files(tmp_path) == before   # no file, no backup directory, no temporary file
    assert result["changed"] is True and result["devices"] == ["eth0", "vmbr0"] and result["backups"] == []
    assert result["files"] == [{"path": str(root) + MAIN, "action": "updated"}]
    (diff,) = result["diff"]
    assert diff["before"] == (CORPUS / "pve-common__brbase").read_text()
    # What would be written means the predicted state, read back by the format's own parser.
    written = fmt.parse({MAIN: diff["after"]})
    assert (written.get("vmbr0").mtu, written.get("eth0").mtu, written.get("eth0").master) == (9000, 9000, "vmbr0")
    assert written.get("vmbr0").ip.addresses == ["10.0.0.2/24"] and written.get("vmbr0").ip.gateway4 == "10.0.0.1"


def test_once_what_it_renders_is_written_the_same_state_needs_nothing(tmp_path):
    """The text preflight returns is what the save writes: written (here by the test), a second preflight of the
    same predicted state finds the files right."""
    root = scratch_root(tmp_path, "pve-common__brbase")
    first = engine.preflight(ifupdown2(root), jumbo(brbase_kernel()), ["vmbr0"], GUESTS)
    (root / "etc" / "network" / "interfaces").write_text(first["diff"][0]["after"])
    again = engine.preflight(ifupdown2(root), jumbo(brbase_kernel()), ["vmbr0"], GUESTS)
    assert again["changed"] is False and again["files"] == [] and again["diff"] == []


def test_a_dhcp_stanza_the_change_would_touch_is_refused_before_anything_changes(tmp_path):
    """pve-common's `base-allow-hotplug`: ens18 by DHCP. The change (issue 26 (b)) moves the host's address
    from ens18 onto a new vmbr0 with ens18 as its port: the files would have to turn ens18's DHCP stanza
    into a port's, which the format refuses, naming the line, exactly as `saved` would after the change."""
    root = scratch_root(tmp_path, "pve-common__base-allow-hotplug")
    current = base_host()
    current.add(Nic(name="ens18", mtu=1500, mac="52:54:00:00:01:01", up=True, kind="",
                    ip=IpConfig(addresses=["192.0.2.5/24"], gateway4="192.0.2.1", routes=[])))
    current = as_read(current)
    desired = HostNetwork()
    desired.add(Bridge(name="vmbr0", stp=False, forward_delay=0.0,
                       ip=IpConfig(addresses=["192.0.2.5/24"], gateway4="192.0.2.1")))
    desired.add(Nic(name="ens18", master="vmbr0", ip=IpConfig(addresses=[], gateway4=None, gateway6=None)))
    predicted = plan_host(current, desired, GUESTS).predict(current)
    before = snapshot_files(tmp_path)
    for names in (["vmbr0"], None):
        with pytest.raises(ValidationError) as refused:
            engine.preflight(ifupdown2(root), predicted, names, GUESTS)
        assert str(refused.value) == (f"ens18: {MAIN} line 16 gets its addresses by dhcp; net_persist writes static "
                                      f"addresses only (change that stanza by hand, or leave ens18 out of `devices`)")
    assert snapshot_files(tmp_path) == before
    # A change that leaves ens18 alone (a new bridge of its own) is no problem for the same file.
    other = HostNetwork()
    other.add(Bridge(name="vmbr1", stp=False, forward_delay=0.0, ip=IpConfig(addresses=["198.51.100.2/24"])))
    result = engine.preflight(ifupdown2(root), plan_host(current, other, GUESTS).predict(current), ["vmbr1"], GUESTS)
    assert result["devices"] == ["vmbr1"] and "iface vmbr1 inet static" in result["diff"][0]["after"]
    assert "iface ens18 inet dhcp" in result["diff"][0]["after"]
    assert snapshot_files(tmp_path) == before


def test_a_continued_line_in_a_stanza_the_change_touches_is_refused(tmp_path):
    """brbase with its bridge_ports line continued with '\\' (ifupdown2 joins such lines; the format cannot
    edit them): refused naming the line; another stanza's continuation does not stop a save of vmbr0."""
    root = scratch_root(tmp_path, "pve-common__brbase")
    path = root / "etc" / "network" / "interfaces"
    text = path.read_text()
    path.write_text(text.replace("\tbridge_ports eth0\n", "\tbridge_ports \\\n\t\teth0\n"))
    before = snapshot_files(tmp_path)
    with pytest.raises(ValidationError, match=r"line 24: a line continued with '\\' is not supported here"):
        engine.preflight(ifupdown2(root), jumbo(brbase_kernel()), ["vmbr0"], GUESTS)
    assert snapshot_files(tmp_path) == before
    path.write_text(text + "\niface eth9 inet manual\n\tmtu \\\n\t1500\n")
    assert engine.preflight(ifupdown2(root), jumbo(brbase_kernel()), ["vmbr0"], GUESTS)["changed"] is True


def test_staged_proxmox_changes_are_judged_per_pending_changes_and_never_touched(tmp_path):
    """Proxmox VE's web UI staged a change in interfaces.new (pve-common's `create_network` L63 file, another
    host's network): refused with pending_changes=refuse; with discard, the removal is reported, not done."""
    root = scratch_root(tmp_path, "pve-common__brbase")
    shutil.copy(CORPUS / "pve-common__t.create_network.pl__L63", root / "etc" / "network" / "interfaces.new")
    before = snapshot_files(tmp_path)
    with pytest.raises(ValidationError, match=rf"^pending_changes: {root}/etc/network/interfaces.new holds network "
                                              r"changes staged but not applied .* Nothing was written"):
        engine.preflight(ifupdown2(root), jumbo(brbase_kernel()), ["vmbr0"], GUESTS, "refuse")
    discard = engine.preflight(ifupdown2(root), jumbo(brbase_kernel()), ["vmbr0"], GUESTS, "discard")
    assert {(f["path"], f["action"]) for f in discard["files"]} == {
        (str(root) + MAIN, "updated"), (str(root) + MAIN + ".new", "removed")}
    assert snapshot_files(tmp_path) == before


def test_backup_options_are_judged_as_saved_judges_them(tmp_path):
    root = scratch_root(tmp_path, "pve-common__brbase")
    os.symlink("/etc", root / "outside")
    host = jumbo(brbase_kernel())
    with pytest.raises(ValidationError, match="^backup_keep: -1 must be a whole number"):
        engine.preflight(ifupdown2(root), host, ["vmbr0"], GUESTS, backup_keep=-1)
    with pytest.raises(ValidationError, match="^backup_dir: "):
        engine.preflight(ifupdown2(root), host, ["vmbr0"], GUESTS, backup_dir="/outside/backups")


def test_the_options_wrapper_masks_the_secrets_of_the_files_it_read(tmp_path):
    """preflight_files: PERSIST_SPEC's options in, net_persist's check-mode result out, every secret value of the
    files it read handed to the caller's no_log set (here a wpa-psk on a stanza nobody changes)."""
    root = scratch_root(tmp_path, "pve-common__brbase")
    path = root / "etc" / "network" / "interfaces"
    path.write_text(path.read_text() + "\niface wlan0 inet manual\n\twpa-psk s3cret-psk-value\n")
    options = {name: rule.get("default") for name, rule in spec.PERSIST_SPEC.items()}
    options.update(format="ifupdown2", devices=["vmbr0"])
    secrets = set()
    result = spec.preflight_files(options, str(root), jumbo(brbase_kernel()), GUESTS, secrets)
    assert secrets == {"s3cret-psk-value"}
    assert result["format"] == "ifupdown2" and result["detected"] == [] and result["changed"] is True
    assert "s3cret-psk-value" not in str(result) and "wpa-psk ********" in result["diff"][0]["after"]
