"""iproute2 helpers for tests: namespaced only, plus read-only views for comparisons."""
from __future__ import annotations

import json
import subprocess


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run iproute2 inside `ns`. Refuses anything but `ip netns ...` in the root namespace."""
    cmd = ["ip"] + (["-n", ns] if ns else []) + list(args)
    if ns is None and (not args or args[0] != "netns"):
        raise RuntimeError(f"refusing to run {' '.join(cmd)!r} in the root namespace")
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def _json(*args: str) -> list:
    return json.loads(subprocess.run(["ip", "-j", *args], check=True, capture_output=True, text=True).stdout or "[]")


def root_namespace_state() -> dict:
    """Names, masters, admin flags and addresses of the root namespace (read only)."""
    links = {l["ifname"]: (l.get("master"), "UP" in l.get("flags", []), l.get("mtu")) for l in _json("link", "show")}
    addrs = {a["ifname"]: sorted(i["local"] for i in a.get("addr_info", [])) for a in _json("addr", "show")}
    return {"links": links, "addrs": addrs}


# What kernel_state reads, as `ip -n NS ...` arguments (also run over ssh, in the full-kernel VM).
STATE_QUERIES = (("-j", "-d", "link", "show"), ("-j", "addr", "show"), ("-j", "route", "show", "default"),
                 ("-j", "-6", "route", "show", "default"))


def kernel_state(ns: str) -> dict:
    """What the collection could change in `ns`, as iproute2 reports it."""
    return state_view(*(json.loads(ip(*query, ns=ns).stdout or "[]") for query in STATE_QUERIES))


def state_view(links: list, addrs: list, routes: list, routes6: list) -> dict:
    """The comparable part of STATE_QUERIES' answers."""
    keep = ("ifname", "mtu", "address", "master", "flags")
    view = []
    for link in links:
        entry = {k: link.get(k) for k in keep}
        entry["flags"] = sorted(f for f in link.get("flags", []) if f not in ("LOWER_UP", "NO-CARRIER", "M-DOWN"))
        info = link.get("linkinfo", {})
        entry["kind"] = info.get("info_kind")
        data = info.get("info_data", {})
        if entry["kind"] == "bridge":
            entry["bridge"] = {k: data.get(k) for k in ("stp_state", "forward_delay", "vlan_filtering")}
        view.append(entry)
    addr_view = {a["ifname"]: sorted(f"{i['local']}/{i['prefixlen']}" for i in a.get("addr_info", [])
                                     if not i.get("local", "").startswith("fe80")) for a in addrs}
    return {"links": sorted(view, key=lambda l: l["ifname"]), "addrs": addr_view,
            "routes": sorted(json.dumps({k: r.get(k) for k in ("dst", "gateway", "dev")}) for r in routes + routes6)}
