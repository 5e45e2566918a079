"""Review 27 (attacker): a host, a router and a far end whose link MTUs a test sets (as tests/probes'
path MTU lab, tests/pathlab.py, on net 79), shared by the review's probe tests.

    host: h0 --- r0 router r1 --- f0 far
          10.79.1.2/24 fd79:1::2   10.79.1.1 fd79:1::1 | 10.79.2.1 fd79:2::1   10.79.2.2/24 fd79:2::2
"""
from __future__ import annotations

import pathlab
from pathlab import Path3

# The Internet checksum, as source text for the small packet-forging scripts the tests run inside a namespace.
CHECKSUM = """
def checksum(data):
    if len(data) % 2:
        data += b"\\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
"""


def build(namespaces, router_far: int = 1500, far: int = 1500, host: int = 9000) -> Path3:
    """tests/pathlab.py's lab on net 79 (10.79.0.0/16, fd79::/16)."""
    return pathlab.build(namespaces, router_far=router_far, far=far, host=host, net=79)
