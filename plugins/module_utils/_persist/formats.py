# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The persistent-configuration formats by name (the module's `format` choices)."""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2 import Ifupdown2Format
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile import KeyfileFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.netplan import NetplanFormat
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NetworkdFormat

FORMAT_CLASSES = (Ifupdown2Format, KeyfileFormat, NetplanFormat, NetworkdFormat)

FORMATS = {cls.NAME: cls for cls in FORMAT_CLASSES}
