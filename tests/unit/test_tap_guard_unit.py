"""tap_guard without a kernel: settings, what counts as a trigger, and what the role ships."""
from __future__ import annotations

import ast
import json
import socket
from pathlib import Path

import pytest
import yaml

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests import watcher as tg
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import ConfigProblem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import build_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl

ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
PREFIX = "ansible_collections.netsafe.hypervisor.plugins.module_utils"


def _imports(name: str) -> set:
    """Modules of module_utils that `name` ('_guests/watcher') imports, as paths like it."""
    tree = ast.parse((MODULE_UTILS / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX + "."):
            package = node.module[len(PREFIX) + 1:].replace(".", "/")
            for alias in node.names:  # `from ..._network import netlink` names a module
                if (MODULE_UTILS / package / f"{alias.name}.py").is_file():
                    found.add(f"{package}/{alias.name}")
            if (MODULE_UTILS / f"{package}.py").is_file():
                found.add(package)
    return found


def test_role_ships_the_import_closure_of_the_watcher():
    seen, todo = set(), ["_guests/watcher"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imports(name))
    packages = {name.split("/")[0] for name in seen}
    shipped = yaml.safe_load((ROOT / "roles/tap_guard/vars/main.yml").read_text())["__tap_guard_files"]
    assert sorted(shipped) == sorted([f"{name}.py" for name in seen] + [f"{p}/__init__.py" for p in packages])


def test_settings_file_then_overrides(tmp_path):
    path = tmp_path / "tap_guard.json"
    path.write_text(json.dumps({"source": "proxmox", "bridges": ["vmbr0"], "namespace": None}))
    settings = tg.load_settings(str(path), {"namespace": "lab1", "bridges": None})
    assert settings["source"] == "proxmox" and settings["bridges"] == ["vmbr0"] and settings["namespace"] == "lab1"
    assert settings["proxmox_dir"] == "/etc/pve/local"


def test_unknown_setting_is_refused(tmp_path):
    path = tmp_path / "tap_guard.json"
    path.write_text(json.dumps({"sorce": "proxmox"}))
    with pytest.raises(ConfigProblem, match="unknown settings sorce"):
        tg.load_settings(str(path), {})


def link_message(index: int, name: str, kind: str, vlan_filtering: int | None = None, tun_type: int | None = None) -> bytes:
    """The body of an RTM_NEWLINK as the kernel sends it (the parts the watcher reads)."""
    data = b""
    if vlan_filtering is not None:
        data = nl.nested(nl.IFLA_INFO_DATA, nl.attr_u8(nl.IFLA_BR_VLAN_FILTERING, vlan_filtering))
    if tun_type is not None:
        data = nl.nested(nl.IFLA_INFO_DATA, nl.attr_u8(nl.IFLA_TUN_TYPE, tun_type))
    info = nl.nested(nl.IFLA_LINKINFO, nl.attr_str(nl.IFLA_INFO_KIND, kind) + data)
    return nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0) + nl.attr_str(nl.IFLA_IFNAME, name) + info


@pytest.fixture
def guard():
    g = tg.TapGuard(dict(tg.DEFAULTS))
    g.known = {"vmbr0": (5, False)}
    return g


def test_a_bridge_with_a_new_index_triggers(guard):
    assert guard._event(nl.RTM_NEWLINK, link_message(9, "vmbr0", "bridge", 0)) == "bridge vmbr0 appeared"


def test_the_same_bridge_again_does_not_trigger(guard):
    assert guard._event(nl.RTM_NEWLINK, link_message(5, "vmbr0", "bridge", 0)) is None


def test_vlan_filtering_switched_on_triggers(guard):
    assert guard._event(nl.RTM_NEWLINK, link_message(5, "vmbr0", "bridge", 1)) == "bridge vmbr0 changed VLAN filtering"


def test_ports_and_firewall_bridges_do_not_trigger(guard):
    assert guard._event(nl.RTM_NEWLINK, link_message(7, "tap100i0", "tun")) is None
    assert guard._event(nl.RTM_NEWLINK, link_message(8, "fwbr100i0", "bridge", 0)) is None


def test_a_deleted_bridge_is_forgotten(guard):
    assert guard._event(nl.RTM_DELLINK, link_message(5, "vmbr0", "bridge", 0)) is None
    assert "vmbr0" not in guard.known
    assert guard._event(nl.RTM_NEWLINK, link_message(5, "vmbr0", "bridge", 0)) == "bridge vmbr0 appeared"


def test_notify_sends_to_the_socket_systemd_names(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        tg.notify("READY=1")
        assert server.recv(100) == b"READY=1"


_AF_UNIX, _SOCK_DGRAM = socket.AF_UNIX, socket.SOCK_DGRAM


class RecordingSocketModule:
    """Stands in for the `socket` module inside _tap_guard: records every socket opened and datagram sent."""

    AF_UNIX = _AF_UNIX
    SOCK_DGRAM = _SOCK_DGRAM

    def __init__(self):
        self.opened, self.sent = [], []

    def socket(self, *args):
        self.opened.append(args)
        module = self

        class Sock:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def sendto(self, data, address):
                module.sent.append((data, address))

        return Sock()


def test_notify_without_systemd_opens_no_socket_and_sends_nothing(monkeypatch):
    fake = RecordingSocketModule()
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setattr(tg, "socket", fake)
    tg.notify("READY=1")
    assert fake.sent == [], "notify sent a datagram without NOTIFY_SOCKET"
    assert fake.opened == [], "notify opened a socket without NOTIFY_SOCKET"


def test_notify_with_an_empty_notify_socket_sends_nothing(monkeypatch):
    fake = RecordingSocketModule()
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    monkeypatch.setattr(tg, "socket", fake)
    tg.notify("READY=1")
    assert fake.sent == [] and fake.opened == []


class FakeEventSocket:
    """Hands out queued netlink datagrams, then 'would block', like the watcher's socket."""

    def __init__(self, datagrams):
        self.datagrams = list(datagrams)

    def recv_into(self, buf):
        if not self.datagrams:
            raise BlockingIOError
        data = self.datagrams.pop(0)
        buf[:len(data)] = data
        return len(data)


def datagram(kind: int, body: bytes) -> bytes:
    return nl.message(kind, 0, 0, body)


def test_link_table_keeps_its_own_copy_of_each_message(guard):
    """The receive buffer is reused for the next datagram: the table must not change with it."""
    guard.sock = FakeEventSocket([datagram(nl.RTM_NEWLINK, link_message(11, "vmbr5", "bridge", 1)),
                                  datagram(nl.RTM_NEWLINK, link_message(12, "vmbr6", "bridge", 0))])
    assert guard._triggers() == ["bridge vmbr5 appeared", "bridge vmbr6 appeared"]
    guard._buf[:] = bytes(len(guard._buf))
    assert guard.links[11].name == "vmbr5" and tg.bridge_key(guard.links[11]) == (11, True)


def test_the_event_kept_link_table_builds_what_the_planner_reads(guard):
    """The watcher's fast pass plans from its link table with the core's decoder (read.build_host)."""
    guard._event(nl.RTM_NEWLINK, link_message(9, "vmbr0", "bridge", 1))
    guard._event(nl.RTM_NEWLINK, link_message(12, "tap100i0", "tun"))
    guard._event(nl.RTM_NEWLINK, link_message(13, "eth1", "veth"))
    snapshot = build_host(list(guard.links.values()), guard.guests)
    host = snapshot.host
    assert host.get("vmbr0").TYPE == "bridge" and host.get("vmbr0").vlan_filtering is True
    assert host.get("tap100i0").TYPE == "guest" and host.get("tap100i0").kind == "tap"
    assert host.get("eth1").TYPE == "nic"
    assert host.get("vmbr0").vlans is None  # memberships are not in link events: unknown, not empty
    assert snapshot.index_of == {"vmbr0": 9, "tap100i0": 12, "eth1": 13}


@pytest.mark.parametrize("tun_type, kind", [(None, "tap"), (nl.IFF_TAP, "tap"), (1, "tun")])
def test_watcher_and_read_agree_on_how_a_tun_device_becomes_a_tap(guard, tun_type, kind):
    """One decoder: a tun device is a tap unless the kernel says it is a layer-3 tun (IFF_TUN = 1)."""
    guard._event(nl.RTM_NEWLINK, link_message(12, "tap100i0", "tun", tun_type=tun_type))
    assert build_host(list(guard.links.values()), guard.guests).host.get("tap100i0").kind == kind
