#!/usr/bin/env python3
"""End-to-end: a second red-team pass on the trust boundary (docs/security.md),
from an authenticated but malicious peer. Each test asserts the secure
behaviour, so it fails while the finding is open."""
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
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
               f"({grown * 1024 / n:.0f} KiB a stream; x65,536 = "
               f"{grown * 65536 / n / 1024:.1f} GiB)")
    peer.close()
    res.close()
    assert grown < 64, f"server RSS grew {grown:.0f} MiB for {n} unread streams of one client"


if __name__ == "__main__":
    ghtest.main(globals())
