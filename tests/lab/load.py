#!/usr/bin/env python3
"""tests/lab/load.py - web requests from many client addresses, one line per request.

Run inside the lab's client namespace:
  load.py --origin IP --seconds S --timeout T [--pause P] [--stop-file F] ADDR...
Each address gets its own thread making one HTTP/1.0 request after another
(a new connection each time) and prints, as each ends:
  START_MS END_MS ADDR RESULT
where RESULT is the Squid that answered (its Via header: "squid2"), "direct"
(the origin answered with no proxy in between), or "fail:KIND" (timeout,
refused, reset, error). Times are wall-clock milliseconds. With --ports each
line ends with the request's local port.
"""
import argparse
import os
import socket
import sys
import threading
import time

MARKER = b"drover-origin-marker-7f3a"


def one(addr, origin, timeout, port):
    # An IPv6 client address fetches from an IPv6 origin.
    six = ":" in addr
    s = socket.socket(socket.AF_INET6 if six else socket.AF_INET)
    s.settimeout(timeout)
    try:
        s.bind((addr, 0))
        port[0] = s.getsockname()[1]
        s.connect((origin, 80))
        host = "[%s]" % origin if six else origin
        s.sendall(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "fail:timeout"
    except ConnectionRefusedError:
        return "fail:refused"
    except ConnectionResetError:
        return "fail:reset"
    except OSError as e:
        return "fail:error-%s" % (e.errno,)
    finally:
        s.close()
    if MARKER not in data:
        return "fail:badbody"
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("via:"):
            for word in line.split():
                if word.startswith("squid") and not word.startswith("squid/"):
                    return word
            return "proxy"
    return "direct"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--origin", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--pause", type=float, default=0.05)
    ap.add_argument("--stop-file", help="stop (before --seconds) once this file exists")
    ap.add_argument("--ports", action="store_true", help="add the local port to each line")
    ap.add_argument("addrs", nargs="+")
    a = ap.parse_args()
    lock = threading.Lock()
    end = time.time() + a.seconds

    def worker(addr):
        while time.time() < end and not (a.stop_file and os.path.exists(a.stop_file)):
            t0 = time.time()
            port = [0]
            res = one(addr, a.origin, a.timeout, port)
            t1 = time.time()
            line = "%d %d %s %s" % (t0 * 1000, t1 * 1000, addr, res)
            if a.ports:
                line += " %d" % port[0]
            with lock:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            time.sleep(a.pause)

    threads = [threading.Thread(target=worker, args=(x,), daemon=True) for x in a.addrs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
