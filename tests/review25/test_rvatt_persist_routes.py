"""Review 25 (rvatt): route sections the persist readers accept but cannot keep.

Pure (files are {path: text}), as tests/unit/test_persist_routes.py: the defects are in netsafe's own readers.
- networkd: a [Route] with Gateway=_dhcp4 (or _ipv6ra) is skipped without a word, and the file netsafe writes
  back for any other change of the device has lost it: a route the operator had is gone after the next boot.
- NetworkManager: two routeN lines with one destination, table and metric are both read (ifupdown2 and
  networkd refuse that, naming the line); the kernel holds one of them only.
"""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS

from persist_hosts import applied, routed_hosts
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import persisted


def _files(name: str, tmp_path):
    cls = FORMATS[name]
    fmt = cls(cls.DEFAULT_PATH, root=str(tmp_path))
    want, _missing = persisted(next(iter(routed_hosts().values())), None, GuestMatcher())
    return fmt, applied({}, fmt.render({}, want))


def test_a_networkd_route_via_dhcp4_is_kept_or_refused(tmp_path):
    fmt, files = _files("networkd", tmp_path)
    [path] = [p for p in files if p.endswith("vmbr5.network")]
    files[path] += "\n[Route]\nDestination=10.99.0.0/16\nGateway=_dhcp4\n"
    try:
        want = fmt.parse(files)
    except ValidationError as exc:
        assert "_dhcp4" in str(exc) and ":" in str(exc)   # refused, naming the line: fine too
        return
    want.get("vmbr5").mtu = 9000
    written = applied(files, fmt.render(files, want))[path]
    assert "MTUBytes=9000" in written
    assert "Gateway=_dhcp4" in written, written


def test_two_networkmanager_routes_with_one_key_are_refused_naming_them(tmp_path):
    fmt, files = _files("networkmanager", tmp_path)
    [path] = [p for p in files if "vmbr5" in p]
    [line] = [l for l in files[path].splitlines() if l.startswith("route") and "=10.40.0.0/16,192.0.2.254,50" in l]
    files[path] = files[path].replace(f"{line}\n", f"{line}\nroute17=10.40.0.0/16,192.0.2.253,50\n")
    with pytest.raises(ValidationError) as caught:
        fmt.parse(files)
    assert "route17" in str(caught.value) and line.split("=")[0] in str(caught.value)


FULLWIDTH_100 = "\uff11\uff10\uff10"   # "100" in full-width digits: str.isdigit() says yes, iproute2 says no


@pytest.mark.kernel
def test_a_route_line_with_a_table_in_non_ascii_digits_is_refused_as_iproute2_refuses_it(tmp_path, netns):
    import subprocess   # pylint: disable=import-outside-toplevel
    line = f"ip route add 10.64.0.0/16 dev lo table {FULLWIDTH_100}"
    real = subprocess.run(["ip", "-n", netns, *line.split()[1:]], capture_output=True, text=True, check=False)
    assert real.returncode != 0 and "table" in real.stderr   # what ifupdown2's post-up gets at boot
    fmt, files = _files("ifupdown2", tmp_path)
    [path] = [p for p in files if p.endswith("interfaces")]
    files[path] = files[path].replace("\tbridge-fd 0\n", f"\tbridge-fd 0\n\tpost-up {line.replace('lo', 'vmbr5')}\n", 1)
    with pytest.raises(ValidationError) as caught:
        fmt.parse(files)
    assert "table" in str(caught.value)
