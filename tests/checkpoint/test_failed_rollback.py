"""What an operator can do after a rollback failed, what `query` warns about, and check mode writing nothing.

Found by the operator review: after `rollback_failed` the snapshot was gone (last.json had no snapshot,
`"commands": []`), `state=rolled_back` answered ok with nothing to do, `query` was `ok` without a warning (for
an orphaned checkpoint too), and a new window could be armed over the change that stayed. Now the record of a
checkpoint whose rollback failed is kept (failed.json in the state directory): `state=rolled_back` tries again
from its snapshot, `state=confirmed` with its id keeps the network as it is, and until one of them `query`
warns and arming is refused. A rollback is made to fail with the configurator's failpoint (docs/testing.md).
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]

CHANGE = ["ip link set vmbr1 mtu 1400", "ip link add vmbrX type bridge", "ip link set vmbrX up"]
REFUSED = {"NETSAFE_FAIL_AT": "0"}   # the kernel refuses the rollback's first step, in both attempts


def warnings(result: dict) -> list:
    """The texts of a result's warnings (in-process, ansible-core 2.19 wraps each one)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def fail_a_rollback(host) -> str:
    """Arm, change, and have the rollback refused; the change stays whole. Returns the checkpoint's id."""
    ident = host.checkpoint(state="armed", timeout=300)["checkpoint"]["id"]
    iproute(host.ns, CHANGE)
    changed = host.state()
    failed = host.checkpoint(state="rolled_back", env=REFUSED)
    assert failed["failed"] and f"state=rolled_back (id={ident}) tries the rollback again" in failed["msg"], failed
    assert state_diff(changed, host.state()) == []   # the refused rollback was undone: nothing half-made
    return ident


def test_a_failed_rollback_is_warned_about_and_can_be_kept_or_tried_again(host):
    before = host.state()
    ident = fail_a_rollback(host)
    changed = host.state()
    last = json.loads((host.state_dir / "last.json").read_text())
    assert last["outcome"] == "rollback_failed" and last["snapshot_kept"] is True
    assert json.loads((host.state_dir / "failed.json").read_text())["id"] == ident

    query = host.checkpoint(state="query")
    assert not query["armed"] and len(warnings(query)) == 1, query
    assert f"the rollback of checkpoint {ident} failed" in warnings(query)[0]
    assert "the network still has the change" in warnings(query)[0]
    refused = host.checkpoint(state="armed", timeout=300)
    assert refused["failed"] and refused["msg"].startswith(f"cannot arm: the rollback of checkpoint {ident} failed")
    assert host.checkpoint(state="armed", timeout=300, check=True)["failed"]
    other = host.checkpoint(state="rolled_back", id="20260101T000000Z-000000")
    assert other["failed"] and "no checkpoint 20260101T000000Z-000000" in other["msg"]

    # Keep the network as it is: the window is closed, the kept snapshot goes, arming works again.
    kept = host.checkpoint(state="confirmed", id=ident)
    assert kept["changed"] and kept["last"]["outcome"] == "confirmed", kept
    assert kept["last"]["rollback_failed"]["errors"], kept["last"]
    assert not (host.state_dir / "failed.json").exists()
    assert warnings(host.checkpoint(state="query")) == []
    assert state_diff(changed, host.state()) == []
    iproute(host.ns, ["ip link del vmbrX", "ip link set vmbr1 mtu 9000"])
    assert state_diff(before, host.state()) == []

    # Try again: check mode shows the plan and changes nothing, then the retry restores the snapshot.
    ident = fail_a_rollback(host)
    changed = host.state()
    preview = host.checkpoint(state="rolled_back", check=True)
    assert preview["changed"] and not preview["armed"] and f"ip -n {host.ns} link del dev vmbrX" in preview["commands"]
    assert state_diff(changed, host.state()) == []
    again = host.checkpoint(state="rolled_back", id=ident)
    assert not again.get("failed") and again["outcome"]["outcome"] == "rolled_back", again
    assert again["outcome"]["reason"].startswith("tried again after its rollback failed at")
    assert state_diff(before, host.state()) == []
    assert not (host.state_dir / "failed.json").exists() and not (host.run_dir / "checkpoint.json").exists()
    assert warnings(host.checkpoint(state="query")) == []
    done = host.checkpoint(state="rolled_back", id=ident)
    assert done["changed"] is False and not done.get("failed")


def test_query_warns_of_an_orphaned_checkpoint(host):
    checkpoint = host.checkpoint(state="armed", timeout=300)["checkpoint"]
    os.kill(checkpoint["watchdog"]["pid"], signal.SIGKILL)
    query = host.checkpoint(state="query")
    while query["checkpoint"]["watchdog_alive"]:   # until the kernel has reaped it
        time.sleep(0.02)
        query = host.checkpoint(state="query")
    assert query["armed"] and query["checkpoint"]["orphaned"], query
    view = query["checkpoint"]
    assert warnings(query) == [f"checkpoint {view['id']} (armed {view['armed_at']}, deadline {view['deadline_at']}) "
                               f"is orphaned: {view['problem']}. Run state=rolled_back to restore its snapshot, or "
                               f"state=confirmed with id={view['id']} to keep the network as it is now"]
    assert "nothing will roll back" in warnings(query)[0]
    assert not host.checkpoint(state="rolled_back").get("failed")


def test_check_mode_with_nothing_armed_writes_nothing(host):
    for args in ({"state": "rolled_back"}, {"state": "confirmed", "id": "20260101T000000Z-000000"},
                 {"state": "query"}, {"state": "armed"}):
        host.checkpoint(check=True, **args)
    assert not (host.root / "run").exists() and not (host.root / "var").exists()
