"""A secret continued onto the next line (`wpa-psk first \\` / `  rest`): no part of it leaves the module.

Found by the operator review: the save was refused (continued lines are not supported), and the refusal quoted
the continued half of the secret: "line 7: option 'MoreSecret88' of vmbr0 has no value". A secret's value is its
whole logical line: the parser no longer reads a continuation as an option of its own, and redaction and
Ansible's no_log masking take every line of it (docs/net_persist.md, "Secrets").
"""
from __future__ import annotations

import pytest

import persist_lab
from persist_lab import persist
from nstools import iproute

from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS

pytestmark = pytest.mark.kernel

FILE = """auto lo
iface lo inet loopback

auto vmbr0
iface vmbr0 inet manual
\twpa-psk ContinuedSecret77 \\

\t  MoreSecret88 \\
\t  LastSecret99
\tbridge-ports eno1
\tbridge-stp off
\tbridge-fd 0
"""


def test_no_part_of_a_continued_secret_is_quoted_refused_or_shown(namespaces, tmp_path):
    ns, peer = namespaces.new(), namespaces.new()
    persist_lab.nics(ns, peer, ("eno1", "eno2"))
    iproute(ns, ["ip link add vmbr0 type bridge stp_state 0 forward_delay 0", "ip link set eno1 master vmbr0",
                 "ip link set eno1 up", "ip link set vmbr0 up", "ip link set vmbr0 mtu 1400", "ip link set eno2 up"])
    main = tmp_path / "etc/network/interfaces"
    main.parent.mkdir(parents=True)
    main.write_text(FILE)
    refused = persist(ns, tmp_path, "ifupdown2", devices=["vmbr0"])
    assert refused["failed"] and "Secret" not in str(refused), refused
    assert refused["msg"] == ("/etc/network/interfaces line 6: a line continued with '\\' is not supported here; "
                              "join it into one line")
    # A save of another device shows the file (diff, rendered) with every line of the secret hidden.
    other = persist(ns, tmp_path, "ifupdown2", devices=["eno2"])
    assert other["changed"] and not other.get("failed") and "Secret" not in str(other), other
    assert "wpa-psk ********\n\n\t  ********\n\t  ********\n" in other["diff"][0]["before"]
    assert FILE.split("auto vmbr0")[1] in main.read_text()   # the file itself keeps it


@pytest.mark.parametrize("fmt, text", [
    ("ifupdown2", "iface wlan0 inet dhcp\n\twpa-psk First \\\n\n  Second \\\n  Third\n\tmtu 1500\n"),
    ("networkd", "[WireGuard]\nPrivateKey=First \\\n  Second \\\n  Third\nListenPort=51820\n"),
    ("networkmanager", "[wifi-security]\npsk=First \\\nSecond \\\nThird\nkey-mgmt=wpa-psk\n"),
])
def test_every_format_redacts_and_masks_all_of_a_continued_secret(fmt, text):
    form = FORMATS[fmt]("/x")
    shown = form.redact(text)
    assert not any(word in shown for word in ("First", "Second", "Third")), shown
    assert ("mtu 1500" in shown) or ("ListenPort=51820" in shown) or ("key-mgmt=wpa-psk" in shown)
    assert form.secret_values(text) == {"First", "Second", "Third"}
