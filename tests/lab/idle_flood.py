#!/usr/bin/env python3
"""tests/lab/idle_flood.py - holds many idle connections open against a server.

  idle_flood.py --connections N --stats FILE (--tcp HOST:PORT --source ADDR... | --unix PATH)

Opens N connections (TCP from the given source addresses in turn, or to a
Unix socket), sends nothing on them, and opens a new one for every one the
server closes, until SIGTERM or SIGINT. Once a second it rewrites FILE with
one line of counters:

  attempts=A connected=C held=H closed=X failed=F

attempts: connects started; connected: connects that succeeded; held: open
now; closed: connections the server closed (EOF or reset); failed: connects
that failed or timed out. A connection the server has not yet accepted (it
waits in the listen backlog) counts as connected: the client cannot tell.
"""
import argparse
import asyncio
import os
import resource
import signal
import socket
import sys

CONNECT_TIMEOUT_S = 10
RETRY_PAUSE_S = 0.05
STATS_EVERY_S = 1.0


class Stats:
    def __init__(self):
        self.attempts = 0
        self.connected = 0
        self.held = 0
        self.closed = 0
        self.failed = 0

    def line(self):
        return (f"attempts={self.attempts} connected={self.connected} held={self.held} "
                f"closed={self.closed} failed={self.failed}\n")


async def open_one(args, slot):
    if args.unix:
        return await asyncio.open_unix_connection(args.unix)
    host, port = args.tcp.rsplit(":", 1)
    source = args.source[slot % len(args.source)]
    return await asyncio.open_connection(host, int(port), local_addr=(source, 0))


async def hold(args, stats, slot):
    """One slot: connect, wait until the server closes, connect again."""
    while True:
        stats.attempts += 1
        try:
            reader, writer = await asyncio.wait_for(open_one(args, slot), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            stats.failed += 1
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        stats.connected += 1
        stats.held += 1
        try:
            while await reader.read(4096):
                pass
        except OSError:
            pass
        stats.held -= 1
        stats.closed += 1
        writer.close()
        await asyncio.sleep(RETRY_PAUSE_S)


async def report(args, stats, stop):
    while not stop.is_set():
        tmp = args.stats + ".tmp"
        with open(tmp, "w") as f:
            f.write(stats.line())
        os.replace(tmp, args.stats)
        try:
            await asyncio.wait_for(stop.wait(), STATS_EVERY_S)
        except asyncio.TimeoutError:
            pass


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--stats", required=True)
    p.add_argument("--tcp")
    p.add_argument("--source", nargs="+", default=["0.0.0.0"])
    p.add_argument("--unix")
    args = p.parse_args()
    if bool(args.tcp) == bool(args.unix):
        p.error("give one of --tcp and --unix")
    # Our own descriptors must not be what limits the attack.
    want = args.connections + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    stats = Stats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(hold(args, stats, i)) for i in range(args.connections)]
    await report(args, stats, stop)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with open(args.stats, "w") as f:
        f.write(stats.line())


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
