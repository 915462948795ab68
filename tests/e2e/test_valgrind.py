#!/usr/bin/env python3
"""End-to-end under valgrind (issue 14): the real server and client run under
memcheck through a short life: connections to the tunnel port that close
before authentication (raw TCP, and a TLS handshake cut in the middle), a
tunnel, streams carrying data (checked by sha256), the admin endpoints, a
SIGHUP reload of both, then SIGTERM. Both must exit with their normal code (valgrind's error code is
99) and their valgrind logs must hold no invalid access and no definite leak.

ASan catches most memory errors in the sanitizer build, but not an access
made inside libuv to a handle whose memory gatehouse already freed (libuv is
not instrumented): valgrind sees those. It cannot run an ASan binary, so this
file skips itself for one (the normal build runs it).

Run: ``python3 test_valgrind.py``.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import KiB, onprem  # noqa: E402

VALGRIND_RC = 99
# valgrind slows the processes 20-50 times: generous waits, small data.
UP = 180.0
STOP = 300.0

BAD = re.compile(r"Invalid (read|write|free)|Mismatched free|"
                 r"uninitialised value|Syscall param .* points to unaddressable|"
                 r"are definitely lost|definitely lost: [1-9]")


def asan_binary(path):
    """An ASan build (valgrind cannot run it): its path or its symbols say so."""
    if "build-asan" in path:
        return True
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


class Valgrinded(ghtest.Gatehouse):
    """A gatehouse process run under valgrind memcheck, its report in vg_log."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.vg_log = os.path.join(self.case.dir, f"{self.name}.valgrind")

    def command(self):
        return ["valgrind", "--error-exitcode=%d" % VALGRIND_RC, "--leak-check=full",
                "--errors-for-leak-kinds=definite", "--track-fds=no",
                "--log-file=" + self.vg_log, os.path.abspath(ghtest.GH_BIN),
                *super().command()[1:]]


def valgrinded(t, role, sections, name):
    g = Valgrinded(t, role, sections, name=name)
    t.procs.append(g)
    g.start()
    return g


def tcp_touch(port):
    """Connect to the tunnel port and close at once."""
    socket.create_connection((ghtest.HOST, port), timeout=30).close()


def tls_cut(port):
    """Send a ClientHello, read what the server answers, then close: the
    server's tunnel fails in the middle of its TLS handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="gatehouse")
    with socket.create_connection((ghtest.HOST, port), timeout=60) as s:
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        s.sendall(out.read())
        assert s.recv(1), "the server did not answer the ClientHello"


def preauth_closes(t, port, n=3):
    for _ in range(n):
        tcp_touch(port)
        tls_cut(port)
    t.log(f"{2 * n} connections closed before authentication")


@ghtest.timeout(540)
def test_valgrind_lifecycle(t):
    if asan_binary(ghtest.GH_BIN):
        t.log(f"SKIPPED: {ghtest.GH_BIN} is an AddressSanitizer build, which valgrind "
              "cannot run; the normal build runs this test")
        return
    assert shutil.which("valgrind"), "valgrind is missing: run scripts/deps.sh"
    res = t.proto_server()
    lport, tport, sadm, cadm = ghtest.free_ports(4)
    token = t.token()
    dests = [onprem("app", lport, res.port)]
    ssecs = ghtest.server_sections(tport, t.pki, {"gw1": token}, dests,
                                   {"drain_timeout": 2, "admin_listen": f"{ghtest.HOST}:{sadm}"})
    srv = valgrinded(t, "server", ssecs, "server")
    srv.tunnel_port = tport
    ghtest.wait_port(ghtest.HOST, tport, UP, procs=[srv])
    preauth_closes(t, tport)

    csecs = ghtest.client_sections(
        {"gw1": [("server", f"{ghtest.HOST}:{tport}"), ("token", token),
                 ("ca", t.pki.ca_cert), ("connections", 1)]},
        client={"drain_timeout": 2, "admin_listen": f"{ghtest.HOST}:{cadm}"})
    cli = valgrinded(t, "client", csecs, "client")
    ghtest.wait_tunnel(lport, UP, procs=[srv, cli])
    t.log("tunnel up")

    jobs = [ghtest.job(ghtest.echo_check, lport, 64 * KiB, timeout=UP) for _ in range(4)]
    ghtest.run_parallel(jobs, timeout=UP, what="echo streams")
    ghtest.sink_check(lport, 48 * KiB, timeout=UP)
    preauth_closes(t, tport, 2)  # while a tunnel is up
    for port in (sadm, cadm):  # the admin endpoint's connections too
        for path in ("/metrics", "/status", "/", "/api/v1/overview", "/api/v1/history",
                     "/api/v1/events"):
            with urllib.request.urlopen(f"http://{ghtest.HOST}:{port}{path}", timeout=UP) as r:
                assert r.status == 200 and r.read()

    for g in (srv, cli):
        since = g.log_size()
        g.send_signal(signal.SIGHUP)
        g.wait_log(r"configuration reloaded", UP, since)
    ghtest.echo_check(lport, 32 * KiB, timeout=UP)
    t.log("reloaded; streams still carried")

    for g in (cli, srv):
        rc = g.stop(timeout=STOP)
        report = open(g.vg_log).read() if os.path.exists(g.vg_log) else ""
        bad = BAD.search(report)
        assert rc != VALGRIND_RC and not bad, (
            f"{g.name}: valgrind found errors (rc={rc}):\n"
            f"{report[max(0, bad.start() - 300) if bad else 0:][:6000]}")
        assert rc == 0, f"{g.name} exited with rc={rc} on SIGTERM"
        assert "ERROR SUMMARY: 0 errors" in report, f"{g.name}: no clean valgrind summary:\n{report[-3000:]}"
    t.log("server and client exited 0, valgrind clean")


if __name__ == "__main__":
    ghtest.main(globals())
