# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Where text sits in a file: a stanza's end, the blank lines after it, and a new stanza's text.

Proxmox VE writes a stanza's comments after its options, so they belong to
that stanza; comments right above an `auto`/`iface`/`source` line head that one.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.host import Host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.lines import File, Line


def indent_of(stanza) -> str:
    return stanza.options[0].indent if stanza.options else "\t"


def newline_of(stanza_or_file, host: Host) -> str:
    path = stanza_or_file.path
    return host.files[path].newline


def stanza_end(f: File, stanza) -> int:
    """Index of the stanza's last line: its last option, then the comment lines right after it.

    Proxmox VE writes a stanza's comments after its options; comment lines
    directly above an `auto`/`iface`/`source` line head that one instead.
    """
    last = f.lines.index(stanza.last)
    index = last
    while index + 1 < len(f.lines) - 1:
        text = f.lines[index + 1].text
        if text is None:
            index += 1
            continue
        if not text.strip().startswith("#"):
            break
        index += 1
    following = next((line.text for line in f.lines[index + 1:-1] if line.text is not None), None)
    if following is not None and following.strip() and not following.strip().startswith("#"):
        return last   # the comments run straight into the next item: they head it
    return index


def delete_stanza(host: Host, stanza) -> None:
    """The stanza's lines (with its trailing comments), and the blank lines right after it."""
    f = host.files[stanza.path]
    index = next(i for i, line in enumerate(f.lines) if line is stanza.header)
    last = stanza_end(f, stanza)
    for line in f.lines[index:last + 1]:
        line.text = None
    for line in f.lines[last + 1:-1]:
        if line.text is None or line.text.strip():
            break
        line.text = None


def stanza_text(name: str, family: str, method: str, lines: list, nl: str) -> str:
    return f"iface {name} {family} {method}{nl}" + "".join(f"\t{line}{nl}" for line in lines) + nl


def address_lines(addresses, gateway) -> list:
    return [f"address {a}" for a in addresses] + ([f"gateway {gateway}"] if gateway else [])


def after_stanza(f: File, stanza) -> Line:
    """The line after which text following `stanza` goes: its end, then the blank lines after it."""
    index = stanza_end(f, stanza)
    anchor = f.lines[index]
    for line in f.lines[index + 1:-1]:
        if line.text is not None and line.text.strip():
            break
        anchor = line
    return anchor


def separated(f: File, anchor: Line, text: str) -> str:
    """`text`, with a blank line first when it would follow a line that is not blank."""
    previous = anchor.after[-1] if anchor.after else anchor.text
    if previous is not None and previous.strip() and not previous.endswith(f.newline * 2):
        return f.newline + text
    return text
