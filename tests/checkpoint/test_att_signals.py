"""Review (attacker): signals to an armed watchdog. SIGKILL cannot be caught (the checkpoint is orphaned and query
says so); the others should not make an armed watchdog exit without rolling back."""
from __future__ import annotations

import os
import signal
import time

import pytest

from nstools import iproute, state_diff

pytestmark = [pytest.mark.kernel]

CHANGE = ["ip link set eno1 nomaster", "ip link add vmbrX type bridge", "ip link set tap100i0 master vmbrX",
          "ip link set vmbr1 mtu 1400"]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGALRM])
def test_a_signal_does_not_make_an_armed_watchdog_exit_without_rolling_back(host, sig):
    iproute(host.ns, ["ip link set vmbr1 type bridge stp_state 0"])
    before = host.state()
    checkpoint = host.checkpoint(state="armed", timeout=6)["checkpoint"]
    pid = checkpoint["watchdog"]["pid"]
    iproute(host.ns, CHANGE)
    os.kill(pid, sig)
    time.sleep(1)
    query = host.checkpoint(state="query")
    print(sig.name, "alive:", alive(pid), "query:", query.get("checkpoint", {}) and query["checkpoint"].get("problem"))
    print(host.log())
    assert alive(pid), f"the watchdog died of {sig.name} while armed"
    last = host.wait_outcome(checkpoint["id"], 30)
    assert last["outcome"] == "rolled_back"
    assert state_diff(before, host.state()) == []


def test_sigstop_then_sigcont_past_the_deadline_rolls_back_at_once(host):
    iproute(host.ns, ["ip link set vmbr1 type bridge stp_state 0"])
    before = host.state()
    checkpoint = host.checkpoint(state="armed", timeout=5)["checkpoint"]
    pid = checkpoint["watchdog"]["pid"]
    iproute(host.ns, CHANGE)
    os.kill(pid, signal.SIGSTOP)
    time.sleep(8)
    query = host.checkpoint(state="query")
    print("while stopped, past the deadline:", {k: query["checkpoint"].get(k) for k in
                                                ("remaining", "watchdog_alive", "orphaned", "problem")})
    os.kill(pid, signal.SIGCONT)
    last = host.wait_outcome(checkpoint["id"], 30)
    print(last["outcome"], last.get("started_after_deadline_ms"))
    assert last["outcome"] == "rolled_back"
    assert state_diff(before, host.state()) == []
