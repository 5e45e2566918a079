"""iproute2 helpers for tests: namespaced only, plus read-only views for comparisons."""
from __future__ import annotations

import ctypes
import ipaddress
import json
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run iproute2 inside `ns`. Refuses anything but `ip netns ...` in the root namespace."""
    cmd = ["ip"] + (["-n", ns] if ns else []) + list(args)
    if ns is None and (not args or args[0] != "netns"):
        raise RuntimeError(f"refusing to run {' '.join(cmd)!r} in the root namespace")
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def iproute(ns: str, lines) -> None:
    """Run iproute2 command lines ('ip ...', 'ip -6 ...' or 'bridge ...') inside `ns`.

    One batch per run of lines with the same program and options: a batch
    line cannot carry options, and `ip rule` needs `-6` for an IPv6 rule.
    """
    groups: list[tuple[list[str], list[str]]] = []
    for line in lines:
        words = line.split()
        if not words or words[0] not in ("ip", "bridge"):
            raise ValueError(f"not an ip or bridge command: {line!r}")
        cut = next((i for i, word in enumerate(words[1:], 1) if not word.startswith("-")), len(words))
        program, rest = words[:cut], " ".join(words[cut:])
        if groups and groups[-1][0] == program:
            groups[-1][1].append(rest)
        else:
            groups.append((program, [rest]))
    for program, batch in groups:
        argv = [*program, "-n", ns, "-batch", "-"]
        proc = subprocess.run(argv, input="\n".join(batch) + "\n", text=True, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed (rc {proc.returncode}): "
                               f"{(proc.stdout + proc.stderr).strip()}\n" + "\n".join(batch))


# -- the complete state dump ---------------------------------------------------------------
#
# kernel_state(ns) is what every test compares to claim "nothing changed" or
# "restored": each link with its kind and kind data, master, MTU, MAC and
# flags; every address but the kernel's own link-locals; the routes of every
# table but `local` (IPv4 and IPv6); the routing rules of both families; the
# permanent and proxy neighbour entries; the static bridge FDB entries; the
# bridge VLAN table with its self entries and PVID/untagged flags. The same
# commands run over ssh in the full-kernel VM (state_script,
# parse_state_output): local and remote share this one definition. The root
# namespace (conftest's root_namespace_untouched) is read with the same dump.
#
# Left out are only fields that change on their own, name kernel-allocated
# numbers or are the kernel's own derived entries, each with the reason below.
# Everything else iproute2 (and netlink_answers) reports is kept.

# Two iproute2 processes per dump (process start-up is what costs under
# emulation in the full-kernel VM: about 0.2 s each there), plus one netlink
# read in-process for what iproute2 6.1 cannot give in them (netlink_answers).
STATE_IP_QUERIES = ("link show", "address show", "route show table all",
                    "neigh show nud permanent", "neigh show proxy")     # `ip -j -d -batch`
STATE_BRIDGE_QUERIES = ("vlan show", "fdb show")     # `bridge -j -compressvlans -batch`
STATE_SEPARATOR = "@@netsafe-state@@"

# What the dump does not ask for at all.
NOT_READ = {
    "bridge mdb": "multicast group memberships a bridge learns by IGMP/MLD snooping (run time); the collection "
                  "sets only the snooping switch, which is in the bridge's kind data",
    "tc, nftables, sysctls": "not network configuration the collection writes (its modules change links, "
                             "addresses, routes, bridge VLANs); the lab fixtures that set them check them "
                             "themselves",
    "neighbour entries other than permanent and proxy":
        "reachable/stale/failed/noarp/incomplete entries are the kernel's ARP/ND cache, learned from traffic",
}
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
    "the kernel's own link-locals (IFA_PROTO kernel_ll)":
        "made by the kernel once an up device has carrier (asynchronously), from the MAC the device had then: "
        "a bridge keeps the one of its first MAC after it took a port's, so no rule on today's MAC can tell "
        "them apart. Only the kernel's origin mark does (iproute2 6.1 does not print it: netlink_answers reads "
        "it); an fe80 address configured by a person or a tool has no mark and is kept",
    "valid_life_time": "counts down for an address with a finite lifetime",
    "preferred_life_time": "counts down for an address with a finite lifetime",
    "tentative": "duplicate address detection in progress: clears on its own within seconds",
}
ROUTE_EXCLUDED = {
    "table local": "the kernel's own routes for each address (local, broadcast, IPv6 multicast ff00::/8): they "
                   "follow the addresses, which the dump has",
    "fe80::/64 proto kernel": "the link-local prefix route the kernel adds for every device with IPv6 up; a "
                              "configured fe80 address is in the addresses",
    "expires": "counts down",
    "linkdown (flag)": "the route's device has no carrier: settles asynchronously (see operstate)",
}
FDB_EXCLUDED = {
    "learned entries (state reachable/stale)": "the bridge learns them from traffic and ages them out",
    "the kernel's local entries (permanent, with the MAC of the device they are on)":
        "a bridge adds one for each port's own MAC, and for its own MAC, per VLAN when filtering: they follow "
        "the links' MACs and VLANs, which the dump has. A permanent entry for any other MAC was added by a "
        "person or a tool (`bridge fdb add ... master permanent`) and is kept, as are all static ones",
    "the bridge's own local entries (permanent, on the bridge device itself)":
        "the kernel adds one for the bridge's MAC (per VLAN when filtering) and, after that MAC changed with its "
        "ports, can keep the one of the MAC before (seen in the lane's power cut test after an uplink swap: an "
        "entry for the old uplink's MAC on vmbr0 that a boot into the same configuration does not have). The "
        "bridge's MAC itself is in the dump; a person's permanent entries go on ports, which are kept",
    "self entries (no master), except on vxlan devices":
        "a device's own unicast/multicast address filter: the kernel fills it from group memberships (IPv6 "
        "solicited-node groups of each address) and upper devices. "
        "A vxlan device's self entries are its forwarding table (remote VTEPs): configuration, kept when "
        "static/permanent",
}
KERNEL_LL = 3   # IFA_PROTO's IFAPROT_KERNEL_LL: the kernel made this link-local address itself (Linux >= 5.18)
CLONE_NEWNET = 0x40000000
_NLMSG_ERROR, _NLMSG_DONE, _DUMP_REQUEST = 2, 3, 0x301
_RTM_GETADDR, _IFA_ADDRESS, _IFA_PROTO = 22, 1, 11
_RTM_GETRULE, _FRA_DST, _FRA_SRC, _FRA_IIFNAME, _FRA_OIFNAME, _FRA_PAD = 34, 1, 2, 3, 17, 18
# Rule attributes by number (linux/fib_rules.h); one the kernel adds later is kept under its number.
_RULE_ATTRS = {1: "dst", 2: "src", 3: "iif", 4: "goto", 6: "priority", 10: "fwmark", 11: "realms", 12: "tun_id",
               13: "suppress_ifgroup", 14: "suppress_prefixlength", 15: "table", 16: "fwmask", 17: "oif",
               19: "l3mdev", 20: "uidrange", 21: "protocol", 22: "ipproto", 23: "sport", 24: "dport"}
_RULE_RANGES = {20: "=II", 23: "=HH", 24: "=HH"}   # uidrange, sport, dport: start and end
_RULE_FAMILIES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6", 128: "ipmr", 129: "ip6mr"}


def state_commands(ns: str | None) -> list[tuple[list[str], str | None]]:
    """The dump's iproute2 commands inside namespace `ns` (None: this process's own): (argv, stdin) each."""
    at = ["-n", ns] if ns else []
    return [(["ip", *at, "-j", "-d", "-batch", "-"], "".join(q + "\n" for q in STATE_IP_QUERIES)),
            (["bridge", *at, "-j", "-compressvlans", "-batch", "-"], "".join(q + "\n" for q in STATE_BRIDGE_QUERIES))]


def netlink_command(ns: str | None) -> list[str]:
    """netlink_answers() as a command line, for a shell that cannot call it in-process (ssh into the VM)."""
    enter = ["ip", "netns", "exec", ns] if ns else []
    return [*enter, "python3", "-I", "-S", str(Path(__file__).resolve()), "--netlink"]


def state_script(ns: str | None) -> str:
    """The same reads as one shell command line, each answer followed by a separator line (for ssh)."""
    parts = []
    for argv, stdin in [*state_commands(ns), (netlink_command(ns), None)]:
        feed = f"printf %s {shlex.quote(stdin)} | " if stdin else ""
        parts.append(f"{feed}{shlex.join(argv)} && echo {STATE_SEPARATOR}")
    return " && ".join(parts)


def _netlink_socket(ns: str | None) -> socket.socket:
    """A rtnetlink socket in namespace `ns` (None: this process's own).

    A socket stays in the namespace it was made in, and setns() moves only the
    calling thread: a short-lived thread enters `ns`, makes the socket and
    ends. No process to start, and no thread of this process stays moved.
    """
    if ns is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    made: dict = {}

    def enter() -> None:
        try:
            with open(f"/run/netns/{ns}", "rb") as handle:
                if ctypes.CDLL(None, use_errno=True).setns(handle.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
            made["socket"] = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        except OSError as exc:
            made["error"] = exc

    thread = threading.Thread(target=enter, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]
    return made["socket"]


def _dump(sock: socket.socket, kind: int, header: bytes, header_size: int):
    """(fixed header, {attribute type: bytes}) of each message a netlink dump request returns."""
    sock.sendto(struct.pack("=LHHLL", 16 + len(header), kind, _DUMP_REQUEST, kind, 0) + header, (0, 0))
    while True:
        data, pos = sock.recv(1 << 16), 0
        while pos < len(data):
            length, reply = struct.unpack_from("=LH", data, pos)
            if reply == _NLMSG_DONE:
                return
            if reply == _NLMSG_ERROR:
                raise OSError(-struct.unpack_from("=i", data, pos + 16)[0], f"netlink dump {kind} failed")
            attrs, at = {}, pos + 16 + header_size
            while at + 4 <= pos + length:
                size, atype = struct.unpack_from("=HH", data, at)
                attrs[atype & 0x3fff] = data[at + 4:at + size]
                at += (size + 3) & ~3
            yield data[pos + 16:pos + 16 + header_size], attrs
            pos += (length + 3) & ~3


def _link_local_origins(sock: socket.socket) -> list[list]:
    """[ifindex, address, IFA_PROTO] of every fe80::/10 address."""
    found = []
    for header, attrs in _dump(sock, _RTM_GETADDR, struct.pack("=BBBBi", socket.AF_INET6, 0, 0, 0, 0), 8):
        address = ipaddress.IPv6Address(bytes(attrs.get(_IFA_ADDRESS, bytes(16))))
        if address.is_link_local:
            proto = attrs[_IFA_PROTO][0] if _IFA_PROTO in attrs else 0
            found.append([struct.unpack_from("=i", header, 4)[0], str(address), proto])
    return found


def _rule(header: bytes, attrs: dict) -> dict:
    """One routing rule: its header and every attribute (named where linux/fib_rules.h names it)."""
    family, dst_len, src_len, tos, table, _r1, _r2, action, flags = struct.unpack("=BBBBBBBBI", header)
    rule = {"family": _RULE_FAMILIES.get(family, family), "tos": tos, "table_id": table, "action": action,
            "flags": flags}
    for kind, raw in attrs.items():
        if kind == _FRA_PAD:
            continue
        if kind in (_FRA_DST, _FRA_SRC):
            value = f"{ipaddress.ip_address(bytes(raw))}/{dst_len if kind == _FRA_DST else src_len}"
        elif kind in (_FRA_IIFNAME, _FRA_OIFNAME):
            value = raw.rstrip(b"\0").decode()
        elif kind in _RULE_RANGES:
            value = "{}-{}".format(*struct.unpack(_RULE_RANGES[kind], raw))
        elif len(raw) in (1, 2, 4, 8):
            value = int.from_bytes(raw, sys.byteorder)
        else:
            value = raw.hex()
        rule[_RULE_ATTRS.get(kind, str(kind))] = value
    return rule


def netlink_answers(ns: str | None) -> dict:
    """What the dump needs that iproute2 6.1 (Debian 12) cannot give in its two processes, read from the kernel.

    - `link_local_origins`: [ifindex, address, IFA_PROTO] of every fe80::/10
      address. IFA_PROTO is the only mark that tells the kernel's own
      link-locals (KERNEL_LL) from configured ones, and iproute2 6.1 does not
      print it. Read after the addresses: a link-local the kernel adds in
      between is not in the dump anyway, and one gone by then counts as the
      kernel's (what configures an address does not race the dump; the
      kernel's asynchronous link-locals do).
    - `rules`: the routing rules of every family. `ip rule` lists one family
      per process (IPv4 unless given -6); a third process would cost 0.2 s a
      dump in the full-kernel VM.
    """
    with _netlink_socket(ns) as sock:
        origins = _link_local_origins(sock)
        rules = [_rule(header, attrs) for header, attrs in _dump(sock, _RTM_GETRULE, bytes(12), 12)]
    return {"link_local_origins": origins, "rules": rules}


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
    expected = (STATE_IP_QUERIES, STATE_BRIDGE_QUERIES, ("netlink",))
    if len(parts) != len(expected) + 1 or parts[-1].strip():
        raise RuntimeError(f"the state dump did not complete:\n{out[-2000:]}")
    answers = []
    for text, queries in zip(parts, expected):
        values = _json_values(text)
        if len(values) != len(queries):
            raise RuntimeError(f"{len(values)} answers to {len(queries)} queries {queries}:\n{text[-2000:]}")
        answers += values
    links, addrs, routes, neighbours, proxies, bridge_vlans, fdb, netlink = answers
    return state_view(dict(links=links, addrs=addrs, routes=routes, neighbours=neighbours + proxies,
                           bridge_vlans=bridge_vlans, fdb=fdb, **netlink))


def kernel_state(ns: str | None) -> dict:
    """What the collection (or anything else) could have changed in `ns`, as the kernel reports it.

    `ns` None reads this process's own namespace (the root namespace for
    conftest's check): the dump only reads.
    """
    out = ""
    for argv, stdin in state_commands(ns):
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"`{shlex.join(argv)}` failed (rc {proc.returncode}): {proc.stderr.strip()}")
        out += proc.stdout + STATE_SEPARATOR + "\n"
    out += json.dumps(netlink_answers(ns)) + "\n" + STATE_SEPARATOR + "\n"
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


def _addresses_view(link: dict, configured_link_locals: set) -> dict:
    """'address/prefix' -> its fields, of one link; the kernel's own link-locals left out."""
    view = {}
    for addr in link.get("addr_info", []):
        local = addr.get("local", "")
        if addr.get("family") == "inet6" and ipaddress.IPv6Address(local).is_link_local \
                and (link.get("ifindex"), str(ipaddress.IPv6Address(local))) not in configured_link_locals:
            continue
        kept = {k: v for k, v in addr.items() if k not in ADDRESS_EXCLUDED and k not in ("local", "prefixlen")}
        view[f"{local}/{addr.get('prefixlen')}"] = kept
    return dict(sorted(view.items()))


def _route_view(route: dict) -> dict | None:
    if route.get("table") == "local":
        return None
    if route.get("dst") == "fe80::/64" and route.get("protocol") == "kernel":
        return None
    entry = {k: v for k, v in route.items() if k != "expires"}
    entry["flags"] = sorted(f for f in route.get("flags", []) if f != "linkdown")
    return entry


def _fdb_kept(entry: dict, links: dict) -> bool:
    """Whether an FDB entry is configuration a person or a tool made (see FDB_EXCLUDED)."""
    if entry.get("state") not in ("static", "permanent"):
        return False
    link = links.get(entry.get("ifname"), {})
    if "master" not in entry:
        return "self" in entry.get("flags", []) and link.get("linkinfo", {}).get("info_kind") == "vxlan"
    if entry["state"] == "permanent" and entry.get("ifname") == entry["master"]:
        return False   # the bridge's own local entries (see FDB_EXCLUDED)
    return not (entry["state"] == "permanent" and entry.get("mac") == link.get("address"))


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


def _sorted_entries(entries) -> list:
    return sorted(entries, key=lambda e: json.dumps(e, sort_keys=True))


# The dump's sections that are lists of entries (compared as sets), with the word state_diff uses for each.
LIST_SECTIONS = {"routes": "route", "rules": "rule", "neighbours": "neighbour", "fdb": "fdb"}


def state_view(answers: dict) -> dict:
    """The comparable part of the dump's answers (named as in parse_state_output)."""
    links = {link["ifname"]: link for link in answers["links"]}
    configured_ll = {(index, address) for index, address, proto in answers["link_local_origins"]
                     if proto != KERNEL_LL}
    return {
        "links": sorted((_link_view(link) for link in answers["links"]), key=lambda l: l["ifname"]),
        "addrs": {link["ifname"]: _addresses_view(link, configured_ll) for link in answers["addrs"]},
        "routes": _sorted_entries(r for r in map(_route_view, answers["routes"]) if r is not None),
        "rules": _sorted_entries(answers["rules"]),
        "neighbours": _sorted_entries(answers["neighbours"]),
        "fdb": _sorted_entries(e for e in answers["fdb"] if _fdb_kept(e, links)),
        "bridge_vlans": {port["ifname"]: _vlan_runs(port.get("vlans", [])) for port in answers["bridge_vlans"]},
    }


def _link_diff(before: dict, after: dict) -> list[str]:
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
    return lines


def state_diff(before: dict, after: dict) -> list[str]:
    """Where two kernel_state() dumps differ, one line each (for assertion messages)."""
    lines = _link_diff(before, after)
    for section in ("addrs", "bridge_vlans"):
        for name in sorted(set(before[section]) | set(after[section])):
            a, b = before[section].get(name), after[section].get(name)
            if a != b:
                lines.append(f"{section} {name}: {a!r} -> {b!r}")
    for section, word in LIST_SECTIONS.items():
        lines += [f"{word} gone: {json.dumps(e, sort_keys=True)}" for e in before[section] if e not in after[section]]
        lines += [f"{word} new: {json.dumps(e, sort_keys=True)}" for e in after[section] if e not in before[section]]
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


if __name__ == "__main__" and sys.argv[1:] == ["--netlink"]:
    print(json.dumps(netlink_answers(None)))   # netlink_command(): the dump's last part, over ssh


def answers(ns: str, target: str, within: float = 5.0) -> bool:
    """`target` answers a ping from `ns` within `within` seconds: a port that just joined its bridge, ARP and
    carrier settle first (one echo request a second until then)."""
    give_up = time.monotonic() + within
    while True:
        if subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", target],
                          capture_output=True, check=False).returncode == 0:
            return True
        if time.monotonic() > give_up:
            return False
