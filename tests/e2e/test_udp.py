#!/usr/bin/env python3
"""End-to-end: UDP destinations (the udp plugin and datagram frames).

Real server and client processes, real UDP sockets on loopback. Every datagram
that comes back is compared byte for byte with the one sent; sizes from 1 B to
65,507 B prove that boundaries are kept. Run one test:
``python3 test_udp.py expiry``.
"""
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import cloud, onprem, rng  # noqa: E402

UP = 30.0
MAX_V4 = 65507  # the largest UDP payload over IPv4
HOST6 = "::1"
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python may not name it


class UdpEcho:
    """A UDP resource that sends every datagram back to its source and records
    the sources it saw (one per gatehouse session on the resource side)."""

    def __init__(self, host=ghtest.HOST, answer=None):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.answer = answer or (lambda d: d)
        self.sources = set()
        self.count = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                d, a = self.sock.recvfrom(70000)
            except OSError:
                return
            with self.lock:
                self.sources.add(a[:2])
                self.count += 1
            reply = self.answer(d)
            if reply is not None:
                try:
                    self.sock.sendto(reply, a)
                except OSError:
                    pass

    def seen(self):
        with self.lock:
            return set(self.sources)

    def close(self):
        self.sock.close()


def udp_socket(host=ghtest.HOST, bind=None, timeout=1.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((bind or host, 0))
    s.settimeout(timeout)
    return s


def exchange(sock, addr, payload, tries=5):
    """Send payload, expect exactly it back (one datagram); retried a few times
    since UDP may drop. Returns the answer (compared by the caller)."""
    last = None
    for _ in range(tries):
        sock.sendto(payload, addr)
        try:
            while True:
                d = sock.recv(70000)
                if len(d) == len(payload) or d[:8] != last:
                    return d
        except socket.timeout as e:
            last = e
    raise AssertionError(f"no answer to a {len(payload)}-byte datagram from {addr} after {tries} tries")


def wait_udp(port, host=ghtest.HOST, timeout=UP, procs=()):
    """Until a datagram echoes through the destination on port (tunnel up)."""
    s = udp_socket(host, timeout=0.3)
    try:
        t0 = time.monotonic()
        while True:
            for p in procs:
                p.check_alive()
            s.sendto(b"ping", (host, port))
            try:
                if s.recv(100) == b"ping":
                    return time.monotonic() - t0
            except socket.timeout:
                pass
            assert time.monotonic() - t0 < timeout, f"no echo through udp {host}:{port} in {timeout}s"
    finally:
        s.close()


def socket_fds(proc):
    """How many sockets the process holds."""
    n = 0
    d = f"/proc/{proc.pid()}/fd"
    for f in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, f)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def _lockstep(port, n_sources, per_source, host=ghtest.HOST, max_size=1400):
    """n_sources sockets at once, each exchanging per_source datagrams of random
    sizes in lockstep; every answer must equal what was sent."""
    errors = []

    def one(seed):
        r = ghtest.random.Random(seed)
        s = udp_socket(host)
        try:
            for _ in range(per_source):
                b = r.randbytes(r.randint(1, max_size))
                got = exchange(s, (host, port), b)
                if got != b:
                    errors.append(f"source {s.getsockname()}: sent {len(b)} B, got {len(got)} B (differs)")
                    return
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            s.close()

    threads = [threading.Thread(target=one, args=(rng.getrandbits(32),)) for _ in range(n_sources)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors[:5]


def _setup(t, kind, extra=None, host=ghtest.HOST, res=None):
    res = res or UdpEcho(host)
    t.defer(res.close)
    port = t.port()
    mk = onprem if kind == "onprem" else cloud
    dest = mk("u", port, res.port, protocol="udp", resource_host=host, extra=extra)
    srv, cli, _ = t.pair([dest])
    wait_udp(port, procs=[srv, cli])
    return port, res, srv, cli


def test_onprem_echo_many_sources(t):
    port, res, srv, cli = _setup(t, "onprem")
    before = res.seen()
    _lockstep(port, 12, 40)
    # each application source is its own session, with its own socket toward
    # the resource: 12 new sources at the resource
    assert len(res.seen() - before) == 12, res.seen()


def test_cloud_echo_many_sources(t):
    port, res, srv, cli = _setup(t, "cloud")
    before = res.seen()
    _lockstep(port, 12, 40)
    assert len(res.seen() - before) == 12, res.seen()


def test_boundaries_kept(t):
    """1 B .. 65,507 B, each one datagram in, the same one datagram out."""
    p_on, res, srv, cli = _setup(t, "onprem")
    sizes = [1, 2, 100, 1200, 1472, 1473, 9000, 16383, 16384, 16385, 32768, 65000, MAX_V4]
    sizes += [rng.randint(1, MAX_V4) for _ in range(10)]
    s = udp_socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    for n in sizes:
        b = os.urandom(n)
        got = exchange(s, (ghtest.HOST, p_on), b)
        assert got == b, f"{n} B datagram came back as {len(got)} B"
    # several in flight at once keep their boundaries too
    burst = [os.urandom(n) for n in (1, 65000, 3, 20000, 7)]
    for b in burst:
        s.sendto(b, (ghtest.HOST, p_on))
    got = sorted(s.recv(70000) for _ in burst)
    assert got == sorted(burst), [len(g) for g in got]
    s.close()


def test_ipv6_both_directions(t):
    res = UdpEcho(HOST6)
    t.defer(res.close)
    p_on, p_cl = t.ports(2)
    on = ("destination on6", [("gateway", "gw1"), ("type", "onprem"), ("listen", f"[{HOST6}]:{p_on}"),
                              ("resource", f"[{HOST6}]:{res.port}"), ("protocol", "udp")])
    cl = ("destination cl6", [("gateway", "gw1"), ("type", "cloud"), ("client_port", p_cl),
                              ("client_bind", HOST6), ("resource", f"[{HOST6}]:{res.port}"),
                              ("protocol", "udp")])
    acl = [("allow", f"[{HOST6}]:*"), ("deny", "*")]
    srv, cli, _ = t.pair([on, cl], acl=acl)
    for p in (p_on, p_cl):
        wait_udp(p, host=HOST6, procs=[srv, cli])
        s = udp_socket(HOST6)
        for n in (1, 1400, 40000, MAX_V4):
            b = os.urandom(n)
            assert exchange(s, (HOST6, p), b) == b, f"{n} B over IPv6 port {p}"
        s.close()
    _lockstep(p_on, 4, 10, host=HOST6)


def test_sessions_expire_and_free_their_sockets(t):
    port, res, srv, cli = _setup(t, "onprem", extra=[("udp.idle_timeout", 1)])
    time.sleep(2.0)  # the wait_udp session expires
    base_cli, base_srv = socket_fds(cli), socket_fds(srv)
    n = 30
    socks = [udp_socket() for _ in range(n)]
    for s in socks:
        assert exchange(s, (ghtest.HOST, port), b"x" * 10) == b"x" * 10
    # resource side (client): one socket per session; listen side: none
    assert socket_fds(cli) >= base_cli + n, (socket_fds(cli), base_cli)
    assert socket_fds(srv) <= base_srv + 2, (socket_fds(srv), base_srv)
    ghtest.wait_until(lambda: socket_fds(cli) <= base_cli, 10, what="client sockets released")
    # each session expired on one end (whichever swept first) and was
    # reset on the other
    idle = "udp: session idle for 1 s: closed"
    assert srv.log_text().count(idle) + cli.log_text().count(idle) >= n
    # an expired source simply starts a new session
    assert exchange(socks[0], (ghtest.HOST, port), b"again") == b"again"
    for s in socks:
        s.close()


def _source(i):
    """The i-th of many loopback source addresses: 127.1.0.1, 127.1.0.2, ..."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


def _send_from(sock, payload, src, dst):
    """One datagram with source address src (IP_PKTINFO): every 127/8 address
    is local, so one socket speaks for thousands of sources."""
    pktinfo = struct.pack("@i4s4s", 0, socket.inet_aton(src), b"\0" * 4)
    sock.sendmsg([payload], [(socket.IPPROTO_IP, IP_PKTINFO, pktinfo)], 0, dst)


def test_ten_thousand_sessions_one_listen_socket(t):
    """10,000 sources: the listen side holds one socket for all of them."""
    port, res, srv, cli = _setup(t, "onprem", extra=[("udp.idle_timeout", 30)])
    base_srv = socket_fds(srv)
    n = 10000
    app = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    app.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    app.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)  # to see where answers went
    app.bind(("0.0.0.0", 0))
    app.settimeout(2.0)
    before = len(res.seen())
    missing = set(range(n))
    t0 = time.monotonic()
    for _round in range(5):
        todo = sorted(missing)
        for k in range(0, len(todo), 500):  # paced: UDP drops what floods it
            for i in todo[k:k + 500]:
                _send_from(app, struct.pack("!I", i), _source(i), (ghtest.HOST, port))
            while True:
                try:
                    d, anc, _flags, a = app.recvmsg(100, 64)
                except socket.timeout:
                    break
                i = struct.unpack("!I", d)[0]
                to = [socket.inet_ntoa(c[2][8:12]) for c in anc if c[1] == IP_PKTINFO]
                assert to == [_source(i)], f"answer for {i} went to {to}, not {_source(i)}"
                missing.discard(i)
                if not any(j in missing for j in todo[k:k + 500]):
                    break
        if not missing:
            break
    dt = time.monotonic() - t0
    app.close()
    assert not missing, f"{len(missing)} of {n} sources got no answer"
    t.log(f"{n} sessions in {dt:.1f}s ({n / dt:.0f} new sessions/s)")
    assert len(res.seen()) - before == n, len(res.seen()) - before
    assert socket_fds(srv) <= base_srv + 2, (socket_fds(srv), base_srv)
    assert socket_fds(cli) >= n, socket_fds(cli)


def test_allow_list_checked_per_source(t):
    res = UdpEcho()
    t.defer(res.close)
    port = t.port()
    dest = onprem("u", port, res.port, protocol="udp", extra=[("allow", "127.0.0.2")])
    srv, cli, _ = t.pair([dest])
    ok = udp_socket(bind="127.0.0.2")
    ghtest.retry(lambda: exchange(ok, (ghtest.HOST, port), b"hi", tries=1), UP, procs=[srv, cli],
                 what="echo from the allowed source")
    bad = udp_socket(bind="127.0.0.3", timeout=0.3)
    for i in range(20):
        bad.sendto(b"denied %d" % i, (ghtest.HOST, port))
    try:
        got = bad.recv(100)
        raise AssertionError(f"a denied source got an answer: {got!r}")
    except socket.timeout:
        pass
    srv.wait_log(r"refused 127\.0\.0\.3:\d+: not in the allow list")
    assert not any(a[0] == "127.0.0.3" for a in res.seen()), res.seen()
    assert exchange(ok, (ghtest.HOST, port), b"still") == b"still"
    # 20 datagrams, one log line: refusals are rate limited
    assert srv.log_text().count("refused 127.0.0.3") < 5
    ok.close()
    bad.close()


def _sanitized():
    with open(ghtest.GH_BIN, "rb") as f:
        return b"__asan_init" in f.read()


def _dns_answer(q):
    """A tiny authoritative answer: every A question gets 192.0.2.<len(name)>.
    Anything shorter than a DNS header (wait_udp's ping) is echoed."""
    if len(q) < 12:
        return q
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    i = 12
    labels = []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode())
        i += 1 + q[i]
    qtype, qclass = struct.unpack("!HH", q[i + 1:i + 5])
    question = q[12:i + 5]
    name = ".".join(labels)
    hdr = struct.pack("!HHHHHH", qid, 0x8180, 1, 1 if qtype == 1 else 0, 0, 0)
    ans = b""
    if qtype == 1:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, len(name)])
    return hdr + question + ans


def _dns_query(qid, name):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for part in name.split("."):
        q += bytes([len(part)]) + part.encode()
    return q + b"\x00" + struct.pack("!HH", 1, 1)


def test_dns_style_request_answer(t):
    """Each query from a fresh source port (as resolvers do), through a cloud
    destination to a DNS responder."""
    res = UdpEcho(answer=_dns_answer)
    port, res, srv, cli = _setup(t, "cloud", res=res)
    for k, name in enumerate(["db.internal", "a.example", "very.long.name.example.org"] * 5):
        s = udp_socket()
        qid = 0x1000 + k
        s.sendto(_dns_query(qid, name), (ghtest.HOST, port))
        a = s.recv(512)
        s.close()
        rid, flags, qd, an = struct.unpack("!HHHH", a[:8])
        assert rid == qid and flags & 0x8000 and an == 1, (rid, hex(flags), an)
        assert a[-4:] == bytes([192, 0, 2, len(name)]), a[-4:]


def test_blast_drops_instead_of_queueing(t):
    """A sender far faster than the resource reads: gatehouse drops datagrams
    (and counts them) instead of holding them; memory stays bounded and the
    destination still answers afterwards."""
    res = UdpEcho(answer=lambda d: None if len(d) == 1200 else d)
    port, res, srv, cli = _setup(t, "onprem", res=res)
    s = udp_socket()
    payload = b"\xab" * 1200
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:
        for _ in range(200):
            try:
                s.sendto(payload, (ghtest.HOST, port))
                n += 1
            except BlockingIOError:
                pass
    t.log(f"sent {n} datagrams of 1200 B; the resource counted {res.count}")
    rss = []
    for p in (srv, cli):
        with open(f"/proc/{p.pid()}/status") as f:
            rss += [int(line.split()[1]) for line in f if line.startswith("VmRSS")]
    t.log(f"RSS server {rss[0] // 1024} MiB, client {rss[1] // 1024} MiB")
    # a queue without bound would hold most of what was sent (a sanitizer's
    # quarantine holds freed memory: no bound there)
    if not _sanitized():
        assert max(rss) < 160 * 1024, rss
    # Loopback may deliver the last datagrams of the blast late (per-CPU
    # queues); once they are in, an answer to "after" proves that the
    # tunnel has carried everything before it.
    time.sleep(0.5)
    assert exchange(s, (ghtest.HOST, port), b"after") == b"after"
    s.close()
    # Stopping ends the session on both ends, and each logs its counts: every
    # datagram the listen side put in the tunnel reached the resource side,
    # which wrote it or dropped it (counted); nothing is unaccounted for.
    cli.stop()
    pat = r"session ended \(closed\): (\d+) datagrams in, (\d+) out, (\d+) dropped"
    srv.wait_log(pat)
    # the blast's session is the busiest one on each side
    s_in, s_out, s_drop = max((tuple(int(x) for x in m) for m in re.findall(pat, srv.log_text())),
                              key=lambda c: c[0] + c[2])
    c_in, c_out, c_drop = max((tuple(int(x) for x in m) for m in re.findall(pat, cli.log_text())),
                              key=lambda c: c[1] + c[2])
    t.log(f"listen side: {s_in} in, {s_drop} dropped; resource side: {c_out} written, {c_drop} dropped")
    assert s_in + s_drop >= n // 10, (s_in, s_drop, n)
    assert c_out + c_drop == s_in, (c_out, c_drop, s_in)


if __name__ == "__main__":
    ghtest.main(globals())
