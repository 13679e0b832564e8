#!/usr/bin/env python3
"""tests/lab/storm.py - malformed and unusual IPv4 packets, written raw onto the wire.

Run inside the lab's client namespace:
  storm.py --dev eth0 --dst-mac MAC --origin IP --peer IP --count N [--rate PPS] CLASS...
Sends N frames of each CLASS (AF_PACKET, so the kernel checks nothing on the
way out), class after class, from source address 198.18.1.(200 + class
index). Prints "CLASS SENT" per class. Classes:
  trunc       12 bytes of IP header                 (receiver: header error)
  bad_ihl     IHL 4                                 (header error)
  len_long    total length 1000 in a 20-byte packet (truncated packet)
  len_short   total length 12, less than the header (header error)
  bad_csum    wrong header checksum                 (checksum error)
  ttl1        TCP SYN to :80 with TTL 1             (not forwarded: time exceeded)
  options     TCP SYN to :80 with 8 bytes of IP options (a well-formed packet)
  tcp_trunc   TCP with 8 of its 20 header bytes     (droverd: l4_truncated)
  tcp_doff    TCP data offset 3                     (droverd: tcp_offset)
  frag_first  first fragment of a SYN to :80, 40 bytes (follows its client)
  frag_tail   a non-first TCP fragment              (follows its client)
  frag_tiny   first fragment with only the ports    (follows its client)
  icmp_web    ICMP frag-needed quoting origin:80 -> --peer (a proxied flow)
  icmp_other  ICMP port-unreachable quoting a UDP :53 flow (not web)
  icmp_trunc  ICMP unreachable with a 6-byte quote  (droverd: l4_truncated)
"""
import argparse
import socket
import struct
import sys
import time

CLASSES = ["trunc", "bad_ihl", "len_long", "len_short", "bad_csum", "ttl1", "options",
           "tcp_trunc", "tcp_doff", "frag_first", "frag_tail", "frag_tiny", "icmp_web",
           "icmp_other", "icmp_trunc"]


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def ip(src, dst, proto, payload, ttl=64, ihl=5, options=b"", frag=0x4000, ident=1,
       total=None, bad_csum=False):
    tot = total if total is not None else 20 + len(options) + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, ident, frag, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst)) + options
    c = csum(hdr)
    if bad_csum:
        c ^= 0x5555
    return hdr[:10] + struct.pack("!H", c) + hdr[12:]


def tcp(sport, dport, flags=0x02, doff=5, seq=1000):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, doff << 4, flags, 64240, 0, 0)


def build(cls, src, origin, peer, n):
    sport = 20000 + n % 40000
    syn = tcp(sport, 80)
    if cls == "trunc":
        return ip(src, origin, 6, syn)[:12]
    if cls == "bad_ihl":
        p = ip(src, origin, 6, syn)
        return bytes([0x44]) + p[1:]
    if cls == "len_long":
        return ip(src, origin, 6, syn, total=1000)
    if cls == "len_short":
        return ip(src, origin, 6, syn, total=12)
    if cls == "bad_csum":
        return ip(src, origin, 6, syn, bad_csum=True) + syn
    if cls == "ttl1":
        return ip(src, origin, 6, syn, ttl=1) + syn
    if cls == "options":
        opts = b"\x01\x01\x01\x01\x01\x01\x01\x00"
        return ip(src, origin, 6, syn, ihl=7, options=opts) + syn
    if cls == "tcp_trunc":
        return ip(src, origin, 6, syn[:8]) + syn[:8]
    if cls == "tcp_doff":
        bad = tcp(sport, 80, doff=3)
        return ip(src, origin, 6, bad) + bad
    if cls == "frag_first":
        body = syn + b"x" * 20
        return ip(src, origin, 6, body, frag=0x2000, ident=n & 0xffff) + body
    if cls == "frag_tail":
        body = b"y" * 24
        return ip(src, origin, 6, body, frag=185, ident=n & 0xffff) + body
    if cls == "frag_tiny":
        body = syn[:8]
        return ip(src, origin, 6, body, frag=0x2000, ident=n & 0xffff) + body
    if cls in ("icmp_web", "icmp_other", "icmp_trunc"):
        if cls == "icmp_web":
            # What a proxy sent the peer with the origin's address: origin:80 -> peer.
            inner_l4 = tcp(80, 30000 + n % 1000, flags=0x12)
            inner = ip(origin, peer, 6, inner_l4) + inner_l4[:8]
            icmp_t, code, rest = 3, 4, struct.pack("!HH", 0, 1400)
        elif cls == "icmp_other":
            udp = struct.pack("!HHHH", 53, 40000, 8, 0)
            inner = ip(origin, src, 17, udp) + udp
            icmp_t, code, rest = 3, 3, b"\0\0\0\0"
        else:
            inner = ip(origin, src, 6, syn)[:6]
            icmp_t, code, rest = 3, 1, b"\0\0\0\0"
        msg = struct.pack("!BBH", icmp_t, code, 0) + rest + inner
        msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
        return ip(src, origin, 1, msg) + msg
    raise ValueError(cls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0, help="frames per second (0: as fast as possible)")
    ap.add_argument("classes", nargs="*")
    a = ap.parse_args()
    classes = a.classes or CLASSES
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.dev, 0))
    src_mac = s.getsockname()[4]
    dst_mac = bytes.fromhex(a.dst_mac.replace(":", ""))
    eth = dst_mac + src_mac + b"\x08\x00"
    for cls in classes:
        src = "198.18.1.%d" % (200 + CLASSES.index(cls))
        sent = 0
        for n in range(a.count):
            s.send(eth + build(cls, src, a.origin, a.peer, n))
            sent += 1
            if a.rate:
                time.sleep(1.0 / a.rate)
        print(cls, sent, flush=True)


if __name__ == "__main__":
    main()
