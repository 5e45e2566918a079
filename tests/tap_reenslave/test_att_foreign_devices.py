"""Review (attacker): a guest config may name any tap or veth on the host, including another tenant's.

The guard of issue 22 item 5 only asks that the named device be a tun/tap or veth (or match guest_patterns).
A libvirt domain that is merely *defined* (never started) and names a Docker container's veth, or another
guest's tap, with a bridge of its choosing: tap_reenslave (source libvirt, libvirt_read persistent, or auto
without /run/libvirt/qemu) moves that device to the domain's bridge.
"""
from __future__ import annotations

import pytest

from conftest import add_bridge, batch, links, reenslave

pytestmark = pytest.mark.kernel

EVIL = """<domain type='kvm'><name>evil</name><devices>
  <interface type='bridge'><source bridge='vmbr9'/><target dev='vethd0cker1'/></interface>
  <interface type='bridge'><source bridge='vmbr9'/><target dev='vnet0'/></interface>
</devices></domain>"""
WEB = """<domain type='kvm'><name>web</name><devices>
  <interface type='bridge'><source bridge='vmbr0'/><target dev='vnet0'/></interface>
</devices></domain>"""


def test_a_defined_domain_cannot_take_another_tenants_device(netns, tmp_path):
    etc = tmp_path / "libvirt"
    etc.mkdir()
    (etc / "evil.xml").write_text(EVIL)
    (etc / "web.xml").write_text(WEB)
    add_bridge(netns, "docker0")
    add_bridge(netns, "vmbr0")
    add_bridge(netns, "vmbr9")
    batch(netns, ["link add vethd0cker1 type veth peer name eth0c", "link set vethd0cker1 master docker0",
                  "link set vethd0cker1 up", "tuntap add vnet0 mode tap", "link set vnet0 master vmbr0",
                  "link set vnet0 up"])
    result = reenslave(netns, source="libvirt", libvirt_xml_dir=str(etc), libvirt_read="persistent",
                       libvirt_status_dir=str(tmp_path / "none"))
    now = links(netns)
    print(result.get("commands"), result.get("warnings"), result.get("failed_guests"))
    assert now["vethd0cker1"]["master"] == "docker0", result.get("commands")
    assert now["vnet0"]["master"] == "vmbr0", result.get("commands")
