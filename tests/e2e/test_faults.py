#!/usr/bin/env python3
"""End-to-end, issue 10: reliability under faults and churn. Real server and
client processes on loopback (and, for packet loss, in a network namespace the
test makes); every payload is checked by sha256.

- kill -9 of the client during 20 bulk downloads, kill -9 of the server;
- a silent peer: SIGSTOP of the client or the server, and packets dropped by a
  veth link set down (the keepalive must find the dead tunnel);
- resource faults: refused, no answer (connect timeout), reset and FIN
  mid-stream, slow reader, slow writer, next to a stream that carries on;
- file-descriptor exhaustion of the server (a low hard RLIMIT_NOFILE);
- churn: 10,000 connections (3,000 under ASan) leave no fd and no memory behind.

No test asserts a speed or a delay: times are measured and printed, and the
timeouts are hang guards only.

Run one test: ``python3 test_faults.py sigstop_client``.
"""
import os
import re
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_helpers as fh  # noqa: E402
import ghtest  # noqa: E402
import ha_helpers as ha  # noqa: E402
from ghtest import HOST, KiB, MiB, cloud, job, onprem, rng  # noqa: E402

UP = 30.0
ASAN = fh.sanitized()
KEEPALIVE = {"keepalive": 1, "keepalive_timeout": 3}  # seconds: ping every 1, dead after 3
ACTIVE = "gatehouse_streams_active"


def _admin(extra=None):
    port = ghtest.free_port()
    d = {"admin_listen": f"{HOST}:{port}"}
    d.update(extra or {})
    return port, d


def _ends(items, timeout):
    """How each Held stream (or socket) ended: "reset", "eof" or an OSError repr."""
    return [h.expect_end(timeout) for h in items]


# --------------------------------------------------------------------------- kill -9


@ghtest.timeout(300)
def test_client_kill9_during_bulk(t):
    """20 bulk downloads through gw1's client; a stream of gw2 (another client)
    beside them. kill -9 of gw1's client: exactly its 20 streams end without
    their full content, the server's active count for them goes back to 0 and
    its fds to what they were; gw2's stream carries on byte-exact; the
    restarted client serves new streams byte-exact."""
    res = ha.tag_server(t)
    tok1, tok2 = t.token(), t.token()
    p1, p2 = t.ports(2)
    adm, sx = _admin()
    srv = t.server([onprem("bulk", p1, res.port), onprem("other", p2, res.port, gateway="gw2")],
                   {"gw1": tok1, "gw2": tok2}, server=sx)
    cli1 = t.client(srv, tok1, name="client1")
    cli2 = t.client(srv, tok2, gateway="gw2", name="client2")
    for p in (p1, p2):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli1, cli2])
    fds_idle = fh.settled_fd_count(srv.pid())
    neighbour = ha.Held(p2, "neighbour", timeout=60)
    fds0 = fh.settled_fd_count(srv.pid())

    size = 1 << 40  # never completes: the client dies first
    downs = [fh.Download(p1, size) for _ in range(20)]
    ghtest.wait_until(lambda: all(d.got >= 1 * MiB for d in downs) or any(d.ended for d in downs),
                      120, what="1 MiB into each of the 20 downloads")
    assert not any(d.ended for d in downs), [d.ended for d in downs]
    active = fh.metric(adm, ACTIVE, destination="bulk")
    assert active == 20, f"server: {active} active streams of 'bulk', expected 20"
    t.log(f"20 downloads running, {sum(d.got for d in downs) / MiB:.0f} MiB in; kill -9 client1")

    t0 = time.monotonic()
    cli1.kill9()
    ends = [d.wait(60) for d in downs]
    latest = max(d.ended_at for d in downs) - t0
    t.log(f"the 20 streams ended within {latest:.2f}s: "
          f"{ {k: ends.count(k) for k in set(ends)} }")
    assert set(ends) <= {"reset", "eof"}, f"streams ended: {ends}"
    assert all(d.got < d.size for d in downs)
    _, secs = fh.wait_metric(adm, ACTIVE, lambda v: v == 0, 30, destination="bulk")
    t.log(f"server: active streams of 'bulk' back to 0 {secs:.2f}s after the streams ended")
    ghtest.wait_until(lambda: fh.fd_count(srv.pid()) == fds0 - 1, 30,
                      what=f"server fds back to {fds0 - 1}: one less than before the downloads "
                           f"(the dead tunnel)")
    t.log(f"server fds: {fds0} before the downloads, {fds0 - 1} after (client1's tunnel gone)")
    for d in downs:
        d.close()

    # gw2's stream did not notice
    assert fh.metric(adm, ACTIVE, destination="other") == 1
    neighbour._roundtrip(1 * MiB)

    cli1.start()
    secs = ghtest.wait_tunnel(p1, UP, procs=[srv, cli1, cli2])
    t.log(f"client1 restarted: streams work again after {secs:.1f}s")
    ghtest.run_parallel([job(ghtest.echo_check, p1, 2 * MiB) for _ in range(5)]
                        + [job(ghtest.source_check, p1, 2 * MiB) for _ in range(5)],
                        what="streams after the restart")
    neighbour.finish()
    fh.wait_metric(adm, ACTIVE, lambda v: v == 0, 30)
    ghtest.wait_until(lambda: fh.fd_count(srv.pid()) == fds_idle, 30,
                      what=f"server fds back to {fds_idle} ({fh.fd_kinds(srv.pid())})")


_RECONNECT = re.compile(r"reconnecting to 127\.0\.0\.1:(\d+) in (\d+) ms")


def _backoff_ok(delays, cap_ms, base_ms=250):
    """Each delay within [50%, 100%] of min(base * 2^k, cap), k = 0, 1, ..."""
    for k, ms in enumerate(delays):
        full = min(base_ms * 2 ** k, cap_ms)
        if not full // 2 <= ms <= full:
            return f"attempt {k}: {ms} ms not within [{full // 2}, {full}]"
    return None


@ghtest.timeout(240)
def test_server_kill9_reconnect_with_backoff(t):
    """kill -9 of the server: the client's streams end, it retries with capped
    exponential backoff and jitter (the delays it logs), a new connection to a
    client port ends at once rather than hang; a new server started on the
    same port gets the tunnel back and streams work again, with nothing done
    to the client."""
    res = ha.tag_server(t)
    tok = t.token()
    p_on, p_cl = t.ports(2)
    srv = t.server([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)], {"gw1": tok})
    cli = t.client(srv, tok, client={"reconnect_max": 4})
    for p in (p_on, p_cl):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    held = [ha.Held(p_on, "on1"), ha.Held(p_cl, "cl1"), ha.Held(p_cl, "cl2")]

    since = cli.log_size()
    t0 = time.monotonic()
    srv.kill9()
    ends = _ends(held, 20)
    t.log(f"server killed: held streams ended {ends} within {time.monotonic() - t0:.2f}s")
    how = ha.refused_from(HOST, p_cl)
    t.log(f"a new connection to the client port while the server is down: {how}")

    def attempts():
        return [int(m.group(2)) for m in _RECONNECT.finditer(cli.log_text(since))
                if int(m.group(1)) == srv.tunnel_port]

    ghtest.wait_until(lambda: len(attempts()) >= 6, 60, what="6 reconnection attempts")
    delays = attempts()
    t.log(f"reconnection delays (ms): {delays}")
    bad = _backoff_ok(delays, 4000)
    assert bad is None, f"backoff: {bad} (delays {delays})"
    assert cli.alive()

    since = cli.log_size()
    srv.start()
    secs = ghtest.wait_tunnel(p_on, UP, procs=[srv, cli])
    ghtest.wait_tunnel(p_cl, UP, procs=[srv, cli])
    cli.wait_log(r"tunnel up", 5, since=since)
    t.log(f"new server on the same port: streams work again {secs:.1f}s after its start")
    ghtest.run_parallel([job(ghtest.echo_check, p_on, 2 * MiB), job(ghtest.source_check, p_on, 2 * MiB),
                         job(ghtest.echo_check, p_cl, 2 * MiB), job(ghtest.sink_check, p_cl, 2 * MiB)],
                        what="streams after the server came back")


# --------------------------------------------------------------------------- a silent peer


def _silence_detected(g, since, t0):
    m = g.wait_log(r"tunnel closed: peer silent for (\d+) ms", 30, since=since)
    return int(m.group(1)), time.monotonic() - t0


@ghtest.timeout(240)
def test_sigstop_client_keepalive(t):
    """SIGSTOP of gw1's client: with keepalive 1 s / timeout 3 s the server
    declares that tunnel dead, logs it and resets its streams; gw2's tunnel and
    stream are untouched; after SIGCONT the client reconnects and serves."""
    res = ha.tag_server(t)
    tok1, tok2 = t.token(), t.token()
    p1, p2 = t.ports(2)
    adm, sx = _admin(KEEPALIVE)
    srv = t.server([onprem("on", p1, res.port), onprem("other", p2, res.port, gateway="gw2")],
                   {"gw1": tok1, "gw2": tok2}, server=sx)
    cli1 = t.client(srv, tok1, name="client1", client=dict(KEEPALIVE, reconnect_max=2))
    cli2 = t.client(srv, tok2, gateway="gw2", name="client2", client=dict(KEEPALIVE))
    for p in (p1, p2):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli1, cli2])
    held = [ha.Held(p1, f"h{i}") for i in range(3)]
    down = fh.Download(p1, 1 << 40)
    neighbour = ha.Held(p2, "neighbour")
    ghtest.wait_until(lambda: down.got >= 1 * MiB or down.ended, 30, what="download running")

    since = srv.log_size()
    t0 = time.monotonic()
    os.kill(cli1.pid(), signal.SIGSTOP)
    try:
        silent_ms, secs = _silence_detected(srv, since, t0)
        t.log(f"server: client1 declared dead {secs:.2f}s after SIGSTOP (silent for {silent_ms} ms)")
        ends = _ends(held, 20) + [down.wait(20)]
        t.log(f"client1's streams ended: {ends}")
        assert all(e in ("reset", "eof") for e in ends), ends
        _, s2 = fh.wait_metric(adm, ACTIVE, lambda v: v == 0, 20, destination="on")
        t.log(f"server: 0 active streams of 'on' {s2:.2f}s later")
        # gw2: same process, other tunnel, not affected
        neighbour._roundtrip(256 * KiB)
        lines = [ln for ln in srv.log_text(since).splitlines() if "tunnel closed" in ln]
        assert len(lines) == 1 and "gw1" in lines[0], f"tunnels closed: {lines}"
    finally:
        os.kill(cli1.pid(), signal.SIGCONT)
    secs = ghtest.wait_tunnel(p1, UP, procs=[srv, cli1, cli2])
    t.log(f"after SIGCONT: client1 serves again within {secs:.1f}s")
    ghtest.run_parallel([job(ghtest.echo_check, p1, 2 * MiB), job(ghtest.source_check, p1, 2 * MiB)])
    neighbour.finish()
    down.close()


@ghtest.timeout(240)
def test_sigstop_server_keepalive(t):
    """SIGSTOP of the server: the client declares the tunnel dead within its
    keepalive timeout, logs it and resets the streams of its client ports;
    the server's own streams end once it runs again; the client reconnects
    and serves."""
    res = ha.tag_server(t)
    tok = t.token()
    p_on, p_cl = t.ports(2)
    adm, cx = _admin(dict(KEEPALIVE, reconnect_max=2))
    srv = t.server([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)], {"gw1": tok},
                   server=dict(KEEPALIVE))
    cli = t.client(srv, tok, client=cx)
    for p in (p_on, p_cl):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    held_cl = [ha.Held(p_cl, f"cl{i}") for i in range(3)]
    held_on = [ha.Held(p_on, f"on{i}") for i in range(2)]

    since = cli.log_size()
    t0 = time.monotonic()
    os.kill(srv.pid(), signal.SIGSTOP)
    try:
        silent_ms, secs = _silence_detected(cli, since, t0)
        t.log(f"client: server declared dead {secs:.2f}s after SIGSTOP (silent for {silent_ms} ms)")
        ends = _ends(held_cl, 20)
        t.log(f"client-port streams ended: {ends}")
        _, s2 = fh.wait_metric(adm, ACTIVE, lambda v: v == 0, 20)
        t.log(f"client: 0 active streams {s2:.2f}s later")
    finally:
        os.kill(srv.pid(), signal.SIGCONT)
    t1 = time.monotonic()
    ends = _ends(held_on, 30)
    t.log(f"server resumed: its application streams ended ({ends}) "
          f"{time.monotonic() - t1:.2f}s after SIGCONT")
    for p in (p_on, p_cl):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    t.log(f"tunnel back {time.monotonic() - t1:.1f}s after SIGCONT")
    ghtest.run_parallel([job(ghtest.echo_check, p_on, 2 * MiB), job(ghtest.echo_check, p_cl, 2 * MiB)])


@ghtest.timeout(300)
def test_netns_packet_loss(t):
    """The client runs in a network namespace behind a veth pair; its link is
    set down (every packet dropped, no error anywhere): the keepalive of both
    sides finds the dead tunnel, the applications' streams end, the client's
    streams and sockets are freed; once the link is up again the client
    reconnects by itself and streams are byte-exact."""
    why = fh.Netns.available()
    if why:
        t.log(f"SKIPPED: cannot make a network namespace here: {why}")
        return
    ns = fh.Netns("p")
    try:
        ns.create()
    except (RuntimeError, OSError) as e:
        ns.destroy()
        t.log(f"SKIPPED: cannot make a network namespace here: {e}")
        return
    t.defer(ns.destroy)
    res = fh.FaultServer(host=ns.host_ip)  # the on-prem resource, reached over the veth
    t.peers.append(res)
    tok = t.token()
    tp, p_on = t.ports(2)
    adm, sx = _admin(dict(KEEPALIVE, tunnel_listen=f"{ns.host_ip}:{tp}"))
    srv = t.gatehouse("server", ghtest.server_sections(tp, t.pki, {"gw1": tok},
                                                       [onprem("on", p_on, res.port, resource_host=ns.host_ip)],
                                                       sx))
    ghtest.wait_port(ns.host_ip, tp, 20, procs=[srv])
    secs = ghtest.client_sections(
        {"gw1": {"server": f"{ns.host_ip}:{tp}", "token": tok, "ca": t.pki.ca_cert,
                 "server_name": "localhost"}},
        acl=[("allow", f"{ns.host_ip}:*"), ("deny", "*")],
        client=dict(KEEPALIVE, reconnect_max=2))
    cli = fh.start_wrapped(t, "client", secs, "client", ns.wrapper())
    ghtest.wait_tunnel(p_on, UP, procs=[srv, cli])
    ghtest.echo_check(p_on, 1 * MiB)
    ghtest.wait_until(lambda: fh.metric(adm, ACTIVE) == 0, 10, what="no stream left")
    cli_fds0 = fh.settled_fd_count(cli.pid())
    held = [ha.Held(p_on, f"h{i}") for i in range(3)]
    down = fh.Download(p_on, 1 << 40)
    ghtest.wait_until(lambda: down.got >= 1 * MiB or down.ended, 30, what="download running")

    s_since, c_since = srv.log_size(), cli.log_size()
    t0 = time.monotonic()
    ns.link(False)
    try:
        ms, secs = _silence_detected(srv, s_since, t0)
        t.log(f"link down: server declared the tunnel dead after {secs:.2f}s (silent {ms} ms)")
        ends = _ends(held, 20) + [down.wait(20)]
        t.log(f"the applications' streams ended: {ends}")
        assert all(e in ("reset", "eof") for e in ends), ends
        ms, secs = _silence_detected(cli, c_since, t0)
        t.log(f"link down: client declared the tunnel dead after {secs:.2f}s (silent {ms} ms)")
        # the client's resource connections are closed: at most the socket
        # of a reconnection attempt in place of the tunnel's
        ghtest.wait_until(lambda: fh.fd_count(cli.pid()) <= cli_fds0, 20,
                          what=f"client fds back to <= {cli_fds0}")
        fh.wait_metric(adm, ACTIVE, lambda v: v == 0, 10)
        how = ha.refused_from(HOST, p_on)
        t.log(f"a new stream while the tunnel is down ends at once: {how}")
    finally:
        ns.link(True)
    t1 = time.monotonic()
    secs = ghtest.wait_tunnel(p_on, 60, procs=[srv, cli])
    t.log(f"link up: streams work again {time.monotonic() - t1:.1f}s later")
    ghtest.run_parallel([job(ghtest.echo_check, p_on, 2 * MiB), job(ghtest.source_check, p_on, 2 * MiB)])
    down.close()


# --------------------------------------------------------------------------- resource faults


def _expect_end_no_data(port, what):
    """Connect, send a request, require the stream to end with no byte."""
    t0 = time.monotonic()
    how = ghtest.expect_refused(port, timeout=60)
    return how, time.monotonic() - t0


def _read_all(s, limit):
    """Bytes until EOF or reset: (data, "eof" | "reset")."""
    buf = bytearray()
    while True:
        try:
            b = s.recv(1 << 20)
        except ConnectionResetError:
            return bytes(buf), "reset"
        if not b:
            return bytes(buf), "eof"
        buf += b
        if len(buf) > limit:
            raise AssertionError(f"more than {limit} bytes")


def _stream_bytes(seed, n):
    return b"".join(ghtest.stream_chunks(seed, n))


class Neighbour:
    """Echoes of 512 KiB, one after the other, through ``port`` until stop():
    the stream next to the faults. Every echo is verified."""

    def __init__(self, port):
        self.port, self.rounds, self.err = port, 0, None
        self.stopping = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        try:
            while not self.stopping.is_set():
                ghtest.echo_check(self.port, 512 * KiB, half_close=True)
                self.rounds += 1
                time.sleep(0.05)
        except Exception as e:  # reported by stop()
            self.err = e

    def stop(self):
        self.stopping.set()
        self.th.join(120)
        assert not self.th.is_alive(), "the neighbour stream hangs"
        assert self.err is None, f"the neighbour stream failed: {self.err!r}"
        assert self.rounds > 0
        return self.rounds


@ghtest.timeout(300)
def test_resource_faults(t):
    """Both directions (on-prem: the client connects to the resource; cloud: the
    server does). Each fault reaches the application as its matching end:
    refused and unanswered connects (connect_timeout 2 s) end the stream
    without a byte; a resource reset is a reset after a correct prefix; a FIN
    mid-stream is EOF after exactly the bytes sent; a slow reader and a slow
    writer complete byte-exact. Meanwhile a neighbour stream on the same
    tunnel and destination carries on byte-exact, and nothing stays open."""
    res = fh.fault_server(t)
    silent = fh.SilentPort()
    t.defer(silent.close)
    dead = ghtest.free_port()  # nothing listens there
    ports = dict(zip(["ok", "refused", "silent", "okc", "refusedc", "silentc"], t.ports(6)))
    cto = {"connect_timeout": 2}
    dests = [onprem("ok", ports["ok"], res.port),
             onprem("refused", ports["refused"], dead),
             onprem("silent", ports["silent"], silent.port, extra=cto),
             cloud("okc", ports["okc"], res.port),
             cloud("refusedc", ports["refusedc"], dead),
             cloud("silentc", ports["silentc"], silent.port, extra=cto)]
    s_adm, sx = _admin()
    c_adm, cx = _admin()
    tok = t.token()
    srv = t.server(dests, {"gw1": tok}, server=sx)
    cli = t.client(srv, tok, client=cx)
    for k in ("ok", "okc"):
        ghtest.wait_tunnel(ports[k], UP, procs=[srv, cli])
    ghtest.retry(lambda: socket.create_connection((HOST, ports["silentc"]), 2).close(), UP,
                 what="client ports listening", procs=[srv, cli])

    for direction, ok, refused, sil, resource_side in (
            ("onprem", ports["ok"], ports["refused"], ports["silent"], cli),
            ("cloud", ports["okc"], ports["refusedc"], ports["silentc"], srv)):
        nb = Neighbour(ok)
        # refused
        since = resource_side.log_size()
        how, secs = _expect_end_no_data(refused, "refused")
        t.log(f"{direction} refused: the application saw {how} after {secs:.2f}s")
        resource_side.wait_log(r"(?i)connection refused", 10, since=since)
        # no answer at all: connect_timeout
        silent.check()
        since = resource_side.log_size()
        how, secs = _expect_end_no_data(sil, "silent")
        t.log(f"{direction} unanswered connect: the application saw {how} after {secs:.2f}s")
        resource_side.wait_log(r"(?i)timed out", 10, since=since)
        # reset mid-stream: a correct prefix, then a reset
        seed, n = rng.getrandbits(64), 200 * KiB
        with ghtest.connect(ok, timeout=60) as s:
            t0 = time.monotonic()
            s.sendall(f"RST {n} {seed}\n".encode())
            data, how = _read_all(s, n)
        t.log(f"{direction} resource reset after {n} bytes: the application got {len(data)} "
              f"bytes then {how} after {time.monotonic() - t0:.2f}s")
        assert how == "reset", f"{direction}: a resource reset reached the application as {how}"
        assert data == _stream_bytes(seed, n)[:len(data)], "the bytes before the reset differ"
        # FIN mid-stream: exactly what was sent, then EOF
        seed, n = rng.getrandbits(64), 300 * KiB
        with ghtest.connect(ok, timeout=60) as s:
            s.sendall(f"FIN {n} {seed}\n".encode())
            data, how = _read_all(s, n)
        assert how == "eof" and data == _stream_bytes(seed, n), \
            f"{direction} FIN: got {len(data)} of {n} bytes then {how}"
        t.log(f"{direction} resource FIN after {n} bytes: all of them, then EOF")
        # slow reader: the upload completes byte-exact, flow control holds the rest
        t0 = time.monotonic()
        seed, n = rng.getrandbits(64), 2 * MiB
        with ghtest.connect(ok, timeout=120) as s:
            sha = ghtest._send_stream(s, seed, n, f"SLOWSINK {n} 32768 5\n".encode())
            line, _ = ghtest.recv_line(s)
            assert line.strip() == sha, f"{direction} slow reader: sha256 mismatch"
            ghtest.expect_eof(s, 30)
        t.log(f"{direction} slow reader: {n // MiB} MiB byte-exact in {time.monotonic() - t0:.2f}s")
        # slow writer: every byte, then EOF
        t0 = time.monotonic()
        seed, n = rng.getrandbits(64), 1 * MiB
        with ghtest.connect(ok, timeout=120) as s:
            s.sendall(f"SLOWSRC {n} {seed} 4096 2\n".encode())
            got, sha = ghtest._recv_hash(s, n)
            assert sha == ghtest.stream_sha256(seed, n), f"{direction} slow writer: sha256 mismatch"
            ghtest.expect_eof(s, 30)
        t.log(f"{direction} slow writer: {n // MiB} MiB byte-exact in {time.monotonic() - t0:.2f}s")
        rounds = nb.stop()
        t.log(f"{direction}: the neighbour stream carried {rounds} verified echoes of 512 KiB meanwhile")

    for port, who in ((s_adm, "server"), (c_adm, "client")):
        v, _ = fh.wait_metric(port, ACTIVE, lambda v: v == 0, 20, what=f"{who}: no active stream")
    failed = fh.metric(s_adm, "gatehouse_streams_failed_total") + \
        fh.metric(c_adm, "gatehouse_streams_failed_total")
    t.log(f"streams counted as failed (server + client): {failed:.0f}")
    assert failed >= 4, "the refused and unanswered connects must count as failed streams"


# --------------------------------------------------------------------------- exhaustion


NOFILE = 96


@ghtest.timeout(240)
def test_fd_exhaustion(t):
    """The server runs with a hard limit of NOFILE descriptors. Applications
    open connections until accepting fails: a log line says so (at most about
    one a second), the connections beyond the limit are closed at once, the
    streams already open carry on byte-exact, and once the applications close,
    new connections succeed again."""
    res = ha.tag_server(t)
    tok = t.token()
    tp, p = t.ports(2)
    secs = ghtest.server_sections(tp, t.pki, {"gw1": tok}, [onprem("on", p, res.port)])
    srv = fh.start_wrapped(t, "server", secs, "server", ["prlimit", f"--nofile={NOFILE}:{NOFILE}"],
                           tunnel_port=tp)
    ghtest.wait_port(HOST, tp, 20, procs=[srv])
    cli = t.client(srv, tok)
    ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    soft, hard = fh.nofile_limit(srv.pid())
    assert hard == NOFILE, f"the server's hard limit is {hard}, not {NOFILE}"
    base = fh.settled_fd_count(srv.pid())
    t.log(f"server: RLIMIT_NOFILE {soft}/{hard}, {base} fds in use with the tunnel up")
    assert base < NOFILE - 20, f"{base} fds in use: raise NOFILE"
    held = [ha.Held(p, f"h{i}") for i in range(5)]

    since = srv.log_size()
    t0 = time.monotonic()
    flood = []
    try:
        served = dropped = 0
        for _ in range(2 * NOFILE):
            try:  # reset as soon as accepted: even connect() may see it
                s = socket.create_connection((HOST, p), timeout=10)
                s.sendall(b"ECHO\nx")
            except ConnectionResetError:
                dropped += 1
                continue
            flood.append(s)
        for s in flood:
            s.settimeout(20)
            try:
                b = s.recv(1)
            except ConnectionResetError:
                b = b""
            if b == b"x":
                served += 1
            else:
                dropped += 1
        t.log(f"{2 * NOFILE} connections: {served} served, {dropped} closed at accept; "
              f"server fds {fh.fd_count(srv.pid())}/{NOFILE}")
        assert dropped > 0, "the limit was never reached"
        assert served > 0
        m = srv.wait_log(r"accept on .*(too many open files|EMFILE)", 10, since=since)
        t.log(f"server logged: {m.string.strip()[:160]}")
        # existing streams keep working while the server is at its limit
        for h in held:
            h._roundtrip(256 * KiB)
    finally:
        for s in flood:
            s.close()
    elapsed = time.monotonic() - t0
    lines = [ln for ln in srv.log_text(since).splitlines() if re.search(r"accept on .*too many", ln)]
    t.log(f"{len(lines)} accept-failure line(s) in {elapsed:.1f}s")
    assert len(lines) <= elapsed + 2, f"accept failures are not rate limited: {len(lines)} lines"

    ghtest.wait_until(lambda: fh.fd_count(srv.pid()) <= base + len(held), 30,
                      what="server fds back once the applications closed")
    ghtest.run_parallel([job(ghtest.echo_check, p, 256 * KiB) for _ in range(20)],
                        what="new streams after the exhaustion")
    for h in held:
        h.finish()
    ghtest.wait_until(lambda: fh.fd_count(srv.pid()) == base, 30, what=f"server fds back to {base}")
    srv.check_alive()


# --------------------------------------------------------------------------- churn


def _one_conn(port, i):
    """A short stream; one in four is closed abortively (RST) mid-way."""
    payload = os.urandom(64 + i % 512)
    s = socket.create_connection((HOST, port), timeout=30)
    try:
        s.settimeout(30)
        s.sendall(b"ECHO\n" + payload)
        got = ghtest.recv_exact(s, len(payload))
        if got != payload:
            raise AssertionError("echo mismatch")
        if i % 4 == 3:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        s.shutdown(socket.SHUT_WR)
        ghtest.expect_eof(s, 30)
    finally:
        s.close()


def _churn(ports, n, workers=8):
    """n connections over ``ports`` (in turn), ``workers`` at a time."""
    counter = iter(range(n))
    lock = threading.Lock()

    def work():
        done = 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return done
            _one_conn(ports[i % len(ports)], i)
            done += 1

    t0 = time.monotonic()
    done = ghtest.run_parallel([work for _ in range(workers)], timeout=900, what="churn workers")
    assert sum(done) == n
    return time.monotonic() - t0


def _snapshot(procs, adms):
    for a in adms:
        fh.wait_metric(a, ACTIVE, lambda v: v == 0, 30, what="no active stream")
    return {g.name: (fh.settled_fd_count(g.pid()), fh.rss_kib(g.pid())) for g in procs}


@ghtest.timeout(900)
def test_churn_no_leak(t):
    """10,000 connections (3,000 under ASan) opened and closed through the
    tunnel, both directions, 8 at a time, a quarter of them reset by the
    application: after a warm-up, neither process holds one more fd, and the
    RSS grows by less than 1 MiB (not checked under ASan, whose quarantine
    holds freed memory; LeakSanitizer checks at exit instead)."""
    res = t.proto_server()
    p_on, p_cl = t.ports(2)
    s_adm, sx = _admin()
    tok = t.token()
    srv = t.server([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)],
                   {"gw1": tok}, server=dict(sx, log_level="info"))
    c_adm, cx = _admin({"log_level": "info"})
    cli = t.client(srv, tok, client=cx)
    for p in (p_on, p_cl):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    warm, n = (300, 3000) if ASAN else (1000, 10000)
    secs = _churn([p_on, p_cl], warm)
    before = _snapshot([srv, cli], [s_adm, c_adm])
    t.log(f"warm-up: {warm} connections in {secs:.1f}s; (fds, RSS KiB): {before}")
    secs = _churn([p_on, p_cl], n)
    ghtest.wait_until(lambda: all(fh.fd_count(g.pid()) <= before[g.name][0] for g in (srv, cli)),
                      30, what="fds back to their count after the warm-up")
    after = _snapshot([srv, cli], [s_adm, c_adm])
    t.log(f"churn: {n} connections in {secs:.1f}s ({n / secs:.0f}/s); (fds, RSS KiB): {after}")
    opened = fh.metric(s_adm, "gatehouse_streams_opened_total") + \
        fh.metric(c_adm, "gatehouse_streams_opened_total")
    assert opened >= warm + n, f"only {opened} streams counted"
    for name in before:
        (f0, r0), (f1, r1) = before[name], after[name]
        assert f1 <= f0, f"{name}: {f1 - f0} more fds after {n} connections"
        if not ASAN:
            assert r1 - r0 < 1024, f"{name}: RSS grew by {r1 - r0} KiB over {n} connections"
    # still serving, byte-exact
    ghtest.echo_check(p_on, 1 * MiB)
    ghtest.echo_check(p_cl, 1 * MiB)


if __name__ == "__main__":
    ghtest.main(globals())
