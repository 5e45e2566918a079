"""Review 25 (rvop): docs/net_nic.md against net_nic's argument spec and behaviour.

net_nic takes `routes` (DEVICE_ARGS) and refuses `admin_state: down` while the NIC carries static routes
(naming each), but its page lists no `routes` option and still says static routes "are not in the model yet".
"""
from __future__ import annotations

import pathlib

from ansible_collections.netsafe.hypervisor.plugins.modules import net_nic

PAGE = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "net_nic.md").read_text(encoding="utf-8")


def test_net_nic_takes_routes():
    assert "routes" in net_nic.ARGUMENT_SPEC


def test_the_page_lists_routes_and_no_longer_says_they_are_not_modelled():
    assert "| `routes` |" in PAGE
    assert "not in the model yet" not in PAGE


CHANGE_WINDOW = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "change_window.md").read_text(encoding="utf-8")


def test_change_window_page_no_longer_says_static_routes_are_left_out_of_the_snapshot():
    """tests/checkpoint/test_routes_rollback.py (and test_rvop_move_rollback.py) show the rollback restores them."""
    text = " ".join(CHANGE_WINDOW.split())
    assert "Not in the snapshot: routes other than the default routes" not in text
    assert "Static routes other than the default, configured fe80 addresses" not in text
