#!/usr/bin/env python3
"""tests/lab/ecmp_flows.py - which appliance carried each client connection.

Run inside the lab's switch namespace, on the bridge ports that lead to the
appliances:
  ecmp_flows.py --clients PREFIX --out FILE --ready FILE NAME=PORT...
It watches the frames the bridge sends out of each PORT (towards appliance
NAME) and, for every TCP packet whose source address starts with PREFIX
(e.g. "198.18.2."), notes which appliance it went to. On SIGTERM it writes
FILE (JSON):
  {"syn":     {NAME: {CLIENT: SYNs}},            connections opened, per appliance
   "packets": {NAME: N},                          client packets, per appliance
   "to_clients": {NAME: N},                       TCP packets to a client (answers
                                                  that should never cross an appliance)
   "flows":   {"CLIENT:PORT": [NAME, NAME, ...]}, the appliances a connection
                                                   went through, in order (a
                                                   change of path adds one)
   "times":   {"CLIENT:PORT": [[FIRST_MS, LAST_MS, PACKETS], ...]}}
                                                  each of those stretches: its
                                                  first and last packet
                                                  (wall-clock ms), and packets
"""
import argparse
import json
import os
import select
import signal
import socket
import struct
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
TCP = 6
SYN, ACK = 0x02, 0x10


class Stop(Exception):
    pass


def stop(_signum, _frame):
    raise Stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("ports", nargs="+")
    a = ap.parse_args()
    prefix = bytes(int(x) for x in a.clients.strip(".").split("."))
    socks = {}
    for spec in a.ports:
        name, port = spec.split("=", 1)
        # Only ETH_P_ALL sockets see the frames a device sends.
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        s.bind((port, ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        socks[s] = name
    syn = {n: {} for n in socks.values()}
    packets = {n: 0 for n in socks.values()}
    to_clients = {n: 0 for n in socks.values()}
    flows = {}
    times = {}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(a.ready, "w") as f:
        f.write("%d\n" % os.getpid())
    try:
        while True:
            ready, _, _ = select.select(list(socks), [], [], 1.0)
            for s in ready:
                data, addr = s.recvfrom(256)
                if addr[1] != ETH_P_IP or addr[2] != PACKET_OUTGOING or len(data) < 20:
                    continue
                ihl = (data[0] & 0x0F) * 4
                if data[0] >> 4 != 4 or data[9] != TCP or len(data) < ihl + 14:
                    continue
                name = socks[s]
                if data[16 : 16 + len(prefix)] == prefix:
                    to_clients[name] += 1
                if data[12 : 12 + len(prefix)] != prefix:
                    continue
                client = socket.inet_ntoa(data[12:16])
                sport = struct.unpack("!H", data[ihl : ihl + 2])[0]
                flags = data[ihl + 13]
                packets[name] += 1
                if flags & SYN and not flags & ACK:
                    syn[name][client] = syn[name].get(client, 0) + 1
                key = "%s:%d" % (client, sport)
                path = flows.setdefault(key, [])
                stretch = times.setdefault(key, [])
                now = int(time.time() * 1000)
                if not path or path[-1] != name:
                    path.append(name)
                    stretch.append([now, now, 0])
                stretch[-1][1] = now
                stretch[-1][2] += 1
    except Stop:
        pass
    with open(a.out + ".tmp", "w") as f:
        json.dump({"syn": syn, "packets": packets, "to_clients": to_clients, "flows": flows,
                   "times": times}, f)
    os.rename(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
