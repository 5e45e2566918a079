"""The rtnetlink codec: attribute layout and error decoding, without a kernel."""
from __future__ import annotations

import errno
import struct

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import netlink as nl


def test_attributes_are_padded_to_four_bytes_and_parse_back():
    data = nl.attr_str(nl.IFLA_IFNAME, "br0") + nl.attr_u32(nl.IFLA_MTU, 9000) + nl.attr_u8(99, 7)
    assert len(nl.attr_str(nl.IFLA_IFNAME, "br0")) == 8  # 4 header + 'br0\0'
    assert len(nl.attr_u8(99, 7)) == 8  # 5 bytes padded
    found = nl.parse_attrs(data, 0, len(data))
    assert nl.as_str(found[nl.IFLA_IFNAME]) == "br0"
    assert nl.as_u32(found[nl.IFLA_MTU]) == 9000
    assert nl.as_u8(found[99]) == 7


def test_nested_attributes_carry_the_nested_flag_and_parse_inside():
    blob = nl.nested(nl.IFLA_LINKINFO, nl.attr_str(nl.IFLA_INFO_KIND, "bridge"))
    kind = struct.unpack_from("=H", blob, 2)[0]
    assert kind == nl.IFLA_LINKINFO | 0x8000
    outer = nl.parse_attrs(blob, 0, len(blob))
    inner = outer[nl.IFLA_LINKINFO]
    assert nl.as_str(nl.parse_attrs(inner, 0, len(inner))[nl.IFLA_INFO_KIND]) == "bridge"


def test_truncated_attribute_stops_parsing_instead_of_looping():
    data = struct.pack("=HH", 2, 1) + b"\0" * 8
    assert nl.parse_attrs(data, 0, len(data)) == {}


def test_error_message_with_extended_ack_text():
    echoed = struct.pack("=IHHII", 32, nl.RTM_NEWLINK, 5, 1, 0)
    tlv = nl.attr_str(nl.NLMSGERR_ATTR_MSG, "Device does not allow enslaving to a bridge")
    body = struct.pack("=i", -errno.EOPNOTSUPP) + echoed + tlv
    code, text = nl._error_of(body, nl.NLM_F_ACK_TLVS | 0x100)
    assert code == errno.EOPNOTSUPP
    assert text == "Device does not allow enslaving to a bridge"
    err = nl.NetlinkError(code, text)
    assert "Operation not supported" in str(err) and "enslaving" in str(err)


def test_ack_is_error_zero():
    body = struct.pack("=i", 0) + struct.pack("=IHHII", 16, 16, 5, 1, 0)
    assert nl._error_of(body, 0x100) == (0, "")


@pytest.mark.parametrize("name", ["", "a/b", "..", ".", "x/../../tmp/y", "ns*", "ns 1"])
def test_namespace_names_outside_the_rule_are_refused(name):
    with pytest.raises(ValidationError, match="namespace: .* is not a valid namespace name"):
        nl.namespace_path(name)


def test_missing_namespace_is_reported_not_created(tmp_path, monkeypatch):
    monkeypatch.setattr(nl, "NETNS_DIR", str(tmp_path))
    with pytest.raises(nl.NamespaceNotFound, match="does not exist"):
        nl.namespace_path("nosuchns")
    assert list(tmp_path.iterdir()) == []
