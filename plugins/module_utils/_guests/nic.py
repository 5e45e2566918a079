# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""A guest NIC as its configuration describes it, and the parsing pieces every source shares.

Pure data and parsing (standard library only, no Ansible, no kernel). Each
`GuestNic` knows the chain of devices that must be restored when its bridge
comes back (`GuestNic.chain`), including Proxmox VE's firewall bridge.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.numbers import ascii_int
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.vlan_ranges import (
    parse_ranges, ranges_of, vids_of,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import MAX_MTU, MIN_MTU

_GUEST_DEVICE = re.compile(r"(?:tap|veth)([0-9]+)i([0-9]+)")

# What makes the device a config names its guest's own (GuestNic.claim). A name
# in a config is only a claim: whoever may write that config (define a libvirt
# domain, say) must not be able to take another tenant's device with it. See
# docs/tap_reenslave.md, "Who owns a device".
LIVE = "live"        # libvirtd's live status XML of a running guest: libvirt made the device for it
DERIVED = "derived"  # Proxmox VE: the name is made from the config's own vmid, unique on the node
LISTED = "listed"    # the task's own `ports`: the operator's word
DEFINED = "defined"  # a libvirt definition, and nothing tells whether its guest runs (no live status XML read)
STOPPED = "stopped"  # a libvirt definition of a guest that does not run (no live status XML for it): owns no device
# Claims that own their device outright; the others only when nothing else names it.
OWNING = (LIVE, LISTED)
# Bigger than any guest config Proxmox VE (its cluster file system) or libvirt writes.
MAX_CONFIG_BYTES = 4 << 20


class ConfigProblem(ValidationError):
    """One guest's configuration (or a discovery setting) cannot be used; names the file or option and what is wrong.

    A ValidationError, so that the parsers record it with every other input
    problem (a bad VLAN id from vlan_ranges included) and a module's edge
    reports it as it is.
    """

    def __init__(self, problem: str):
        super().__init__([problem])


@dataclass(frozen=True)
class Link:
    """One device of a chain and the bridge it must be a port of."""

    device: str
    master: str
    # VLAN membership on `master` when it filters VLANs (None: not managed).
    vlans: dict | None = None
    mtu: int | None = None
    up: bool | None = True


@dataclass
class GuestNic:
    """One network interface of one guest, as its configuration describes it."""

    guest: str            # vmid (Proxmox VE), domain name (libvirt) or "explicit"
    kind: str             # qemu, lxc, libvirt, explicit
    nic: str              # net0, interface position, or the device name
    device: str           # tap100i0, veth101i0, vnet3, ...
    bridge: str
    vlan: int | None = None
    trunks: tuple = ()
    native_tagged: bool = False   # libvirt nativeMode='tagged': the native VLAN is the PVID, sent tagged
    mtu: int | None = None        # None: leave alone; 1 (Proxmox VE): same as the bridge
    link_down: bool = False
    firewall: bool = False
    origin: str = ""
    # Why the device is this guest's (LIVE, DERIVED, LISTED, DEFINED, STOPPED above).
    claim: str = DEFINED
    # Set by discovery.resolve_claims: why this NIC must not be acted on (another config names its device).
    refused: str = ""

    @property
    def running(self) -> bool:
        """The source itself says the guest runs (libvirt's live status XML): a missing device is a failure."""
        return self.claim == LIVE

    def __post_init__(self):
        # Names of Proxmox VE's firewall chain, as pve-common computes them;
        # worked out once, the planner asks for them for every NIC on every run.
        match = _GUEST_DEVICE.fullmatch(self.device) if self.firewall else None
        if match:
            vmid, n = match.groups()
            self._fw = (f"fwbr{vmid}i{n}", f"fwln{vmid}i{n}", f"fwpr{vmid}p{n}")
        else:
            self._fw = (None, None, None)

    @property
    def fwbr(self) -> str | None:
        return self._fw[0]

    @property
    def fwln(self) -> str | None:
        return self._fw[1]

    @property
    def fwpr(self) -> str | None:
        return self._fw[2]

    def vlans(self) -> dict | None:
        """Wanted VLAN membership of the port on the main bridge, or None (not managed).

        In the core's format (_vlans.py): {"pvid", "untagged", "tagged"} with
        [first, last] ranges. Proxmox VE semantics: tag=N makes N the port's
        PVID, untagged (the default VLAN 1 goes away); trunks add tagged
        VLANs. Without tag and trunks the kernel's default is left alone.
        """
        if self.vlan is None and not self.trunks:
            return None
        native = self.vlan if self.vlan is not None else 1
        tagged = [vid for vid in self.trunks if vid != native]
        untagged = [] if self.native_tagged else [[native, native]]
        if self.native_tagged:
            tagged.append(native)
        return {"pvid": native, "untagged": untagged, "tagged": ranges_of(tagged)}

    def chain(self) -> list:
        """The links to restore, innermost first.

        Without the firewall: the guest device on the bridge. With it (Proxmox
        VE): the tap/veth and fwln on fwbr, and fwpr on the bridge; VLANs live
        on fwpr, because fwbr does not filter VLANs.
        """
        up = not self.link_down
        if self.fwbr is None:
            return [Link(self.device, self.bridge, self.vlans(), self.mtu, up)]
        return [
            Link(self.device, self.fwbr, None, self.mtu, up),
            Link(self.fwln, self.fwbr, None, None, True),
            Link(self.fwpr, self.bridge, self.vlans(), None, True),
        ]

    def to_dict(self) -> dict:
        return {"guest": self.guest, "kind": self.kind, "nic": self.nic, "device": self.device,
                "bridge": self.bridge, "vlan": self.vlan, "trunks": list(self.trunks),
                "mtu": self.mtu, "link_down": self.link_down, "firewall": self.firewall,
                "origin": self.origin, "running": self.running, "claim": self.claim, "refused": self.refused}


@dataclass
class Discovery:
    """What the configs say.

    `nics`: guest NICs to restore; `problems`: guests (or one interface of a
    guest) whose config cannot be used, with the reason; `skipped`: NICs that
    are not ours to restore (not on a Linux bridge, a template's), with the
    reason; `stopped`: NICs of guests the source itself says are not running
    (libvirt: defined, no live status XML); `warnings`: things a reader of
    the config should know (a key given twice, a line Proxmox VE ignores).
    """

    nics: list = field(default_factory=list)
    problems: list = field(default_factory=list)   # dicts: guest, origin, reason
    skipped: list = field(default_factory=list)    # dicts: guest, kind, nic, device, bridge, origin, reason
    stopped: list = field(default_factory=list)    # dicts: guest, kind, nic, device, bridge, origin
    warnings: list = field(default_factory=list)   # strings
    # Set by discovery.discover(): the sources read, and for libvirt which XML ({"read", "dir"}).
    sources: list = field(default_factory=list)
    libvirt: dict | None = None

    def extend(self, other: Discovery) -> None:
        self.nics.extend(other.nics)
        self.problems.extend(other.problems)
        self.skipped.extend(other.skipped)
        self.stopped.extend(other.stopped)
        self.warnings.extend(other.warnings)


def entry(guest, kind: str, nic, origin: str, reason: str | None = None, device=None, bridge=None) -> dict:
    """One `skipped` (with a reason) or `stopped` (without) entry, always with the same keys."""
    found = {"guest": guest, "kind": kind, "nic": nic, "device": device or None, "bridge": bridge or None,
             "origin": origin}
    if reason is not None:
        found["reason"] = reason
    return found


# -- small parsers ---------------------------------------------------------------

def parse_trunks(value) -> tuple:
    """'10;20-22' (Proxmox VE), or a list of ids and 'a-b' ranges, into sorted VLAN ids; ValidationError otherwise."""
    return vids_of(parse_ranges(value, "trunks"))


def parse_mtu(value, allow_one: bool = False) -> int:
    """An MTU from a guest config (ASCII digits); Proxmox VE's mtu=1 (`allow_one`) means the bridge's MTU."""
    mtu = ascii_int(value)
    if mtu is not None and (MIN_MTU <= mtu <= MAX_MTU or (allow_one and mtu == 1)):
        return mtu
    allowed = f"{MIN_MTU}-{MAX_MTU}" + (", or 1 for the bridge's MTU" if allow_one else "")
    what = "is out of range" if mtu is not None else "is not a number"
    raise ConfigProblem(f"mtu: {value!r} {what}; allowed {allowed}; nothing is changed for this guest")


def _not_regular(mode: int) -> str:
    what = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a FIFO", stat.S_IFDIR: "a directory",
            stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}
    return (f"{what.get(stat.S_IFMT(mode), 'not a regular file')}; guest configs are read only from regular files "
            f"(Proxmox VE and libvirt write nothing else there)")


def read_config(path: str) -> str:
    """The text of one guest config, never blocking and never through a link.

    A FIFO named like a config would block a plain open() for ever (and with
    it tap_reenslave and tap_guard); a device node may act on open. So the
    name must be a regular file (lstat), is opened O_NONBLOCK | O_NOFOLLOW,
    and must still be that file (fstat); at most MAX_CONFIG_BYTES are read.
    Raises OSError whose strerror says what is wrong.
    """
    before = os.lstat(path)
    if not stat.S_ISREG(before.st_mode):
        raise OSError(errno.EINVAL, _not_regular(before.st_mode), path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.EINVAL, _not_regular(stat.S_IFLNK), path) from None
        raise
    with os.fdopen(fd, "rb") as handle:
        now = os.fstat(handle.fileno())
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise OSError(errno.EINVAL, "replaced while it was opened; read again at the next pass", path)
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise OSError(errno.EFBIG, f"larger than {MAX_CONFIG_BYTES} bytes, which no guest config is", path)
    return data.decode("utf-8", errors="replace")


def read_cached(cache, path: str, parse):
    """parse(text) -> Discovery of one config (read by `read_config`), reusing `cache[path]` while its stat is unchanged.

    The watcher re-reads the configs each time a bridge comes back; with
    1,000 guests, parsing only the files that changed keeps that off the
    guests' outage. Raises OSError when the file cannot be read.
    """
    if cache is None:
        return parse(read_config(path))
    st = os.lstat(path)
    key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode)
    hit = cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    result = parse(read_config(path))
    cache[path] = (key, result)
    return result
