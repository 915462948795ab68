#!/usr/bin/env python3
"""End-to-end: the http layer (protocol = http / https) between real processes.

The resource is http_peers.HttpResource, a raw HTTP/1.1 server that records every
request head byte for byte, so that each test sees exactly what reached it; the
applications are raw sockets and curl. Bodies are checked by sha256. No test
asserts a speed or a duration.
Run one test: ``python3 test_http.py keepalive``.
"""
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
import http_peers as hp  # noqa: E402
from ghtest import KiB, MiB, cloud, onprem, rng  # noqa: E402

UP = 30.0  # seconds a tunnel may take to come up
LISTEN_ADD = ("listen.http.add_header", "X-Gateway: gatehouse")
RESOURCE_ADD = ("resource.http.add_header", ["X-Added-One: 1", "X-Added-Two: two  words"])


def _sides(listen, resource):
    """Destination keys for a different protocol on each side."""
    return [("protocol", None), ("listen.protocol", listen), ("resource.protocol", resource)]


def _resource(t, **kw):
    r = hp.HttpResource(**kw)
    t.peers.append(r)
    return r


def _wait_http(port, procs, tls=None):
    ghtest.retry(lambda: hp.get(port, "/ping", timeout=5, tls=tls,
                                server_hostname="localhost" if tls else None), UP,
                 what=f"http through port {port}", procs=procs)


def _pair(t, dests, nowait=()):
    """A server with ``dests`` and a client; waits until every destination
    with an http listen side (but those named in ``nowait``) answers.
    dests: from onprem()/cloud(); returns (server, client)."""
    srv, cli, _ = t.pair(dests)
    for title, items in dests:
        if title.split()[-1] in nowait:
            continue
        d = dict(items)
        port = int(d["listen"].rsplit(":", 1)[1]) if "listen" in d else int(d["client_port"])
        if d.get("listen.protocol", d.get("protocol")) not in ("tcp", "https"):
            _wait_http(port, [srv, cli])
    return srv, cli


def _both(t, res, extra=(), protocol="http"):
    """An onprem and a cloud destination to ``res``; returns their ports."""
    p_on, p_cl = t.ports(2)
    _pair(t, [onprem("on", p_on, res.port, protocol=protocol, extra=list(extra)),
              cloud("cl", p_cl, res.port, protocol=protocol, extra=list(extra))])
    return {"onprem": p_on, "cloud": p_cl}


def _conns(res, quiet=0.3):
    """Connections the resource has accepted, once no new one came for
    ``quiet`` seconds (its accept thread and handlers run on their own)."""
    last, since = -1, time.monotonic()
    while True:
        with res.lock:
            n = res.accepted
            started = res.conn_no
        if n != last or started != n:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return n
        time.sleep(0.05)


def _one(vals, what):
    assert len(vals) == 1, f"{what}: want exactly one, got {vals!r}"
    return vals[0]


# --------------------------------------------------------------------------- rewriting


def test_host_rewrite_forwarded_and_added_headers(t):
    res = _resource(t)
    p_on, p_cl, p_host = t.ports(3)
    _pair(t, [onprem("on", p_on, res.port, protocol="http", extra=[LISTEN_ADD, RESOURCE_ADD]),
              cloud("cl", p_cl, res.port, protocol="http", extra=[LISTEN_ADD, RESOURCE_ADD]),
              onprem("vhost", p_host, res.port, protocol="http",
                     extra=[("resource.http.host", "internal.example:8443")])])
    spoof = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https"),
             ("Forwarded", "for=6.6.6.6;proto=https"), ("X-Other", "keep  me\t as is")]
    for kind, port in (("onprem", p_on), ("cloud", p_cl)):
        r = hp.get(port, "/headers", host="app.example:1234", headers=spoof)
        assert r.status == 200, f"{kind}: {r.status}"
        # the response comes with listen.http.add_header, and intact
        assert r.all("X-Gateway") == ["gatehouse"], f"{kind}: response head {r.head!r}"
        assert r.all("X-Resource") == ["raw"]
        assert len(r.body) == int(r.fields["content-length"])
        seen = hp.parse_head(r.body)
        start, pairs, _ = seen
        got = lambda n: [v for k, v in pairs if k.lower() == n]  # noqa: E731
        assert start == "GET /headers HTTP/1.1", start
        assert _one(got("host"), "Host") == f"127.0.0.1:{res.port}"
        assert _one(got("x-forwarded-for"), "X-Forwarded-For") == "127.0.0.1"
        assert _one(got("x-forwarded-proto"), "X-Forwarded-Proto") == "http"
        assert _one(got("forwarded"), "Forwarded") == 'for=127.0.0.1;proto=http;host="app.example:1234"'
        assert got("x-added-one") == ["1"] and got("x-added-two") == ["two  words"], pairs
        assert b"\r\nX-Other: keep  me\t as is\r\n" in r.body, "an untouched field changed"
        assert not got("x-gateway"), "listen.http.add_header went to the resource"
        # the Host line keeps its place: right after the request line
        assert pairs[0][0] == "Host", pairs
        t.log(f"{kind}: the resource saw {len(pairs)} fields, rewritten as configured")

        # absolute-form: origin-form toward the resource, its authority as host=
        with hp.connect(port) as s:
            s.sendall(b"GET http://abs.example/headers?x=1 HTTP/1.1\r\nHost: other\r\n\r\n")
            r = hp.read_response(hp.Reader(s))
        start, pairs, f = hp.parse_head(r.body)
        assert start == "GET /headers?x=1 HTTP/1.1", start
        assert f["host"] == f"127.0.0.1:{res.port}"
        assert f["forwarded"].endswith(';host="abs.example"'), f["forwarded"]

    r = hp.get(p_host, "/headers", host="app.example")
    _, pairs, f = hp.parse_head(r.body)
    assert f["host"] == "internal.example:8443", f
    assert not r.all("X-Gateway") and "x-added-one" not in f


def test_http10_client(t):
    res = _resource(t)
    ports = _both(t, res)
    for kind, port in ports.items():
        # no Host in HTTP/1.0: the resource side adds one; the connection ends after
        with hp.connect(port) as s:
            s.sendall(b"GET /headers HTTP/1.0\r\nUser-Agent: old\r\n\r\n")
            rd = hp.Reader(s)
            r = hp.read_response(rd)
            assert r.status == 200
            _, pairs, f = hp.parse_head(r.body)
            assert pairs[0] == ("Host", f"127.0.0.1:{res.port}"), pairs
            assert f["forwarded"] == "for=127.0.0.1;proto=http", f
            ghtest.expect_eof(s, 20)
        # a body until close (HTTP/1.0 response without Content-Length)
        with hp.connect(port) as s:
            s.sendall(hp.request("GET", "/http10"))
            r = hp.read_response(hp.Reader(s))
            assert r.framing == "close" and r.body == b"until close " * 1000, r
        # curl --http1.0 with a sha-checked download
        seed = rng.getrandbits(32)
        rc, body, err = hp.curl("--http1.0", f"http://127.0.0.1:{port}/source?n={300 * KiB}&seed={seed}")
        assert rc == 0, err
        assert hashlib.sha256(body).hexdigest() == ghtest.stream_sha256(seed, 300 * KiB)
        t.log(f"{kind}: HTTP/1.0 requests served and closed")


# --------------------------------------------------------------------------- connections


def test_keepalive_100_requests_on_one_connection(t):
    res = _resource(t)
    ports = _both(t, res)
    for kind, port in ports.items():
        before = len(res.requests())
        conns_before = _conns(res)
        with hp.connect(port) as s:
            rd = hp.Reader(s)
            for i in range(100):
                if i % 2:
                    body = os.urandom(rng.randint(0, 5000))
                    s.sendall(hp.request("POST", "/sha", body=body))
                    r = hp.read_response(rd)
                    assert r.body == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode(), r.body
                else:
                    n, seed = rng.randint(0, 20000), rng.getrandbits(32)
                    s.sendall(hp.request("GET", f"/source?n={n}&seed={seed}"))
                    r = hp.read_response(rd)
                    assert r.sha == ghtest.stream_sha256(seed, n)
                assert r.status == 200 and r.fields.get("connection") is None
        seen = res.requests()[before:]
        assert len(seen) == 100, f"{kind}: the resource saw {len(seen)} requests"
        conns = {x.conn for x in seen}
        assert len(conns) == 1 and _conns(res) == conns_before + 1, \
            f"{kind}: 100 requests came on {len(conns)} connection(s) to the resource"
        assert [x.index for x in seen] == list(range(1, 101))
        # curl with several URLs reuses its connection too
        before = len(res.requests())
        urls = [f"http://127.0.0.1:{port}/n{i}" for i in range(10)]
        rc, out, err = hp.curl(*urls)
        assert rc == 0, err
        assert out == b"".join(f"ok /n{i}".encode() for i in range(10)), out
        seen = res.requests()[before:]
        assert len({x.conn for x in seen}) == 1, "curl's 10 requests used several connections"
        t.log(f"{kind}: 100 requests on one connection, and curl's 10 on one")


def test_pipelined_requests(t):
    res = _resource(t)
    ports = _both(t, res)
    for kind, port in ports.items():
        plan, blob = [], b""
        for i in range(30):
            k = i % 4
            if k == 0:
                n, seed = rng.randint(0, 100 * KiB), rng.getrandbits(32)
                blob += hp.request("GET", f"/source?n={n}&seed={seed}&chunked={i % 8 // 4}")
                plan.append(("source", n, seed))
            elif k == 1:
                blob += hp.request("HEAD", "/source?n=12345&seed=1")
                plan.append(("head", 12345, None))
            elif k == 2:
                body = os.urandom(rng.randint(1, 50 * KiB))
                blob += hp.request("POST", "/sha", body=body)
                plan.append(("sha", body, None))
            else:
                body = os.urandom(rng.randint(1, 50 * KiB))
                blob += hp.request("POST", "/sha", headers=[("Transfer-Encoding", "chunked")],
                                   body=hp.chunked(body, rng, 5000), content_length=False)
                plan.append(("sha", body, None))
        before = len(res.requests())
        with hp.connect(port) as s:
            sender = threading.Thread(target=s.sendall, args=(blob,), daemon=True)
            sender.start()
            rd = hp.Reader(s)
            for what, a, b in plan:
                r = hp.read_response(rd, head_request=(what == "head"))
                assert r.status == 200, r
                if what == "source":
                    assert r.sha == ghtest.stream_sha256(b, a)
                elif what == "head":
                    assert r.fields["content-length"] == "12345" and r.body == b""
                else:
                    assert r.body == f"{len(a)} {hashlib.sha256(a).hexdigest()}".encode()
            sender.join(30)
        seen = res.requests()[before:]
        assert len(seen) == 30 and len({x.conn for x in seen}) == 1
        t.log(f"{kind}: 30 pipelined requests answered in order")


# --------------------------------------------------------------------------- bodies


def test_chunked_upload_and_download_by_hash(t):
    res = _resource(t)
    ports = _both(t, res)
    size = 6 * MiB + 123
    up = os.path.join(t.dir, "upload.bin")
    seed = rng.getrandbits(32)
    with open(up, "wb") as f:
        for c in ghtest.stream_chunks(seed, size):
            f.write(c)
    want = ghtest.stream_sha256(seed, size)
    for kind, port in ports.items():
        # curl: a chunked PUT (with Expect: 100-continue) of a file
        rc, out, err = hp.curl("-T", up, "-H", "Transfer-Encoding: chunked",
                               f"http://127.0.0.1:{port}/sha")
        assert rc == 0, err
        assert out.decode() == f"{size} {want}", out[:200]
        assert res.requests("/sha")[-1].fields.get("transfer-encoding") == "chunked"
        # curl: a chunked download with a trailer
        dseed = rng.getrandbits(32)
        dl = os.path.join(t.dir, f"download-{kind}.bin")
        rc, _, err = hp.curl("-o", dl, f"http://127.0.0.1:{port}/source?n={size}&seed={dseed}&chunked=1")
        assert rc == 0, err
        with open(dl, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == ghtest.stream_sha256(dseed, size)
        # raw: chunked upload with random chunk sizes and extensions, then a download
        body = hp.stream_bytes(seed ^ 7, 2 * MiB)
        enc = hp.chunked(body, rng).replace(b"\r\n", b";ext=1\r\n", 1)
        with hp.connect(port) as s:
            s.sendall(hp.request("PUT", "/sha", headers=[("Transfer-Encoding", "chunked")],
                                 body=enc, content_length=False))
            r = hp.read_response(hp.Reader(s))
        assert r.body == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode(), r.body
        t.log(f"{kind}: {size / MiB:.1f} MiB chunked each way, sha256 checked")


def test_large_body_is_streamed(t):
    """A 40 MiB Content-Length upload reaches the resource while the client is
    still sending it (the layer holds no body), and a 40 MiB download arrives
    whole."""
    res = _resource(t)
    ports = _both(t, res)
    size = 40 * MiB
    for kind, port in ports.items():
        seed = rng.getrandbits(32)
        with hp.connect(port, timeout=120) as s:
            s.sendall(hp.request("POST", "/sha", headers=[("Content-Length", str(size))],
                                 content_length=False))
            gen = ghtest.stream_chunks(seed, size, chunk=1 * MiB)
            h = hashlib.sha256()
            for i, c in enumerate(gen):
                s.sendall(c)
                h.update(c)
                if i == 7:  # 8 MiB sent, 32 MiB not: the resource must be reading
                    there = _resource_progress(res)
            r = hp.read_response(hp.Reader(s))
        assert r.body == f"{size} {h.hexdigest()}".encode(), r.body
        dseed = rng.getrandbits(32)
        with hp.connect(port, timeout=120) as s:
            s.sendall(hp.request("GET", f"/source?n={size}&seed={dseed}"))
            r = hp.read_response(hp.Reader(s), keep_body=False)
        assert r.length == size and r.sha == ghtest.stream_sha256(dseed, size)
        t.log(f"{kind}: 40 MiB each way; the upload reached the resource while being sent "
              f"({there / MiB:.1f} MiB there after 8 MiB sent)")


def _resource_progress(res, timeout=30.0):
    """Bytes of the request body in flight that the resource has read so far:
    waits until it is more than 1 MiB (the layer passes bodies on as they come)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = res.body_progress
        if n > 1 * MiB:
            return n
        time.sleep(0.05)
    raise AssertionError(f"the resource read only {res.body_progress} body bytes while "
                         "8 MiB were sent: the body is held back")


def test_expect_100_continue(t):
    res = _resource(t)
    ports = _both(t, res)
    for kind, port in ports.items():
        body = os.urandom(1 * MiB)
        with hp.connect(port) as s:
            s.sendall(hp.request("POST", "/sha", headers=[("Expect", "100-continue"),
                                                          ("Content-Length", str(len(body)))],
                                 content_length=False))
            rd = hp.Reader(s)
            interim = hp.read_response(rd, skip_interim=False)
            assert interim.status == 100, interim
            s.sendall(body)
            r = hp.read_response(rd)
            assert r.body == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
            # and the connection goes on
            s.sendall(hp.request("GET", "/after"))
            assert hp.read_response(rd).body == b"ok /after"
        t.log(f"{kind}: 100 Continue came before the body was sent")


def test_upgrade_carries_raw_bytes_both_ways(t):
    res = _resource(t)
    ports = _both(t, res)
    for kind, port in ports.items():
        early = b"\x81\x05early bytes before the 101\x00\xff\r\n\r\nGET / HTTP/1.1\r\n"
        seed = rng.getrandbits(32)
        size = 3 * MiB
        with hp.connect(port) as s:
            s.sendall(hp.request("GET", "/upgrade", headers=[("Connection", "Upgrade"),
                                                             ("Upgrade", "websocket")]) + early)
            rd = hp.Reader(s)
            r = hp.read_response(rd, skip_interim=False)
            assert r.status == 101, r
            box = {}

            def send():
                box["sha"] = ghtest._send_stream(s, seed, size)
                s.shutdown(socket.SHUT_WR)

            th = threading.Thread(target=send, daemon=True)
            th.start()
            got = rd.exact(len(early))
            assert got == early, f"early bytes came back as {got[:40]!r}"
            ahead, rd.buf = rd.buf, b""  # what the reader took past them
            h = hashlib.sha256(ahead)
            left = size - len(ahead)
            while left > 0:
                b = s.recv(min(left, 1 << 20))
                assert b, f"EOF with {left} of {size} echoed bytes missing"
                h.update(b)
                left -= len(b)
            th.join(30)
            assert h.hexdigest() == box["sha"], "the upgraded stream's bytes changed"
            ghtest.expect_eof(s, 20)
        t.log(f"{kind}: {size / MiB:.0f} MiB of raw bytes echoed after the 101")


# --------------------------------------------------------------------------- refusals


def _refused(port, raw, want, timeout=20):
    """Sends raw on a fresh connection; requires the answer `want` then EOF."""
    with hp.connect(port, timeout=timeout) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        rd = hp.Reader(s)
        r = hp.read_response(rd)
        assert r.status == want, f"{raw[:60]!r}: got {r.status}, want {want}"
        assert r.fields.get("connection") == "close"
        ghtest.expect_eof(s, timeout)
        return r


SMUGGLING = [
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n"
     b"0\r\n\r\n", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /sha HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /sha HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    (b"GET /x HTTP/1.1\r\nHost: a\nX-Smuggle: y\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\nHost: a\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
    (b"GET /x y HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", 501),
]


def test_smuggling_shapes_refused(t):
    res = _resource(t)
    ports = _both(t, res)
    for kind, port in ports.items():
        conns, reqs = _conns(res), len(res.requests())
        for raw, want in SMUGGLING:
            _refused(port, raw, want)
        # refused at the listen side: no request, not even a connection, reached the resource
        assert len(res.requests()) == reqs, f"{kind}: the resource saw {res.requests()[reqs:]!r}"
        assert _conns(res) == conns, f"{kind}: refused requests cost connections to the resource"
        # on a kept-alive connection: the good request is answered, then the refusal
        with hp.connect(port) as s:
            s.sendall(hp.request("GET", "/first") + SMUGGLING[0][0])
            rd = hp.Reader(s)
            assert hp.read_response(rd).body == b"ok /first"
            r = hp.read_response(rd)
            assert r.status == 400 and r.fields.get("connection") == "close"
            ghtest.expect_eof(s, 20)
        assert [x.target for x in res.requests()[reqs:]] == ["/first"], res.requests()[reqs:]
        # a bad chunk size in a body that already went on: 400, nothing smuggled
        with hp.connect(port) as s:
            s.sendall(b"POST /sha HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n0x10\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
            r = hp.read_response(hp.Reader(s))
            assert r.status == 400, r
            ghtest.expect_eof(s, 20)
        assert not res.requests("/smuggled")
        t.log(f"{kind}: {len(SMUGGLING)} smuggling shapes refused before the resource")


def test_oversized_headers_431(t):
    res = _resource(t)
    p_on, p_cl, p_small = t.ports(3)
    _pair(t, [onprem("on", p_on, res.port, protocol="http"),
              cloud("cl", p_cl, res.port, protocol="http"),
              onprem("small", p_small, res.port, protocol="http",
                     extra=[("http.max_header", 2048)])])
    for kind, port in (("onprem", p_on), ("cloud", p_cl)):
        conns = _conns(res)
        big = hp.request("GET", "/x", headers=[("X-Big", "b" * 20000)])
        r = _refused(port, big, 431)
        assert b"431" in r.body
        _refused(port, hp.request("GET", "/" + "u" * 20000), 414)
        # many fields adding up over the limit
        _refused(port, hp.request("GET", "/x", headers=[(f"X-F{i}", "v" * 100) for i in range(200)]), 431)
        assert _conns(res) == conns, "an oversized first request reached the resource"
        # just under the limit passes
        r = hp.get(port, "/headers", headers=[("X-Big", "b" * 15000)])
        assert r.status == 200 and b"b" * 15000 in r.body
        # a later oversized request: the earlier ones are answered first
        with hp.connect(port) as s:
            s.sendall(hp.request("GET", "/one") + big)
            rd = hp.Reader(s)
            assert hp.read_response(rd).body == b"ok /one"
            assert hp.read_response(rd).status == 431
            ghtest.expect_eof(s, 20)
        t.log(f"{kind}: 431/414 for oversized heads, the resource untouched")
    _refused(p_small, hp.request("GET", "/x", headers=[("X-Big", "b" * 2100)]), 431)
    assert hp.get(p_small, "/x", headers=[("X-Big", "b" * 1500)]).status == 200


def test_slowloris_header_timeout(t):
    res = _resource(t)
    p_on, p_cl = t.ports(2)
    extra = [("http.header_timeout", 1)]
    _pair(t, [onprem("on", p_on, res.port, protocol="http", extra=extra),
              cloud("cl", p_cl, res.port, protocol="http", extra=extra)])
    for kind, port in (("onprem", p_on), ("cloud", p_cl)):
        conns = _conns(res)
        slow = hp.connect(port)
        idle = hp.connect(port)
        stop = threading.Event()
        box = {}

        def drip():
            try:
                slow.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: ")
                while not stop.is_set():
                    slow.sendall(b"z")
                    time.sleep(0.2)
            except OSError as e:
                box["err"] = e

        th = threading.Thread(target=drip, daemon=True)
        th.start()
        # meanwhile another client is served
        served = 0
        t0 = time.monotonic()
        with hp.connect(port) as s:
            rd = hp.Reader(s)
            while time.monotonic() - t0 < 2.5:
                s.sendall(hp.request("GET", f"/other{served}"))
                assert hp.read_response(rd).body == f"ok /other{served}".encode()
                served += 1
        for sock, what in ((slow, "dripping"), (idle, "silent")):
            r = hp.read_response(hp.Reader(sock))
            assert r.status == 408, f"{what} client: {r.status}"
            try:
                ghtest.expect_eof(sock, 15)
            except AssertionError:
                raise
        stop.set()
        th.join(10)
        slow.close()
        idle.close()
        n = _conns(res)
        assert n == conns + 1, f"{kind}: the slow clients cost {n - conns - 1} connection(s) to the resource"
        assert not res.requests("/slow")
        t.log(f"{kind}: dripping and silent clients got 408; {served} requests served meanwhile")


# --------------------------------------------------------------------------- one side


def test_one_side_only(t):
    """listen.protocol = http with a tcp resource side, and the reverse: each
    side does its own part alone."""
    res = _resource(t)
    p_listen, p_res = t.ports(2)
    _pair(t, [onprem("lonly", p_listen, res.port, extra=_sides("http", "tcp") + [LISTEN_ADD]),
              onprem("ronly", p_res, res.port, extra=_sides("tcp", "http") + [RESOURCE_ADD])])
    # listen side alone: response headers added, the request untouched
    r = hp.get(p_listen, "/headers", host="app.example", headers=[("X-Forwarded-For", "6.6.6.6")])
    assert r.all("X-Gateway") == ["gatehouse"]
    assert r.body == hp.request("GET", "/headers", host="app.example",
                                headers=[("X-Forwarded-For", "6.6.6.6")])
    _refused(p_listen, SMUGGLING[0][0], 400)
    # resource side alone: the request rewritten, and refusals answered through the tunnel
    _wait_http(p_res, [])
    r = hp.get(p_res, "/headers", host="app.example", headers=[("X-Forwarded-For", "6.6.6.6")])
    _, pairs, f = hp.parse_head(r.body)
    assert f["host"] == f"127.0.0.1:{res.port}" and f["x-forwarded-for"] == "127.0.0.1", pairs
    assert f["x-added-one"] == "1" and not r.all("X-Gateway")
    reqs = len(res.requests())
    for raw, want in SMUGGLING[:4]:
        _refused(p_res, raw, want)
    _refused(p_res, hp.request("GET", "/x", headers=[("X-Big", "b" * 20000)]), 431)
    assert len(res.requests()) == reqs, f"the resource saw {res.requests()[reqs:]!r}"


def test_bad_options_refused_at_start(t):
    """add_header and host are checked when the destination is set up: a server
    whose resource side has a bad one exits 2 and says which and why."""
    res_port, p1 = t.ports(2)
    cases = [
        (("resource.http.add_header", "Bad Name: x"), "add_header"),
        (("resource.http.add_header", "Content-Length: 5"), "Content-Length"),
        (("resource.http.add_header", "X-Forwarded-For: 1.2.3.4"), "X-Forwarded-For"),
        (("resource.http.host", "two words"), "http.host"),
    ]
    for i, (kv, word) in enumerate(cases):
        secs = ghtest.server_sections(t.port(), t.pki, {"gw1": t.token()},
                                      [cloud("bad", p1, res_port, protocol="http", extra=[kv])])
        path = os.path.join(t.dir, f"bad{i}.ini")
        with open(path, "w") as f:
            f.write(ghtest.ini_text(secs))
        r = subprocess.run([ghtest.GH_BIN, "server", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        out = r.stdout.decode(errors="replace")
        assert r.returncode == 2, f"{kv}: exit {r.returncode}:\n{out}"
        assert word in out and "destination bad" in out, f"{kv}: no reason naming {word}:\n{out}"


# --------------------------------------------------------------------------- https


def _tls_present():
    d = ghtest.GH_PLUGIN_DIR or os.path.join(ghtest.GH_BUILD_DIR, "plugins")
    return os.path.exists(os.path.join(d, "tls.so"))


def _skip(t, why):
    t.log(f"SKIPPED: {why}")


def test_https_listen_side_with_curl(t):
    if not _tls_present():
        return _skip(t, "tls.so is not in GH_PLUGIN_DIR: the https tests need the tls layer plugin")
    res = _resource(t)
    p_on, p_cl = t.ports(2)
    extra = _sides("https", "http") + [("listen.tls.cert", t.pki.server_cert),
             ("listen.tls.key", t.pki.server_key)]
    srv, cli = _pair(t, [onprem("on", p_on, res.port, protocol="http", extra=extra),
                         cloud("cl", p_cl, res.port, protocol="http", extra=extra)])
    ctx = __import__("ssl").create_default_context(cafile=t.pki.ca_cert)
    for kind, port in (("onprem", p_on), ("cloud", p_cl)):
        _wait_http(port, [srv, cli], tls=ctx)
        rc, out, err = hp.curl("--cacert", t.pki.ca_cert, f"https://localhost:{port}/headers",
                               "--resolve", f"localhost:{port}:127.0.0.1")
        assert rc == 0, err
        _, pairs, f = hp.parse_head(out)
        assert f["x-forwarded-proto"] == "https", pairs
        assert f["forwarded"] == f'for=127.0.0.1;proto=https;host="localhost:{port}"', f
        assert f["host"] == f"127.0.0.1:{res.port}"
        seed = rng.getrandbits(32)
        rc, out, err = hp.curl("--cacert", t.pki.ca_cert, "--resolve", f"localhost:{port}:127.0.0.1",
                               f"https://localhost:{port}/source?n={3 * MiB}&seed={seed}&chunked=1")
        assert rc == 0, err
        assert hashlib.sha256(out).hexdigest() == ghtest.stream_sha256(seed, 3 * MiB)
        t.log(f"{kind}: curl over https through the listen side")


def test_https_toward_resource_with_client_certificate(t):
    if not _tls_present():
        return _skip(t, "tls.so is not in GH_PLUGIN_DIR: the https tests need the tls layer plugin")
    ctx = hp.ssl_server_context(t.pki.server_cert, t.pki.server_key, client_ca=t.pki.ca_cert)
    res = _resource(t, tls=ctx)
    p_on, p_cl, p_nocert = t.ports(3)
    extra = _sides("http", "https") + [("resource.tls.ca", t.pki.ca_cert),
             ("resource.tls.cert", t.pki.client_cert), ("resource.tls.key", t.pki.client_key)]
    nocert = _sides("http", "https") + [("resource.tls.ca", t.pki.ca_cert)]
    _pair(t, [onprem("on", p_on, res.port, protocol="http", extra=extra),
              cloud("cl", p_cl, res.port, protocol="http", extra=extra),
              onprem("nocert", p_nocert, res.port, protocol="http", extra=nocert)],
          nowait=("nocert",))
    for kind, port in (("onprem", p_on), ("cloud", p_cl)):
        r = hp.get(port, "/headers", host="app.example")
        assert r.status == 200, r
        _, pairs, f = hp.parse_head(r.body)
        assert f["host"] == f"127.0.0.1:{res.port}" and f["x-forwarded-proto"] == "http", pairs
        body = os.urandom(2 * MiB)
        with hp.connect(port) as s:
            s.sendall(hp.request("POST", "/sha", body=body))
            r = hp.read_response(hp.Reader(s))
        assert r.body == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
        t.log(f"{kind}: https with a client certificate toward the resource")
    subjects = [dict(x[0] for x in p.get("subject", ())) for p in res.tls_peers if p]
    assert any(s.get("commonName") == "gw1 client" for s in subjects), subjects
    # without a client certificate the resource refuses: no answer gets through
    try:
        with hp.connect(p_nocert, timeout=20) as s:
            s.sendall(hp.request("GET", "/headers"))
            r = hp.read_response(hp.Reader(s))
            assert r.status != 200, "a resource that requires a client certificate answered without one"
    except (EOFError, ConnectionResetError):
        pass


if __name__ == "__main__":
    ghtest.main(globals())
