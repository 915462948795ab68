"""HTTP peers for the http layer's end-to-end tests (stdlib only).

:class:`HttpResource` is a raw-socket HTTP/1.1 origin server that records
exactly what reaches it (every request head, byte for byte, the body's length
and sha256, and on which connection it came) and answers by path:

    /headers            200, the body is the request head exactly as received
    /sha                200, the body is "<length> <sha256 hex>" of the request body
    /source?n=N&seed=S  200 with N bytes of ghtest's stream S; &chunked=1 sends
                        them chunked (random chunk sizes), else Content-Length
    /upgrade            101 Switching Protocols, then echoes raw bytes until EOF
    /close              200 with Connection: close, then closes
    /http10             an HTTP/1.0 response without Content-Length (body until close)
    anything else       200 "ok <path>"

HEAD gets the same head as GET with no body. A request with
``Expect: 100-continue`` gets "100 Continue" before its body is read.

Client helpers: :func:`request` builds raw request bytes, :class:`Reader` reads
responses off a raw socket (Content-Length, chunked, until close; 1xx skipped
on demand), :func:`curl` runs curl.
"""

import hashlib
import os
import random
import re
import socket
import ssl
import subprocess
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402

CRLF = b"\r\n"


class BadMessage(Exception):
    pass


class Reader:
    """Reads HTTP/1.1 messages off a socket, keeping what it read ahead."""

    def __init__(self, sock, limit=1 << 20):
        self.sock = sock
        self.buf = b""
        self.limit = limit

    def _more(self):
        b = self.sock.recv(1 << 20)
        if not b:
            raise EOFError(f"EOF with {len(self.buf)} bytes unread: {self.buf[:80]!r}")
        self.buf += b

    def head(self):
        """The next head, raw (final CRLF included)."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > self.limit:
                raise BadMessage("head too large")
            self._more()
        i = self.buf.index(b"\r\n\r\n") + 4
        h, self.buf = self.buf[:i], self.buf[i:]
        return h

    def exact(self, n):
        while len(self.buf) < n:
            self._more()
        b, self.buf = self.buf[:n], self.buf[n:]
        return b

    def line(self):
        while b"\r\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\r\n")
        ln, self.buf = self.buf[:i], self.buf[i + 2:]
        return ln

    def until_eof(self, sink):
        if self.buf:
            sink(self.buf)
            self.buf = b""
        while True:
            try:
                b = self.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not b:
                break
            sink(b)

    def body(self, fields, sink, until_close_ok=False):
        """Reads a body framed by ``fields`` (a dict of lowercased names);
        passes its bytes to sink; returns the framing used."""
        te = fields.get("transfer-encoding", "").lower()
        if te:
            if te.replace(" ", "") != "chunked":
                raise BadMessage(f"transfer-encoding {te!r}")
            while True:
                size_line = self.line()
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self.line() != b"":
                        pass  # trailers
                    return "chunked"
                sink(self.exact(size))
                if self.exact(2) != CRLF:
                    raise BadMessage("chunk data not followed by CRLF")
        if "content-length" in fields:
            n = int(fields["content-length"])
            left = n
            while left:
                while not self.buf:
                    self._more()
                k = min(left, len(self.buf))
                sink(self.buf[:k])
                self.buf = self.buf[k:]
                left -= k
            return "length"
        if until_close_ok:
            self.until_eof(sink)
            return "close"
        return "none"


def parse_head(raw):
    """(start line, [(name, value)], {lowercased name: value}) of a raw head."""
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    start = lines[0]
    pairs = []
    for ln in lines[1:]:
        if not ln:
            continue
        name, _, value = ln.partition(":")
        pairs.append((name, value.strip()))
    fields = {}
    for n, v in pairs:
        fields.setdefault(n.lower(), v)
    return start, pairs, fields


class Response:
    def __init__(self, head, body, framing):
        self.head = head
        self.start, self.pairs, self.fields = parse_head(head)
        parts = self.start.split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1])
        self.body = body
        self.framing = framing

    def all(self, name):
        return [v for n, v in self.pairs if n.lower() == name.lower()]

    def __repr__(self):
        return f"<Response {self.status} {len(self.body)} bytes>"


def read_response(reader, head_request=False, skip_interim=True, keep_body=True):
    """The next response off ``reader``; 1xx interim responses are skipped
    unless skip_interim is False."""
    while True:
        head = reader.head()
        start, _, fields = parse_head(head)
        status = int(start.split(" ")[1])
        if 100 <= status < 200 and status != 101 and skip_interim:
            continue
        break
    chunks = []
    h = hashlib.sha256()
    n = [0]

    def sink(b):
        if keep_body:
            chunks.append(b)
        h.update(b)
        n[0] += len(b)

    framing = "none"
    if not head_request and status >= 200 and status not in (204, 304):
        framing = reader.body(fields, sink, until_close_ok=True)
    r = Response(head, b"".join(chunks), framing)
    r.length = n[0]
    r.sha = h.hexdigest()
    return r


def request(method, path, host="app.example", headers=(), body=b"", version="HTTP/1.1",
            content_length=True):
    """Raw request bytes. headers: [(name, value)]; host None: no Host line."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for n, v in headers:
        lines.append(f"{n}: {v}")
    if body and content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(data, rng, max_chunk=70000):
    """data in the chunked coding with random chunk sizes."""
    out = []
    i = 0
    while i < len(data):
        k = rng.randint(1, max_chunk)
        part = data[i:i + k]
        out.append(b"%x\r\n" % len(part) + part + CRLF)
        i += k
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def stream_bytes(seed, n):
    return b"".join(ghtest.stream_chunks(seed, n))


# --------------------------------------------------------------------------- resource


class Seen:
    """One request as the resource received it."""

    def __init__(self, conn, index, head, length, sha):
        self.conn = conn          # connection number (1, 2, ...)
        self.index = index        # request number on that connection (1, 2, ...)
        self.head = head          # raw bytes
        self.start, self.pairs, self.fields = parse_head(head)
        self.method, self.target = self.start.split(" ")[:2]
        self.length = length
        self.sha = sha

    def all(self, name):
        return [v for n, v in self.pairs if n.lower() == name.lower()]

    def __repr__(self):
        return f"<Seen #{self.conn}.{self.index} {self.start!r}>"


class HttpResource(ghtest._TCPServer):
    """The raw HTTP/1.1 origin server described in the module doc. ``tls``: an
    ssl.SSLContext to wrap accepted connections in."""

    def __init__(self, tls=None, **kw):
        self.tls = tls
        self.seen = []
        self.conn_no = 0
        self.tls_peers = []  # the client certificates of TLS connections
        self.body_progress = 0  # bytes read so far of the body being read
        super().__init__(**kw)

    def requests(self, path=None):
        with self.lock:
            return [s for s in self.seen if path is None or s.target.split("?")[0] == path]

    def handle(self, c):
        if self.tls is not None:
            c = self.tls.wrap_socket(c, server_side=True)
            with self.lock:
                self.tls_peers.append(c.getpeercert())
        with self.lock:
            self.conn_no += 1
            conn = self.conn_no
        rd = Reader(c)
        index = 0
        while True:
            try:
                head = rd.head()
            except EOFError:
                return
            index += 1
            start, _, fields = parse_head(head)
            method, target = start.split(" ")[:2]
            url = urllib.parse.urlsplit(target)
            q = dict(urllib.parse.parse_qsl(url.query))
            if fields.get("expect", "").lower() == "100-continue":
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            h = hashlib.sha256()
            n = [0]

            def sink(b, h=h, n=n):
                h.update(b)
                n[0] += len(b)
                self.body_progress = n[0]

            rd.body(fields, sink)
            with self.lock:
                self.seen.append(Seen(conn, index, head, n[0], h.hexdigest()))
            if not self.respond(c, rd, method, url.path, q, head, n[0], h.hexdigest()):
                return
            conn_hdr = fields.get("connection", "").lower()
            if "close" in conn_hdr or (start.endswith("HTTP/1.0") and "keep-alive" not in conn_hdr):
                c.shutdown(socket.SHUT_WR)
                return

    def respond(self, c, rd, method, path, q, head, length, sha):
        """Answers one request; False when the connection is done."""
        def send(status, body, extra=(), reason="OK"):
            lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}",
                     "Content-Type: application/octet-stream", "X-Resource: raw"]
            lines += [f"{k}: {v}" for k, v in extra]
            c.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body))

        if path == "/headers":
            send(200, head)
        elif path == "/sha":
            send(200, f"{length} {sha}".encode())
        elif path == "/source":
            n, seed = int(q.get("n", "0")), int(q.get("seed", "1"))
            if q.get("chunked") == "1" and method != "HEAD":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                          b"X-Resource: raw\r\n\r\n")
                g = random.Random(seed ^ 0x5A5A)
                for part in ghtest.stream_chunks(seed, n, chunk=1 << 20):
                    i = 0
                    while i < len(part):
                        k = g.randint(1, 100000)
                        piece = part[i:i + k]
                        c.sendall(b"%x\r\n" % len(piece) + piece + CRLF)
                        i += k
                c.sendall(b"0\r\nX-Trailer: done\r\n\r\n")
            else:
                c.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n".encode())
                if method != "HEAD":
                    for part in ghtest.stream_chunks(seed, n, chunk=1 << 20):
                        c.sendall(part)
        elif path == "/upgrade":
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\n\r\n")
            if rd.buf:
                c.sendall(rd.buf)
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
            return False
        elif path == "/close":
            send(200, b"closing", [("Connection", "close")])
            c.shutdown(socket.SHUT_WR)
            return False
        elif path == "/http10":
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" +
                      (b"" if method == "HEAD" else b"until close " * 1000))
            c.shutdown(socket.SHUT_WR)
            return False
        else:
            send(200, f"ok {path}".encode())
        return True


# --------------------------------------------------------------------------- clients


def connect(port, timeout=30.0, tls=None, server_hostname=None):
    s = ghtest.connect(port, timeout=timeout)
    if tls is not None:
        s = tls.wrap_socket(s, server_hostname=server_hostname)
    return s


def get(port, path, headers=(), host="app.example", **kw):
    """One request on a fresh connection; returns the Response."""
    with connect(port, **kw) as s:
        s.sendall(request("GET", path, host=host, headers=headers))
        return read_response(Reader(s))


def curl(*args, timeout=120):
    """Runs curl; returns (exit code, stdout bytes, stderr text)."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 30)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def ssl_server_context(cert, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx
