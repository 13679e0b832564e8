#!/usr/bin/env python3
"""tests/lab/big6.py - one oversize IPv6 TCP packet, and the Packet Too Big it earns.

  big6.py SRC DST PORT SIZE TIMEOUT_S

Sends, from SRC, a TCP ACK of SIZE bytes in all (IPv6 header included) to
[DST]:PORT, then waits up to TIMEOUT_S for an ICMPv6 Packet Too Big quoting
it. Prints "mtu N from ADDRESS" and exits 0, or prints "none" and exits 1.
"""
import socket
import struct
import sys
import time

IPV6_CHECKSUM = 7
TCP_CHECKSUM_OFFSET = 16
ICMP6_PACKET_TOO_BIG = 2
IPV6_HLEN = 40
TCP_HLEN = 20
TCP_ACK = 0x10
SPORT = 40123


def main():
    src, dst, port, size, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(
        sys.argv[4]), float(sys.argv[5])
    listen = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    send = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)
    send.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, TCP_CHECKSUM_OFFSET)
    send.bind((src, 0))
    payload = bytes(i & 0xFF for i in range(size - IPV6_HLEN - TCP_HLEN))
    tcp = struct.pack("!HHIIBBHHH", SPORT, port, 1000, 2000, (TCP_HLEN // 4) << 4, TCP_ACK,
                      65535, 0, 0)
    send.sendto(tcp + payload, (dst, 0))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listen.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            msg, addr = listen.recvfrom(2048)
        except socket.timeout:
            break
        # The quoted packet starts 8 bytes in: its source must be ours.
        if len(msg) >= 8 + IPV6_HLEN and msg[0] == ICMP6_PACKET_TOO_BIG and \
                socket.inet_ntop(socket.AF_INET6, msg[16:32]) == src:
            print("mtu %d from %s" % (struct.unpack("!I", msg[4:8])[0], addr[0]))
            return 0
    print("none")
    return 1


if __name__ == "__main__":
    sys.exit(main())
