#!/usr/bin/env python3
"""API checks of droverd's web server, run by webui_api.sh inside its namespace.

Prints one "ok - ..." or "not ok - ..." line per check. Arguments: the base
URL, the state directory (holding the admin password file) and the phase
("main" for the HTTP run, "https" for the TLS run).
"""
import http.client
import json
import os
import re
import select
import sqlite3
import socket
import ssl
import stat
import sys
import threading
import time

BASE_HOST = "127.0.0.1"
PORT = int(os.environ.get("WEBUI_PORT", "8080"))
STATE = sys.argv[1]
PHASE = sys.argv[2] if len(sys.argv) > 2 else "main"
HTTPS = PHASE == "https"
ORIGIN = ("https" if HTTPS else "http") + "://%s:%d" % (BASE_HOST, PORT)
# The Host of the raw requests: the address the server listens on.
RAW_HOST = ("Host: %s:%d\r\n" % (BASE_HOST, PORT)).encode()
# The server's limits (webui.h): a request must arrive whole within REQUEST_SECS
# of its first byte; a connection idle for IDLE_SECS is closed.
REQUEST_SECS = 10
IDLE_SECS = 12
# How long a slow client waits for the server to close before the test calls
# it never closed. Generous: only a connection left open for good runs into it.
CLOSE_WAIT_SECS = IDLE_SECS + 120

failures = 0


def check(cond, name, detail=""):
    global failures
    if cond:
        print("ok - " + name)
    else:
        failures += 1
        print("not ok - " + name + (": " + str(detail) if detail else ""))
    sys.stdout.flush()
    return cond


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.body[:300])


def connect(source="127.0.0.1", timeout=15):
    if HTTPS:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(BASE_HOST, PORT, timeout=timeout, context=ctx,
                                           source_address=(source, 0))
    return http.client.HTTPConnection(BASE_HOST, PORT, timeout=timeout,
                                      source_address=(source, 0))


def request(method, path, body=None, headers=None, source="127.0.0.1", raw=None,
            content_type="application/json"):
    conn = connect(source)
    h = dict(headers or {})
    data = None
    if raw is not None:
        data = raw
    elif body is not None:
        data = json.dumps(body).encode()
    if data is not None and content_type and "Content-Type" not in h:
        h["Content-Type"] = content_type
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        out = Reply(r.status, r.getheaders(), r.read().decode("utf-8", "replace"))
    except (ConnectionError, http.client.HTTPException, socket.timeout) as e:
        out = Reply(0, [], "connection failed: %s" % e)
    conn.close()
    return out


class Session:
    """A browser-like client: the session cookie plus the CSRF token."""

    def __init__(self):
        self.cookie = None
        self.csrf = None

    def login(self, user, password, source="127.0.0.1"):
        r = request("POST", "/api/v1/login", {"username": user, "password": password},
                    headers={"Origin": ORIGIN}, source=source)
        if r.status == 200:
            self.take_cookie(r)
            self.csrf = r.json.get("csrf")
        return r

    def take_cookie(self, r):
        c = r.header("Set-Cookie")
        if c:
            self.cookie = c.split(";")[0]

    def call(self, method, path, body=None, csrf=True, origin=True, headers=None, **kw):
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        if origin and method not in ("GET", "HEAD"):
            h.setdefault("Origin", ORIGIN)
        return request(method, path, body, headers=h, **kw)


def raw_socket():
    """A socket to the server, under TLS in the https phase."""
    sock = socket.create_connection((BASE_HOST, PORT))
    if HTTPS:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock)
    return sock


def slow_client(parts, pause, results, name):
    """Sends parts with pause seconds between them (stopping once the server
    answers), then reads until the server closes; results[name] = (bytes
    received, seconds until closed, or None when still open after
    CLOSE_WAIT_SECS)."""
    sock = raw_socket()
    t0 = time.time()
    data, closed = b"", None
    try:
        for i, part in enumerate(parts):
            # Stop sending once the server has answered; read what it said.
            if i and select.select([sock], [], [], pause)[0]:
                break
            sock.sendall(part)
        sock.settimeout(CLOSE_WAIT_SECS)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        closed = time.time() - t0
    except (ssl.SSLEOFError, ConnectionError):
        closed = time.time() - t0
    except socket.timeout:
        pass
    sock.close()
    results[name] = (data, closed)


def parse_raw_reply(data):
    """(status, headers, body) of a raw HTTP/1.1 response; status 0 if none."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
    if not m:
        return 0, [], ""
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    return int(m.group(1)), headers, body.decode("utf-8", "replace")


def check_slow_clients(s, prefix):
    """Slow and stalled requests get a 408 once their deadline has passed (not
    before) and never stall anyone else; a keep-alive connection idle between
    requests is just closed. How long past the deadline the server took is
    shown, not asserted: a busy machine is slow, not broken."""
    line = b"GET / HTTP/1.1\r\n" + RAW_HOST
    post = (b"POST /api/v1/login HTTP/1.1\r\n" + RAW_HOST + b"Content-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n")
    clients = {
        # stops in the middle of its headers
        "headers": ([line], 0),
        # announces 100 bytes of body and sends 10
        "body": ([post + b'{"usernam'], 0),
        # trickles its headers a little faster than the idle timeout
        "trickle": ([b"GET / HTTP/1.1\r\n", RAW_HOST, b"X-A: 1\r\n", b"X-B: 2\r\n",
                     b"X-C: 3\r\n", b"X-D: 4\r\n", b"X-E: 5\r\n", b"X-F: 6\r\n"], 2),
        # a whole request with half of the next one behind it: the second's
        # deadline runs from when the first is answered
        "pipelined": ([b"GET /api/v1/session HTTP/1.1\r\n" + RAW_HOST + b"\r\n" + line], 0),
        # one whole request, then silence on the kept-alive connection
        "idle": ([b"GET /api/v1/session HTTP/1.1\r\n" + RAW_HOST + b"\r\n"], 0),
    }
    results = {}
    threads = [threading.Thread(target=slow_client, args=(parts, pause, results, name))
               for name, (parts, pause) in clients.items()]
    for t in threads:
        t.start()
    time.sleep(0.5)
    r = s.call("GET", "/api/v1/stats")
    # Answered while every slow client still waits on its deadline: a server
    # stalled by them would answer only after their 408s.
    waiting = [name for name in ("headers", "body", "trickle") if name not in results]
    check(r.status == 200 and len(waiting) == 3,
          prefix + "slow clients do not stall others (answered before any of their 408s)",
          "%r; slow clients already closed: %s" % (r, sorted(set(results) & {"headers", "body", "trickle"})))
    time.sleep(REQUEST_SECS / 2)
    r = s.call("GET", "/api/v1/stats")
    check(r.status == 200, prefix + "served while slow clients wait on their deadline", r)
    for t in threads:
        t.join()

    for name, what in (("headers", "a request stalled mid-headers"),
                       ("body", "a request stalled mid-body (10 of 100 bytes)"),
                       ("trickle", "a request trickled over the deadline")):
        data, closed = results[name]
        status, headers, body = parse_raw_reply(data)
        reply = Reply(status, headers, body)
        check(status == 408 and closed is not None and closed > REQUEST_SECS - 1,
              prefix + what + " gets 408 and is closed (%s s)" %
              ("%.1f" % closed if closed is not None else "never"), data[:200])
        check(reply.header("Connection") == "close" and reply.json is not None and
              reply.json.get("kind") == "timeout",
              prefix + what + ": Connection: close, JSON error of kind timeout", data[:400])
        if name == "headers":
            check_security_headers(reply, prefix + "408")
            if HTTPS:
                check(reply.header("Strict-Transport-Security") is not None,
                      prefix + "408 carries HSTS")
    data, closed = results["pipelined"]
    _, _, rest = data.partition(b"\r\n\r\n")
    check(data.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in rest and closed is not None and
          closed > REQUEST_SECS - 1,
          prefix + "a pipelined request left half-sent gets 408 after the first one's 200 "
          "(%s s)" % ("%.1f" % closed if closed is not None else "never"), data[:300])
    data, closed = results["idle"]
    status, _, _ = parse_raw_reply(data)
    check(status == 200 and data.count(b"HTTP/1.1 ") == 1 and closed is not None and
          closed > IDLE_SECS - 1,
          prefix + "a keep-alive connection idle between requests is closed without a 408 "
          "(%s s)" % ("%.1f" % closed if closed is not None else "never"), data[:200])
    r = s.call("GET", "/api/v1/stats")
    check(r.status == 200, prefix + "server alive after the slow clients", r)


def check_security_headers(r, what):
    csp = r.header("Content-Security-Policy") or ""
    check("default-src 'self'" in csp and "frame-ancestors 'none'" in csp and
          "unsafe-inline" not in csp, what + ": CSP default-src 'self', frame-ancestors 'none'", csp)
    check(r.header("X-Content-Type-Options") == "nosniff", what + ": X-Content-Type-Options nosniff")
    check(r.header("Referrer-Policy") is not None, what + ": Referrer-Policy set")


METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse_metrics(text):
    """A strict reader of the text format 0.0.4: returns ({series: value}, [problems])."""
    problems = []
    types = {}
    values = {}
    seen_families = []
    current = None
    if not text.endswith("\n"):
        problems.append("does not end with a newline")
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary",
                                                   "untyped"):
                problems.append("bad TYPE line: " + line)
                continue
            if parts[2] in types:
                problems.append("TYPE given twice for " + parts[2])
            types[parts[2]] = parts[3]
            if parts[2] in seen_families:
                problems.append("family split: " + parts[2])
            seen_families.append(parts[2])
            current = parts[2]
            continue
        if line.startswith("#") or line == "":
            problems.append("stray line: %r" % line)
            continue
        m = METRIC_LINE.match(line)
        if not m:
            problems.append("malformed sample: %r" % line)
            continue
        name = m.group(1)
        if name != current:
            problems.append("sample %s outside its family %s" % (name, current))
        series = name + (m.group(2) or "")
        if series in values:
            problems.append("duplicate series " + series)
        values[series] = float(m.group(7))
        if re.search(r'="\d+\.\d+\.\d+\.\d+"', m.group(2) or ""):
            problems.append("an address as a label value: " + series)
    for name, t in types.items():
        if t == "counter" and not name.endswith("_total"):
            problems.append("counter without _total: " + name)
    return values, types, problems


def check_http_framing(s):
    """A HEAD answer tells the length and sends no body, so the answer after
    it on the same connection is read as itself; methods the routes do not
    take get a 405 with the security headers."""
    sock = raw_socket()
    sock.sendall(b"HEAD /api/v1/session HTTP/1.1\r\n" + RAW_HOST + b"\r\n" +
                 b"GET /api/v1/session HTTP/1.1\r\n" + RAW_HOST + b"Connection: close\r\n\r\n")
    data = b""
    sock.settimeout(30)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionError):
        pass
    sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status, headers, _ = parse_raw_reply(head + b"\r\n\r\n")
    length = dict((k.lower(), v) for k, v in headers).get("content-length")
    check(status == 200 and length is not None and int(length) > 0 and
          rest.startswith(b"HTTP/1.1 200 "),
          "HEAD gives the length and no body: the next answer follows at once", data[:400])
    for method in ("OPTIONS", "TRACE"):
        r = request(method, "/api/v1/proxies")
        check(r.status == 405 and r.json and r.json["ok"] is False and
              r.header("Content-Security-Policy") is not None,
              method + " gets a JSON 405 with the security headers", r)


def host_headers(host, origin=None):
    """Headers of a page served from host (a DNS-rebinding attacker's name, or ours)."""
    h = {"Host": host}
    if origin:
        h["Origin"] = ("https" if HTTPS else "http") + "://" + host
    return h


def check_host_allowlist(s):
    """DNS rebinding: a page of evil.example whose name now resolves to the
    appliance sends Host (and Origin) evil.example, so an Origin == Host check
    passes. Only the appliance's own names may reach the server."""
    evil = "rebind.evil.example:%d" % PORT
    counts = {"refused": 0, "sent": 0}

    def foreign(method, path, body=None, headers=None, what=""):
        r = s.call(method, path, body, headers=dict(headers or {}, **host_headers(evil, True)))
        counts["sent"] += 1
        if r.status == 421:
            counts["refused"] += 1
        check(r.status == 421 and r.json and r.json["kind"] == "misdirected" and
              "web_hosts" in r.json["error"],
              "foreign Host refused with 421 naming web_hosts: " + what, r)
        return r

    foreign("GET", "/", what="GET / (the page)")
    foreign("GET", "/api/v1/session", what="GET /api/v1/session (the CSRF token)")
    foreign("GET", "/api/v1/proxies", what="GET /api/v1/proxies with a session")
    foreign("POST", "/api/v1/proxies", {"address": "198.18.1.40", "name": "rebound"},
            what="POST /api/v1/proxies with session, CSRF token and Origin == Host")
    foreign("POST", "/api/v1/login", {"username": "admin", "password": "x" * 12},
            what="POST /api/v1/login")
    r = request("GET", "/api/v1/proxies", headers=dict(host_headers("evil.example"),
                                                       Cookie=s.cookie))
    counts["sent"] += 1
    counts["refused"] += r.status == 421
    check(r.status == 421, "foreign Host without a port refused", r)
    r = s.call("GET", "/api/v1/proxies")
    check(r.status == 200 and "rebound" not in r.body, "the rebound write left nothing behind", r)
    print("# foreign-Host requests refused: %d of %d" % (counts["refused"], counts["sent"]))

    for host in ("127.0.0.1:%d" % PORT, "localhost:%d" % PORT, "LocalHost:%d" % PORT,
                 "[::1]:%d" % PORT, "localhost", "127.0.0.1"):
        r = s.call("GET", "/api/v1/proxies", headers=host_headers(host))
        check(r.status == 200, "own name accepted as Host: " + host, r)
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.41", "name": "via-localhost"},
               headers=host_headers("localhost:%d" % PORT, True))
    check(r.status == 201, "a write through localhost (its Origin matching) is accepted", r)
    if r.status == 201:
        s.call("DELETE", "/api/v1/proxies/%d?version=%d" % (r.json["proxy"]["id"],
                                                            r.json["proxy"]["version"]))
    # An operator's own name for the appliance: refused until listed in web_hosts.
    name = "drover-ui.example.net:%d" % PORT
    r = s.call("GET", "/api/v1/session", headers=host_headers(name))
    check(r.status == 421, "an unlisted operator name is refused", r)
    r = s.call("PUT", "/api/v1/settings/web_hosts", {"value": "drover-ui.example.net,10.9.0.5"})
    check(r.status == 200 and r.json["setting"]["value"] == "drover-ui.example.net,10.9.0.5",
          "web_hosts takes a list of names and addresses", r)
    r = s.call("GET", "/api/v1/session", headers=host_headers(name))
    check(r.status == 200 and r.json["signed_in"] is True, "a name in web_hosts is accepted", r)
    r = s.call("GET", "/api/v1/session", headers=host_headers("DROVER-UI.example.net."))
    check(r.status == 200, "names compare without case and a trailing dot", r)
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.42", "name": "via-name"},
               headers=host_headers(name, True))
    check(r.status == 201, "a write through a web_hosts name is accepted", r)
    if r.status == 201:
        s.call("DELETE", "/api/v1/proxies/%d?version=%d" % (r.json["proxy"]["id"],
                                                            r.json["proxy"]["version"]))
    r = s.call("GET", "/api/v1/session", headers=host_headers("10.9.0.5:8443"))
    check(r.status == 200, "an address in web_hosts is accepted (any port)", r)
    r = s.call("GET", "/api/v1/session", headers=host_headers("ui.example.net:%d" % PORT))
    check(r.status == 421, "a name is matched whole, not as a suffix", r)
    r = s.call("PUT", "/api/v1/settings/web_hosts", {"value": "a b"})
    check(r.status == 400 and r.json["field"] == "web_hosts", "web_hosts refuses a blank", r)
    r = s.call("PUT", "/api/v1/settings/web_hosts", {"value": ""})
    check(r.status == 200, "web_hosts cleared", r)
    r = s.call("GET", "/api/v1/session", headers=host_headers(name))
    check(r.status == 421, "a name removed from web_hosts is refused again", r)

    sock = raw_socket()
    sock.sendall(b"GET /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"
                 b"Connection: close\r\n\r\n")
    data = b""
    sock.settimeout(30)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionError):
        pass
    sock.close()
    check(parse_raw_reply(data)[0] == 400, "two Host headers are refused (400)", data[:200])


def token_db_expire(token_id):
    """Moves a token's expiry into the past, as the passing of its days would."""
    db = sqlite3.connect(os.path.join(STATE, "drover.db"), timeout=60)
    try:
        db.execute("UPDATE api_tokens SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) - 1"
                   " WHERE id = ?", (token_id,))
        db.commit()
    except sqlite3.Error as e:
        check(False, "move a token's expiry into the past", e)
    finally:
        db.close()


def check_token_hardening(s, password):
    """API tokens: an expiry, no minting with a token, revoked with the
    owner's password. Returns the session (renewed by the password change)."""
    r = s.call("POST", "/api/v1/tokens", {"name": "forever"})
    check(r.status == 201 and "expires_at" in r.json and r.json["expires_at"] is None,
          "token without expires_in_days never expires", r)
    forever = {"Authorization": "Bearer " + (r.json or {}).get("token", "")}
    # A stolen token must not be turned into one that outlives its expiry or revocation.
    minted = 0
    for name in ("minted", "minted2"):
        r = request("POST", "/api/v1/tokens", {"name": name}, headers=forever)
        minted += r.status == 201
        check(r.status == 403 and r.json and "token" in r.json["error"],
              "a token cannot create tokens (403)", r)
    r = s.call("GET", "/api/v1/tokens")
    check(r.status == 200 and not any(t["name"].startswith("minted") for t in r.json["tokens"]),
          "no token was minted", r)
    print("# tokens minted with a token: %d of 2" % minted)

    r = s.call("POST", "/api/v1/tokens", {"name": "nightly", "expires_in_days": 30})
    check(r.status == 201 and isinstance(r.json.get("expires_at"), int) and
          abs(r.json["expires_at"] - (time.time() + 30 * 86400)) < 3600,
          "token created with expires_in_days carries expires_at", r)
    nightly = r.json.get("token") if r.status == 201 else None
    nightly_id = r.json.get("id") if r.status == 201 else None
    for bad in (0, -1, 3651, "30", 1.5):
        r = s.call("POST", "/api/v1/tokens", {"name": "bad", "expires_in_days": bad})
        check(r.status == 400 and r.json.get("field") == "expires_in_days",
              "expires_in_days %r refused naming the field" % (bad,), r)
    r = s.call("GET", "/api/v1/tokens")
    listed = {t["name"]: t for t in (r.json or {}).get("tokens", [])}
    check(r.status == 200 and isinstance(listed.get("nightly", {}).get("expires_at"), int) and
          listed["nightly"].get("expired") is False and "forever" in listed and
          listed["forever"].get("expires_at", 0) is None, "token list shows expiry", r)
    if nightly:
        bearer = {"Authorization": "Bearer " + nightly}
        r = request("GET", "/api/v1/proxies", headers=bearer)
        check(r.status == 200, "a token before its expiry works", r)
        token_db_expire(nightly_id)
        r = request("GET", "/api/v1/proxies", headers=bearer)
        check(r.status == 401 and r.json and "expired" in r.json["error"],
              "an expired token is refused with 401 saying so", r)
        r = s.call("GET", "/api/v1/tokens")
        listed = {t["name"]: t for t in (r.json or {}).get("tokens", [])}
        check(listed.get("nightly", {}).get("expired") is True, "the list marks it expired", r)

    r = request("GET", "/api/v1/proxies", headers=forever)
    check(r.status == 200, "the other token works before the password change", r)
    other = "another password 1234"
    r = s.call("POST", "/api/v1/account/password", {"current": password, "new": other})
    check(r.status == 200, "password changed again", r)
    if r.status == 200:
        s.take_cookie(r)
        s.csrf = r.json["csrf"]
    r = request("GET", "/api/v1/proxies", headers=forever)
    check(r.status == 401, "the owner's password change revokes their tokens", r)
    print("# token answer after the owner's password change: HTTP %d" % r.status)
    r = s.call("GET", "/api/v1/tokens")
    check(r.status == 200 and r.json["tokens"] == [], "no token is left after it", r)
    r = s.call("POST", "/api/v1/account/password", {"current": other, "new": password})
    check(r.status == 200, "password changed back", r)
    if r.status == 200:
        s.take_cookie(r)
        s.csrf = r.json["csrf"]
    return s


def main():
    password = open(os.path.join(STATE, "admin-password")).read().strip()
    new_password = "a much better password 42"
    if HTTPS:
        return https_phase(new_password)

    # --- static pages and headers
    r = request("GET", "/")
    check(r.status == 200 and "<!doctype html>" in r.body and "text/html" in r.header("Content-Type"),
          "GET / serves the page", r)
    check_security_headers(r, "page")
    check("<script>" not in r.body and "style=" not in r.body, "page has no inline script or style")
    js = request("GET", "/app.js")
    check(js.status == 200 and js.header("Content-Type").startswith("text/javascript"),
          "app.js served as text/javascript", js.header("Content-Type"))
    css = request("GET", "/style.css")
    check(css.status == 200 and css.header("Content-Type").startswith("text/css"),
          "style.css served as text/css")
    etag = js.header("ETag")
    r = request("GET", "/app.js", headers={"If-None-Match": etag or "x"})
    check(r.status == 304 and js.header("Cache-Control") == "no-cache",
          "assets carry an ETag and revalidate with 304", r)
    r = request("GET", "/nope.js")
    check(r.status == 404 and r.json and r.json["ok"] is False, "unknown asset is a JSON 404", r)
    check_security_headers(r, "error reply")
    r = request("GET", "/drover-proxy-setup.sh")
    check(r.status == 404, "the proxy set-up script is no static file (it comes from the API)", r)
    r = request("GET", "/api/v1/nothing")
    check(r.status == 404, "unknown API path is 404", r)
    r = request("POST", "/api/v1/stats", {}, headers={"Origin": ORIGIN})
    check(r.status == 405 and "GET" in (r.header("Allow") or ""), "wrong method is 405 with Allow", r)
    r = request("GET", "/api/v1/logout")
    check(r.status == 405, "no state change on GET (GET /logout is 405)", r)

    # --- everything needs a signed-in user
    for path in ["/api/v1/proxies", "/api/v1/proxies/1", "/api/v1/stats", "/api/v1/settings",
                 "/api/v1/settings/ports", "/api/v1/lookup?client=10.0.0.1", "/api/v1/audit",
                 "/api/v1/history", "/api/v1/rules", "/api/v1/tokens"]:
        r = request("GET", path)
        check(r.status == 401 and r.json["kind"] == "unauthorized", "auth required: GET " + path, r)
    r = request("POST", "/api/v1/proxies", {"address": "198.18.9.9"}, headers={"Origin": ORIGIN})
    check(r.status == 401, "auth required: POST /api/v1/proxies", r)
    r = request("GET", "/api/v1/session")
    check(r.status == 200 and r.json["signed_in"] is False, "session endpoint says signed out")

    # --- login, first password change
    s = Session()
    r = s.login("admin", "wrong password!")
    check(r.status == 401, "wrong password refused with 401", r)
    r = s.login("nobody", password)
    check(r.status == 401, "unknown user refused with 401", r)
    r = s.login("admin", password)
    check(r.status == 200 and r.json["must_change_password"] is True,
          "initial password signs in and must be changed", r)
    cookie = r.header("Set-Cookie") or ""
    check("HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie and
          "Secure" not in cookie, "session cookie is HttpOnly; SameSite=Strict (no Secure over HTTP)",
          cookie)
    first_cookie = s.cookie
    r = s.call("GET", "/api/v1/proxies")
    check(r.status == 403 and r.json["kind"] == "password_change_required",
          "API refused until the initial password is changed", r)
    s2 = Session()
    s2.login("admin", password)
    check(s2.cookie != first_cookie, "each login gets a new session id")
    planted = Session()
    planted.cookie = "drover_session=" + "ab" * 32
    r = planted.call("GET", "/api/v1/proxies")
    check(r.status == 401, "an invented session id is not honoured", r)
    r = s.call("POST", "/api/v1/account/password", {"current": password, "new": "short"})
    check(r.status == 400 and r.json.get("field") == "new", "too short new password names field new", r)
    r = s.call("POST", "/api/v1/account/password", {"current": "not it at all", "new": new_password})
    check(r.status == 400 and r.json.get("field") == "current", "wrong current password names field current", r)
    r = s.call("POST", "/api/v1/account/password", {"current": password, "new": new_password},
               csrf=False)
    check(r.status == 403, "password change without CSRF token is 403", r)
    r = s.call("POST", "/api/v1/account/password", {"current": password, "new": new_password})
    check(r.status == 200 and r.json["must_change_password"] is False, "password changed", r)
    old_cookie = s.cookie
    s.take_cookie(r)
    s.csrf = r.json["csrf"]
    check(s.cookie != old_cookie, "password change rotates the session id")
    r = request("GET", "/api/v1/proxies", headers={"Cookie": old_cookie})
    check(r.status == 401, "the session id from before the change is dead", r)
    r = s2.call("GET", "/api/v1/proxies")
    check(r.status == 401, "other sessions of the user end at a password change", r)
    r = Session().login("admin", password)
    check(r.status == 401, "the initial password no longer works", r)
    r = s.call("GET", "/api/v1/session")
    check(r.status == 200 and r.json["user"] == "admin" and len(r.json["csrf"]) == 64,
          "session endpoint gives the user and CSRF token", r)

    # --- CSRF and origin
    body = {"address": "198.18.1.11", "name": "squid-a"}
    r = s.call("POST", "/api/v1/proxies", body, csrf=False)
    check(r.status == 403, "POST without X-CSRF-Token is 403", r)
    r = s.call("POST", "/api/v1/proxies", body, headers={"X-CSRF-Token": "0" * 64}, csrf=False)
    check(r.status == 403, "POST with a wrong X-CSRF-Token is 403", r)
    r = s.call("POST", "/api/v1/proxies", body, headers={"Origin": "http://evil.example"})
    check(r.status == 403 and "origin" in r.json["error"], "POST from a foreign Origin is 403", r)
    r = s.call("POST", "/api/v1/proxies", body, headers={"Sec-Fetch-Site": "cross-site"})
    check(r.status == 403, "POST marked Sec-Fetch-Site: cross-site is 403", r)
    r = s.call("POST", "/api/v1/proxies", raw=b"address=198.18.1.11",
               content_type="application/x-www-form-urlencoded")
    check(r.status == 415, "a form-encoded body is refused (415)", r)
    r = s.call("GET", "/api/v1/proxies")
    check(r.status == 200 and r.json["proxies"] == [], "refused writes left nothing behind", r)

    # --- proxies
    r = s.call("POST", "/api/v1/proxies", body)
    check(r.status == 201 and r.json["proxy"]["name"] == "squid-a", "create proxy (201)", r)
    a = r.json["proxy"]
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.12", "name": "squid-b", "weight": 50})
    check(r.status == 201, "create a second proxy", r)
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.11", "name": "squid-c"})
    check(r.status == 409 and r.json["kind"] == "exists", "duplicate address is 409 exists", r)
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.300"})
    check(r.status == 400 and r.json["field"] == "address", "bad address is 400 naming address", r)
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.13", "colour": "red"})
    check(r.status == 400 and r.json["field"] == "colour", "unknown field is 400 naming it", r)
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.13", "weight": "heavy"})
    check(r.status == 400 and r.json["field"] == "weight", "wrong type is 400 naming the field", r)
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.13", "cmd": "proxy.del"})
    check(r.status == 400 and r.json["field"] == "cmd", "a body cannot choose the command", r)
    r = s.call("GET", "/api/v1/proxies")
    check(r.status == 200 and [p["name"] for p in r.json["proxies"]] == ["squid-a", "squid-b"],
          "list proxies", r)
    r = s.call("GET", "/api/v1/proxies/%d" % a["id"])
    check(r.status == 200 and r.json["proxy"]["address"] == "198.18.1.11", "get one proxy", r)
    r = s.call("GET", "/api/v1/proxies/999")
    check(r.status == 404 and r.json["kind"] == "not_found", "missing proxy is 404", r)
    r = s.call("GET", "/api/v1/proxies/01")
    check(r.status == 404, "malformed id is 404", r)
    r = s.call("GET", "/api/v1/proxies/%d/setup-script?mode=decap" % a["id"])
    check(r.status == 200 and (r.header("Content-Type") or "").startswith("text/x-shellscript") and
          "attachment" in (r.header("Content-Disposition") or "") and
          "--appliance 198.18.1.1 " in r.body and "--mode decap" in r.body and
          r.body.startswith("#!/bin/bash"), "proxy set-up script downloads as a file", r)
    r = s.call("GET", "/api/v1/proxies/%d/setup-script?mode=sideways" % a["id"])
    check(r.status == 400 and r.json["field"] == "mode", "set-up script refuses a bad mode", r)
    r = request("GET", "/api/v1/proxies/%d/setup-script" % a["id"])
    check(r.status == 401, "set-up script needs sign-in", r)
    r = s.call("PUT", "/api/v1/proxies/%d" % a["id"], {"admin": "drain"})
    check(r.status == 400 and r.json["field"] == "version", "update without version is 400", r)
    r = s.call("PUT", "/api/v1/proxies/%d" % a["id"], {"admin": "drain", "weight": 70,
                                                      "version": a["version"]})
    check(r.status == 200 and r.json["proxy"]["admin"] == "drain" and
          r.json["proxy"]["version"] == a["version"] + 1, "update with version bumps it", r)
    r = s.call("PUT", "/api/v1/proxies/%d" % a["id"], {"admin": "enabled", "version": a["version"]})
    check(r.status == 409 and r.json["kind"] == "conflict", "stale version is 409 conflict", r)
    r = s.call("PATCH", "/api/v1/proxies/%d" % a["id"], {"admin": "sideways", "version": a["version"] + 1})
    check(r.status == 400 and r.json["field"] == "admin", "bad admin state names field admin", r)
    r = s.call("DELETE", "/api/v1/proxies/%d" % a["id"])
    check(r.status == 400 and r.json["field"] == "version", "delete without version is 400", r)
    r = s.call("DELETE", "/api/v1/proxies/%d?version=%d" % (a["id"], a["version"]))
    check(r.status == 409, "delete with a stale version is 409", r)
    r = s.call("DELETE", "/api/v1/proxies/%d?version=%d" % (a["id"], a["version"] + 1))
    check(r.status == 200, "delete with the current version", r)
    r = s.call("GET", "/api/v1/proxies/%d" % a["id"])
    check(r.status == 404, "deleted proxy is gone", r)
    # An IPv6 address beside the IPv4 one: shown, refused naming address6, cleared with null.
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.16", "name": "squid-6",
                                           "address6": "2001:db8:1::16"})
    check(r.status == 201 and r.json["proxy"]["address6"] == "2001:db8:1::16",
          "create a proxy with an IPv6 address", r)
    p6 = r.json["proxy"]
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.17", "address6": "fe80::17"})
    check(r.status == 400 and r.json["field"] == "address6" and "link-local" in r.json["error"],
          "a link-local address6 is 400 naming address6", r)
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.17", "address6": "2001:db8:1::16"})
    check(r.status == 409 and r.json["kind"] == "exists", "a taken address6 is 409 exists", r)
    r = s.call("PUT", "/api/v1/proxies/%d" % p6["id"], {"address6": None, "version": p6["version"]})
    check(r.status == 200 and r.json["proxy"]["address6"] is None, "address6 null removes it", r)
    s.call("DELETE", "/api/v1/proxies/%d?version=%d" % (p6["id"], p6["version"] + 1))
    # Squid's own figures: off by default ("squid": null), on with a boolean, refused otherwise.
    r = s.call("POST", "/api/v1/proxies", {"address": "198.18.1.18", "name": "squid-q"})
    check(r.status == 201 and r.json["proxy"]["squid_stats"] is False and
          r.json["proxy"]["squid"] is None, "squid_stats is off by default: squid is null", r)
    pq = r.json["proxy"]
    r = s.call("PUT", "/api/v1/proxies/%d" % pq["id"], {"squid_stats": "on", "version": pq["version"]})
    check(r.status == 400 and r.json["field"] == "squid_stats", "squid_stats must be a boolean", r)
    r = s.call("PUT", "/api/v1/proxies/%d" % pq["id"], {"squid_stats": True, "version": pq["version"]})
    q = r.json.get("proxy", {}).get("squid") if r.json else None
    check(r.status == 200 and isinstance(q, dict) and q["ok"] is False and
          isinstance(q["error"], str) and
          all(k in q for k in ("requests_per_second", "hit_ratio", "clients",
                               "median_service_ms", "age_s")),
          "squid_stats on: squid is an object with the figures and the read's error", r)
    s.call("DELETE", "/api/v1/proxies/%d?version=%d" % (pq["id"], pq["version"] + 1))

    # --- bad bodies, limits, no crash
    r = s.call("POST", "/api/v1/proxies", raw=b'{"address": ')
    check(r.status == 400 and "invalid JSON" in r.json["error"], "invalid JSON is 400", r)
    r = s.call("POST", "/api/v1/proxies", raw=b"[" * 20000 + b"]" * 20000)
    check(r.status in (400, 413), "deeply nested JSON is refused", r)
    r = s.call("POST", "/api/v1/proxies", raw=b'{"address": "' + b"x" * 200000 + b'"}')
    check(r.status == 413, "huge body is 413", r)
    r = s.call("POST", "/api/v1/proxies", raw=b'["198.18.1.20"]')
    check(r.status == 400, "a JSON array body is 400", r)
    r = s.call("POST", "/api/v1/proxies", raw=b'{"address": "198.18.1.20", "address": "198.18.1.21"}')
    check(r.status == 400, "duplicate keys are 400", r)
    r = request("GET", "/", headers={"X-Big": "y" * 20000})
    check(r.status in (400, 413, 431), "oversized headers are refused", r)
    r = s.call("GET", "/api/v1/stats")
    check(r.status == 200, "server alive after the bad requests", r)

    # --- slow clients get a 408 and do not stall others
    check_slow_clients(s, "")

    # --- the other endpoints
    r = s.call("GET", "/api/v1/stats")
    check(r.status == 200 and "global" in r.json and "enobufs" in r.json["global"], "stats", r)
    r = s.call("GET", "/api/v1/history")
    check(r.status == 200 and r.json["interval"] == 10 and isinstance(r.json["series"], list),
          "history", r)
    r = s.call("GET", "/api/v1/rules")
    check(r.status == 200 and "DROVER" in r.json["rules"], "rules", r)
    r = s.call("GET", "/api/v1/settings")
    check(r.status == 200 and any(x["key"] == "http_listen" for x in r.json["settings"]),
          "settings list includes the web settings", r)
    r = s.call("GET", "/api/v1/settings/ports")
    check(r.status == 200 and r.json["setting"]["value"] == "80,443", "settings get", r)
    r = s.call("PUT", "/api/v1/settings/affinity_timeout", {"value": "600"})
    check(r.status == 200 and r.json["setting"]["value"] == "600", "settings set", r)
    r = s.call("PUT", "/api/v1/settings/ports", {"value": "80,70000"})
    check(r.status == 400 and r.json["field"] == "ports" and "70000" in r.json["error"],
          "invalid setting is 400 naming it and its value", r)
    r = s.call("PUT", "/api/v1/settings/no_such_thing", {"value": "1"})
    check(r.status == 400 and r.json["field"] == "key", "unknown setting is 400", r)
    r = s.call("PUT", "/api/v1/settings/ports", {"value": 80})
    check(r.status == 400 and r.json["field"] == "value", "setting value of the wrong type is 400", r)
    r = s.call("PUT", "/api/v1/settings/ports", {"value": "80", "force": True})
    check(r.status == 400 and r.json["field"] == "force", "unknown field in a settings write is 400", r)
    r = s.call("GET", "/api/v1/lookup?client=198.18.0.5")
    check(r.status == 200 and r.json["reason"] in ("table", "affinity", "none") and
          "proxy" in r.json, "lookup names the proxy (or none) and the reason", r)
    r = s.call("GET", "/api/v1/lookup?client=300.1.1.1")
    check(r.status == 400 and r.json["field"] == "client", "bad lookup address names client", r)
    r = s.call("GET", "/api/v1/lookup?client=198.18.0.5&x=1")
    check(r.status == 400 and r.json["field"] == "x", "unknown query parameter is 400", r)
    r = s.call("GET", "/api/v1/audit?limit=2")
    check(r.status == 200 and len(r.json["entries"]) == 2, "audit page of 2", r)
    before = r.json["entries"][-1]["id"]
    r2 = s.call("GET", "/api/v1/audit?limit=2&before=%d" % before)
    check(r2.status == 200 and all(e["id"] < before for e in r2.json["entries"]),
          "audit paging with before", r2)
    r = s.call("GET", "/api/v1/audit?limit=0")
    check(r.status == 400 and r.json["field"] == "limit", "audit limit 0 is 400", r)
    r = s.call("GET", "/api/v1/audit?limit=abc")
    check(r.status == 400 and r.json["field"] == "limit", "audit limit abc is 400", r)
    r = s.call("GET", "/api/v1/audit?limit=50")
    actors = {e["actor"] for e in r.json["entries"]}
    check("webui:admin" in actors, "audit names the web UI user as actor", actors)

    # --- API tokens
    r = s.call("POST", "/api/v1/tokens", {"name": "bad name"})
    check(r.status == 400 and r.json["field"] == "name", "bad token name is 400", r)
    r = s.call("POST", "/api/v1/tokens", {"name": "ci-script"})
    check(r.status == 201 and r.json["token"].startswith("drv_"), "create API token (shown once)", r)
    token, token_id = r.json["token"], r.json["id"]
    r = s.call("GET", "/api/v1/tokens")
    check(r.status == 200 and r.json["tokens"][0]["name"] == "ci-script" and token not in r.body,
          "token list does not show the token", r)
    bearer = {"Authorization": "Bearer " + token}
    r = request("GET", "/api/v1/proxies", headers=bearer)
    check(r.status == 200, "Bearer token reads the API", r)
    r = request("POST", "/api/v1/proxies", {"address": "198.18.1.13", "name": "squid-c"},
                headers=bearer)
    check(r.status == 201, "Bearer token writes without a CSRF token", r)
    r = request("POST", "/api/v1/proxies", {"address": "198.18.1.14"},
                headers=dict(bearer, Origin="http://evil.example"))
    check(r.status == 403, "Bearer write from a foreign Origin is 403", r)
    r = request("GET", "/api/v1/proxies", headers={"Authorization": "Bearer drv_" + "0" * 64})
    check(r.status == 401, "unknown token is 401", r)

    # --- metrics
    r = request("GET", "/metrics")
    check(r.status == 200 and "version=0.0.4" in (r.header("Content-Type") or ""),
          "/metrics open on localhost, text format 0.0.4", r)
    values, types, problems = parse_metrics(r.body)
    check(not problems, "/metrics parses strictly", problems[:5])
    for name in ["drover_build_info", "drover_proxy_hits_total", "drover_proxy_packets_total",
                 "drover_proxy_bytes_total", "drover_proxy_active_clients", "drover_proxy_up",
                 "drover_proxy_check_duration_seconds", "drover_proxy_state_changes_total",
                 "drover_datapath_malformed_total", "drover_datapath_bypassed_total",
                 "drover_datapath_enobufs_total", "drover_kernel_queue_full_drops_total"]:
        check(name in types, "/metrics has " + name)
    check('drover_proxy_hits_total{proxy="squid-b"}' in values, "per-proxy series are labelled by name")
    time.sleep(1.5)
    values2, _, _ = parse_metrics(request("GET", "/metrics").body)
    went_back = [k for k, v in values.items()
                 if types.get(k.split("{")[0]) == "counter" and k in values2 and values2[k] < v]
    check(not went_back, "counters never decrease between scrapes", went_back)
    r = s.call("PUT", "/api/v1/settings/metrics_access", {"value": "auth"})
    r = request("GET", "/metrics")
    check(r.status == 401, "metrics_access=auth: anonymous scrape is 401", r)
    r = request("GET", "/metrics", headers=bearer)
    check(r.status == 200, "metrics_access=auth: Bearer scrape works", r)
    s.call("PUT", "/api/v1/settings/metrics_access", {"value": "local"})
    r = s.call("DELETE", "/api/v1/tokens/%d" % token_id)
    check(r.status == 200, "revoke API token", r)
    r = request("GET", "/api/v1/proxies", headers=bearer)
    check(r.status == 401, "revoked token is refused", r)

    # --- hardening: the Host allowlist, API token limits
    check_host_allowlist(s)
    check_http_framing(s)
    s = check_token_hardening(s, new_password)


    # --- login throttling: loopback is one source; slowed, never locked out
    replies = [Session().login("admin", "guess number %d" % i, source="127.0.0.2")
               for i in range(6)]
    statuses = [(r.status, bool(r.json and r.json.get("throttled"))) for r in replies]
    # (The checks above failed a sign-in of admin from loopback or two already.)
    check(all(st == 401 for st, _ in statuses) and not statuses[0][1] and statuses[5][1],
          "sign-in slowed (not refused) after 5 failures of a user from one source", statuses)
    r = Session().login("admin", new_password, source="127.0.0.3")
    check(r.status == 200, "the right password still signs in, from any loopback address", r)
    r = Session().login("admin", "guess again", source="127.0.0.2")
    check(r.status == 401 and not r.json.get("throttled"),
          "a sign-in forgives the failures before it", r)

    # --- logout
    r = s.call("POST", "/api/v1/logout")
    check(r.status == 200 and "Max-Age=0" in (r.header("Set-Cookie") or ""), "logout clears the cookie", r)
    r = s.call("GET", "/api/v1/proxies")
    check(r.status == 401, "the session is gone after logout", r)

    open(os.path.join(STATE, "admin-password"), "w").write(new_password + "\n")
    return failures


def https_phase(password):
    key = [f for f in os.listdir(STATE) if f == "webui-key.pem"]
    check(key and os.path.exists(os.path.join(STATE, "webui-cert.pem")),
          "https: a self-signed certificate was made next to the database")
    if key:
        mode = stat.S_IMODE(os.stat(os.path.join(STATE, "webui-key.pem")).st_mode)
        check(mode == 0o600, "https: the generated key is mode 0600", oct(mode))
    r = request("GET", "/")
    check(r.status == 200 and r.header("Strict-Transport-Security") is not None,
          "https: page served over TLS with HSTS", r)
    s = Session()
    r = s.login("admin", password)
    cookie = r.header("Set-Cookie") or ""
    check(r.status == 200 and "Secure" in cookie and "HttpOnly" in cookie,
          "https: session cookie is Secure", cookie)
    r = s.call("GET", "/api/v1/proxies")
    check(r.status == 200, "https: API works", r)
    check_slow_clients(s, "https: ")
    plain = socket.create_connection((BASE_HOST, PORT))
    plain.settimeout(5)
    plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
    try:
        data = plain.recv(100)
    except (socket.timeout, ConnectionError):
        data = b""
    check(not data.startswith(b"HTTP/1.1 200"), "https: plain HTTP gets no page")
    plain.close()
    return failures


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
