# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Descriptors of a device kind's attributes: one row says how a value is encoded, decoded, written and checked.

A kind (bridge.py, bond.py, vlan.py) lists its attributes as `Attr` rows;
`Kind` derives from that one table the netlink request (IFLA_LINKINFO), the
decoding of a link dump, the `ip link ... type <kind>` words, the checks of a
desired value and the values of a device the kernel has just made. Adding an
attribute to a kind is adding a row.
"""
from __future__ import annotations

import ipaddress
import struct

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl


# -- codecs: value <-> attribute payload <-> ip word ----------------------------

class Codec:
    """An integer carried in `fmt` (struct format), written as its decimal digits."""

    fmt = "=I"

    def pack(self, value, index) -> bytes:
        return struct.pack(self.fmt, value)

    def unpack(self, raw, name_of):
        return struct.unpack_from(self.fmt, raw)[0]

    def text(self, value):
        return str(value)


class U8(Codec):
    fmt = "=B"


class U16(Codec):
    fmt = "=H"


class U32(Codec):
    fmt = "=I"


class Flag(Codec):
    """A bool the kernel carries as 0/1 in `fmt`; iproute2 writes 0/1 (or `words`, e.g. off/on)."""

    def __init__(self, fmt: str = "=B", words=("0", "1")):
        self.fmt = fmt
        self.words = words

    def pack(self, value, index) -> bytes:
        return struct.pack(self.fmt, 1 if value else 0)

    def unpack(self, raw, name_of):
        return bool(struct.unpack_from(self.fmt, raw)[0])

    def text(self, value):
        return self.words[1 if value else 0]


class FlagBit(Flag):
    """One bit of a (flags, mask) pair of u32, as IFLA_VLAN_FLAGS: only that bit is changed."""

    def __init__(self, bit: int, words=("off", "on")):
        super().__init__("=I", words)
        self.bit = bit

    def pack(self, value, index) -> bytes:
        return struct.pack("=II", self.bit if value else 0, self.bit)

    def unpack(self, raw, name_of):
        return bool(struct.unpack_from("=I", raw)[0] & self.bit)


class Enum(Codec):
    """A name the kernel carries as its index in `names` (u8)."""

    fmt = "=B"

    def __init__(self, names):
        self.names = tuple(names)

    def pack(self, value, index) -> bytes:
        return struct.pack(self.fmt, self.names.index(value))

    def unpack(self, raw, name_of):
        value = struct.unpack_from(self.fmt, raw)[0]
        return self.names[value] if value < len(self.names) else None


class Centiseconds(Codec):
    """Seconds in the model, hundredths of a second (clock_t, USER_HZ 100) in the kernel and in iproute2's words.

    The one place this conversion is written (forward_delay, hello_time, max_age, ageing_time).
    """

    def pack(self, value, index) -> bytes:
        return struct.pack("=I", to_centiseconds(value))

    def unpack(self, raw, name_of):
        return struct.unpack_from("=I", raw)[0] / 100

    def text(self, value):
        return str(to_centiseconds(value))


def to_centiseconds(seconds) -> int:
    """Seconds as the kernel's and iproute2's hundredths of a second (rounded: 2.5 -> 250)."""
    return int(round(seconds * 100))


class Ethertype(Codec):
    """A name carried as a big-endian u16 EtherType (IFLA_VLAN_PROTOCOL); `names` maps name -> number."""

    def __init__(self, names: dict, fallback: str):
        self.names = dict(names)
        self.numbers = {number: name for name, number in names.items()}
        self.fallback = fallback

    def pack(self, value, index) -> bytes:
        return struct.pack("!H", self.names[value])

    def unpack(self, raw, name_of):
        return self.numbers.get(struct.unpack_from("!H", raw)[0], self.fallback)

    def text(self, value):
        return value


class Ifindex(Codec):
    """A device name carried as its ifindex (u32, 0 for none): `index(name)` resolves it, `name_of` decodes it."""

    def pack(self, value, index) -> bytes:
        return struct.pack("=I", index(value) if value else 0)

    def unpack(self, raw, name_of):
        value = struct.unpack_from("=I", raw)[0]
        return name_of.get(value) if value else None

    def text(self, value):
        return value or None


class Ipv4List(Codec):
    """A list of IPv4 addresses, nested one attribute each (IFLA_BOND_ARP_IP_TARGET); iproute2 joins them by commas."""

    nested = True

    def pack(self, value, index) -> bytes:
        return b"".join(nl.attr(i, ipaddress.ip_address(t).packed) for i, t in enumerate(value))

    def unpack(self, raw, name_of):
        return [str(ipaddress.ip_address(bytes(payload))) for _k, payload in nl.iter_attrs(raw, 0, len(raw))]

    def text(self, value):
        return ",".join(value) if value else None


# -- checks: what a desired value may be ------------------------------------------

def number_text(value) -> str:
    """A number as a person writes it: 30, 2.5, 1000000 (never 1e+06)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _shown(value, numbers: bool) -> str:
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_text(value)
    return repr(value)


class Range:
    """A number between `low` and `high` (`types`: int, or int and float for seconds); message as every range."""

    def __init__(self, low, high, unit: str = "", types=(int,), allowed: str | None = None):
        self.low, self.high, self.types = low, high, types
        self.allowed = allowed or f"{number_text(low)}-{number_text(high)}{unit}"
        self.numbers = float in types

    def problem(self, name: str, value):
        if isinstance(value, bool) or not isinstance(value, self.types) or not self.low <= value <= self.high:
            return f"{name}: {_shown(value, self.numbers)} is out of range; allowed {self.allowed}"
        return None


def seconds(low, high) -> Range:
    """A duration in seconds (the kernel keeps hundredths)."""
    return Range(low, high, " seconds", (int, float))


class OneOf:
    """One of a fixed set of names."""

    def __init__(self, names):
        self.names = tuple(names)

    def problem(self, name: str, value):
        if value not in self.names:
            return f"{name}: {value!r} is not allowed; allowed {', '.join(self.names)}"
        return None


class IsBool:
    def problem(self, name: str, value):
        return None if isinstance(value, bool) else f"{name}: {value!r} is not allowed; allowed true, false"


class Ipv4Targets:
    """At most `most` IPv4 addresses."""

    def __init__(self, most: int):
        self.most = most

    def problem(self, name: str, value):
        found = []
        for target in value or []:
            try:
                if ipaddress.ip_address(str(target)).version != 4:
                    raise ValueError
            except ValueError:
                found.append(f"{name}: {target!r} is not an IPv4 address")
        if len(value or []) > self.most:
            found.append(f"{name}: the kernel allows at most {self.most} targets")
        return "; ".join(found) or None


# -- the row and the table ---------------------------------------------------------

class Attr:
    """One attribute of a kind: model field `name`, netlink type `ifla`, `codec`, iproute2 `word`, `check`.

    `default`: what the kernel gives a device it makes without the attribute
    (None: nothing the model predicts). `absent`: the value read when the
    kernel does not report it. `on_create`: "set" sends it on create when not
    None, "on" only when true (a kernel without the feature refuses it even
    as 0), "never" leaves it to a later request. `clears`: a request carries
    it even as None (sent as 0: bond primary none).
    """

    __slots__ = ("name", "ifla", "codec", "word", "check", "default", "absent", "on_create", "clears")

    def __init__(self, name, ifla, codec, word=None, check=None, default=None, absent=None, on_create="set",
                 clears=False):
        self.name, self.ifla, self.codec, self.word = name, ifla, codec, word or name
        self.check, self.default, self.absent, self.on_create, self.clears = check, default, absent, on_create, clears

    def sent(self, params: dict) -> bool:
        """Whether a request with `params` carries this attribute."""
        return self.name in params if self.clears else params.get(self.name) is not None

    def payload(self, value, index) -> bytes:
        packed = self.codec.pack(value, index)
        return nl.nested(self.ifla, packed) if getattr(self.codec, "nested", False) else nl.attr(self.ifla, packed)


class Kind:
    """A device kind as the kernel knows it (`name`, IFLA_INFO_KIND) and the table of its attributes.

    `slave`: the attributes belong to a port of a master of this kind
    (IFLA_INFO_SLAVE_KIND/IFLA_INFO_SLAVE_DATA, `ip link set ... type
    <ip_type>`), not to the device itself.
    """

    def __init__(self, name: str, attrs, ip_type: str | None = None, slave: bool = False):
        self.name = name
        self.attrs = tuple(attrs)
        self.by_name = {a.name: a for a in self.attrs}
        self.by_ifla = {a.ifla: a for a in self.attrs}
        self.names = tuple(self.by_name)
        self.wanted = frozenset(self.by_ifla)
        self.ip_type = ip_type or name
        self.slave = slave

    def carries(self, params: dict) -> bool:
        """Whether a request's params set any attribute of this kind."""
        return any(name in params for name in self.names)

    # netlink
    def linkinfo(self, params: dict, index=None, with_kind: bool = True) -> bytes:
        """IFLA_LINKINFO for a request setting the attributes of `params` (`index`: name -> ifindex)."""
        data = b"".join(a.payload(params.get(a.name), index) for a in self.attrs if a.sent(params))
        if self.slave:
            info = nl.attr_str(nl.IFLA_INFO_SLAVE_KIND, self.name)
            return nl.nested(nl.IFLA_LINKINFO, info + (nl.nested(nl.IFLA_INFO_SLAVE_DATA, data) if data else b""))
        info = nl.attr_str(nl.IFLA_INFO_KIND, self.name) if with_kind else b""
        return nl.nested(nl.IFLA_LINKINFO, info + (nl.nested(nl.IFLA_INFO_DATA, data) if data else b""))

    def decode(self, data: dict, name_of=None) -> dict:
        """Model values from a link's parsed IFLA_INFO_DATA (or SLAVE_DATA); absent attributes get `absent`."""
        out = {}
        for a in self.attrs:
            raw = data.get(a.ifla)
            out[a.name] = (list(a.absent) if isinstance(a.absent, list) else a.absent) if raw is None \
                else a.codec.unpack(raw, name_of or {})
        return out

    # iproute2
    def words(self, params: dict) -> list:
        """The words after `type <ip_type>` for the attributes `params` sets."""
        words = []
        for a in self.attrs:
            if a.sent(params):
                text = a.codec.text(params.get(a.name))
                if text is not None:
                    words += [a.word, text]
        return words

    # the model
    def problems(self, device) -> list:
        """Each attribute of `device` (not None) against its check, naming the attribute."""
        found = []
        for a in self.attrs:
            value = getattr(device, a.name, None)
            if value is not None and a.check is not None:
                problem = a.check.problem(a.name, value)
                if problem:
                    found.append(problem)
        return found

    def create_params(self, device) -> dict:
        """The attributes a `link add` sends to make `device` as it is (None: left to the kernel)."""
        out = {}
        for a in self.attrs:
            value = getattr(device, a.name, None)
            if a.on_create == "never" or value is None or value == [] or (a.on_create == "on" and not value):
                continue
            out[a.name] = value
        return out

    def created(self, params: dict) -> dict:
        """The model values of a device the kernel makes from `params`: given ones, else its defaults."""
        return {a.name: a.default if params.get(a.name) is None else params[a.name] for a in self.attrs}
