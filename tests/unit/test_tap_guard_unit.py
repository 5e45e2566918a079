"""tap_guard without a kernel: settings and what counts as a trigger (what the role ships: tests/unit/test_export.py)."""
from __future__ import annotations

import json
import socket

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests import watcher as tg
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests.nic import ConfigProblem
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import build_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import IFLA_BR_VLAN_FILTERING


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
        data = nl.nested(nl.IFLA_INFO_DATA, nl.attr_u8(IFLA_BR_VLAN_FILTERING, vlan_filtering))
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


# -- requests built before the event --------------------------------------------------------------

def test_prepared_requests_have_one_slot_per_master_attribute_and_fill_it_in():
    slot = nl.attr_u32(nl.IFLA_MASTER, tg.PLACEHOLDER)
    requests = [(nl.RTM_NEWLINK, 0, nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, 10 + i, 0, 0) + slot) for i in range(300)]
    requests.append((nl.RTM_NEWLINK, 0, nl.IFINFOMSG.pack(socket.AF_UNSPEC, 0, 99, 0, 0) + nl.attr_u32(nl.IFLA_MTU, 1400)))
    prepared = nl.Prepared(requests, slot, 4)
    assert prepared.count == 301 and [len(h) for _d, h, _s in prepared.chunks] == [256, 45]
    assert sum(len(s) for _d, _h, s in prepared.chunks) == 300

    class Socket:
        def __init__(self):
            self.sent = []

        def sendall(self, data):
            self.sent.append(bytes(data))

    class Netlink(nl.Netlink):
        def __init__(self):   # no socket: acks are faked below
            self.sock, self._seq = Socket(), 41

        def _acks(self, first, last, results, start):
            self.acked = getattr(self, "acked", []) + [(first, last, start)]

    netlink = Netlink()
    assert netlink.send_prepared(prepared, 7) == [None] * 301
    assert netlink.acked == [(42, 297, 0), (298, 342, 256)]
    messages = [m for data in netlink.sock.sent for m in nl.iter_messages(data, len(data))]
    assert [seq for _k, _f, seq, _b in messages] == list(range(42, 343))
    for i, (_kind, flags, _seq, body) in enumerate(messages):
        attrs = nl.parse_attrs(body, nl.IFINFOMSG.size, len(body))
        assert flags & nl.NLM_F_ACK and nl.IFINFOMSG.unpack_from(body)[2] == (10 + i if i < 300 else 99)
        assert nl.as_u32(attrs[nl.IFLA_MASTER]) == 7 if i < 300 else nl.as_u32(attrs[nl.IFLA_MTU]) == 1400
    netlink.sock.sent.clear()
    netlink.send_prepared(prepared, 8)     # sent again, for the next time the bridge comes back
    first = next(nl.iter_messages(netlink.sock.sent[0], len(netlink.sock.sent[0])))
    assert nl.as_u32(nl.parse_attrs(first[3], nl.IFINFOMSG.size, len(first[3]))[nl.IFLA_MASTER]) == 8


def test_first_pass_uses_prepared_requests_only_when_nothing_changed_since(guard):
    guard.requests = object()
    guard.dirty = False
    guard.watched = {"vmbr0", "vmbr1"}
    guard.prepared_for = {"vmbr0": False, "vmbr1": False}
    guard.prepared = {"vmbr0": ("requests", ["outcome"])}
    assert guard._ready([("vmbr0", 9, False)]) == [("vmbr0", 9, ("requests", ["outcome"]))]
    assert guard._ready([("vmbr1", 9, False)]) == []               # no running guest on it: nothing to send
    assert guard._ready([("vmbr7", 9, False)]) == []               # no guest belongs on it
    assert guard._ready([("vmbr0", 9, True)]) is None              # filters VLANs now: planned afresh
    assert guard._ready([("vmbr0", 9, None)]) is None              # VLAN filtering switched: planned afresh
    guard.dirty = True
    assert guard._ready([("vmbr0", 9, False)]) is None             # a guest device or config changed since


def test_guest_device_events_make_prepared_requests_stale_and_port_moves_do_not(guard):
    guard.chain_names = {"tap100i0"}
    guard._event(nl.RTM_NEWLINK, link_message(12, "tap100i0", "tun"))
    assert guard.dirty is True
    guard.dirty = False
    guard._event(nl.RTM_NEWLINK, link_message(12, "tap100i0", "tun"))   # the same device again (master, state)
    assert guard.dirty is False
    guard._event(nl.RTM_NEWLINK, link_message(12, "tap100x", "tun"))    # renamed
    assert guard.dirty is True
    guard.dirty = False
    guard.prepared_indexes = {12}
    guard._event(nl.RTM_DELLINK, link_message(12, "tap100x", "tun"))
    assert guard.dirty is True
    guard._event(nl.RTM_NEWLINK, link_message(30, "tap555i0", "tun"))  # a guest device no config names
    assert guard.configs_dirty is True


def test_config_watch_sees_a_config_written_in_a_watched_directory(tmp_path):
    (tmp_path / "qemu-server").mkdir()
    watch = tg.ConfigWatch([str(tmp_path / "qemu-server"), str(tmp_path / "missing")])
    try:
        assert watch.watched == [str(tmp_path / "qemu-server")]
        assert watch.changed() is False
        (tmp_path / "qemu-server" / "100.conf").write_text("net0: virtio=x,bridge=vmbr0\n")
        assert watch.changed() is True
        assert watch.changed() is False
        tmp = tmp_path / "qemu-server" / ".100.conf.tmp"
        tmp.write_text("x")
        watch.changed()
        tmp.rename(tmp_path / "qemu-server" / "100.conf")   # how Proxmox VE and libvirt replace a file
        assert watch.changed() is True
    finally:
        watch.close()
