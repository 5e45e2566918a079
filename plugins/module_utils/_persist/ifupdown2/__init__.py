# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this package.
"""ifupdown2's /etc/network/interfaces (Proxmox VE, Debian): edit only the stanzas of the devices in scope.

The file is the operator's (and Proxmox VE's web UI's): every byte outside
the lines of the devices we change stays as it was (comments, other stanzas,
`source` lines, order, tabs or spaces). A device's stanzas stay in the file
that defines them (main file or a `source`d one); a new device goes into the
main file where Proxmox VE's writer would put it (NICs, bonds, bridges, then
VLANs named otherwise than parent.id; before a trailing `source` line).

What a stanza means is what Debian's ifupdown2 3.0 does with it (read in
tests/persist/test_ifupdown2_real.py, docs/net_persist_ifupdown2.md): a key
the file leaves out means what ifupdown2 does without it (no STP, forward
delay 15 s, no VLAN filtering, the kernel's bond defaults, 802.1Q); ports and
slaves are brought up with their bridge or bond; `link-down yes` keeps a
device that `auto` creates down. What ifupdown2 has no key for (a fractional
forward delay, ARP monitoring and ad_select of a bond, the bridge's own VLAN
entry) is written as an `ip`/`bridge` command on a `pre-up`/`post-up` line of
the device's stanza, in one fixed form the parser reads back.

One job per module, in the order a render uses them: keywords (the words of
the files), templates (names Mako and globs generate), lines (the file as
lines and stanzas), sources (`source` lines), host and devices (what the
stanzas mean), render (what a stanza says of a device), layout, edit and
insert (changing the text), format (`Ifupdown2Format`, the entry point).
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.format import Ifupdown2Format
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.keywords import (
    IFUPDOWN2_DEFAULT_MTU,
)

__all__ = ("IFUPDOWN2_DEFAULT_MTU", "Ifupdown2Format")
