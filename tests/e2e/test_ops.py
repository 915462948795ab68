#!/usr/bin/env python3
"""End-to-end: running gatehouse as a service (issue 7): -d with a pid file,
SIGHUP live reload on the server and on the client, SIGTERM drain, and the
admin endpoint's /metrics and /status.

Every stream is checked by length and sha256. Run one test:
``python3 test_ops.py reload``.
"""
import grp
import hashlib
import json
import os
import pwd
import socket
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import MiB, cloud, onprem  # noqa: E402

UP = 30.0


def http_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


PROM_LINE = re.compile(r'^([a-z_][a-z0-9_]*)(\{([a-z_]+="(\\.|[^"\\])*",?)*\})? (\d+(\.\d+)?)$')


def parse_prometheus(text):
    """{(name, labels-text): value}; every line must be a comment or a sample
    of a metric whose TYPE was declared before it."""
    typed, samples = set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("counter", "gauge"), line
            typed.add(name)
            continue
        m = PROM_LINE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        assert m.group(1) in typed, f"sample before its TYPE: {line!r}"
        samples[(m.group(1), m.group(2) or "")] = float(m.group(5))
    return samples


def metric(samples, name, **labels):
    want = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    return samples[(name, want)]


def test_daemon_pidfile_and_second_start_refused(t):
    res = t.proto_server()
    p, tport = t.ports(2)
    pidfile = os.path.join(t.dir, "gh.pid")
    logfile = os.path.join(t.dir, "daemon.log")
    secs = ghtest.server_sections(tport, t.pki, {"gw1": t.token()}, [onprem("d", p, res.port)])
    cfg = os.path.join(t.dir, "server.ini")
    with open(cfg, "w") as f:
        f.write(ghtest.ini_text(secs))
    cmd = [ghtest.GH_BIN, "server", "-c", cfg, "-d", "--pidfile", pidfile, "--log-file", logfile]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pid = int(open(pidfile).read().strip())
    t.defer(lambda: _kill(pid))
    os.kill(pid, 0)  # alive, detached from us: a session of its own, and
    # (double fork) not its leader, so it can never get a terminal again
    assert os.getsid(pid) != os.getsid(0) and os.getsid(pid) != pid, (os.getsid(pid), pid)
    ghtest.wait_port(ghtest.HOST, tport, 20)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert again.returncode != 0, "a second start with a live pid file must fail"
    assert "pid" in again.stderr.lower() and str(pid) in again.stderr, again.stderr
    os.kill(pid, signal.SIGTERM)
    ghtest.wait_until(lambda: not _alive(pid), 20, what="daemon exit")
    assert not os.path.exists(pidfile), "the pid file is removed at exit"
    assert "stopped" in open(logfile).read()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours does not count; the daemon is not our child anyway
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class SlowSender:
    """An ECHO stream through `port` that sends `size` bytes in 50 steps over
    `seconds`, and checks the echo's length and sha256 at the end."""

    def __init__(self, port, size, seconds):
        self.port, self.size, self.seconds = port, size, seconds
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self._echo()
        except Exception as e:  # noqa: BLE001 - reported by join()
            self.error = e

    def _echo(self):
        s = ghtest.connect(self.port)
        s.sendall(b"ECHO\n")
        sent, got = hashlib.sha256(), hashlib.sha256()
        n = 0

        def reader():
            nonlocal n
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got.update(d)
                n += len(d)

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        for chunk in ghtest.stream_chunks(99, self.size, self.size // 50):
            s.sendall(chunk)
            sent.update(chunk)
            time.sleep(self.seconds / 50)
        s.shutdown(socket.SHUT_WR)
        th.join(60)
        s.close()
        assert n == self.size, f"echo: {n} of {self.size} bytes"
        assert got.hexdigest() == sent.hexdigest(), "echo differs"

    def join(self):
        self.thread.join(120)
        assert not self.thread.is_alive(), "slow stream did not finish"
        if self.error:
            raise self.error


def test_sighup_server_adds_removes_and_keeps(t):
    res = t.proto_server()
    pa, pb, pc = t.ports(3)
    srv, cli, _ = t.pair([onprem("a", pa, res.port), onprem("c", pc, res.port)])
    ghtest.wait_tunnel(pa, UP, procs=[srv, cli])
    ghtest.wait_tunnel(pc, UP, procs=[srv, cli])
    slow = SlowSender(pa, 4 * MiB, 3.0)
    time.sleep(0.5)
    # b is added, c removed, a untouched
    srv.sections = [s for s in srv.sections if s[0] != "destination c"] + [onprem("b", pb, res.port)]
    mark = srv.log_size()
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"configuration reloaded", since=mark)
    ghtest.wait_tunnel(pb, UP, procs=[srv, cli])
    ghtest.echo_check(pb, 300 * 1024)
    # c is gone: its port refuses
    ghtest.wait_until(lambda: _refused(pc), 10, what="removed destination c closed")
    slow.join()  # the stream through a carried on, byte-exact
    assert "destination a changed" not in srv.log_text(since=mark)


def _refused(port):
    try:
        s = socket.create_connection((ghtest.HOST, port), timeout=2)
    except OSError:
        return True
    s.close()
    return False


def test_sighup_invalid_config_keeps_the_old(t):
    res = t.proto_server()
    pa = t.port()
    srv, cli, _ = t.pair([onprem("a", pa, res.port)])
    ghtest.wait_tunnel(pa, UP, procs=[srv, cli])
    good = srv.sections
    srv.sections = good + [("destination broken", [("gateway", "nope"), ("type", "onprem")])]
    mark = srv.log_size()
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"reload refused, the running configuration is unchanged: .*server\.ini:\d+", since=mark)
    ghtest.echo_check(pa, 256 * 1024)
    srv.check_alive()
    # a file that is valid again is taken
    srv.sections = good
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"configuration reloaded", since=mark)
    ghtest.echo_check(pa, 1000)


def test_sighup_new_destinations_that_fail_do_not_stop_the_others(t):
    """A reload whose new destinations partly fail to start (a port already
    taken; a tls layer whose key does not match its certificate) logs each
    failure with FILE:LINE, still starts the good ones listed after them,
    and does not claim a clean reload."""
    res = t.proto_server()
    pa, taken, pbad, pgood = t.ports(4)
    srv, cli, _ = t.pair([onprem("a", pa, res.port)])
    ghtest.wait_tunnel(pa, UP, procs=[srv, cli])
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((ghtest.HOST, taken))
    holder.listen(1)
    pki = t.pki
    mismatched = [("protocol", None), ("listen.protocol", "tls"), ("resource.protocol", "tcp"),
                  ("listen.tls.cert", pki.server_cert), ("listen.tls.key", pki.client_key)]
    srv.sections = srv.sections + [onprem("clash", taken, res.port),
                                   onprem("badkey", pbad, res.port, extra=mismatched),
                                   onprem("good", pgood, res.port)]
    mark = srv.log_size()
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"configuration reloaded from .*, but 2 new destination\(s\) did not start", since=mark)
    log = srv.log_text(since=mark)
    assert re.search(r"server\.ini:\d+: destination clash: cannot listen on 127\.0\.0\.1:%d" % taken, log), log
    assert re.search(r"server\.ini:\d+: destination badkey: tls: .*key does not match", log), log
    ghtest.wait_tunnel(pgood, UP, procs=[srv, cli])
    ghtest.echo_check(pgood, 200 * 1024)
    ghtest.echo_check(pa, 1000)
    assert _refused(pbad)
    holder.close()
    srv.check_alive()


def test_sighup_changed_destination_is_replaced_and_pushed(t):
    res1, res2 = t.proto_server(), t.proto_server()
    p = t.port()
    srv, cli, _ = t.pair([cloud("x", p, res1.port)])
    ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    srv.sections = [s for s in srv.sections if s[0] != "destination x"] + [cloud("x", p, res2.port)]
    mark, cmark = srv.log_size(), cli.log_size()
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"new destination set pushed to 1 tunnel", since=mark)
    cli.wait_log(r"listening on 127\.0\.0\.1:%d" % p, since=cmark)
    ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    ghtest.sink_check(p, 100 * 1024)
    srv.wait_log(r"x .*connected to 127\.0\.0\.1:%d" % res2.port, since=mark)


def test_sighup_client_acl(t):
    res = t.proto_server()
    p = t.port()
    srv, cli, _ = t.pair([onprem("a", p, res.port)], acl=[("deny", "*")])
    srv.wait_log(r"tunnel up")
    mark = srv.log_size()
    try:
        ghtest.echo_check(p, 100, timeout=5)
        raise AssertionError("the ACL should refuse the resource")
    except (OSError, AssertionError, EOFError) as e:
        if "should refuse" in str(e):
            raise
    srv.wait_log(r"refused by the ACL", since=mark)
    cli.sections = [s for s in cli.sections if s[0] != "acl"] + [("acl", [("allow", f"127.0.0.1:{res.port}")])]
    cmark = cli.log_size()
    cli.write_config()
    cli.send_signal(signal.SIGHUP)
    cli.wait_log(r"configuration reloaded", since=cmark)
    # the tunnel stayed up (the gateway did not change) and the ACL now allows
    assert "closing its tunnels" not in cli.log_text(since=cmark)
    ghtest.echo_check(p, 200 * 1024)


def test_sighup_client_gateway_changed_and_server_gateway_removed(t):
    res = t.proto_server()
    p = t.port()
    srv, cli, token = t.pair([onprem("a", p, res.port)])
    ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    # the client's gateway gets connections = 2: restarted with two tunnels
    gw = dict(cli.sections)["gateway gw1"]
    cli.sections = [(n, [(k, 2 if k == "connections" else v) for k, v in kv] if n == "gateway gw1" else kv)
                    for n, kv in cli.sections]
    assert gw != dict(cli.sections)["gateway gw1"]
    mark = srv.log_size()
    cli.write_config()
    cli.send_signal(signal.SIGHUP)
    cli.wait_log(r"gateway gw1 changed: closing its tunnels")
    srv.wait_log(r"\(2 tunnel\(s\) for gw1\)", since=mark)
    ghtest.echo_check(p, 100 * 1024)
    # the server drops gateway gw1: its tunnels close, and stay refused
    srv.sections = [s for s in srv.sections if not s[0].startswith(("gateway gw1", "destination"))] + \
        [("gateway other", [("token", t.token())])]
    mark, cmark = srv.log_size(), cli.log_size()
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"gateway gw1 removed: closing its tunnels", since=mark)
    cli.wait_log(r"server refused the tunnel: unknown gateway", since=cmark)
    assert _refused(p)


def _ids(pid):
    status = open(f"/proc/{pid}/status").read()
    get = lambda key: re.search(rf"^{key}:\s*(.*)$", status, re.M).group(1).split()  # noqa: E731
    return get("Uid"), get("Gid"), get("Groups")


def test_user_and_group_drop_privileges(t):
    """user/group: the server and the client bind, read their keys, then run
    as nobody:nogroup for good (real, effective, saved and filesystem ids,
    no supplementary group), and still carry streams byte-exact. An unknown
    user is refused by `check` with FILE:LINE."""
    if os.geteuid() != 0:
        t.log("skipped: changing identity needs root, and the tests do not run as root here")
        return
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup").gr_gid
    res = t.proto_server()
    pa, pc = t.ports(2)
    token = ghtest.random_token()
    srv = t.server([onprem("a", pa, res.port), cloud("c", pc, res.port)], {"gw1": token},
                   server=[("user", "nobody"), ("group", "nogroup")])
    cli = t.client(srv, token, client=[("user", "nobody")])
    ghtest.wait_tunnel(pa, UP, procs=[srv, cli])
    ghtest.wait_tunnel(pc, UP, procs=[srv, cli])
    uid, gid, groups = _ids(srv.pid())
    assert uid == [str(nobody.pw_uid)] * 4 and gid == [str(nogroup)] * 4 and groups == [str(nogroup)], \
        (uid, gid, groups)
    uid, gid, groups = _ids(cli.pid())
    assert uid == [str(nobody.pw_uid)] * 4 and gid == [str(nobody.pw_gid)] * 4, (uid, gid)
    srv.wait_log(r"running as uid %d, gid %d, user nobody" % (nobody.pw_uid, nogroup))
    ghtest.echo_check(pa, 1 * MiB)
    ghtest.echo_check(pc, 1 * MiB)
    path = os.path.join(t.dir, "unknown-user.ini")
    with open(path, "w") as f:
        f.write(open(srv.config_path).read().replace("user = nobody", "user = no-such-user-here"))
    r = subprocess.run([ghtest.GH_BIN, "check", "-c", path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and re.search(r"unknown-user\.ini:\d+: user: no such user 'no-such-user-here'",
                                           r.stdout + r.stderr), r.stdout + r.stderr


def test_sigterm_drains_a_stream_in_flight(t):
    res = t.proto_server()
    p = t.port()
    srv, cli, _ = t.pair([onprem("a", p, res.port)])
    ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    slow = SlowSender(p, 2 * MiB, 2.0)
    time.sleep(0.5)
    srv.send_signal(signal.SIGTERM)
    srv.stopped = True
    srv.wait_log(r"stopping: 1 stream\(s\) open")
    slow.join()  # finished byte-exact during the drain
    assert srv.wait(20) == 0, f"server exit status {srv.rc}"
    # a new application is refused while it drains or once stopped
    assert _refused(p)


def test_systemd_notify(t):
    """Type=notify: READY=1 once serving, RELOADING=1/READY=1 around a reload,
    STOPPING=1 on SIGTERM, each sent to $NOTIFY_SOCKET."""
    path = os.path.join(t.dir, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    t.defer(sock.close)
    res = t.proto_server()
    p = t.port()
    os.environ["NOTIFY_SOCKET"] = path
    try:
        srv = t.server([onprem("a", p, res.port)], {"gw1": t.token()})
    finally:
        del os.environ["NOTIFY_SOCKET"]
    msg = sock.recv(256).decode()
    assert msg == f"READY=1\nMAINPID={srv.pid()}", msg
    srv.send_signal(signal.SIGHUP)
    assert sock.recv(256) == b"RELOADING=1"
    assert sock.recv(256) == b"READY=1"
    srv.send_signal(signal.SIGTERM)
    srv.stopped = True
    assert sock.recv(256) == b"STOPPING=1"
    assert srv.wait(20) == 0


def test_metrics_and_status(t):
    res = t.proto_server()
    p, ap, cap = t.ports(3)
    token = t.token()
    srv = t.server([onprem("db", p, res.port)], {"gw1": token},
                   server={"admin_listen": f"127.0.0.1:{ap}"})
    cli = t.client(srv, token, client={"admin_listen": f"127.0.0.1:{cap}"})
    ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    code, ctype, text = http_get(ap, "/metrics")
    assert code == 200 and ctype.startswith("text/plain"), (code, ctype)
    m0 = parse_prometheus(text)
    assert metric(m0, "gatehouse_tunnels_up", gateway="gw1") == 1
    n = 3 * MiB
    ghtest.sink_check(p, n)
    m1 = parse_prometheus(http_get(ap, "/metrics")[2])
    grew = (metric(m1, "gatehouse_bytes_in_total", gateway="gw1", destination="db")
            - metric(m0, "gatehouse_bytes_in_total", gateway="gw1", destination="db"))
    assert grew >= n, f"bytes_in grew by {grew}, sent {n}"
    assert (metric(m1, "gatehouse_streams_opened_total", gateway="gw1", destination="db")
            == metric(m0, "gatehouse_streams_opened_total", gateway="gw1", destination="db") + 1)
    # the client counts what it wrote to the resource
    cm = parse_prometheus(http_get(cap, "/metrics")[2])
    assert metric(cm, "gatehouse_bytes_out_total", gateway="gw1", destination="db") >= n
    # a wrong token is a handshake failure counted by reason
    bad = t.client(srv, "not-the-token-" + "x" * 20, name="badclient")
    bad.allow_exit = True
    ghtest.wait_until(lambda: metric(parse_prometheus(http_get(ap, "/metrics")[2]),
                                     "gatehouse_handshake_failures_total", reason="token") >= 1,
                      20, what="token failure counted")
    bad.stop()
    # /status
    code, ctype, text = http_get(ap, "/status")
    assert code == 200 and ctype == "application/json"
    st = json.loads(text)
    gw = st["gateways"][0]
    assert st["role"] == "server" and gw["id"] == "gw1"
    assert len(gw["tunnels"]) == 1 and gw["tunnels"][0]["age_s"] >= 0
    assert gw["destinations"] == [{"name": "db", "type": "onprem", "side": "listen",
                                   "state": "listening", "active": 0, "error": None}]
    cst = json.loads(http_get(cap, "/status")[2])
    assert cst["role"] == "client" and cst["gateways"][0]["destinations"][0]["side"] == "resource"
    # / is the console page (tests/e2e/test_console_page.py); nothing else is served
    for path in ("/index.html", "/api", "/metrics/x"):
        try:
            http_get(ap, path)
            raise AssertionError(f"{path} must be 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404
    assert token not in text and token not in http_get(ap, "/metrics")[2]


if __name__ == "__main__":
    ghtest.main(globals())
