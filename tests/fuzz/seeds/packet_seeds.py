#!/usr/bin/env python3
"""Writes the packet harness's seed corpus: the golden packets of
tests/unit/test_packet.c (SYN, UDP, ICMP error quoting a proxied flow) and
variants that reach every branch of the packet path (too big with and
without DF, fragments, IP options, RST, non-web port, malformed), each
behind the harness's 4 knob bytes.

    tests/fuzz/seeds/packet_seeds.py tests/fuzz/corpus/fuzz_packet
"""
import os
import struct
import sys

CLIENT = bytes([198, 18, 0, 10])
SERVER = bytes([203, 0, 113, 80])


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def ipv4(proto, payload, src=CLIENT, dst=SERVER, frag=0x4000, options=b"", ident=0x1234):
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, frag, 64, proto, 0, src, dst)
    h += options
    h = h[:10] + struct.pack("!H", checksum(h)) + h[12:]
    return h + payload


def tcp(sport=40000, dport=80, flags=0x02, data=b"", options=b"\x02\x04\x05\xb4"):
    off = 5 + len(options) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, 0x01020304, 0, off << 4, flags, 0xfaf0, 0, 0) \
        + options + data


# The golden packets, byte for byte.
SYN = ipv4(6, tcp())
UDP = bytes([0x45, 0x00, 0x00, 0x20, 0xab, 0xcd, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
             198, 18, 0, 10, 203, 0, 113, 53, 0xc3, 0x50, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00]) + b"abcd"
ICMP_ERROR = bytes([0x45, 0x00, 0x00, 0x38, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00,
                    198, 18, 0, 1, 203, 0, 113, 80,
                    0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x05, 0x78,
                    0x45, 0x00, 0x05, 0xdc, 0x77, 0x77, 0x40, 0x00, 0x3f, 0x06, 0x00, 0x00,
                    203, 0, 113, 80, 198, 18, 0, 10,
                    0x00, 0x50, 0x9c, 0x40, 0xaa, 0xbb, 0xcc, 0xdd])

BIG = tcp(flags=0x18, data=bytes(range(256)) * 5)


def knobs(policy=0, malformed_drop=False, empty=False, planted=0, mtu=1480, age=0, rate=15,
          quic="reject"):
    """quic: the QUIC policy, bit 7 of the first byte plus the age's low bit."""
    b0 = (policy & 3) | (4 if malformed_drop else 0) | (8 if empty else 0) | ((planted & 7) << 4)
    m = (mtu - 48) & 0xffff
    if quic != "reject":
        b0 |= 0x80
        age = (age & 14) | (1 if quic == "pass" else 0)
    return bytes([b0, m >> 8, m & 0xff, (age & 15) | ((rate & 15) << 4)])


# A client's QUIC datagram: UDP to port 443, DF, the first bytes of an Initial.
QUIC = ipv4(17, struct.pack("!HHHH", 50000, 443, 8 + 56, 0) + b"\xc0\x00\x00\x00\x01" + bytes(51))


SEEDS = {
    "syn": knobs() + SYN,
    "syn-affinity-hit": knobs(planted=2) + SYN,
    "syn-affinity-drained": knobs(planted=3) + SYN,
    "syn-affinity-down": knobs(planted=4) + SYN,
    "syn-affinity-expired": knobs(planted=1, age=15) + SYN,
    "syn-no-proxy-drop": knobs(policy=1, empty=True) + SYN,
    "syn-no-proxy-reject": knobs(policy=2, empty=True) + SYN,
    "syn-no-proxy-bypass": knobs(policy=0, empty=True) + SYN,
    "udp-reject": knobs(policy=2, empty=True) + UDP,
    "udp": knobs() + UDP,
    "icmp-error": knobs() + ICMP_ERROR,
    "icmp-error-reject": knobs(policy=2, empty=True) + ICMP_ERROR,
    "icmp-echo": knobs() + ipv4(1, b"\x08\x00\xf7\xff\x00\x00\x00\x00"),
    "https-ack": knobs() + ipv4(6, tcp(dport=443, flags=0x10, data=b"\x16\x03\x01")),
    "not-web-port": knobs() + ipv4(6, tcp(dport=22)),
    "rst": knobs(policy=2, empty=True) + ipv4(6, tcp(flags=0x04)),
    "fin-ack-reject": knobs(policy=2, empty=True) + ipv4(6, tcp(flags=0x11, data=b"x")),
    "big-df-frag-needed": knobs(mtu=576) + ipv4(6, BIG),
    "big-df-rate-limited": knobs(mtu=576, rate=0) + ipv4(6, BIG),
    "big-no-df-fragments": knobs(mtu=576) + ipv4(6, BIG, frag=0),
    "big-no-df-tiny-mtu": knobs(mtu=48) + ipv4(6, BIG, frag=0),
    "first-fragment": knobs() + ipv4(6, tcp()[:16], frag=0x2000),
    "later-fragment": knobs() + ipv4(6, b"A" * 24, frag=0x0003),
    "ip-options": knobs() + ipv4(6, tcp(), options=b"\x01\x01\x01\x00"),
    "malformed-version-drop": knobs(malformed_drop=True) + b"\x65" + SYN[1:],
    "malformed-total-length": knobs() + SYN[:2] + b"\x00\x40" + SYN[4:],
    "malformed-tcp-offset": knobs(malformed_drop=True) + SYN[:32] + b"\x20" + SYN[33:],
    "truncated": knobs() + SYN[:12],
    "quic-reject": knobs() + QUIC,
    "quic-reject-rate-limited": knobs(rate=0) + QUIC,
    "quic-drop": knobs(quic="drop") + QUIC,
    "quic-pass": knobs(quic="pass", empty=True) + QUIC,
    "quic-not-client": knobs() + ipv4(17, QUIC[20:], src=bytes([100, 64, 0, 9])),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
