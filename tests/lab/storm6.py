#!/usr/bin/env python3
"""tests/lab/storm6.py - unusual and malformed IPv6 packets, written raw onto the wire.

Run inside the lab's client namespace:
  storm6.py --dev eth0 --dst-mac MAC --src-prefix PFX --origin IP6 --count N [--rate PPS] CLASS...
Sends N frames of each CLASS (AF_PACKET, so the kernel checks nothing on the
way out), class after class, frame n from source address PFX:2(class index)(n
mod 100): 100 clients per class; frag_tail comes from frag_first's clients
(frame n is the tail of frame n's datagram), icmp_own from ext_hbh's. Prints
"CLASS SENT" per class. Classes (what a drover appliance should make of them):
  ext_hbh     TCP SYN to :80 behind a hop-by-hop header  (well formed: proxied)
  ext_dst     TCP SYN to :80 behind destination options  (well formed: proxied)
  ext_count   TCP SYN to :80 behind 9 destination options headers (droverd: ext_count)
  tcp_doff    TCP SYN to :80 with data offset 3          (droverd: tcp_offset)
  frag_first  first fragment of a SYN to :80, whole TCP header (follows its client)
  frag_tail   the later fragment of the same datagram    (follows its client)
  icmp_own    ICMPv6 destination unreachable quoting origin:80 -> the sender (its
              own flow: follows its client)
  too_big     a 1500-byte TCP segment to :80 from ext_dst's clients: no room for the
              tunnel header (droverd: Packet Too Big, or rate limited)
  hlim1       TCP SYN to :80 with hop limit 1            (kernel: not forwarded)
  plen_long   payload length 1000 in a 20-byte payload   (kernel: truncated packet)
"""
import argparse
import ipaddress
import socket
import struct
import sys
import time

CLASSES = ["ext_hbh", "ext_dst", "ext_count", "tcp_doff", "frag_first", "frag_tail", "icmp_own",
           "too_big", "hlim1", "plen_long"]
NH_HBH, NH_TCP, NH_ROUTING, NH_FRAG, NH_ICMP6, NH_DSTOPT = 0, 6, 43, 44, 58, 60
EXT_DST_COUNT = 9
# A class whose frames come from another class's clients.
SOURCE_CLASS = {"frag_tail": "frag_first", "icmp_own": "ext_hbh", "too_big": "ext_dst"}
CLIENTS_PER_CLASS = 100
FRAG_TAIL_OFFSET = 8
LINK_MTU = 1500  # the lab's links: the biggest packet the appliance can receive  # bytes: the tail starts after the first fragment's 8-byte multiple


def ip6(src, dst, nxt, payload, hlim=64, plen=None):
    n = plen if plen is not None else len(payload)
    return struct.pack("!IHBB16s16s", 6 << 28, n, nxt, hlim, src.packed, dst.packed) + payload


def tcp(sport, dport, flags=0x02, doff=5, seq=1000):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, doff << 4, flags, 64240, 0, 0)


def opts(nxt):
    """An 8-byte options header (hop-by-hop or destination) padded with PadN."""
    return struct.pack("!BB", nxt, 0) + b"\x01\x04\0\0\0\0"


def frag(nxt, offset, more, ident):
    return struct.pack("!BBHI", nxt, 0, (offset & 0xfff8) | (1 if more else 0), ident)


def build(cls, src, origin, n):
    sport = 20000 + n % 40000
    syn = tcp(sport, 80)
    if cls == "ext_hbh":
        return ip6(src, origin, NH_HBH, opts(NH_TCP) + syn)
    if cls == "ext_dst":
        return ip6(src, origin, NH_DSTOPT, opts(NH_TCP) + syn)
    if cls == "ext_count":
        chain = b"".join(opts(NH_DSTOPT) for _ in range(EXT_DST_COUNT - 1)) + opts(NH_TCP)
        return ip6(src, origin, NH_DSTOPT, chain + syn)
    if cls == "tcp_doff":
        return ip6(src, origin, NH_TCP, tcp(sport, 80, doff=3))
    if cls == "frag_first":
        return ip6(src, origin, NH_FRAG, frag(NH_TCP, 0, True, n) + syn + b"x" * 4)
    if cls == "frag_tail":
        return ip6(src, origin, NH_FRAG, frag(NH_TCP, FRAG_TAIL_OFFSET * 3, False, n) + b"y" * 24)
    if cls == "icmp_own":
        inner_l4 = tcp(80, sport, flags=0x12)
        inner = ip6(origin, src, NH_TCP, inner_l4)
        msg = struct.pack("!BBHI", 1, 4, 0, 0) + inner
        return ip6(src, origin, NH_ICMP6, msg)
    if cls == "too_big":
        ack = tcp(sport, 80, flags=0x10)
        return ip6(src, origin, NH_TCP, ack + b"z" * (LINK_MTU - 40 - len(ack)))
    if cls == "hlim1":
        return ip6(src, origin, NH_TCP, syn, hlim=1)
    if cls == "plen_long":
        return ip6(src, origin, NH_TCP, syn, plen=1000)
    raise ValueError(cls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src-prefix", required=True, help="e.g. 2001:db8:1:: (sources PFX:2CNN)")
    ap.add_argument("--origin", required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0, help="frames per second (0: as fast as possible)")
    ap.add_argument("classes", nargs="*", default=CLASSES)
    a = ap.parse_args()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.dev, 0))
    dst_mac = bytes.fromhex(a.dst_mac.replace(":", ""))
    src_mac = s.getsockname()[4][:6]
    eth = dst_mac + src_mac + struct.pack("!H", 0x86DD)
    origin = ipaddress.IPv6Address(a.origin)
    gap = 1.0 / a.rate if a.rate > 0 else 0
    for cls in a.classes:
        ci = CLASSES.index(SOURCE_CLASS.get(cls, cls))
        sent = 0
        t0 = time.monotonic()
        for n in range(a.count):
            src = ipaddress.IPv6Address("%s2%d%02d" % (a.src_prefix, ci, n % CLIENTS_PER_CLASS))
            s.send(eth + build(cls, src, origin, n))
            sent += 1
            if gap:
                delay = t0 + sent * gap - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        print(cls, sent)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
