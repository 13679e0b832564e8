#!/usr/bin/env python3
"""tests/lab/cap6.py - records IPv6 packets on one interface, one hex line each.

  cap6.py 6in4 IFACE OUT   IPv4 protocol 41 packets received on IFACE: the
                           inner IPv6 packet, after "OUTER_SRC OUTER_DST "
  cap6.py sent IFACE OUT   IPv6 TCP packets IFACE sends: the whole packet

Runs until SIGTERM; every line is flushed as it is written, so a reader may
look while it runs. Run it inside the namespace whose interface it watches.
"""
import signal
import socket
import struct
import sys

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_ALL = 0x0003  # the only binding that also sees what the host sends
PACKET_OUTGOING = 4
PROTO_IPV6_IN_IPV4 = 41
IPPROTO_TCP = 6
ETH_HLEN = 14


def main():
    mode, iface, out_path = sys.argv[1:4]
    proto = ETH_P_IP if mode == "6in4" else ETH_P_ALL
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
    sock.bind((iface, proto))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out_path, "w", buffering=1) as out:
        while True:
            frame, addr = sock.recvfrom(65535)
            pkt = frame[ETH_HLEN:]
            if mode == "6in4":
                if addr[2] == PACKET_OUTGOING or len(pkt) < 20 or pkt[9] != PROTO_IPV6_IN_IPV4:
                    continue
                ihl = (pkt[0] & 0x0F) * 4
                total = struct.unpack("!H", pkt[2:4])[0]
                src = socket.inet_ntop(socket.AF_INET, pkt[12:16])
                dst = socket.inet_ntop(socket.AF_INET, pkt[16:20])
                out.write("%s %s %s\n" % (src, dst, pkt[ihl:total].hex()))
            else:
                if addr[2] != PACKET_OUTGOING or addr[1] != ETH_P_IPV6 or len(pkt) < 40 or \
                        pkt[6] != IPPROTO_TCP:
                    continue
                total = 40 + struct.unpack("!H", pkt[4:6])[0]
                out.write(pkt[:total].hex() + "\n")


if __name__ == "__main__":
    main()
