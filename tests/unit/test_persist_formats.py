"""The contract of every persistent-configuration format (plugins/module_utils/_persist/base.py).

Pure: renderers and parsers work on {path: text}; no file is written here.
The real parsers (ifupdown2, NetworkManager, networkd) check the same files
in tests/persist/.
"""
from __future__ import annotations

import copy

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile_routes import as_written
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError

from persist_hosts import (
    INEXPRESSIBLE, applied, described, described_like, proxmox_host, routed_hosts, sayable, small_hosts,
)

GUESTS = GuestMatcher()
HOSTS = {"proxmox host": proxmox_host,
         **{name: (lambda h=h: h) for name, h in {**small_hosts(), **routed_hosts()}.items()}}


def expected(fmt, want: HostNetwork) -> dict:
    """What the files can say of `want`: all of it, but NetworkManager 1.42 and netplan write no route protocol and
    make every route proto static (keyfile_routes.py; docs/net_persist_networkmanager.md, net_persist_netplan.md)."""
    if fmt.NAME in ("networkmanager", "netplan"):
        return {name: as_written(dev).to_dict() for name, dev in want.devices.items()}
    return described(want)


@pytest.fixture(params=sorted(FORMATS))
def fmt(request, tmp_path):
    cls = FORMATS[request.param]
    return cls(cls.DEFAULT_PATH, root=str(tmp_path))


@pytest.mark.parametrize("host_name", sorted(HOSTS))
def test_render_then_parse_gives_the_model_back(fmt, host_name):
    cannot = INEXPRESSIBLE.get(fmt.NAME, {}).get(host_name)
    if cannot:
        # What the format cannot say is refused, naming the device and the option; the rest of the host round-trips.
        full, _missing = persisted(HOSTS[host_name](), None, GUESTS)
        with pytest.raises(ValidationError) as refused:
            fmt.render({}, full)
        assert cannot[0] in str(refused.value) and cannot[1] in str(refused.value)
    want, _missing = persisted(sayable(fmt.NAME, HOSTS[host_name]()), None, GUESTS)
    files = applied({}, fmt.render({}, want))
    assert files, "nothing rendered"
    assert all(text is not None for text in files.values())
    assert described_like(fmt.parse(files), want) == expected(fmt, want)


@pytest.mark.parametrize("host_name", sorted(HOSTS))
def test_rendering_what_the_files_already_say_changes_nothing(fmt, host_name):
    want, _missing = persisted(sayable(fmt.NAME, HOSTS[host_name]()), None, GUESTS)
    files = applied({}, fmt.render({}, want))
    assert fmt.render(files, want) == {}
    assert fmt.render(files, HostNetwork()) == {}


def test_one_changed_device_touches_only_its_description(fmt):
    want, _missing = persisted(sayable(fmt.NAME, proxmox_host()), None, GUESTS)
    files = applied({}, fmt.render({}, want))
    changed = copy.deepcopy(want)
    changed.get("vmbr10").mtu = 1400
    changed.get("vmbr10").ip.addresses = ["192.0.2.11/24", "2001:db8:10::10/64"]
    only = HostNetwork()
    only.add(changed.get("vmbr10"))
    changes = fmt.render(files, only)
    assert changes
    after = fmt.parse(applied(files, changes))
    assert described_like(after, changed) == described(changed)
    if fmt.PATH_IS_DIR:
        # One file per device: only vmbr10's own files change.
        untouched = {p for p in files if p not in changes}
        assert untouched and all(files[p] == applied(files, changes)[p] for p in untouched)


def test_removing_a_device_leaves_the_others(fmt):
    want, _missing = persisted(sayable(fmt.NAME, proxmox_host()), None, GUESTS)
    files = applied({}, fmt.render({}, want))
    after = fmt.parse(applied(files, fmt.render(files, HostNetwork(), remove=["vmbr1", "eno3"])))
    kept = described(want)
    del kept["vmbr1"], kept["eno3"]
    assert described_like(after, want) == kept


def test_a_new_device_joins_files_that_hold_others(fmt):
    hosts = small_hosts()
    first, _m = persisted(hosts["empty bridge, no ports"], None, GUESTS)
    second, _m = persisted(sayable(fmt.NAME, hosts["VLANs on a bare NIC: 802.1ad with its own name, parent.id name"]),
                           None, GUESTS)
    files = applied({}, fmt.render({}, first))
    after = fmt.parse(applied(files, fmt.render(files, second)))
    both = HostNetwork(devices={**first.devices, **second.devices})
    assert described_like(after, both) == described(both)
