"""Proxmox VE's interfaces.new identical to interfaces stages nothing: the save goes on, with a warning.

Found by the operator review: a staged file with the same bytes as the applied one was refused as "holds
network changes staged but not applied". It is still Proxmox VE's to move over interfaces on Apply
Configuration or at boot, so the save writes the same change into it (as pending_changes=keep would): the two
stay identical and neither moment undoes the save. One byte of difference is still refused
(tests/persist/test_persist_bad_days.py).
"""
from __future__ import annotations

import pytest

from nstools import ip
from persist_lab import bridges_host, persist, snapshot_files

pytestmark = pytest.mark.kernel


def warnings(result: dict) -> list:
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def test_an_identical_staged_file_stages_nothing_and_gets_the_same_change(namespaces, tmp_path):
    ns, _peer = bridges_host(namespaces, with_guests=False)
    assert persist(ns, tmp_path, "ifupdown2")["changed"]
    main, staged = tmp_path / "etc/network/interfaces", tmp_path / "etc/network/interfaces.new"
    staged.write_bytes(main.read_bytes())

    same = persist(ns, tmp_path, "ifupdown2")
    assert not same.get("failed") and not same["changed"], same
    assert warnings(same) == [f"pending_changes: {staged} is identical to {main}: it stages no change, so it does "
                              f"not stop the save; it is left as it is"]
    ip("link", "set", "vmbr1", "mtu", "8000", ns=ns)
    files = snapshot_files(tmp_path)
    preview = persist(ns, tmp_path, "ifupdown2", check=True)
    assert preview["changed"] and not preview.get("failed") and snapshot_files(tmp_path) == files, preview
    saved = persist(ns, tmp_path, "ifupdown2")
    assert saved["changed"] and sorted(f["path"] for f in saved["files"]) == [str(main), str(staged)], saved
    assert "it gets the same change, so that Apply Configuration or a boot" in warnings(saved)[0]
    assert staged.read_bytes() == main.read_bytes() and "mtu 8000" in main.read_text()
    assert sorted(b.rsplit("/", 1)[1] for b in saved["backups"]) == ["interfaces", "interfaces.new"]
