# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Changes to the stanzas of devices the files already describe: only the lines of what changed.

A changed attribute replaces the first line that holds it (its other lines go)
or is appended to the device's inet stanza; addresses stay in the stanza of
their family; a removed device takes its stanzas and its names on `auto` lines.
"""
from __future__ import annotations

import ipaddress
import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bond, Bridge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.host import Host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.keywords import (
    METHODS_WITHOUT_STATIC, TYPE_KEYS,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.layout import (
    address_lines, after_stanza, delete_stanza, indent_of, newline_of, separated, stanza_text,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.render import Context, stanza_fields


def replace_keys(host: Host, stanzas: list, keys, lines: list, target=None) -> None:
    """Make `keys` say `lines`: the first line holding one of them is replaced, the others deleted; else appended."""
    found = [opt for st in stanzas for opt in st.options if opt.key in keys and opt.line.text is not None]
    if found:
        first = found[0].line
        indent = found[0].indent
        nl = "\r\n" if first.text.endswith("\r\n") else "\n"
        first.text = "".join(f"{indent}{line}{nl}" for line in lines) or None
        for opt in found[1:]:
            opt.line.text = None
        return
    if lines:
        st = target or stanzas[0]
        indent, nl = indent_of(st), newline_of(st, host)
        st.last.after.append("".join(f"{indent}{line}{nl}" for line in lines))


def _set_method(stanza, method: str) -> None:
    if stanza.family is None or stanza.method == method:
        return
    text = stanza.header.text
    stanza.header.text = re.sub(r"^(\s*iface\s+\S+\s+\S+\s+)\S+", lambda m: m.group(1) + method, text, count=1)
    stanza.method = method


def remove_device(host: Host, name: str) -> None:
    """A device the files no longer describe: its stanzas go, and its name from every `auto`/`allow-` line."""
    for st in host.stanzas.pop(name, []):
        delete_stanza(host, st)
    for _f, line, _word, names in host.auto.pop(name, []):
        _drop_mark(line, names, name)


def _drop_mark(line, names, name) -> None:
    if line.text is None:
        return
    words = line.text.split()
    if name not in words[1:]:
        return
    rest = [w for w in words[1:] if w != name]
    if not rest:
        line.text = None
        return
    names[:] = rest
    indent = line.text[:len(line.text) - len(line.text.lstrip())]
    nl = "\r\n" if line.text.endswith("\r\n") else "\n"
    line.text = f"{indent}{words[0]} {' '.join(rest)}{nl}"


def edit_device(host: Host, ctx: Context, dev) -> None:
    """Make the stanzas of a described device say `dev`, touching only the keys of what changed."""
    name = dev.name
    stanzas = host.stanzas[name]
    current = host.model.get(name)
    if current is None:
        raise ValidationError([f"{name}: {stanzas[0].where()} has a stanza for it that net_persist cannot use "
                               f"(loopback)"])
    primary = next((st for st in stanzas if st.family in (None, "inet")), stanzas[0])
    if current.TYPE != dev.TYPE:
        stale = [k for kind, keys in TYPE_KEYS.items() if kind != dev.TYPE for k in keys]
        replace_keys(host, stanzas, stale, [])
    cur_ip = (current.ip.addresses, current.ip.gateway4, current.ip.gateway6)
    if cur_ip != (dev.ip.addresses, dev.ip.gateway4, dev.ip.gateway6):
        _edit_ip(host, dev, stanzas, primary)
    cur_fields = {field: value for field, value, _k, _l in stanza_fields(current, ctx)} if current.TYPE == dev.TYPE else {}
    for field, value, keys, lines in stanza_fields(dev, ctx):
        if field not in cur_fields or cur_fields[field] != value:
            replace_keys(host, stanzas, keys, lines, primary)
    if ctx.up_after(host, dev) != dev.up:
        _edit_up(host, ctx, dev, stanzas, primary)


def _edit_up(host: Host, ctx: Context, dev, stanzas, primary) -> None:
    replace_keys(host, stanzas, ("link-down",), [] if dev.up else ["link-down yes"], primary)
    if dev.name not in host.auto and dev.name not in ctx.auto_reached:
        first = stanzas[0]
        first.header.before.append(f"auto {dev.name}{newline_of(first, host)}")


def _edit_ip(host: Host, dev, stanzas, primary) -> None:
    odd = [st for st in stanzas if st.method in METHODS_WITHOUT_STATIC]
    if odd:
        raise ValidationError([f"{dev.name}: {odd[0].where()} gets its addresses by {odd[0].method}; net_persist "
                               f"writes static addresses only (change that stanza by hand, or leave {dev.name} "
                               f"out of `devices`)"])
    replace_keys(host, stanzas, ("address", "netmask", "gateway", "broadcast"), [])
    addresses = dev.ip.addresses or []
    v4 = [a for a in addresses if ipaddress.ip_interface(a).version == 4]
    v6 = [a for a in addresses if ipaddress.ip_interface(a).version == 6]
    if primary.family is None:   # `iface X` without a family: it holds both
        lines = address_lines(v4, dev.ip.gateway4) + address_lines(v6, dev.ip.gateway6)
        primary.header.after.insert(0, "".join(f"{indent_of(primary)}{line}{newline_of(primary, host)}" for line in lines))
        return
    inet = next((st for st in stanzas if st.family == "inet"), None)
    inet6 = next((st for st in stanzas if st.family == "inet6"), None)
    nl = newline_of(stanzas[0], host)
    lines4 = address_lines(v4, dev.ip.gateway4)
    if inet is None and lines4:
        stanzas[0].header.before.append(stanza_text(dev.name, "inet", "static", lines4, nl))
    elif inet is not None:
        if lines4:
            inet.header.after.insert(0, "".join(f"{indent_of(inet)}{line}{newline_of(inet, host)}" for line in lines4))
        _set_method(inet, "static" if v4 else "manual")
    lines6 = address_lines(v6, dev.ip.gateway6)
    if inet6 is None and lines6:
        last = stanzas[-1]
        f = host.files[last.path]
        anchor = after_stanza(f, last)
        anchor.after.append(separated(f, anchor, stanza_text(dev.name, "inet6", "static", lines6, f.newline)))
    elif inet6 is not None:
        if lines6:
            inet6.header.after.insert(0, "".join(f"{indent_of(inet6)}{line}{newline_of(inet6, host)}" for line in lines6))
            _set_method(inet6, "static")
        elif all(opt.line.text is None for opt in inet6.options) and not any(
                line.text is not None and line.text.strip() for line in inet6.inner) and inet is not None:
            delete_stanza(host, inet6)   # it said nothing else: Proxmox VE drops an empty inet6 stanza too
        else:
            _set_method(inet6, "manual")


def edit_port_lists(host: Host, ctx: Context, remove: set, new: set) -> None:
    """The `bridge-ports`/`bond-slaves` line of every described bridge and bond whose ports change."""
    for name, dev in ctx.final.items():
        if not isinstance(dev, (Bridge, Bond)) or name in new or not host.stanzas.get(name):
            continue
        where, current = host.port_lists.get(name, (None, []))
        if host.model.get(name) is not None and host.model.get(name).TYPE != dev.TYPE:
            where, current = None, []
        ports = ctx.ports(name, current)
        if ports == current and (where is not None or not ports and host.model.get(name) is not None
                                 and host.model.get(name).TYPE == dev.TYPE):
            continue   # the same list, or a bridge without ports that says so by bridge-vlan-aware alone
        key = "bridge-ports" if isinstance(dev, Bridge) else "bond-slaves"
        keys = ("bridge-ports",) if isinstance(dev, Bridge) else ("bond-slaves", "bond-ports")
        primary = next((st for st in host.stanzas[name] if st.family in (None, "inet")), host.stanzas[name][0])
        line = f"{key} {' '.join(ports) or 'none'}"
        if where is None:
            # New type keys go first among the stanza's options, as Proxmox VE writes them.
            indent, nl = indent_of(primary), newline_of(primary, host)
            anchor = primary.header
            for opt in primary.options:
                if opt.key in ("address", "netmask", "gateway", "broadcast") and opt.line.text is not None:
                    anchor = opt.line
            anchor.after.append(f"{indent}{line}{nl}")
        else:
            replace_keys(host, host.stanzas[name], keys, [line])
