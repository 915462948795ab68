#!/usr/bin/env python3
"""The tls layer's listen side beside an stunnel pair doing the same job, and
beside direct TLS to a local TLS server for reference, in the same run,
printed as one table with ratios.

    python3 bench/tls.py [--mib 512] [--secs 5] [--parallel 4] [--build build]

The job: an application speaks TLS to an entry point; its bytes reach a
plain TCP resource after crossing a TLS link between two processes.

- gatehouse: `gatehouse server` terminates the application's TLS (a
  destination with listen.protocol = tls), carries the bytes over its tunnel
  (one TLS connection) to `gatehouse client`, which connects to the resource
  in plain TCP.
- stunnel pair: the entry stunnel terminates the application's TLS (one
  service) and hands the bytes over loopback to a client-mode service of the
  same process, which opens a verified TLS connection per application
  connection to the exit stunnel; the exit terminates it and connects to the
  resource in plain TCP. (A stunnel service is TLS on one side only: two
  services chained in the entry are how it re-encrypts.)
- direct: the application's TLS goes straight to a local TLS server (Python's
  ssl for bulk, `openssl s_server -WWW` for new connections): the cost of
  the application's own TLS and nothing else.

Measures:
- bulk: one stream of --mib MiB (Python ssl client, 1 MiB writes) from
  connect until the resource has counted every byte; best of --rounds.
- new connections/s: --parallel `openssl s_time -new` clients for --secs s,
  each connection a full TLS handshake (no resumption from the client), a
  small request, a 64-byte answer and the close.

Not a test: nothing is asserted about speed. Needs stunnel4 (scripts/deps.sh
--bench)."""

import argparse
import os
import re
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import HOST, ghtest  # noqa: E402

ANSWER = b"A" * 64
PAGE = "answer.txt"


# --------------------------------------------------------------------------- resources

class Sink:
    """Counts what each connection sends (after TLS when ``ctx`` is given) and
    notes the time at which the expected total has arrived."""

    def __init__(self, ctx=None):
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.expect = None
        self.done = threading.Event()
        self.t_done = None
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, total):
        self.expect = total
        self.done.clear()
        self.t_done = None

    def _accept(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self._drain, args=(c,), daemon=True).start()

    def _drain(self, c):
        try:
            if self.ctx:
                c = self.ctx.wrap_socket(c, server_side=True)
            n = 0
            buf = bytearray(1 << 20)
            while True:
                k = c.recv_into(buf)
                if not k:
                    break
                n += k
                if self.expect is not None and n >= self.expect and not self.done.is_set():
                    self.t_done = time.monotonic()
                    self.done.set()
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()


class Responder:
    """A plain resource for the connection test: reads a request up to its
    blank line, answers with a 64-byte page, closes. One thread, selectors."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(1024)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.sel.register(self.sock, selectors.EVENT_READ, None)
        self.served = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        bufs = {}
        while True:
            for key, _ in self.sel.select():
                if key.data is None:
                    try:
                        c, _ = self.sock.accept()
                    except BlockingIOError:
                        continue
                    c.setblocking(False)
                    bufs[c] = b""
                    self.sel.register(c, selectors.EVENT_READ, True)
                    continue
                c = key.fileobj
                try:
                    b = c.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    b = b""
                bufs[c] += b
                if b and b"\r\n\r\n" not in bufs[c]:
                    continue
                if b:
                    try:
                        c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + ANSWER)
                        self.served += 1
                    except OSError:
                        pass
                self.sel.unregister(c)
                del bufs[c]
                c.close()


def fetch(port, ctx):
    """One request through `port` as s_time makes it; the answer, checked."""
    with socket.create_connection((HOST, port), 5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET /{PAGE} HTTP/1.0\r\n\r\n".encode())
            got = b""
            while True:
                try:
                    b = s.recv(4096)
                except (ssl.SSLError, OSError):
                    break
                if not b:
                    break
                got += b
    assert got.endswith(ANSWER), f"answer through {port}: {got[:80]!r}"


# --------------------------------------------------------------------------- peers

def start_stunnel(d, pki, entry, exit_, resources):
    """The stunnel pair: per resource, entry port -> (TLS) -> exit -> resource."""
    glob = ["foreground = yes", "pid =", "debug = err", "syslog = no",
            "socket = l:TCP_NODELAY=1", "socket = r:TCP_NODELAY=1"]
    ent, ext = list(glob), list(glob)
    for name, (app_port, mid_port, exit_port, res_port) in resources.items():
        ent += [f"[{name}-in]", f"accept = {HOST}:{app_port}", f"cert = {pki.server_cert}",
                f"key = {pki.server_key}", "sslVersionMin = TLSv1.2", f"connect = {HOST}:{mid_port}",
                f"[{name}-out]", "client = yes", f"accept = {HOST}:{mid_port}",
                f"connect = {HOST}:{exit_port}", f"CAfile = {pki.ca_cert}", "verifyChain = yes",
                "checkHost = localhost", "sslVersionMin = TLSv1.2"]
        ext += [f"[{name}]", f"accept = {HOST}:{exit_port}", f"cert = {pki.server_cert}",
                f"key = {pki.server_key}", "sslVersionMin = TLSv1.2", f"connect = {HOST}:{res_port}"]
    procs = []
    for name, lines in (("stunnel-entry", ent), ("stunnel-exit", ext)):
        path = os.path.join(d, name + ".conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        log = open(os.path.join(d, name + ".log"), "w")
        procs.append(subprocess.Popen([entry if name == "stunnel-entry" else exit_, path],
                                      stdout=log, stderr=log))
    return procs


def start_s_server(d, pki, port):
    with open(os.path.join(d, PAGE), "wb") as f:
        f.write(b"HTTP/1.0 200 OK\r\n\r\n" + ANSWER)
    log = open(os.path.join(d, "s_server.log"), "w")
    return subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", str(port), "-cert",
                             pki.server_cert, "-key", pki.server_key, "-WWW"],
                            cwd=d, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


# --------------------------------------------------------------------------- measures

def bulk(port, sink, ctx, total):
    chunk = bytes(1 << 20)
    sink.arm(total)
    t0 = time.monotonic()
    raw = socket.create_connection((HOST, port), 10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    left = total
    while left:
        k = min(left, len(chunk))
        s.sendall(chunk[:k] if k < len(chunk) else chunk)
        left -= k
    if not sink.done.wait(120):
        raise RuntimeError(f"bulk through {port}: the resource did not get {total} bytes")
    s.close()
    return total / (1 << 20) / (sink.t_done - t0)


RX_STIME = re.compile(r"(\d+) connections in (\d+(?:\.\d+)?) real seconds, (\d+) bytes read per connection")


def conn_rate(port, secs, parallel):
    cmd = ["openssl", "s_time", "-connect", f"{HOST}:{port}", "-new", "-time", str(secs),
           "-www", f"/{PAGE}"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(parallel)]
    total, longest = 0, 0.0
    for p in procs:
        out = p.communicate(timeout=secs + 60)[0].decode(errors="replace")
        m = RX_STIME.search(out)
        if not m:
            raise RuntimeError(f"s_time through {port}: no result in:\n{out[-500:]}")
        n, t, per = int(m.group(1)), float(m.group(2)), int(m.group(3))
        if n and per < len(ANSWER):
            raise RuntimeError(f"s_time through {port}: {per} bytes per connection, the answer is "
                               f"{len(ANSWER)}")
        total += n
        longest = max(longest, t)
    return total / longest if longest else 0.0


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=512, help="bulk stream size (MiB)")
    ap.add_argument("--rounds", type=int, default=2, help="bulk: best of this many")
    ap.add_argument("--secs", type=int, default=5, help="connection test length per path (s)")
    ap.add_argument("--parallel", type=int, default=4, help="s_time clients at once")
    ap.add_argument("--build", default=None, help="build directory (default: build)")
    a = ap.parse_args()
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if not stunnel:
        sys.exit("bench/tls.py: stunnel is not installed (scripts/deps.sh --bench)")
    d = tempfile.mkdtemp(prefix="gh-bench-tls-")
    sink, resp = Sink(), Responder()
    p_bulk, p_rate = ghtest.free_ports(2)
    # benchlib.Pair makes its PKI in WORKDIR/pki before it writes the configs
    cert, key = os.path.join(d, "pki", "server.crt"), os.path.join(d, "pki", "server.key")
    dests = [(name, [("type", "onprem"), ("listen", f"{HOST}:{port}"),
                     ("resource", f"{HOST}:{res}"), ("listen.protocol", "tls"),
                     ("resource.protocol", "tcp"), ("listen.tls.cert", cert),
                     ("listen.tls.key", key)])
             for name, port, res in (("bulk", p_bulk, sink.port), ("rate", p_rate, resp.port))]
    procs = []
    with benchlib.Pair(dests, build=a.build, workdir=d) as gh:
        pki = gh.pki
        try:
            ctx = ssl.create_default_context(cafile=pki.ca_cert)
            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sctx.load_cert_chain(pki.server_cert, pki.server_key)
            tls_sink = Sink(sctx)
            ports = ghtest.free_ports(8)
            procs += start_stunnel(d, pki, stunnel, stunnel, {
                "bulk": (ports[0], ports[1], ports[2], sink.port),
                "rate": (ports[3], ports[4], ports[5], resp.port)})
            s_server_port = ports[6]
            procs.append(start_s_server(d, pki, s_server_port))
            paths = [("direct TLS (reference)", tls_sink.port, tls_sink, s_server_port),
                     ("stunnel pair", ports[0], sink, ports[3]),
                     ("gatehouse tls listen side", p_bulk, sink, p_rate)]
            for what, _, _, rport in paths:
                ghtest.retry(lambda: fetch(rport, ctx), 30, what=f"{what} ready")
            results = {}
            for what, bport, bsink, rport in paths:
                best = max(bulk(bport, bsink, ctx, a.mib << 20) for _ in range(a.rounds))
                rate = conn_rate(rport, a.secs, a.parallel)
                results[what] = (best, rate)
            g = results["gatehouse tls listen side"]
            st = results["stunnel pair"]
            di = results["direct TLS (reference)"]
            rows = [[w, r[0], r[1]] for w, r in results.items()]
            benchlib.table(
                f"tls listen side: bulk = 1 stream of {a.mib} MiB (best of {a.rounds}); "
                f"conn/s = {a.parallel} `openssl s_time -new` clients for {a.secs} s "
                f"(full handshake + 64-byte answer + close)",
                ["path", "bulk MiB/s", "new conn/s"], rows)
            benchlib.table("ratios", ["", "bulk", "new conn/s"],
                           [["gatehouse / stunnel pair", g[0] / st[0], g[1] / st[1]],
                            ["gatehouse / direct TLS", g[0] / di[0], g[1] / di[1]]])
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
