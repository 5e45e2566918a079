"""iproute2 helpers for tests: namespaced only, plus read-only views for comparisons."""
from __future__ import annotations

import json
import shlex
import subprocess
import time


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run iproute2 inside `ns`. Refuses anything but `ip netns ...` in the root namespace."""
    cmd = ["ip"] + (["-n", ns] if ns else []) + list(args)
    if ns is None and (not args or args[0] != "netns"):
        raise RuntimeError(f"refusing to run {' '.join(cmd)!r} in the root namespace")
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def iproute(ns: str, lines) -> None:
    """Run iproute2 command lines ('ip ...' or 'bridge ...') inside `ns`, one batch per run of one program."""
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        program, _sep, rest = line.strip().partition(" ")
        if program not in ("ip", "bridge"):
            raise ValueError(f"not an ip or bridge command: {line!r}")
        if groups and groups[-1][0] == program:
            groups[-1][1].append(rest)
        else:
            groups.append((program, [rest]))
    for program, batch in groups:
        proc = subprocess.run([program, "-n", ns, "-batch", "-"], input="\n".join(batch) + "\n", text=True,
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{program} -n {ns} -batch failed (rc {proc.returncode}): "
                               f"{(proc.stdout + proc.stderr).strip()}\n" + "\n".join(batch))


def _json(*args: str) -> list:
    return json.loads(subprocess.run(["ip", "-j", *args], check=True, capture_output=True, text=True).stdout or "[]")


def root_namespace_state() -> dict:
    """Names, masters, admin flags and addresses of the root namespace (read only)."""
    links = {l["ifname"]: (l.get("master"), "UP" in l.get("flags", []), l.get("mtu")) for l in _json("link", "show")}
    addrs = {a["ifname"]: sorted(i["local"] for i in a.get("addr_info", [])) for a in _json("addr", "show")}
    return {"links": links, "addrs": addrs}


# -- the complete state dump ---------------------------------------------------------------
#
# kernel_state(ns) is what every test compares to claim "nothing changed": each
# link with its kind and kind data, master, MTU, MAC and flags; every address;
# every route of the main table (IPv4 and IPv6); the bridge VLAN table with its
# self entries and PVID/untagged flags. The same commands run over ssh in the
# full-kernel VM (state_script, parse_state_output): local and remote share this
# one definition.
#
# Left out are only fields that change on their own or name kernel-allocated
# numbers, each with the reason below. Everything else iproute2 reports is kept.

# Two processes per dump (process start-up is what costs under emulation in the
# full-kernel VM): one `ip -batch` answering three queries, one `bridge`.
STATE_IP_QUERIES = ("link show", "address show", "route show table all")   # run with -j -d; routes: table main kept
STATE_BRIDGE_QUERY = ("-j", "-compressvlans", "vlan", "show")
STATE_SEPARATOR = "@@netsafe-state@@"

# Top-level fields of `ip -j -d link show`.
LINK_EXCLUDED = {
    "ifindex": "allocated by the kernel: a device that an undo deletes and re-creates comes back with another "
               "one (devices are identified by name here)",
    "link_index": "the ifindex of a lower device in another namespace (ifindex noise; `link` names it when it can)",
    "link_netnsid": "an id the kernel allocates per pair of namespaces on first use",
    "qdisc (while down)": "a device that is down shows noop until it first goes up and the qdisc it got then "
                          "afterwards: history, not configuration (kept for devices that are up)",
    "tso_max_size": "a read-only capability; a bridge or bond derives it from its ports with a history: a new "
                    "bridge starts at 65536, one whose last port left has 524280 (gso_max_*, the settable limits, "
                    "are kept)",
    "tso_max_segs": "as tso_max_size",
    "operstate": "follows carrier, which the kernel settles asynchronously (linkwatch delays events up to 1 s; "
                 "bond miimon; bridge port states); the admin state is in `flags`",
}
FLAGS_EXCLUDED = {
    "LOWER_UP": "carrier: settles asynchronously (see operstate)",
    "NO-CARRIER": "carrier: settles asynchronously (see operstate)",
    "M-DOWN": "iproute2 derives it from the flags of the device with the lower's ifindex in this namespace "
              "(ifindex-dependent); the lower's own UP flag is in the dump",
}
# linkinfo.info_data by kind, and linkinfo.info_slave_data by the master's kind.
KIND_DATA_EXCLUDED = {
    "bridge": {
        "hello_timer": "timer", "tcn_timer": "timer", "topology_change_timer": "timer", "gc_timer": "timer",
        "root_id": "STP's current election result: changes on its own while STP runs",
        "root_port": "STP's current election result", "root_path_cost": "STP's current election result",
        "topology_change": "STP runtime state", "topology_change_detected": "STP runtime state",
    },
    "bond": {
        "active_slave": "picked by the bond at run time (first slave whose link the monitor sees up; failover)",
        "ad_info": "802.3ad aggregator state: ids allocated at enslave time, partner negotiated at run time",
    },
}
SLAVE_DATA_EXCLUDED = {
    "bridge": {
        "state": "STP port state: follows carrier and the forward delay asynchronously",
        "id": "port id: priority plus the port number the kernel allocates (lowest free) at enslave time",
        "no": "port number the kernel allocates (lowest free) at enslave time",
        "hold_timer": "timer", "message_age_timer": "timer", "forward_delay_timer": "timer",
        "designated_port": "STP runtime result", "designated_cost": "STP runtime result",
        "bridge_id": "designated bridge: STP runtime result", "root_id": "designated root: STP runtime result",
        "topology_change_ack": "STP runtime state", "config_pending": "STP runtime state",
    },
    "bond": {
        "state": "active or backup: picked by the bond at run time",
        "mii_status": "the link monitor's latest reading (every miimon ms)",
        "link_failure_count": "counter",
        "ad_aggregator_id": "allocated at enslave time",
        "ad_actor_oper_port_state": "LACP negotiation at run time",
        "ad_actor_oper_port_state_str": "LACP negotiation at run time",
        "ad_partner_oper_port_state": "LACP negotiation at run time",
        "ad_partner_oper_port_state_str": "LACP negotiation at run time",
    },
}
ADDRESS_EXCLUDED = {
    "fe80::/10 (scope link)": "IPv6 link-locals are made by the kernel, from the MAC, once an up device has "
                              "carrier (asynchronously); the collection never manages them",
    "valid_life_time": "counts down for an address with a finite lifetime",
    "preferred_life_time": "counts down for an address with a finite lifetime",
    "tentative": "duplicate address detection in progress: clears on its own within seconds",
}
ROUTE_EXCLUDED = {
    "tables other than main": "the collection manages the main table; the local table holds the kernel's "
                              "own routes for each address",
    "fe80::/64 proto kernel": "comes and goes with the kernel-made link-local address (see addresses)",
    "expires": "counts down",
    "linkdown (flag)": "the route's device has no carrier: settles asynchronously (see operstate)",
}


def state_commands(ns: str) -> list[tuple[list[str], str | None]]:
    """The dump's commands inside namespace `ns`: (argv, stdin) each."""
    return [(["ip", "-n", ns, "-j", "-d", "-batch", "-"], "".join(q + "\n" for q in STATE_IP_QUERIES)),
            (["bridge", "-n", ns, *STATE_BRIDGE_QUERY], None)]


def state_script(ns: str) -> str:
    """The same commands as one shell command line, each answer followed by a separator line (for ssh)."""
    parts = []
    for argv, stdin in state_commands(ns):
        feed = f"printf %s {shlex.quote(stdin)} | " if stdin else ""
        parts.append(f"{feed}{shlex.join(argv)} && echo {STATE_SEPARATOR}")
    return " && ".join(parts)


def _json_values(text: str) -> list:
    """The JSON values printed one after another (`ip -j -batch` prints one array per query)."""
    decoder = json.JSONDecoder()
    values, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return values
        value, pos = decoder.raw_decode(text, pos)
        values.append(value)


def parse_state_output(out: str) -> dict:
    """state_view() of what state_script() printed (or the commands' outputs, each followed by a separator)."""
    parts = out.split(STATE_SEPARATOR + "\n")
    if len(parts) != 3 or parts[-1].strip():
        raise RuntimeError(f"the state dump did not complete:\n{out[-2000:]}")
    ip_answers = _json_values(parts[0])
    if len(ip_answers) != len(STATE_IP_QUERIES):
        raise RuntimeError(f"ip -batch answered {len(ip_answers)} of {len(STATE_IP_QUERIES)} queries:\n{parts[0][-2000:]}")
    links, addrs, routes = ip_answers
    return state_view(links, addrs, routes, json.loads(parts[1] or "[]"))


def kernel_state(ns: str) -> dict:
    """What the collection (or anything else) could have changed in `ns`, as iproute2 reports it."""
    out = ""
    for argv, stdin in state_commands(ns):
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"`{shlex.join(argv)}` failed (rc {proc.returncode}): {proc.stderr.strip()}")
        out += proc.stdout + STATE_SEPARATOR + "\n"
    return parse_state_output(out)


def _without(data: dict | None, excluded) -> dict | None:
    return None if data is None else {k: v for k, v in data.items() if k not in excluded}


def _link_view(link: dict) -> dict:
    entry = {k: v for k, v in link.items() if k not in LINK_EXCLUDED and k != "linkinfo"}
    entry.setdefault("master", None)
    entry["flags"] = sorted(f for f in link.get("flags", []) if f not in FLAGS_EXCLUDED)
    if "UP" not in entry["flags"]:
        entry.pop("qdisc", None)
    info = link.get("linkinfo", {})
    entry["kind"] = info.get("info_kind")
    entry["kind_data"] = _without(info.get("info_data"), KIND_DATA_EXCLUDED.get(entry["kind"], ()))
    entry["slave_kind"] = info.get("info_slave_kind")
    entry["slave_data"] = _without(info.get("info_slave_data"), SLAVE_DATA_EXCLUDED.get(entry["slave_kind"], ()))
    return entry


def _kernel_link_local(addr: dict) -> bool:
    return addr.get("family") == "inet6" and addr.get("scope") == "link" and addr.get("local", "").startswith("fe80")


def _address_view(addr: dict) -> tuple:
    key = f"{addr.get('local')}/{addr.get('prefixlen')}"
    return key, {k: v for k, v in addr.items() if k not in ADDRESS_EXCLUDED and k not in ("local", "prefixlen")}


def _route_view(route: dict) -> dict | None:
    if route.get("table") != "main":
        return None
    if route.get("dst") == "fe80::/64" and route.get("protocol") == "kernel":
        return None
    entry = {k: v for k, v in route.items() if k not in ("expires", "table")}
    entry["flags"] = sorted(f for f in route.get("flags", []) if f != "linkdown")
    return entry


def _vlan_runs(vlans: list) -> list[str]:
    """Bridge VLAN entries as 'VID[-VID] [PVID] [Egress Untagged]' runs, however iproute2 grouped them."""
    flags_of = {}
    for entry in vlans:
        for vid in range(entry["vlan"], entry.get("vlanEnd", entry["vlan"]) + 1):
            flags_of[vid] = tuple(sorted(entry.get("flags", [])))
    runs: list[list] = []
    for vid in sorted(flags_of):
        last = runs[-1] if runs else None
        if last and last[1] + 1 == vid and last[2] == flags_of[vid] and "PVID" not in flags_of[vid]:
            last[1] = vid
        else:
            runs.append([vid, vid, flags_of[vid]])
    return [" ".join([str(a) if a == b else f"{a}-{b}", *flags]) for a, b, flags in runs]


def state_view(links: list, addrs: list, routes: list, bridge_vlans: list) -> dict:
    """The comparable part of the dump's answers: links, addresses, routes (all tables), bridge VLANs."""
    addr_view = {a["ifname"]: dict(sorted(_address_view(i) for i in a.get("addr_info", []) if not _kernel_link_local(i)))
                 for a in addrs}
    routes = [r for r in (_route_view(route) for route in routes) if r is not None]
    return {
        "links": sorted((_link_view(link) for link in links), key=lambda l: l["ifname"]),
        "addrs": addr_view,
        "routes": sorted(routes, key=lambda r: json.dumps(r, sort_keys=True)),
        "bridge_vlans": {port["ifname"]: _vlan_runs(port.get("vlans", [])) for port in bridge_vlans},
    }


def state_diff(before: dict, after: dict) -> list[str]:
    """Where two kernel_state() dumps differ, one line each (for assertion messages)."""
    lines = []
    links_a = {l["ifname"]: l for l in before["links"]}
    links_b = {l["ifname"]: l for l in after["links"]}
    for name in sorted(set(links_a) | set(links_b)):
        a, b = links_a.get(name), links_b.get(name)
        if a is None or b is None:
            lines.append(f"link {name}: {'appeared' if a is None else 'gone'}")
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) == b.get(key):
                continue
            if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
                for sub in sorted(set(a[key]) | set(b[key])):
                    if a[key].get(sub) != b[key].get(sub):
                        lines.append(f"link {name} {key}.{sub}: {a[key].get(sub)!r} -> {b[key].get(sub)!r}")
            else:
                lines.append(f"link {name} {key}: {a.get(key)!r} -> {b.get(key)!r}")
    for section in ("addrs", "bridge_vlans"):
        for name in sorted(set(before[section]) | set(after[section])):
            a, b = before[section].get(name), after[section].get(name)
            if a != b:
                lines.append(f"{section} {name}: {a!r} -> {b!r}")
    gone = [r for r in before["routes"] if r not in after["routes"]]
    new = [r for r in after["routes"] if r not in before["routes"]]
    lines += [f"route gone: {json.dumps(r, sort_keys=True)}" for r in gone]
    lines += [f"route new: {json.dumps(r, sort_keys=True)}" for r in new]
    return lines


def stp_busy(ns: str) -> list[str]:
    """Bridges of `ns` in an STP topology change right now."""
    links = json.loads(subprocess.run(["ip", "-n", ns, "-j", "-d", "link", "show", "type", "bridge"],
                                      capture_output=True, text=True, check=True).stdout)
    return [l["ifname"] for l in links
            if (l.get("linkinfo", {}).get("info_data", {}).get("topology_change")
                or l.get("linkinfo", {}).get("info_data", {}).get("topology_change_detected"))]


def settled_state(ns: str, polls: int = 600) -> dict:
    """kernel_state() once no STP bridge of `ns` is in a topology change.

    During one (max_age + forward_delay after a port starts forwarding) the
    kernel reports a bridge's ageing_time shortened to its forward delay:
    STP run time, not configuration. Waiting it out keeps ageing_time in the
    comparison for tests whose bridges run STP. The check is repeated after
    the dump: a change that began while it was taken (a port reaching
    forwarding; slow under emulation, where it failed a lane run) makes it
    wait and dump again.
    """
    busy: list[str] = []
    for _poll in range(polls):
        busy = stp_busy(ns)
        if not busy:
            state = kernel_state(ns)
            busy = stp_busy(ns)
            if not busy:
                return state
        time.sleep(0.5)
    raise AssertionError(f"STP topology change on {busy} did not end")


def wait_carrier(ns: str, names, polls: int = 200) -> None:
    """Wait until every link in `names` has carrier (LOWER_UP) in `ns`.

    Carrier settles asynchronously (a bond's miimon and updelay, then the
    VLANs on it), and some attributes follow it: a bridge port's automatic
    path cost is recomputed from the port's speed when its carrier comes up.
    A dump compared with another must be taken once both have settled.
    """
    missing: list[str] = list(names)
    for _poll in range(polls):
        links = json.loads(subprocess.run(["ip", "-n", ns, "-j", "link", "show"], capture_output=True, text=True,
                                          check=True).stdout)
        up = {l["ifname"] for l in links if "LOWER_UP" in l.get("flags", [])}
        missing = [n for n in names if n not in up]
        if not missing:
            return
        time.sleep(0.1)
    raise AssertionError(f"no carrier on {', '.join(missing)} in {ns}")
