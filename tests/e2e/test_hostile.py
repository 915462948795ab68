#!/usr/bin/env python3
"""End-to-end: a hostile tunnel peer. A Python client that holds a valid token
speaks the tunnel protocol by hand and misbehaves after the handshake; each
misdeed must close that one tunnel with a logged reason (or be refused
without closing it, for a flood of opens), while the process and a real
client's tunnel keep working.

Frame: 24-bit length, 8-bit type, 8-bit flags, 32-bit stream, payload (see
core/frame.h)."""
import os
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import cloud, onprem  # noqa: E402

DATA, DGRAM, OPEN, OPEN_OK, OPEN_FAIL, RESET, WINDOW, PING = range(8)
HELLO, WELCOME, REFUSE, NOTICE = 0x09, 0x0A, 0x0B, 0x0D
ELIMIT = -4006
UP = 30.0


def frame(ftype, stream=0, payload=b"", flags=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack("!I", n)[1:] + struct.pack("!BBI", ftype, flags, stream) + payload


def hello(gateway, token):
    g, k, n = gateway.encode(), token.encode(), b"hostile"
    body = struct.pack("!HHII", 1, 0, 256 * 1024, 64 * 1024 * 1024)
    body += bytes([len(g)]) + g + struct.pack("!H", len(k)) + k + bytes([len(n)]) + n
    return frame(HELLO, 0, body)


def notice(dest, code, msg):
    d, m = dest.encode(), msg if isinstance(msg, bytes) else msg.encode()
    return frame(NOTICE, 0, bytes([len(d)]) + d + struct.pack("!iH", code, len(m)) + m)


def fail_payload(code, msg):
    m = msg.encode()
    return struct.pack("!iH", code, len(m)) + m


def open_payload(dest):
    d = dest.encode()
    return bytes([len(d)]) + d + bytes([4]) + struct.pack("!H", 5555) + bytes(16) + struct.pack("!I", 0)


class Peer:
    """A TLS connection to the server's tunnel port that has said HELLO and
    read the WELCOME."""

    def __init__(self, t, srv, token, gateway="gw1", welcome=True):
        ctx = ssl.create_default_context(cafile=t.pki.ca_cert)
        ctx.check_hostname = False
        raw = socket.create_connection((ghtest.HOST, srv.tunnel_port), timeout=10)
        self.s = ctx.wrap_socket(raw)
        self.buf = b""
        self.s.sendall(hello(gateway, token))
        if welcome:
            ftype, _, _, _ = self.read_frame()
            assert ftype == WELCOME, f"expected WELCOME, got type {ftype}"

    def read_frame(self, timeout=10):
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    ftype, flags, stream = struct.unpack("!BBI", self.buf[3:9])
                    payload = self.buf[9:9 + n]
                    self.buf = self.buf[9 + n:]
                    return ftype, flags, stream, payload
            d = self.s.recv(65536)
            if not d:
                raise EOFError("tunnel closed")
            self.buf += d

    def expect_closed(self, timeout=20):
        """Reads (and drops) frames until the server closes the tunnel."""
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < timeout:
                self.read_frame(timeout)
        except (EOFError, ConnectionError, ssl.SSLError):
            return
        raise AssertionError("the server did not close the tunnel")

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def _setup(t, server=None):
    """A server with an on-prem destination (served by a real client) and a
    cloud destination (for the hostile peer's opens); server: [server] keys."""
    res = t.proto_server()
    p_on, p_cl = t.ports(2)
    srv, cli, token = t.pair([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)],
                             server=server)
    ghtest.wait_tunnel(p_on, UP, procs=[srv, cli])
    return srv, cli, token, p_on


def _misbehave(t, send, reason):
    srv, cli, token, p_on = _setup(t)
    peer = Peer(t, srv, token)
    mark = srv.log_size()
    send(peer)
    peer.expect_closed()
    peer.close()
    srv.wait_log(r"tunnel closed: .*" + reason, since=mark)
    srv.check_alive()
    ghtest.echo_check(p_on, 256 * 1024)  # the real tunnel carries on


def test_garbage_after_handshake(t):
    _misbehave(t, lambda p: p.s.sendall(os.urandom(4096)), "protocol error")


def test_unknown_frame_type(t):
    _misbehave(t, lambda p: p.s.sendall(frame(0x7F, 0, b"xx")), "protocol error")


def test_length_past_the_maximum(t):
    _misbehave(t, lambda p: p.s.sendall(frame(DATA, 1, b"", length=16385)), "protocol error")


def test_window_overflow(t):
    inc = struct.pack("!I", 0x7FFFFFFF)
    _misbehave(t, lambda p: p.s.sendall(frame(WINDOW, 0, inc) * 3), "session window overflow")


def test_stream_id_reused(t):
    op = open_payload("cl")
    _misbehave(t, lambda p: p.s.sendall(frame(OPEN, 1, op) + frame(OPEN, 1, op)),
               "bad or reused stream id")


def test_data_before_open_ok(t):
    op = open_payload("cl")
    _misbehave(t, lambda p: p.s.sendall(frame(OPEN, 1, op) + frame(DATA, 1, b"early")),
               "DATA on a finished, unopened or datagram stream")


def test_data_beyond_the_window(t):
    """Bytes past the credit granted: the resource holds (reads nothing), so
    once its socket is full no credit comes back, and the peer goes on."""
    def send(p):
        p.s.sendall(frame(OPEN, 1, open_payload("cl")))
        while p.read_frame()[0] != OPEN_OK:
            pass
        p.s.sendall(frame(DATA, 1, b"HOLD 1000000000\n"))
        chunk = b"".join(frame(DATA, 1, b"\0" * 16384) for _ in range(64))
        try:
            for _ in range(64):  # 64 MiB, far past any window
                p.s.sendall(chunk)
        except (OSError, ssl.SSLError):
            pass  # closed by the server
    _misbehave(t, send, "stream window exceeded")


def test_open_flood_refused_tunnel_kept(t):
    # 1,024 connect at once, 100 more wait: the rest of the flood is refused.
    srv, cli, token, p_on = _setup(t, {"open_queue_max": 100})
    peer = Peer(t, srv, token)
    mark = srv.log_size()
    op = open_payload("cl")
    n = 3000
    peer.s.sendall(b"".join(frame(OPEN, 1 + 2 * i, op) for i in range(n)))
    limited = answered = 0
    while answered < n:
        ftype, _, stream, payload = peer.read_frame(30)
        if ftype == OPEN_FAIL:
            code = struct.unpack("!i", payload[:4])[0]
            limited += code == ELIMIT
            answered += 1
        elif ftype == OPEN_OK:
            answered += 1
    assert limited > 0, "no open was refused for the limit"
    srv.wait_log(r"open of cl refused: \d+ streams open, \d+ connecting", since=mark)
    # the flood did not close this tunnel: a ping is still answered
    peer.s.sendall(frame(PING, 0, b"12345678"))
    while True:
        ftype, flags, _, payload = peer.read_frame(20)
        if ftype == PING and flags & 1:
            assert payload == b"12345678"
            break
    peer.close()
    srv.check_alive()
    ghtest.echo_check(p_on, 256 * 1024)


def test_pings_without_reading(t):
    """Pings sent without end by a peer that never reads the answers: the
    server bounds what it holds and closes that tunnel."""
    srv, cli, token, p_on = _setup(t)
    peer = Peer(t, srv, token)
    mark = srv.log_size()
    burst = frame(PING, 0, b"12345678") * 4096
    peer.s.settimeout(30)
    try:
        for _ in range(2000):  # up to 140 MB of pings, never reading
            peer.s.sendall(burst)
    except (OSError, ssl.SSLError):
        pass  # closed by the server: what we wanted
    peer.close()
    srv.wait_log(r"tunnel closed: the peer does not read what it is sent", since=mark)
    srv.check_alive()
    ghtest.echo_check(p_on, 256 * 1024)


# A line a peer would like the log to hold: a newline, then a line of the
# log's own shape; a carriage return and a terminal escape for good measure.
FORGED = "\n2026-01-01T00:00:00.000Z error server: forged\r\x1b[2J"


def _assert_no_forged_line(g, mark):
    for line in g.log_text(since=mark).splitlines():
        assert not line.startswith("2026-01-01T00:00:00.000Z"), f"forged line in the log: {line!r}"
        assert "\r" not in line and "\x1b" not in line, f"raw control byte in the log: {line!r}"


def test_peer_text_cannot_forge_log_lines(t):
    """A NOTICE's message and an OPEN_FAIL's reason are the peer's text: the
    log shows them escaped, on the one line of their event."""
    res = t.proto_server()
    p_on, p_cl = t.ports(2)
    token = t.token()
    srv = t.server([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)], {"gw1": token})
    peer = Peer(t, srv, token)
    mark = srv.log_size()
    peer.s.sendall(notice("cl", -98, "cannot listen" + FORGED))
    srv.wait_log(r"client reports destination cl: cannot listen\\x0a2026-01-01T00:00:00\.000Z "
                 r"error server: forged\\x0d\\x1b\[2J$", since=mark)
    # an app connects to the on-prem destination: the server opens a stream
    # on the only tunnel, the peer's, which fails it with a forged reason
    app = socket.create_connection((ghtest.HOST, p_on), timeout=10)
    while True:
        ftype, _, stream, _ = peer.read_frame(20)
        if ftype == OPEN:
            break
    peer.s.sendall(frame(OPEN_FAIL, stream, fail_payload(-111, "refused" + FORGED)))
    srv.wait_log(r"open failed: refused\\x0a2026-01-01T00:00:00\.000Z error server: "
                 r"forged\\x0d\\x1b\[2J \(", since=mark)
    app.close()
    _assert_no_forged_line(srv, mark)
    peer.close()
    srv.check_alive()


def _status(port):
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://{ghtest.HOST}:{port}/status", timeout=10) as r:
        body = r.read()
    body.decode("utf-8")  # strict: /status is valid UTF-8
    return {d["name"]: d for g in json.loads(body)["gateways"] for d in g["destinations"]}


def test_notice_counts_only_for_cloud_destinations(t):
    """The client runs the listen side of a cloud destination only: its NOTICE
    may set that one's state, never that of an on-prem destination, whose
    listener is the server's own."""
    res = t.proto_server()
    p_on, p_cl, adm = t.ports(3)
    token = t.token()
    srv = t.server([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)], {"gw1": token},
                   server={"admin_listen": f"{ghtest.HOST}:{adm}"})
    ghtest.wait_port(ghtest.HOST, adm, 20, procs=[srv])
    assert _status(adm)["on"]["state"] == "listening"
    peer = Peer(t, srv, token)
    mark = srv.log_size()
    peer.s.sendall(notice("on", -98, b"down \xff") + notice("cl", -98, b"cannot listen \xff"))
    srv.wait_log(r"client reports destination cl: cannot listen", since=mark)
    st = _status(adm)
    assert st["on"]["state"] == "listening" and st["on"]["error"] is None, st["on"]
    assert st["cl"]["state"] == "error", st["cl"]
    assert st["cl"]["error"].endswith("cannot listen \ufffd"), st["cl"]
    # and the on-prem destination still serves: the server listens on it
    socket.create_connection((ghtest.HOST, p_on), timeout=10).close()
    peer.close()
    srv.check_alive()


def test_unknown_gateway_and_bad_token_answered_alike(t):
    """A peer cannot tell a gateway name that exists from one that does not:
    both refusals are the same bytes; only the server's log says which."""
    token = t.token()
    padm = t.port()
    srv = t.server([], {"gw1": token}, server={"admin_listen": f"{ghtest.HOST}:{padm}"})
    mark = srv.log_size()
    answers = []
    for gw, tok in (("no-such-gw", token), ("gw1", t.token())):
        time.sleep(1.1)  # past the quiet second of the failure lines
        peer = Peer(t, srv, tok, gateway=gw, welcome=False)
        ftype, flags, stream, payload = peer.read_frame(20)
        peer.expect_closed()
        peer.close()
        assert ftype == REFUSE, f"{gw}: expected REFUSE, got type {ftype}"
        answers.append(frame(ftype, stream, payload, flags))
    assert answers[0] == answers[1], answers
    # The server's own log says which, and so do its metrics.
    srv.wait_log(r"tunnel failed: refused: unknown gateway 'no-such-gw'", since=mark)
    srv.wait_log(r"tunnel failed: refused: bad token for gateway gw1", since=mark)
    import urllib.request
    with urllib.request.urlopen(f"http://{ghtest.HOST}:{padm}/metrics", timeout=10) as r:
        text = r.read().decode()
    for reason in ("gateway", "token"):
        assert f'gatehouse_handshake_failures_total{{reason="{reason}"}} 1' in text, text


def test_refusal_lines_are_rate_limited(t):
    """Failed HELLOs come from anyone: their lines are logged at most once a
    second, with a count of those not logged."""
    token = t.token()
    srv = t.server([], {"gw1": token})
    mark = srv.log_size()
    for _ in range(20):
        peer = Peer(t, srv, "wrong-" + token, welcome=False)
        peer.read_frame(20)
        peer.expect_closed()
        peer.close()
    # one more after the quiet second carries the count of those not logged
    ghtest.wait_until(lambda: "not logged" in _after_quiet_second(t, srv, token, mark), 30,
                      what="a line with the count of those not logged")
    lines = [ln for ln in srv.log_text(since=mark).splitlines() if "bad token" in ln]
    assert len(lines) < 20, f"{len(lines)} lines for 21 refusals:\n" + "\n".join(lines)


def _after_quiet_second(t, srv, token, mark):
    peer = Peer(t, srv, "wrong-" + token, welcome=False)
    peer.read_frame(20)
    peer.expect_closed()
    peer.close()
    return srv.log_text(since=mark)


if __name__ == "__main__":
    ghtest.main(globals())
