#!/usr/bin/env python3
"""Writes the IPv6 packet harness's seed corpus: the golden packets of
tests/unit/test_packet6.c (a SYN, UDP, each extension header, the full
chain, first and later fragments, ICMPv6 echo and errors) and one packet per
malformed reason, each behind the harness's 3 knob bytes.

    tests/fuzz/seeds/packet6_seeds.py tests/fuzz/corpus/fuzz_packet6
"""
import ipaddress
import os
import struct
import sys

CLIENT = ipaddress.IPv6Address("2001:db8:1::10").packed
SERVER = ipaddress.IPv6Address("2001:db8:ff::80").packed
ROUTER = ipaddress.IPv6Address("2001:db8:1::1").packed

HOP, TCP, UDP, ROUTING, FRAG, ESP, AH, ICMP6, NONE, DST = 0, 6, 17, 43, 44, 50, 51, 58, 59, 60
EXT = (HOP, ROUTING, FRAG, AH, DST)

TCP_SYN = struct.pack("!HHIIBBHHH", 40000, 80, 0x01020304, 0, 0x60, 0x02, 0xfaf0, 0, 0) + \
    b"\x02\x04\x05\xa0"
UDP_DNS = struct.pack("!HHHH", 50000, 53, 12, 0) + b"abcd"
HOP_BY_HOP = b"\0\x00\x01\x04\0\0\0\0"
DEST_OPTIONS = b"\0\x01\x01\x0c" + bytes(12)
ROUTING_HDR = b"\0\x02\x04\x00\0\0\0\0" + SERVER
AUTH = b"\0\x04\0\0\0\0\x10\x01\0\0\0\x01" + bytes(range(0xa1, 0xad))
FRAG_FIRST = b"\0\x00\x00\x01\xde\xad\xbe\xef"
FRAG_LATER = b"\0\x00\x05\xa8\xde\xad\xbe\xef"
FRAG_ATOMIC = b"\0\x00\x00\x00\xde\xad\xbe\xef"


def ipv6(parts, src=CLIENT, dst=SERVER, word0=0x6b812345, payload_len=None):
    """The IPv6 header, then (type, bytes) parts chained by their next header fields."""
    body = b""
    types = [t for t, _ in parts]
    for i, (t, b) in enumerate(parts):
        if t in EXT:
            nxt = types[i + 1] if i + 1 < len(types) else NONE
            b = bytes([nxt]) + b[1:]
        body += b
    first = types[0] if types else NONE
    plen = len(body) if payload_len is None else payload_len
    return struct.pack("!IHBB", word0, plen, first, 64) + src + dst + body


def knobs(mtu=1400, prefix=64):
    m = (mtu - 1200) & 0xffff
    return bytes([m >> 8, m & 0xff, prefix])


SYN = ipv6([(TCP, TCP_SYN)])
QUOTE = struct.pack("!IHBB", 0x60000000, 1460, DST, 63) + SERVER + CLIENT + \
    bytes([TCP]) + DEST_OPTIONS[1:] + b"\x00\x50\x9c\x40\xaa\xbb\xcc\xdd"
ICMP_ERROR = ipv6([(ICMP6, b"\x02\x00\x00\x00\x00\x00\x05\x78" + QUOTE)], src=ROUTER)
MAPPED = bytes(10) + b"\xff\xff" + bytes([198, 18, 0, 10])

SEEDS = {
    "syn": knobs() + SYN,
    "udp": knobs() + ipv6([(UDP, UDP_DNS)]),
    "hop-by-hop": knobs() + ipv6([(HOP, HOP_BY_HOP), (TCP, TCP_SYN)]),
    "destination-options": knobs() + ipv6([(DST, DEST_OPTIONS), (TCP, TCP_SYN)]),
    "routing": knobs() + ipv6([(ROUTING, ROUTING_HDR), (TCP, TCP_SYN)]),
    "authentication": knobs() + ipv6([(AH, AUTH), (TCP, TCP_SYN)]),
    "atomic-fragment": knobs() + ipv6([(FRAG, FRAG_ATOMIC), (TCP, TCP_SYN)]),
    "full-chain": knobs(prefix=48) + ipv6([(HOP, HOP_BY_HOP), (DST, DEST_OPTIONS),
                                           (ROUTING, ROUTING_HDR), (FRAG, FRAG_ATOMIC),
                                           (AH, AUTH), (DST, DEST_OPTIONS), (TCP, TCP_SYN)]),
    "eight-headers": knobs() + ipv6([(DST, DEST_OPTIONS)] * 8 + [(TCP, TCP_SYN)]),
    "no-next-header": knobs() + ipv6([(DST, DEST_OPTIONS)]),
    "esp": knobs() + ipv6([(ESP, b"\0\0\x10\x01\0\0\0\x01")]),
    "first-fragment": knobs() + ipv6([(HOP, HOP_BY_HOP), (FRAG, FRAG_FIRST),
                                      (TCP, TCP_SYN[:12] + b"\x60\x18" + TCP_SYN[14:] +
                                       bytes(8))]),
    "later-fragment": knobs() + ipv6([(FRAG, FRAG_LATER), (TCP, TCP_SYN)]),
    "icmp6-echo": knobs() + ipv6([(ICMP6, b"\x80\x00\x12\x34\x00\x07\x00\x01")]),
    "icmp6-error": knobs() + ICMP_ERROR,
    "icmp6-error-short-quote": knobs() + ICMP_ERROR[:-16][:4] +
    struct.pack("!H", len(ICMP_ERROR) - 16 - 40) + ICMP_ERROR[6:-16],
    "big-ptb": knobs(mtu=1280, prefix=128) + ipv6([(TCP, TCP_SYN + bytes(range(256)) * 6)]),
    "ptb-mtu-too-small": knobs(mtu=1279) + SYN,
    # One per malformed reason.
    "truncated": knobs() + SYN[:39],
    "version": knobs() + b"\x4b" + SYN[1:],
    "payload-length": knobs() + SYN[:4] + b"\x00\x19" + SYN[6:],
    "jumbogram": knobs() + ipv6([(HOP, b"\0\x00\xc2\x04\x00\x01\x00\x00"), (TCP, TCP_SYN)],
                                payload_len=0),
    "source-multicast": knobs() + ipv6([(TCP, TCP_SYN)], src=b"\xff\x02" + bytes(13) + b"\x01"),
    "source-mapped": knobs() + ipv6([(TCP, TCP_SYN)], src=MAPPED),
    "ext-truncated": knobs() + ipv6([(HOP, b"\0\x01\x01\x04\0\0\0\0")]),
    "ext-count": knobs() + ipv6([(DST, DEST_OPTIONS)] * 9 + [(TCP, TCP_SYN)]),
    "ext-order": knobs() + ipv6([(DST, DEST_OPTIONS), (HOP, HOP_BY_HOP), (TCP, TCP_SYN)]),
    "two-fragment-headers": knobs() + ipv6([(FRAG, FRAG_ATOMIC), (FRAG, FRAG_ATOMIC),
                                            (TCP, TCP_SYN)]),
    "fragment-not-multiple": knobs() + ipv6([(FRAG, FRAG_FIRST), (TCP, bytes(7))]),
    "fragment-too-far": knobs() + ipv6([(FRAG, b"\0\x00\xff\xf8\xde\xad\xbe\xef"),
                                        (TCP, bytes(16))]),
    "first-fragment-no-tcp": knobs() + ipv6([(FRAG, FRAG_FIRST), (TCP, TCP_SYN[:8])]),
    "udp-truncated": knobs() + ipv6([(UDP, UDP_DNS[:4])]),
    "tcp-offset": knobs() + ipv6([(TCP, TCP_SYN[:12] + b"\x40" + TCP_SYN[13:])]),
    "icmp6-truncated": knobs() + ipv6([(ICMP6, b"\x80\x00\x00\x00")]),
    "icmp6-quote-ipv4": knobs() + ICMP_ERROR[:48] + b"\x45" + ICMP_ERROR[49:],
    "icmp6-quote-mapped-client": knobs() + ICMP_ERROR[:72] + MAPPED + ICMP_ERROR[88:],
    "mapped-destination-ptb": knobs() + ipv6([(TCP, TCP_SYN)], dst=MAPPED),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
