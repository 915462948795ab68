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
    with open(f"/proc/{proc.pid}/status") as f:
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


if __name__ == "__main__":
    ghtest.main(globals())
