"""Review 26 (op): every error about an entry names its place (docs/net_state.md: "An error names its place:
`bridges[1].mtu: 20 is out of range ...`").

net_state's own checks do (`bridges[1].mtu: 20 is out of range; allowed 68-65535`), but the errors of Ansible's
argument validation of the entries (a wrong choice, a value of the wrong type, a missing required option) say only
"found in bridges": with ten bridges the operator does not learn which entry is wrong.
"""
from __future__ import annotations

import pytest

from modrun import run_module
from nstools import kernel_state, state_diff

pytestmark = pytest.mark.kernel


def test_a_range_error_names_its_place(netns):
    failed = run_module("net_state", {"namespace": netns, "bridges": [{"name": "vmbr0"}, {"name": "vmbr1", "mtu": 20}]},
                        check=True)
    assert failed.get("failed")
    assert "bridges[1].mtu" in failed["msg"]


@pytest.mark.xfail(strict=True, reason="review 26 op: Ansible's validation errors of an entry say 'found in bridges', "
                                       "not which entry (bridges[1])")
@pytest.mark.parametrize("entry, option", [
    ({"name": "vmbr1", "state": "gone"}, "state"),
    ({"name": "vmbr1", "mtu": "9000x"}, "mtu"),
    ({"name": "vmbr1", "stp": "banana"}, "stp"),
])
def test_an_argument_error_names_the_entry(netns, entry, option):
    before = kernel_state(netns)
    failed = run_module("net_state", {"namespace": netns, "bridges": [{"name": "vmbr0"}, entry]}, check=True)
    assert failed.get("failed")
    assert state_diff(before, kernel_state(netns)) == []
    assert f"bridges[1].{option}" in failed["msg"], failed["msg"]
