"""Link-monitor scenarios, run as a script so that each pyroute2 (the venv's 0.9.7,
Debian's 0.7.2 under /usr/bin/python3) is exercised by the same code.

usage: python linkmon_scenarios.py SCENARIO NAMESPACE  -> one JSON object on stdout
The namespace is made (and deleted) by the test; the veth pair va/vb inside it too.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".tmp" / "collections"))

from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.linkmon import (  # noqa: E402
    LinkMonitor,
    LinkMonitorError,
)


def ip(ns: str, *args: str) -> float:
    subprocess.run(["ip", "-n", ns, *args], check=True)
    return time.monotonic()


def version() -> str:
    try:
        from importlib.metadata import version as v
        return v("pyroute2")
    except Exception:  # noqa: BLE001 - Debian's build has no metadata version
        import pyroute2
        return getattr(pyroute2, "__version__", "unknown")


def lowerlayerdown(ns: str) -> dict:
    """va is admin up, its peer vb is down: va shows LOWERLAYERDOWN and counts as down."""
    with LinkMonitor(["va"], namespace=ns) as m:
        before = m.state("va")
        up_before = m.all_up()
        down = m.down()
        # Bring the peer up from a child process after a moment; measure event -> wake-up.
        child = subprocess.Popen(["sh", "-c", f"sleep 0.3; ip -n {ns} link set vb up"])
        woke = m.wait_up(10)
        woke_at = time.monotonic()
        child.wait()
        return {"operstate_before": before.operstate, "up_before": up_before, "down": down,
                "woke": woke, "operstate_after": m.state("va").operstate,
                "wake_delay_after_event": woke_at - (m.up_at or woke_at), "events": m.events}


def goes_down(ns: str) -> dict:
    """wait_down returns as soon as the peer goes down; wait_up times out while it stays down."""
    with LinkMonitor(["va"], namespace=ns) as m:
        was_up = m.all_up()
        child = subprocess.Popen(["sh", "-c", f"sleep 0.2; ip -n {ns} link set vb down"])
        t0 = time.monotonic()
        fell = m.wait_down(10)
        took = time.monotonic() - t0
        child.wait()
        stays_down = not m.wait_up(0.3)
        return {"was_up": was_up, "fell": fell, "took": took, "stays_down": stays_down,
                "down": m.down()}


def unknown_is_up(ns: str) -> dict:
    with LinkMonitor(["lo"], namespace=ns) as m:
        st = m.state("lo")
        return {"operstate": st.operstate, "up": m.all_up()}


def missing_namespace(ns: str) -> dict:
    name = ns + "-absent"
    try:
        LinkMonitor(["lo"], namespace=name).open()
        error = None
    except LinkMonitorError as exc:
        error = str(exc)
    return {"error": error, "created": os.path.exists(f"/run/netns/{name}")}


def missing_interface(ns: str) -> dict:
    try:
        LinkMonitor(["nosuch0"], namespace=ns).open()
        error = None
    except LinkMonitorError as exc:
        error = str(exc)
    return {"error": error}


def own_namespace_kept(ns: str) -> dict:
    before = os.stat("/proc/self/ns/net").st_ino
    with LinkMonitor(["va"], namespace=ns) as m:
        names = sorted(link.name for link in m.links.values())
    after = os.stat("/proc/thread-self/ns/net").st_ino
    return {"same_ns": before == after, "names": names}


def enobufs(ns: str) -> dict:
    """Flood link events into a tiny receive buffer, then read: ENOBUFS -> fresh socket + dump."""
    with LinkMonitor(["va"], namespace=ns, rcvbuf=1024) as m:
        batch = "".join(f"link set vb {'up' if i % 2 else 'down'}\n" for i in range(400))
        batch += "link set vb up\n"
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
        end = time.monotonic() + 5
        while time.monotonic() < end and (m.resyncs == 0 or not m.all_up()):
            m.poll(0.2)
        return {"resyncs": m.resyncs, "up": m.all_up(), "operstate": m.state("va").operstate}


SCENARIOS = {f.__name__: f for f in (lowerlayerdown, goes_down, unknown_is_up, missing_namespace,
                                     missing_interface, own_namespace_kept, enobufs)}

if __name__ == "__main__":
    out = SCENARIOS[sys.argv[1]](sys.argv[2])
    out["pyroute2"] = version()
    print(json.dumps(out))
