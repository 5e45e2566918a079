# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""New stanzas, where Proxmox VE's writer would put them.

NICs, bonds, bridges, then VLANs named otherwise than parent.id (by the type
of the name's root, plus one per dot), each after the last stanza of its rank
and before a trailing `source` line.
"""
from __future__ import annotations

import ipaddress
import re

from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import Bond, Bridge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.host import Host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.keywords import PRIO
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.layout import (
    address_lines, after_stanza, separated, stanza_text,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.lines import File, Line
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.render import Context, stanza_fields


def _new_text(ctx: Context, dev, nl: str) -> str:
    """The `auto` line and the stanzas of a device the files do not describe yet (inet, then inet6)."""
    addresses = dev.ip.addresses or []
    v4 = [a for a in addresses if ipaddress.ip_interface(a).version == 4]
    v6 = [a for a in addresses if ipaddress.ip_interface(a).version == 6]
    lines = address_lines(v4, dev.ip.gateway4)
    if isinstance(dev, Bridge):
        lines.append(f"bridge-ports {' '.join(ctx.ports(dev.name, [])) or 'none'}")
    elif isinstance(dev, Bond):
        lines.append(f"bond-slaves {' '.join(ctx.ports(dev.name, [])) or 'none'}")
    for _field, _value, _keys, field_lines in stanza_fields(dev, ctx):
        lines += field_lines
    if not dev.up:
        lines.append("link-down yes")
    text = f"auto {dev.name}{nl}" + stanza_text(dev.name, "inet", "static" if v4 else "manual", lines, nl)
    if v6:
        text += stanza_text(dev.name, "inet6", "static", address_lines(v6, dev.ip.gateway6), nl)
    return text


def _prio(ctx: Context, host: Host, name: str) -> int:
    """Proxmox VE's order: by the type of the name's root (eth0 of eth0.10), plus one per dot."""
    root, *rest = re.split(r"[.:]", name)
    dev = ctx.final.get(root) or host.model.get(root)
    kind = "lo" if root == "lo" else (dev.TYPE if dev is not None else "nic")
    return PRIO.get(kind, PRIO["nic"]) + len(rest)


def add_new(host: Host, ctx: Context, new: list, main: str) -> None:
    """New stanzas for `new` devices, each in its place in the main file `main`."""
    if not new:
        return
    f = host.files[main]
    existing = [st for st in f.stanzas if not st.opaque and st.name in host.stanzas
                and st.header.text is not None]
    for dev in sorted(new, key=lambda d: (_prio(ctx, host, d.name), d.name)):
        prio = _prio(ctx, host, dev.name)
        text = _new_text(ctx, dev, f.newline)
        before = [st for st in existing if _prio(ctx, host, st.name) <= prio]
        if before:
            anchor = after_stanza(f, before[-1])
            anchor.after.append(separated(f, anchor, text))
            continue
        later = [st for st in existing if _prio(ctx, host, st.name) > prio]
        if later:
            line = _block_start(f, later[0])
            line.before.append(text)
            continue
        line = _trailing_sources(f)
        if line is f.end:
            anchor = f.lines[-2] if len(f.lines) > 1 else f.end
            if anchor is f.end:
                f.end.before.append(text)
            else:
                anchor.after.append(separated(f, anchor, text))
        else:
            line.before.append(text)


def _block_start(f: File, stanza) -> Line:
    """The first of the `auto`/`allow-` and comment lines right above `stanza` (they belong to it)."""
    index = f.lines.index(stanza.header)
    start = index
    while start > 0:
        text = f.lines[start - 1].text
        if text is None or not text.strip():
            break
        word = text.split()[0]
        if not (word.startswith("#") or word == "auto" or word.startswith("allow-")):
            break
        start -= 1
    return f.lines[start]


def _trailing_sources(f: File) -> Line:
    """The first `source` line after the file's last stanza (new stanzas go before it), else the end."""
    last_stanza = max((f.lines.index(st.last) for st in f.stanzas if st.header.text is not None), default=-1)
    for line, _word, _arg, _n in f.sources:
        if line.text is not None and f.lines.index(line) > last_stanza:
            return line
    return f.end
