"""Review 27 (operator): what docs/change_window.md says the files hold after a jumbo window, against the file.

"With the switch at 9000 the window is confirmed and `/etc/network/interfaces` has `mtu 9000` on vmbr0, bond0,
eno1 and eno2." An operator checks with `grep -A8 'iface vmbr0' /etc/network/interfaces | grep '^\\s*mtu'` and
finds nothing: the bridge's MTU is written as `post-up ip link set dev vmbr0 mtu 9000` (as
docs/net_persist_ifupdown2.md says, for ifupdown2's bridge rules). tests/state/test_state_jumbo.py's check
(`"mtu 9000" in stanza`) matches the post-up line as a substring, so it does not see the difference. The
host-kernel part of the sentence (vmbr0 and its NIC) is checked here; once the sentence is right, this passes.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rv27op_lab import build, report_of, set_switch_mtu, stanzas, window

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "change_window.md"
CLAIM = "`/etc/network/interfaces`\nhas `mtu 9000` on vmbr0"


@pytest.mark.xfail(strict=True, reason="review 27 op: docs say the file has 'mtu 9000' on vmbr0; it has a post-up "
                                       "line instead")
def test_the_docs_sentence_about_the_files_matches_the_file(namespaces, tmp_path):
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, 9000)
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root)
    assert proc.returncode == 0 and report_of(results)["outcome"] == "confirmed"
    files = stanzas(root)
    assert "mtu 9000" in files["eno1 inet"]
    if CLAIM not in DOC.read_text():
        return   # the sentence was reworded: nothing left to hold the file to
    # The sentence stands: every device it names (those the host kernel has here) carries an `mtu 9000` line.
    assert "mtu 9000" in files["vmbr0 inet"], [line for line in files["vmbr0 inet"] if re.search(r"\bmtu\b", line)]
