"""Review 27b (operator): --check does not say that the files will lose the default route's own MTU.

The host's default route is `default via 192.0.2.1 dev vmbr0 mtu 1500` (jumbo LAN, router at 1500) and the window
raises vmbr0 to 9000 with its files. The real run warns, after writing the files: "vmbr0: the default route via
192.0.2.1 has its own mtu 1500, which the files do not keep ... Add the route's MTU to the files by hand". Its
check mode, the run an operator reads before the window to prepare exactly such hand edits, shows the files'
diff (without the route's MTU) and no warning at all: the warning is added only on the save path
(persist/engine.save, _route_mtu_warnings), not where check mode previews the files (preflight_files).

Expected: the preview warns as the save does (the same warning in net_state's check-mode `warnings`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nstools import iproute
from jumbo_lab import build, set_switch_mtu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review27"))
from rv27op_lab import task, window  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [pytest.mark.kernel, pytest.mark.ansible, pytest.mark.slow]

LOST = "has its own mtu 1500, which the files do not keep"


def test_check_warns_that_the_files_do_not_keep_the_route_mtu(namespaces, tmp_path):
    hv, switch, _guest = build(namespaces)
    set_switch_mtu(switch, 9000)
    iproute(hv, ["ip route replace default via 192.0.2.1 dev vmbr0 mtu 1500"])
    root = tmp_path / "root"
    root.mkdir()
    proc, results = window(tmp_path, hv, root, "--check", "--diff")
    preview = task(results, "Preview the change in check mode")["result"]
    assert proc.returncode == 0 and preview["changed"]
    # What happens: no warning in check mode (the real run below has it). Ansible prints a result's warnings as
    # [WARNING] lines on stderr.
    assert [w for w in [*(preview.get("warnings") or []), *proc.stderr.splitlines()] if LOST in w], proc.stderr[-800:]
    proc, results = window(tmp_path, hv, root)
    state = task(results, "Apply the change inside a checkpoint")["result"]
    assert proc.returncode == 0 and LOST in proc.stderr, state.get("warnings")
