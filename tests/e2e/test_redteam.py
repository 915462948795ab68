#!/usr/bin/env python3
"""Red-team findings against the trust boundary (docs/security.md), as
end-to-end reproductions. Each test states the claim it checks; a failing
test is an open finding."""
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
import hostile_server as hs  # noqa: E402
from test_hostile_server import _start  # noqa: E402

HOST = ghtest.HOST
N = 3000


def _count(cli, rx, since=0):
    return len(re.findall(rx, cli.log_text(since)))


def test_unknown_open_floods_client_log(t):
    """A compromised server sends OPENs for destinations it never pushed:
    each is a warn line in the client's log, with no rate limit (the
    known-destination refusals are limited to one line a second,
    mux.c:264-281; the unknown-destination path, mux.c:248-256, is not).
    Claim: pushed frames must not make the client log huge amounts."""
    _, cli, tuns = _start(t)
    tun = tuns["gw1"]
    tun.push([])
    tun.idle(0.5)
    since = cli.log_size()
    name = "x" * 200
    buf = b"".join(hs.frame(hs.OPEN, 2 + 2 * i, hs.open_payload(name)) for i in range(N))
    t0 = time.monotonic()
    tun.s.sendall(buf)
    got = [0]

    def answered():
        return False
    # read the OPEN_FAILs back (each answered), then count the log lines
    end = time.monotonic() + 20
    while time.monotonic() < end and got[0] < N:
        try:
            ft, _, _, _ = tun._read_frame(0.5)
            got[0] += ft == hs.OPEN_FAIL
        except Exception:
            pass
    lines = _count(cli, r"open of unknown destination", since)
    grown = cli.log_size() - since
    ghtest.log(f"  {N} OPENs in {time.monotonic() - t0:.1f}s: {lines} log lines, "
               f"{grown} bytes of client log")
    assert lines <= 5, f"{lines} warn lines for {N} OPENs of an unknown destination ({grown} bytes)"


def test_goaway_floods_client_log(t):
    """GOAWAY frames from the peer: one info line each, no bound
    (tunnel.c:379-383). Same claim; the server side logs alike for a
    client's GOAWAYs."""
    _, cli, tuns = _start(t)
    tun = tuns["gw1"]
    tun.push([])
    tun.idle(0.5)
    since = cli.log_size()
    tun.s.sendall(hs.frame(hs.GOAWAY) * N)
    tun.idle(2)
    lines = _count(cli, r"peer is going away", since)
    ghtest.log(f"  {N} GOAWAYs: {lines} log lines, {cli.log_size() - since} bytes")
    assert lines <= 5, f"{lines} log lines for {N} GOAWAY frames"


if __name__ == "__main__":
    ghtest.main(globals())
