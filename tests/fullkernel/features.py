"""Which network features the running kernel has, found by trying them.

Each probe creates devices in a throwaway namespace and reports whether the
kernel accepted them, so a test's skip reason is a fact about this kernel,
never a guess from its version or config file.
"""
from __future__ import annotations

import json
import os
import subprocess

# feature -> iproute2/tc commands that must all succeed (run inside the probe
# namespace). Names are what tests ask for in @pytest.mark.fullkernel(...).
_VETH = ["ip", "link", "add", "fkv0", "type", "veth", "peer", "name", "fkv1"]
PROBES: dict[str, list[list[str]]] = {
    "bonding": [["ip", "link", "add", "fkbond", "type", "bond"]],
    "dummy": [["ip", "link", "add", "fkdummy", "type", "dummy"]],
    "8021q": [_VETH, ["ip", "link", "add", "link", "fkv0", "name", "fkv0.5", "type", "vlan", "id", "5"]],
    "8021ad": [_VETH, ["ip", "link", "add", "link", "fkv0", "name", "fkv0.6", "type", "vlan",
                       "protocol", "802.1ad", "id", "6"]],
    "bridge_vlan_filtering": [["ip", "link", "add", "fkbr", "type", "bridge", "vlan_filtering", "1"],
                              ["bridge", "vlan", "add", "dev", "fkbr", "vid", "10", "self"]],
    "team": [["ip", "link", "add", "fkteam", "type", "team"]],
    "ipvlan": [_VETH, ["ip", "link", "add", "link", "fkv0", "name", "fkipvl", "type", "ipvlan", "mode", "l2"]],
    "macvlan": [_VETH, ["ip", "link", "add", "link", "fkv0", "name", "fkmacvl", "type", "macvlan"]],
    "vxlan": [["ip", "link", "add", "fkvx", "type", "vxlan", "id", "42", "dstport", "4789"]],
    "netem": [_VETH, ["tc", "qdisc", "add", "dev", "fkv0", "root", "netem", "delay", "1ms"]],
    "bridge": [["ip", "link", "add", "fkbr0", "type", "bridge"]],
    "veth": [_VETH],
}


class ProbeError(RuntimeError):
    """The probe itself could not run (not root, no iproute2): no answer either way."""


def _vlan_filtering_on(ns: str) -> bool:
    """A kernel without the option may accept the attribute and ignore it: read it back."""
    out = subprocess.run(["ip", "-n", ns, "-j", "-d", "link", "show", "fkbr"],
                         capture_output=True, text=True, check=False).stdout
    try:
        data = json.loads(out)[0]["linkinfo"]["info_data"]
    except (ValueError, LookupError):
        return False
    return data.get("vlan_filtering") == 1


def probe(feature: str) -> tuple[bool, str]:
    """(present, detail) for one feature, tried in a namespace made for the purpose."""
    if feature not in PROBES:
        raise KeyError(feature)
    if os.geteuid() != 0:
        raise ProbeError("needs root to probe kernel features in a network namespace")
    ns = f"fkprobe{os.getpid()}{feature.replace('_', '')}"
    made = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise ProbeError(f"cannot create a probe namespace: {made.stderr.strip()}")
    try:
        for cmd in PROBES[feature]:
            tool, *args = cmd
            done = subprocess.run([tool, "-n", ns, *args], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                return False, f"`{' '.join(cmd)}`: {(done.stderr or done.stdout).strip()}"
        if feature == "bridge_vlan_filtering" and not _vlan_filtering_on(ns):
            return False, "vlan_filtering reads back as 0"
        return True, "ok"
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
