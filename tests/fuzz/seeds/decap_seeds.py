#!/usr/bin/env python3
"""Writes the decapsulator harness's seed corpus: good IPIP, 6in4, 6in6 and
4in6 datagrams from the lab's appliance, one per drop reason, a few
--address / --clients texts, and datagrams as the packet socket hands them
with a checksum left to offload, each behind the harness's knob byte.

    tests/fuzz/seeds/decap_seeds.py tests/fuzz/corpus/fuzz_decap
"""
import ipaddress
import os
import struct
import sys

IPV4_OUTER, SIX_IN_SIX, FOUR_IN_SIX, TEXT, STRANGER, PACKET = 0, 1, 2, 3, 4, 8
APPLIANCE, PROXY = "198.18.1.1", "198.18.1.11"
CLIENT, ORIGIN = "198.18.1.130", "198.18.64.10"
CLIENT6, ORIGIN6 = "2001:db8:1::80", "2001:db8:64::10"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, options=b""):
    ihl = 20 + len(options)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl // 4, 0, ihl + len(payload), 1, 0, 64, proto, 0,
                    ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed) + options
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ipv6(src, dst, payload, plen=None):
    return struct.pack("!IHBB", 6 << 28 | 0x2a << 20 | 0x12345,
                       len(payload) if plen is None else plen, 6, 64) + \
        ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload


SYN = struct.pack("!HHIIBBHHH", 40000, 80, 0x01020304, 0, 0x50, 0x02, 0xfaf0, 0, 0)
INNER4 = ipv4(CLIENT, ORIGIN, 6, SYN)
INNER6 = ipv6(CLIENT6, ORIGIN6, SYN)

APPLIANCE6 = "2001:db8:1::1"


def outer6(nh, payload):
    return struct.pack("!IHBB", 6 << 28, len(payload), nh, 64) + \
        ipaddress.IPv6Address(APPLIANCE6).packed + ipaddress.IPv6Address(ORIGIN6).packed + payload


def place(start, offset):
    """A partial checksum's start (from the outer header) and offset, little-endian."""
    return struct.pack("<HH", start, offset)


SEEDS = {
    "ipip": (IPV4_OUTER, ipv4(APPLIANCE, PROXY, 4, INNER4)),
    "ipip-options": (IPV4_OUTER, ipv4(APPLIANCE, PROXY, 4, INNER4, b"\x01" * 8)),
    "6in4": (IPV4_OUTER, ipv4(APPLIANCE, PROXY, 41, INNER6)),
    "6in4-sender": (IPV4_OUTER, ipv4(ORIGIN, PROXY, 41, INNER6)),
    "6in4-inner-source": (IPV4_OUTER, ipv4(APPLIANCE, PROXY, 41, ipv6(ORIGIN6, ORIGIN6, SYN))),
    "6in4-inner-length": (IPV4_OUTER, ipv4(APPLIANCE, PROXY, 41, ipv6(CLIENT6, ORIGIN6, SYN, 0))),
    "6in4-inner-ipv4": (IPV4_OUTER, ipv4(APPLIANCE, PROXY, 41, INNER4)),
    "6in4-short": (IPV4_OUTER, ipv4(APPLIANCE, PROXY, 41, INNER6[:39])),
    "6in6": (SIX_IN_SIX, INNER6),
    "6in6-stranger": (SIX_IN_SIX | STRANGER, INNER6),
    "6in6-multicast-source": (SIX_IN_SIX, ipv6("ff02::1", ORIGIN6, SYN)),
    "6in6-jumbo": (SIX_IN_SIX, ipv6(CLIENT6, ORIGIN6, SYN, 0)),
    "4in6": (FOUR_IN_SIX, INNER4),
    "4in6-inner-ipv6": (FOUR_IN_SIX, INNER6),
    "text-ipv6": (TEXT, b"2001:db8:1::/64"),
    "text-ipv4": (TEXT, b"198.18.1.128/25"),
    "text-mapped": (TEXT, b"::ffff:198.18.1.1/128"),
    "text-bad": (TEXT, b"2001:db8::1::2/129"),
    "packet-ipip-partial": (PACKET, place(40, 16) + ipv4(APPLIANCE, PROXY, 4, INNER4)),
    "packet-ipip-padded": (PACKET, place(40, 16) + ipv4(APPLIANCE, PROXY, 4, INNER4) + b"\0\0"),
    "packet-6in4-partial": (PACKET, place(80, 16) + ipv4(APPLIANCE, PROXY, 41, INNER6)),
    "packet-6in6-partial": (PACKET, place(80, 16) + outer6(41, INNER6)),
    "packet-4in6-partial": (PACKET, place(60, 16) + outer6(4, INNER4)),
    "packet-bad-place": (PACKET, place(10, 0) + ipv4(APPLIANCE, PROXY, 4, INNER4)),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, (knob, body) in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([knob]) + body)


if __name__ == "__main__":
    main()
