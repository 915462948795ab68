#!/usr/bin/env python3
"""End-to-end: bursts of opens (issue 14). The side that connects to a
resource connects at most connecting_max streams of a tunnel at once; more
opens wait in a bounded queue (their connect_timeout running) instead of
being refused, and only opens past open_queue_max are refused.

- burst: 3,000 connections opened at once through an on-prem destination to
  a real nginx, each one HTTP request: every response arrives whole (sha256
  of the body), none is reset.
- small limits (connecting_max = 4, open_queue_max = 8) against a resource
  that holds its connections: 4 connect, 8 wait, the rest are refused; the
  queue moves as connects fail or when a reload raises connecting_max, and
  /metrics counts it all. A queued open
  whose connect_timeout passes while it waits fails and is counted.

Run one test: ``python3 test_opens.py burst``.
"""
import errno
import hashlib
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import HOST, onprem  # noqa: E402

UP = 60.0
BURST = 3000
BODY = 2048


def raise_nofile(need):
    """This process and what it starts (gatehouse, nginx) need a socket per
    connection: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    assert want >= need, f"RLIMIT_NOFILE hard limit {hard} < {need}: raise it (ulimit -Hn)"


def start_nginx(t, body):
    """nginx in the foreground with a private config: one worker, room for
    the burst, /f.bin = body. Stopped at the end of the test."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is missing: run scripts/deps.sh"
    port = ghtest.free_port()
    nd = os.path.join(t.dir, "nginx")
    www = os.path.join(nd, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "f.bin"), "wb") as f:
        f.write(body)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = os.path.join(nd, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""{user}worker_processes 1;
daemon off;
pid {nd}/nginx.pid;
error_log {nd}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {nd}/body;
    proxy_temp_path {nd}/proxy;
    fastcgi_temp_path {nd}/fastcgi;
    uwsgi_temp_path {nd}/uwsgi;
    scgi_temp_path {nd}/scgi;
    default_type application/octet-stream;
    server {{
        listen {HOST}:{port} backlog=4096;
        root {www};
    }}
}}
""")
    log = open(os.path.join(nd, "stdout.log"), "ab")
    p = subprocess.Popen([nginx, "-p", nd, "-c", conf], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, preexec_fn=ghtest._pdeathsig)

    def stop():
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
    t.defer(stop)
    deadline = time.monotonic() + 20
    while True:
        assert p.poll() is None, f"nginx exited with {p.returncode}: see {nd}"
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return port
        except OSError:
            assert time.monotonic() < deadline, "nginx does not accept"
            time.sleep(0.05)


def burst_get(port, n, want_sha, timeout, connected=None):
    """Opens n connections at once (all connects issued before any answer is
    read), sends each a GET, reads each to EOF. Returns (ok, failures) with
    failures a {reason: count}. connected() runs once every connect is
    issued."""
    req = b"GET /f.bin HTTP/1.0\r\nHost: burst\r\n\r\n"
    sel = selectors.DefaultSelector()
    bufs = {}
    fails = {}
    ok = 0

    def fail(s, why):
        fails[why] = fails.get(why, 0) + 1
        sel.unregister(s)
        s.close()

    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        e = s.connect_ex((HOST, port))
        assert e in (0, errno.EINPROGRESS), f"connect: {os.strerror(e)}"
        bufs[s] = bytearray()
        sel.register(s, selectors.EVENT_WRITE)
    if connected:
        connected()
    deadline = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, ev in sel.select(1.0):
            s = key.fileobj
            if ev & selectors.EVENT_WRITE and key.events == selectors.EVENT_WRITE:
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    fail(s, "connect: " + os.strerror(e))
                    continue
                try:
                    s.send(req)  # a few bytes: the socket takes them whole
                except OSError as x:
                    fail(s, "send: " + (os.strerror(x.errno) if x.errno else repr(x)))
                    continue
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as x:
                fail(s, "recv: " + (os.strerror(x.errno) if x.errno else repr(x)))
                continue
            if d:
                bufs[s] += d
                continue
            head, _, body = bytes(bufs[s]).partition(b"\r\n\r\n")
            if not head:
                fail(s, "closed without an answer")
            elif not head.startswith(b"HTTP/1.1 200"):
                fail(s, "status " + head.split(b"\r\n")[0].decode(errors="replace"))
            elif hashlib.sha256(body).hexdigest() != want_sha:
                fail(s, f"body of {len(body)} bytes, sha256 mismatch")
            else:
                ok += 1
                sel.unregister(s)
                s.close()
    for key in list(sel.get_map().values()):
        fail(key.fileobj, f"no answer after {timeout}s")
    sel.close()
    return ok, fails


def metrics(port):
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(gatehouse_open\w*) (\d+)$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


@ghtest.timeout(400)
def test_burst_to_nginx(t):
    raise_nofile(BURST + 1000)
    body = os.urandom(BODY)
    want = hashlib.sha256(body).hexdigest()
    nport = start_nginx(t, body)
    lport, aport = ghtest.free_ports(2)
    srv, cli = pair(t, [onprem("web", lport, nport, extra=[("connect_timeout", 60)])],
                    {"admin_listen": f"{HOST}:{aport}"})
    ghtest.retry(lambda: probe(lport, want), UP, what="a GET through the tunnel",
                 procs=[srv, cli])
    opened0 = len(re.findall(r": opening$", srv.log_text(), re.M))
    t.log(f"tunnel up; {BURST} connections at once")

    def all_opens_sent():
        # The client is stopped while the server accepts the burst and
        # sends its OPENs: they reach the client together, as a burst on a
        # busy client does, and more than connecting_max connect at once.
        ghtest.wait_until(
            lambda: len(re.findall(r": opening$", srv.log_text(), re.M)) - opened0 >= BURST,
            UP, what=f"the server sending {BURST} OPENs")
        cli.send_signal(signal.SIGCONT)

    t0 = time.monotonic()
    cli.send_signal(signal.SIGSTOP)
    try:
        ok, fails = burst_get(lport, BURST, want, 240.0, all_opens_sent)
    finally:
        cli.send_signal(signal.SIGCONT)
    m = metrics(aport)
    t.log(f"{ok} of {BURST} whole in {time.monotonic() - t0:.1f}s; client queue: {m}")
    assert not fails and ok == BURST, f"{BURST - ok} of {BURST} failed: {fails}"
    assert m["gatehouse_opens_queued_total"] > 0, f"the burst never queued: {m}"
    assert m["gatehouse_opens_queued"] == 0, m
    assert m["gatehouse_open_queue_full_total"] == 0, m
    assert not re.search(r"open of \S+ refused", cli.log_text()), "the client refused opens"


def pair(t, dests, client_keys, server_keys=None):
    """A server with dests (and server_keys in [server]) and a client with
    client_keys in [client]."""
    token = t.token()
    srv = t.server(dests, {"gw1": token}, server=server_keys)
    cli = t.client(srv, token, client=list(client_keys.items()))
    return srv, cli


def probe(port, want):
    ok, fails = burst_get(port, 1, want, 10.0)
    assert ok == 1, fails


class Holder:
    """A resource that accepts connections and never answers: the TLS
    handshake of the client's resource side stays pending, so each stream
    stays connecting until the test closes its connection."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind((HOST, 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self.accepted = 0
        self.lock = threading.Lock()
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
                self.accepted += 1

    def held(self):
        with self.lock:
            return len(self.conns)

    def drop_all(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            c.close()
        return len(conns)

    def close(self):
        self.stop = True
        self.ls.close()
        self.drop_all()


def app_connect(port):
    s = socket.create_connection((HOST, port), timeout=30)
    s.sendall(b"hello")
    return s


def refused_app(port):
    """An application whose open is refused: its connection ends (it may be
    reset before the connect even returns)."""
    try:
        s = app_connect(port)
    except ConnectionResetError:
        return
    wait_closed(s)


def wait_closed(s, timeout=30.0):
    """The application's connection ends (its open failed)."""
    s.settimeout(timeout)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    s.close()


@ghtest.timeout(300)
def test_small_limits_queue_and_refuse(t):
    holder = Holder()
    t.defer(holder.close)
    hold_p, short_p = ghtest.free_ports(2)
    aport = ghtest.free_port()
    extra = [("listen.protocol", "tcp"), ("resource.protocol", "tls"),
             ("resource.tls.verify", "no"), ("resource.tls.handshake_timeout", 300)]
    dests = [onprem("hold", hold_p, holder.port, protocol=None,
                    extra=extra + [("connect_timeout", 120)]),
             onprem("short", short_p, holder.port, protocol=None,
                    extra=extra + [("connect_timeout", 1)])]
    # No keepalive traffic in this test: nothing but the reload itself may
    # move the queue when connecting_max grows.
    quiet = {"keepalive": 3600, "keepalive_timeout": 7200}
    srv, cli = pair(t, dests, {"admin_listen": f"{HOST}:{aport}", "connecting_max": 4,
                               "open_queue_max": 8, **quiet}, quiet)
    ghtest.wait_log(cli, r"destination hold", UP)
    ghtest.wait_log(srv, r"tunnel up", UP)

    # 4 connect; a queued open of a destination with a short
    # connect_timeout fails while it waits (the 4 keep their places).
    apps = [app_connect(hold_p) for _ in range(4)]
    ghtest.wait_until(lambda: holder.held() == 4, UP, what="4 connecting")
    shorts = [app_connect(short_p) for _ in range(2)]
    for s in shorts:
        wait_closed(s)
    ghtest.wait_until(lambda: metrics(aport)["gatehouse_open_queue_timeouts_total"] == 2, UP,
                      what="2 queue timeouts")
    cli.wait_log(r"short .*timed out after 1000 ms waiting its turn", UP)
    assert holder.accepted == 4, holder.accepted

    # 8 more wait, and past them opens are refused.
    apps += [app_connect(hold_p) for _ in range(8)]
    ghtest.wait_until(lambda: metrics(aport)["gatehouse_opens_queued"] == 8, UP,
                      what="8 opens queued")
    for _ in range(3):
        refused_app(hold_p)
    m = metrics(aport)
    t.log(f"after 4 + 2 + 8 + 3 opens: {m}")
    assert m["gatehouse_opens_queued"] == 8, m
    assert m["gatehouse_opens_queued_total"] == 10, m
    assert m["gatehouse_open_queue_full_total"] == 3, m
    assert holder.held() == 4 and holder.accepted == 4, "more than connecting_max connected"
    cli.wait_log(r"open of hold refused: .* 4 connecting, 8 queued", UP)

    # The queue moves as connects finish (here: fail), in order.
    assert holder.drop_all() == 4
    ghtest.wait_until(lambda: holder.accepted == 8, UP, what="the next 4 connect")
    ghtest.wait_until(lambda: holder.held() == 4, UP, what="4 held")
    assert metrics(aport)["gatehouse_opens_queued"] == 4

    # A reload that raises connecting_max starts the 4 still waiting.
    cli.sections = [(name, ghtest._merge(pairs, {"connecting_max": 8}) if name == "client"
                     else pairs) for name, pairs in cli.sections]
    cli.write_config()
    since = cli.log_size()
    cli.send_signal(signal.SIGHUP)
    cli.wait_log(r"configuration reloaded", UP, since)
    ghtest.wait_until(lambda: holder.held() == 8, UP, what="8 connecting after the reload")
    assert holder.accepted == 12, holder.accepted
    assert metrics(aport)["gatehouse_opens_queued"] == 0

    holder.drop_all()
    for s in apps:
        wait_closed(s)
    m = metrics(aport)
    t.log(f"at the end: {m}")
    assert m["gatehouse_opens_queued"] == 0, m
    assert m["gatehouse_opens_queued_total"] == 10, m
    assert holder.accepted == 12, holder.accepted


if __name__ == "__main__":
    ghtest.main(globals())
