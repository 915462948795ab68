#!/usr/bin/env python3
"""End-to-end: a second red-team pass on the trust boundary (docs/security.md),
from an authenticated but malicious peer. Each test asserts the secure
behaviour, so it fails while the finding is open.

Fixed (pass): NOTICE lines rate-limited; `check` refuses a non-regular
key/cert file; zero-window streams pinned ~68 KiB each of the server's memory
(+100 MiB for 1,500; 4.3 GiB at streams_max), now bounded by the tunnel's
read-ahead budget (GH__TUNNEL_OUT_MAX, 16 MiB: +22 MiB measured); udp
sessions each queued up to 256 KiB before OPEN_OK (+175 MiB for 1,000), now
counted in the same budget (+17 MiB). Held (pass, a guard): pushed CA blobs
cost a bounded ~19 KB a tls destination. Open (fail until fixed): a re-push
loop writes the client's log at ~1 byte per pushed byte."""
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from fault_helpers import sanitized  # noqa: E402
from ghtest import cloud, onprem  # noqa: E402
from test_hostile import (NOTICE, WINDOW, OPEN, DATA, Peer, frame, notice,  # noqa: E402
                          open_payload)

HOST = ghtest.HOST
UP = 30.0


def _rss_kb(proc):
    with open(f"/proc/{proc.pid()}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def test_notice_flood_server_log(t):
    """An authenticated client sends NOTICE frames in a loop (for a cloud
    destination, for an on-prem one and for names that do not exist): the
    server logs each one (server.c gh__server_on_notice), so a client writes
    the server's log at will. Like the other lines a peer causes at will,
    they must be rate-limited."""
    res = t.proto_server()
    p_on, p_cl = t.ports(2)
    token = t.token()
    srv = t.server([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)], {"gw1": token})
    peer = Peer(t, srv, token)
    mark = srv.log_size()
    n = 3000
    msg = b"m" * 1000
    buf = b"".join(notice(d, -98, msg) for d in ("cl", "on", "nope" * 40) for _ in range(n // 3))
    peer.s.sendall(buf)
    time.sleep(2)
    srv.check_alive()
    text = srv.log_text(since=mark)
    lines = len(re.findall(r"client reports destination", text))
    grown = srv.log_size() - mark
    ghtest.log(f"  {n} NOTICEs ({len(buf)} bytes sent): {lines} log lines, "
               f"{grown} bytes of server log")
    peer.close()
    assert lines <= 10, f"{lines} log lines ({grown} bytes) for {n} NOTICE frames"
    assert grown < 64 * 1024, f"{grown} bytes of server log for {n} NOTICE frames"


class _Firehose:
    """A resource that writes `per` bytes to each connection it accepts, then
    holds it open (a cloud service that answers with a large body)."""

    def __init__(self, per):
        import selectors
        import threading
        self.per = per
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((HOST, 0))
        self.ls.listen(4096)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self.stop = False
        self.sel = selectors.DefaultSelector()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        import selectors
        self.ls.setblocking(False)
        self.sel.register(self.ls, selectors.EVENT_READ)
        chunk = b"z" * 65536
        left = {}
        while not self.stop:
            for key, ev in self.sel.select(0.2):
                if key.fileobj is self.ls:
                    try:
                        c, _ = self.ls.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.conns.append(c)
                    left[c] = self.per
                    self.sel.register(c, selectors.EVENT_WRITE)
                else:
                    c = key.fileobj
                    try:
                        n = c.send(chunk[:min(65536, left[c])])
                    except OSError:
                        n = left[c]
                    left[c] -= n
                    if left[c] <= 0:
                        self.sel.unregister(c)

    def close(self):
        self.stop = True
        self.th.join(5)
        for c in self.conns:
            c.close()
        self.ls.close()


def test_zero_window_streams_pin_server_memory(t):
    """An authenticated client opens streams to a cloud destination whose
    resource answers with a large body, and never reads its tunnel (nor
    returns credit). The server reads ahead into each stream's buffer and
    holds it: with the defaults (streams_max 65,536 per gateway), one client
    pins streams x read-ahead of the server's memory. The server's memory
    for one client must stay bounded well below that: here 1,500 streams
    may not cost more than 64 MiB."""
    n = 1500
    res = _Firehose(1024 * 1024)
    p_cl = t.port()
    token = t.token()
    srv = t.server([cloud("cl", p_cl, res.port)], {"gw1": token})
    peer = Peer(t, srv, token)
    base = _rss_kb(srv)
    peer.s.sendall(b"".join(frame(OPEN, 1 + 2 * i, open_payload("cl")) for i in range(n)))
    # never read: the tunnel congests, and each stream reads ahead
    peak = base
    end = time.monotonic() + 12
    while time.monotonic() < end:
        time.sleep(0.5)
        srv.check_alive()
        peak = max(peak, _rss_kb(srv))
    grown = (peak - base) / 1024
    ghtest.log(f"  {n} streams that are never read: server RSS +{grown:.0f} MiB "
               f"({grown * 1024 / n:.0f} KiB a stream; the tunnel's read-ahead "
               f"budget is 16 MiB whatever the streams)")
    peer.close()
    res.close()
    # (not under ASan: its quarantine and shadow memory count too)
    if not sanitized():
        assert grown < 64, f"server RSS grew {grown:.0f} MiB for {n} unread streams of one client"


def _push_big(tun, blob):
    import hostile_server as hs
    for off in range(0, len(blob), 16384):
        chunk = blob[off:off + 16384]
        more = 1 if off + 16384 < len(blob) else 0
        tun.s.sendall(hs.frame(hs.CONFIG, 0, chunk, more))


def _watch_peak(cli, tun, secs):
    from test_flood import rss_kb
    peak = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        peak = max(peak, rss_kb(cli.pid()))
        try:
            tun._handle(*tun._read_frame(0.05))
        except Exception:
            pass
    return peak


def test_pushed_ca_blobs_amplify_client_memory(t):
    """A compromised server pushes 16 MiB of CA certificates as content
    (resource.tls.ca), spread over as many tcp+tls destinations as fit. The
    client parses each into its own store: its memory must stay within a
    bound (measured: ~19 KB a tcp+tls destination, its SSL_CTX, whatever the
    blob; ~78-96 MB for 4,096 of them: under 160 MB more). Holds today."""
    import hostile_server as hs
    from test_flood import rss_kb
    from test_hostile_server import _start
    _, cli, tuns = _start(t)
    tun = tuns["gw1"]
    tun.idle(0.5)
    r0 = rss_kb(cli.pid())
    pem = open(t.pki.ca_cert, "rb").read()
    per = int(os.environ.get("RT_PER", "8"))  # certificates per destination's bundle
    ca = pem * per
    one = hs.encode_dests([hs.onprem("d0000", "127.0.0.1:9", protocol="tcp+tls",
                                     extra=[("resource.tls.ca", "ca.pem", ca)])])[8:]
    n = min(4096, (16 * 1024 * 1024 - 8) // len(one))
    blob = b"GHD\x01" + struct.pack("!I", n) + b"".join(
        one[:2] + b"d%04d" % i + one[7:] for i in range(n))
    _push_big(tun, blob)
    peak = _watch_peak(cli, tun, 15)
    cli.check_alive()
    grown = (peak - r0) / 1024
    ghtest.log(f"  push of {len(blob)} bytes ({n} destinations x {per} CA certs): client "
               f"RSS +{grown:.0f} MB")
    # (not under ASan: its quarantine and shadow memory count too)
    if not sanitized():
        assert grown < 160, f"one push of CA blobs grew the client by {grown:.0f} MB"


def test_repush_loop_log_and_memory(t):
    """A compromised server re-pushes its set in a loop, renaming every
    destination each time (4,096 destinations): each push retires and starts
    every one, and each start and removal is a log line on the client. The
    client's log must not grow by more than a bounded amount per second
    however often the server pushes, and retired destinations must not
    accumulate memory."""
    import hostile_server as hs
    from test_flood import rss_kb
    from test_hostile_server import _start
    _, cli, tuns = _start(t)
    tun = tuns["gw1"]
    tun.idle(0.5)
    one = hs.encode_dests([hs.onprem("d0000", "127.0.0.1:9")])[8:]
    n = 4096
    sets = []
    for k in range(2):
        sets.append(b"GHD\x01" + struct.pack("!I", n) + b"".join(
            one[:2] + (b"%s%04d" % (b"ab"[k:k + 1], i)) + one[7:] for i in range(n)))
    r0 = rss_kb(cli.pid())
    mark = cli.log_size()
    t0 = time.monotonic()
    pushes = 0
    rss = []
    while time.monotonic() - t0 < 8:
        _push_big(tun, sets[pushes % 2])
        pushes += 1
        tun.idle(0.05)
        rss.append(rss_kb(cli.pid()))
    tun.idle(2)
    cli.check_alive()
    secs = time.monotonic() - t0
    grown = cli.log_size() - mark
    lines = cli.log_text(since=mark).count("\n")
    ghtest.log(f"  {pushes} pushes of {len(sets[0])} bytes in {secs:.0f}s: client log "
               f"+{grown / 1e6:.1f} MB ({lines} lines), RSS {r0} -> {rss[len(rss) // 2]} -> "
               f"{rss[-1]} kB")
    assert grown < 1_000_000, f"{grown} bytes of client log ({lines} lines) from {pushes} pushes"


def test_udp_sessions_queue_before_open_ok(t):
    """Anyone on the internet sends datagrams to an on-prem udp destination
    from many source ports (no spoofing needed: each source address:port is a
    session). Until the client answers a session's OPEN, the server queues up
    to 256 KiB of its datagrams (GH__DGRAM_QUEUE), for every session, up to
    udp.max_sessions (100,000) / streams_max (65,536): 16 GiB while the client
    is slow to answer (here a client that has not answered yet). The queue
    before OPEN_OK must be bounded per destination or tunnel, not per session:
    here 1,000 sessions may not cost 64 MiB."""
    p_on = t.port()
    token = t.token()
    srv = t.server([onprem("u", p_on, 9, protocol="udp")], {"gw1": token})
    peer = Peer(t, srv, token)  # reads nothing, answers no OPEN
    time.sleep(0.5)
    base = _rss_kb(srv)
    n, per = 1000, 4
    socks = []
    dg = b"q" * 60000
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.bind((HOST, 0))
        for _ in range(per):
            s.sendto(dg, (HOST, p_on))
        socks.append(s)
        if i % 50 == 49:
            time.sleep(0.02)  # let the server drain its socket
    time.sleep(2)
    srv.check_alive()
    grown = (_rss_kb(srv) - base) / 1024
    for s in socks:
        s.close()
    ghtest.log(f"  {n} udp sources x {per} datagrams of {len(dg)} before OPEN_OK: server "
               f"RSS +{grown:.0f} MiB ({grown * 1024 / n:.0f} KiB a session)")
    peer.close()
    # (not under ASan: its quarantine and shadow memory count too)
    if not sanitized():
        assert grown < 64, f"server RSS grew {grown:.0f} MiB for {n} udp sessions not yet answered"


def test_check_refuses_what_the_start_refuses(t):
    """`gatehouse check` said "configuration ok" for key = /dev/zero, cert =
    /dev/zero or a FIFO, which the start then refuses (gh__file_read takes
    regular files of at most 16 MiB only): check must refuse them too, with
    FILE:LINE, and without hanging on the FIFO."""
    import subprocess
    fifo = os.path.join(t.dir, "fifo")
    os.mkfifo(fifo)
    for key, bad in (("key", "/dev/zero"), ("cert", "/dev/zero"), ("key", fifo)):
        tok = os.path.join(t.dir, "tok")
        with open(tok, "w") as f:
            f.write(t.token() + "\n")
        os.chmod(tok, 0o600)
        srv = {"cert": t.pki.server_cert, "key": t.pki.server_key, key: bad}
        text = ghtest.ini_text([
            ("server", [("tunnel_listen", f"{HOST}:1"), *srv.items()]),
            ("gateway gw1", [("token_file", tok)])])
        path = os.path.join(t.dir, "s.ini")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([ghtest.GH_BIN, "check", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        assert r.returncode != 0 and f"{key}: cannot read" in r.stdout, (key, bad, r.stdout)


if __name__ == "__main__":
    ghtest.main(globals())
