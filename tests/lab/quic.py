#!/usr/bin/env python3
"""tests/lab/quic.py - a QUIC-like UDP sender and listener for the QUIC policy test.

  quic.py listen ADDR4 ADDR6 PORT OUT
      In the origin's namespace: takes UDP datagrams on both addresses, port
      PORT, writes one line per datagram to OUT ("SOURCE LENGTH", flushed) and
      echoes each back. Runs until SIGTERM.

  quic.py send SRC DST PORT COUNT IFACE [burst]
      In the client's namespace: COUNT datagrams of 1200 bytes (the size of a
      QUIC Initial) from SRC to DST:PORT on one connected UDP socket, one at a
      time, each waited for up to 0.3 s (an echo, or an error on the socket),
      then 0.5 s more; with burst, all at once (a flood), then 0.5 s. Meanwhile it records on IFACE, as received from the
      wire, every ICMP destination unreachable / port unreachable (ICMPv6
      type 1 code 4) whose quote is one of its own datagrams. Prints one JSON
      object: sent, icmp (seen on the wire), icmp_from (their sources),
      icmp_checksum_ok (IPv4: the ICMP checksum verified here), quote_whole
      (those quoting the IP and UDP headers and payload bytes unchanged),
      refused (ECONNREFUSED the socket reported), echoes.
"""
import json
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_HLEN = 14
PACKET_OUTGOING = 4
DATAGRAM = 1200
WAIT_EACH_S = 0.3
WAIT_END_S = 0.5


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def listen(addr4, addr6, port, out_path):
    socks = []
    for family, addr in ((socket.AF_INET, addr4), (socket.AF_INET6, addr6)):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((addr, port))
        socks.append(s)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out_path, "w", buffering=1) as out:
        while True:
            ready, _, _ = select.select(socks, [], [])
            for s in ready:
                data, peer = s.recvfrom(65535)
                out.write("%s %d\n" % (peer[0], len(data)))
                s.sendto(data, peer)


def icmp_quote(pkt, v6):
    """The quoted datagram of an ICMP port unreachable in pkt (an IP packet), else None."""
    if v6:
        if len(pkt) < 48 or pkt[6] != 58 or pkt[40] != 1 or pkt[41] != 4:
            return None
        return pkt[48:]
    if len(pkt) < 28 or pkt[9] != 1:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    total = struct.unpack("!H", pkt[2:4])[0]
    icmp = pkt[ihl:total]
    if len(icmp) < 8 or icmp[0] != 3 or icmp[1] != 3:
        return None
    return icmp[8:]


def send(src, dst, port, count, iface, burst):
    v6 = ":" in dst
    family = socket.AF_INET6 if v6 else socket.AF_INET
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cap.bind((iface, ETH_P_ALL))
    cap.setblocking(False)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((src, 0))
    sock.connect((dst, port))
    sport = sock.getsockname()[1]
    payloads = []
    result = {"sent": 0, "icmp": 0, "icmp_from": [], "icmp_checksum_ok": 0, "quote_whole": 0,
              "refused": 0, "echoes": 0}

    def take_frames():
        while True:
            try:
                frame, addr = cap.recvfrom(65535)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            pkt = frame[ETH_HLEN:]
            if not pkt or (pkt[0] >> 4) != (6 if v6 else 4):
                continue
            quote = icmp_quote(pkt, v6)
            if quote is None:
                continue
            qhl = 40 if v6 else (quote[0] & 0x0F) * 4
            if len(quote) < qhl + 8:
                continue
            qsport, qdport = struct.unpack("!HH", quote[qhl:qhl + 4])
            if qsport != sport or qdport != port:
                continue
            result["icmp"] += 1
            if v6:
                result["icmp_from"].append(socket.inet_ntop(socket.AF_INET6, pkt[8:24]))
            else:
                ihl = (pkt[0] & 0x0F) * 4
                total = struct.unpack("!H", pkt[2:4])[0]
                result["icmp_from"].append(socket.inet_ntop(socket.AF_INET, pkt[12:16]))
                if checksum(bytes(pkt[ihl:total])) == 0:
                    result["icmp_checksum_ok"] += 1
            body = quote[qhl + 8:]
            if any(body and p.startswith(body) for p in payloads):
                result["quote_whole"] += 1

    def take_socket(deadline):
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([sock, cap], [], [], max(left, 0))
            take_frames()
            if sock in ready:
                try:
                    sock.recv(65535)
                    result["echoes"] += 1
                except ConnectionRefusedError:
                    result["refused"] += 1
                return
            if left <= 0:
                return

    for i in range(count):
        payload = bytes([0xC0]) + struct.pack("!I", 1) + bytes([i]) * (DATAGRAM - 5)
        payloads.append(payload)
        try:
            sock.send(payload)
            result["sent"] += 1
        except ConnectionRefusedError:
            # An error from before, reported on this send: the datagram did not leave.
            result["refused"] += 1
            sock.send(payload)
            result["sent"] += 1
        if not burst:
            take_socket(time.monotonic() + WAIT_EACH_S)
    end = time.monotonic() + WAIT_END_S
    while time.monotonic() < end:
        take_socket(end)
    take_frames()
    print(json.dumps(result))


def main():
    if sys.argv[1] == "listen":
        listen(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
             len(sys.argv) > 7 and sys.argv[7] == "burst")


if __name__ == "__main__":
    main()
