#!/usr/bin/env python3
"""A new client's requests across a droverd restart (tests/e2e/restart_health.sh).

From SOURCE, one new connection to ORIGIN port 80 every PERIOD_MS, each with
its own sequence number in the URL, until STOPFILE appears (or a safety limit
of LIMIT_S seconds passes); then the answers still under way are awaited and
OUT gets one line per request: "SEQ SENT_MS RESULT", SENT_MS the wall clock
(ms) at connect, RESULT one of
  proxied  the answer came through a Squid (it carries a Via header)
  direct   the origin answered itself (no Via: the request bypassed drover)
  failed   no complete answer (refused, reset, timed out)
Usage: restart_health.py SOURCE ORIGIN PERIOD_MS STOPFILE OUT
"""
import os
import selectors
import socket
import sys
import time

LIMIT_S = 120
ANSWER_TIMEOUT_S = 10


def main():
    source, origin, period_ms, stopfile, out = sys.argv[1:6]
    period = int(period_ms) / 1000.0
    sel = selectors.DefaultSelector()
    results = {}
    pending = {}  # socket -> [seq, sent_ms, deadline, buffer, request sent]
    seq = 0
    started = time.monotonic()
    next_send = started
    sending = True
    while sending or pending:
        now = time.monotonic()
        if sending and (os.path.exists(stopfile) or now - started > LIMIT_S):
            sending = False
        if sending and now >= next_send:
            seq += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((source, 0))
            sent_ms = int(time.time() * 1000)
            s.connect_ex((origin, 80))
            pending[s] = [seq, sent_ms, now + ANSWER_TIMEOUT_S, b"", False]
            sel.register(s, selectors.EVENT_WRITE)
            next_send += period
        wait = max(0.0, next_send - time.monotonic()) if sending else 0.05
        for key, _ in sel.select(timeout=wait):
            s = key.fileobj
            st = pending[s]
            done = None
            try:
                if not st[4]:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        done = "failed"
                    else:
                        req = ("GET /?restart-seq=%d HTTP/1.1\r\nHost: %s\r\n"
                               "Connection: close\r\n\r\n" % (st[0], origin))
                        s.send(req.encode())
                        st[4] = True
                        sel.modify(s, selectors.EVENT_READ)
                else:
                    data = s.recv(65536)
                    if data:
                        st[3] += data
                    else:
                        head = st[3].split(b"\r\n\r\n", 1)[0].lower()
                        status = head.split(b"\r\n", 1)[0].split()
                        if len(status) < 2 or status[1] != b"200":
                            done = "failed"
                        elif b"\r\nvia:" in head:
                            done = "proxied"
                        else:
                            done = "direct"
            except OSError:
                done = "failed"
            if done:
                results[st[0]] = (st[1], done)
                sel.unregister(s)
                s.close()
                del pending[s]
        now = time.monotonic()
        for s in [s for s, st in pending.items() if now > st[2]]:
            st = pending.pop(s)
            results[st[0]] = (st[1], "failed")
            sel.unregister(s)
            s.close()
    with open(out, "w") as f:
        for n in sorted(results):
            f.write("%d %d %s\n" % (n, results[n][0], results[n][1]))


if __name__ == "__main__":
    main()
