"""net_persist on a bad day (issue 23), through the module on a real kernel: no secret returned, two saves
in one second, Proxmox VE's staged interfaces.new, an uplink swapped under a bridge the files already list.

Files go under a scratch root (the module's `root`), the kernel side is a throwaway namespace; the
uplink swap is then booted by Debian's own ifupdown2 (unpacked, tests/realstacks.py) in a fresh one.
The pure parts of the same faults are in tests/unit/test_persist_bad_day_rules.py.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format

import persist_lab
from persist_lab import persist, snapshot_files
import persist_secrets
import realstacks
from nstools import ip, iproute, settled_state, state_diff
from playrun import VENV_BIN, ansible_playbook

pytestmark = pytest.mark.kernel
MAIN = "/etc/network/interfaces"


@pytest.fixture
def lab(namespaces):
    """persist_lab's "bridges" host with its guests: vmbr0 on eno1, vmbr1 on eno2, eno3 on its own."""
    return persist_lab.bridges_host(namespaces)[0]


# -- no secret returned ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(persist_secrets.FILES))
def test_no_secret_of_the_files_reaches_a_result_or_a_diff(lab, tmp_path, fmt):
    persist_secrets.write(tmp_path, persist_secrets.FILES[fmt])
    drift = persist(lab, tmp_path, fmt, check=True)
    rendered = persist(lab, tmp_path, fmt, state="rendered")
    saved = persist(lab, tmp_path, fmt)
    restored = persist(lab, tmp_path, fmt, check=True, state="restored")
    assert drift["changed"] and drift["diff"] and saved["changed"] and not saved.get("failed"), saved
    for result in (drift, rendered, saved, restored):
        assert persist_secrets.leaked(json.dumps(result)) == [], result
    # Only what describes the scope is rendered: no Wi-Fi, VPN, WireGuard or MACsec file.
    assert not any(word in path for path in rendered["rendered"] for word in ("wifi", "vpn", "wg0", "macsec")), \
        sorted(rendered["rendered"])
    # Redacted in what is shown, never in what is written: every secret is still in the files.
    on_disk = "".join(data.decode() for data, _m in snapshot_files(tmp_path / "etc").values())
    assert persist_secrets.leaked(on_disk) == sorted(n for n, v in persist_secrets.SECRETS.items()
                                                     if any(v in t for t in persist_secrets.FILES[fmt].values()))


def test_a_refusal_that_quotes_a_secret_line_masks_it(lab, tmp_path):
    persist_secrets.write(tmp_path, persist_secrets.IFUPDOWN2_BAD)
    result = persist(lab, tmp_path, "ifupdown2")
    assert result["failed"] and "is outside any 'iface' stanza" in result["msg"], result
    assert persist_secrets.leaked(json.dumps(result)) == []


SECRETS_PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: Rendered, then saved with its diff, for every format
      netsafe.hypervisor.net_persist:
        format: "{{ item.0 }}"
        state: "{{ item.1 }}"
        namespace: "{{ ns }}"
        root: "{{ roots[item.0] }}"
      loop: "{{ ['networkmanager', 'networkd', 'ifupdown2'] | product(['rendered', 'saved']) }}"
    - name: A file refused for a line that holds a secret
      netsafe.hypervisor.net_persist:
        format: ifupdown2
        namespace: "{{ ns }}"
        root: "{{ bad_root }}"
      register: refused
      failed_when: refused is not failed
"""


@pytest.mark.ansible
def test_no_secret_in_a_vvv_playbook_run_with_diff(lab, tmp_path):
    roots = {fmt: tmp_path / fmt for fmt in persist_secrets.FILES}
    for fmt, root in roots.items():
        persist_secrets.write(root, persist_secrets.FILES[fmt])
    persist_secrets.write(tmp_path / "bad", persist_secrets.IFUPDOWN2_BAD)
    (tmp_path / "play.yml").write_text(SECRETS_PLAY)
    (tmp_path / "inventory.ini").write_text(f"lab ansible_connection=local ansible_python_interpreter={VENV_BIN / 'python'}\n")
    extra = {"ns": lab, "roots": {k: str(v) for k, v in roots.items()}, "bad_root": str(tmp_path / "bad")}
    proc, results = ansible_playbook(["-i", tmp_path / "inventory.ini", tmp_path / "play.yml", "--diff", "-vvv",
                                      "-e", json.dumps(extra)], tmp_path, tmp_path / "record.jsonl")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "changed=1" in proc.stdout and "+++ after" in proc.stdout   # the diffs were printed
    assert persist_secrets.leaked(proc.stdout + proc.stderr) == []
    assert persist_secrets.leaked(json.dumps(results)) == []


# -- two saves in one second -------------------------------------------------------------------------------------

def test_two_saves_in_one_second_keep_both_originals_and_old_runs_are_pruned(lab, tmp_path, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1764355800.25)   # every run in the same microsecond
    old_umask = os.umask(0)
    try:
        assert persist(lab, tmp_path, "ifupdown2")["changed"]
        texts, backups = [], []
        for mtu in ("1400", "1300", "1200"):
            texts.append((tmp_path / "etc/network/interfaces").read_text())
            ip("link", "set", "vmbr0", "mtu", mtu, ns=lab)
            result = persist(lab, tmp_path, "ifupdown2", backup_keep=2)
            assert result["changed"] and len(result["backups"]) == 1, result
            backups.append(result["backups"][0])
    finally:
        os.umask(old_umask)
    root = tmp_path / "var/lib/netsafe/backups"
    # Three runs, three directories; the third run pruned the first (backup_keep: 2).
    assert len(set(backups)) == 3
    assert sorted(os.listdir(root)) == ["20251128T185000.250000Z-2", "20251128T185000.250000Z-3"]
    assert [open(b).read() for b in backups[1:]] == texts[1:]
    assert not os.path.exists(backups[0]) and result["pruned_backups"] == [str(root / "20251128T185000.250000Z")]
    for directory in (root, root / "20251128T185000.250000Z-3", os.path.dirname(backups[2])):
        assert os.stat(directory).st_mode & 0o777 == 0o700, directory
    assert os.stat(backups[2]).st_mode & 0o777 == 0o600


# -- Proxmox VE's staged changes -------------------------------------------------------------------------------

STAGED_EXTRA = "\nauto vmbr9\niface vmbr9 inet manual\n\tbridge-ports none\n\tbridge-stp off\n\tbridge-fd 0\n"


def test_interfaces_new_is_refused_by_default_naming_the_file(lab, tmp_path):
    assert persist(lab, tmp_path, "ifupdown2")["changed"]
    main = tmp_path / "etc/network/interfaces"
    staged = tmp_path / "etc/network/interfaces.new"
    staged.write_text(main.read_text() + STAGED_EXTRA)
    ip("link", "set", "vmbr1", "mtu", "8000", ns=lab)
    files, kernel = snapshot_files(tmp_path), settled_state(lab)
    for check in (True, False):
        refused = persist(lab, tmp_path, "ifupdown2", check=check)
        assert refused["failed"] and not refused["changed"], refused
        assert refused["msg"].startswith(f"pending_changes: {staged} holds network changes staged but not applied")
        assert "'discard'" in refused["msg"] and "'keep'" in refused["msg"]
    assert snapshot_files(tmp_path) == files and state_diff(kernel, settled_state(lab)) == []


def test_interfaces_new_discarded_or_kept_on_request(lab, tmp_path):
    assert persist(lab, tmp_path, "ifupdown2")["changed"]
    main = tmp_path / "etc/network/interfaces"
    staged = tmp_path / "etc/network/interfaces.new"
    staged_text = main.read_text() + STAGED_EXTRA
    staged.write_text(staged_text)
    fmt = Ifupdown2Format(MAIN, str(tmp_path))

    ip("link", "set", "vmbr1", "mtu", "8000", ns=lab)
    kept = persist(lab, tmp_path, "ifupdown2", pending_changes="keep")
    assert kept["changed"] and sorted(f["path"] for f in kept["files"]) == [str(main), str(staged)], kept
    assert fmt.parse({MAIN: main.read_text()}).get("vmbr1").mtu == 8000
    staged_model = fmt.parse({MAIN: staged.read_text()})
    assert staged_model.get("vmbr1").mtu == 8000 and staged_model.get("vmbr9") is not None   # still staged

    ip("link", "set", "vmbr0", "mtu", "1400", ns=lab)
    staged.write_text(staged.read_text().replace("iface vmbr0 inet static", "iface vmbr0 inet static\n\tmtu 1300"))
    clash = persist(lab, tmp_path, "ifupdown2", pending_changes="keep")
    assert clash["failed"] and "stages changes of vmbr0, which this save writes too" in clash["msg"], clash

    before_discard = staged.read_text()
    dropped = persist(lab, tmp_path, "ifupdown2", pending_changes="discard")
    assert dropped["changed"] and not staged.exists(), dropped
    assert {"path": str(staged), "action": "removed"} in dropped["files"]
    backup = next(b for b in dropped["backups"] if b.endswith("/etc/network/interfaces.new"))
    assert open(backup).read() == before_discard
    assert fmt.parse({MAIN: main.read_text()}).get("vmbr0").mtu == 1400


# -- an uplink swapped in the kernel, the file already listing the old one -----------------------------------------

def test_a_swapped_uplink_leaves_bridge_ports_and_ifup_brings_up_only_the_new_one(namespaces, tmp_path):
    """eth0 detached (still up, no master), eth1 added: the file must not say `bridge-ports eth0 eth1`, a loop
    at the next boot when both uplinks reach the same switch."""
    try:
        realstacks.ifupdown2_root()
    except realstacks.Ifupdown2Missing as exc:
        pytest.fail(str(exc), pytrace=False)   # never skip: the setup hook is part of the suite
    nics = ("eth0", "eth1")
    ns, peer = namespaces.new(), namespaces.new()
    persist_lab.nics(ns, peer, nics)
    iproute(ns, ["ip link add vmbr0 type bridge stp_state 0 forward_delay 0", "ip link set eth0 master vmbr0",
                 "ip link set eth0 up", "ip link set vmbr0 up", "ip address add 192.0.2.10/24 dev vmbr0"])
    assert persist(ns, tmp_path, "ifupdown2")["changed"]
    iproute(ns, ["ip link set eth0 nomaster", "ip link set eth1 master vmbr0", "ip link set eth1 up"])
    saved = persist(ns, tmp_path, "ifupdown2", devices=["vmbr0"])
    assert saved["changed"] and not saved.get("failed"), saved
    text = (tmp_path / "etc/network/interfaces").read_text()
    vmbr0 = text.split("iface vmbr0 inet static\n", 1)[1].split("\n\n", 1)[0]
    assert "\tbridge-ports eth1\n" in vmbr0 + "\n", text
    assert not persist(ns, tmp_path, "ifupdown2")["changed"]   # the whole host now reads as it runs

    ok, out = realstacks.ifquery_parses(tmp_path)
    assert ok, out
    fresh, fresh_peer = namespaces.new(), namespaces.new()
    persist_lab.nics(fresh, fresh_peer, nics)
    realstacks.ifupdown2(fresh, ["ifup", "-a", "-i", MAIN], tmp_path, check=True)
    ports = json.loads(ip("-j", "link", "show", "master", "vmbr0", ns=fresh).stdout)
    assert [p["ifname"] for p in ports] == ["eth1"]
    assert state_diff(settled_state(ns), settled_state(fresh)) == []


def test_the_default_scope_never_writes_guest_plumbing(namespaces, tmp_path):
    """A Proxmox VE guest behind its firewall bridge and a tagged guest on vmbr0v100: only vmbr0 and its uplink."""
    ns, peer = namespaces.new(), namespaces.new()
    persist_lab.nics(ns, peer, ("eno1",))
    iproute(ns, [
        "ip link add vmbr0 type bridge", "ip link set eno1 master vmbr0",
        "ip link add fwbr100i0 type bridge", "ip link add fwpr100p0 type veth peer name fwln100i0",
        "ip link set fwpr100p0 master vmbr0", "ip link set fwln100i0 master fwbr100i0",
        "ip tuntap add tap100i0 mode tap", "ip link set tap100i0 master fwbr100i0",
        "ip link add vmbr0v100 type bridge", "ip link add vethXYZ type veth peer name vethXYZp",
        "ip link set vethXYZ master vmbr0v100",
    ])
    saved = persist(ns, tmp_path, "ifupdown2")
    assert saved["devices"] == ["eno1", "vmbr0"], saved
    text = (tmp_path / "etc/network/interfaces").read_text()
    assert not any(word in text for word in ("fwbr", "fwpr", "fwln", "tap", "vmbr0v100", "veth")), text
    named = persist(ns, tmp_path, "ifupdown2", devices=["fwbr100i0"])
    assert named["failed"] and "guest plumbing" in named["msg"]
