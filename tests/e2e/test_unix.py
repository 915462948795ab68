#!/usr/bin/env python3
"""End-to-end: the unix transport (plugins/unix) and the client's [acl] path
rules.

Real server and client processes; applications and resources on real Unix
sockets in the case's directory. Bytes are checked by sha256. The PostgreSQL
case starts a private cluster (initdb, postgres -k DIR) as the postgres user
and runs psql and pgbench through the tunnel to its socket; it is skipped,
with the reason printed, only when the PostgreSQL binaries are missing. Run
one test: ``python3 test_unix.py postgres``.
"""
import glob
import os
import pwd
import grp
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
import console_helpers as ch  # noqa: E402
import hostile_server as hs  # noqa: E402
from ghtest import HOST, rng  # noqa: E402

UP = 30.0


# ---------------------------------------------------------------- helpers


def unix_connect(path, timeout=30.0):
    return ghtest.connect_unix(path, timeout)


def echo_unix(path, size, seed=None, timeout=30.0):
    """Send size bytes (after b"ECHO\\n") to the destination listening on the
    socket path, through to a ProtoServer; the echo must match by sha256, then EOF."""
    return ghtest.echo_check(None, size, seed, timeout=timeout, half_close=True, path=path)


def wait_unix_echo(path, procs=(), timeout=UP):
    return ghtest.retry(lambda: echo_unix(path, 1000, timeout=5.0), timeout,
                        what=f"echo through {path}", procs=procs)


class UnixProto(ghtest.ProtoServer):
    """ghtest's ProtoServer (ECHO / SINK / SOURCE ...) on a Unix socket."""

    def __init__(self, path, timeout=120.0):
        self.name = "UnixProto"
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.path = path
        self.accepted = self.completed = 0
        self.errors = []
        self.conns = set()
        self.lock = threading.Lock()
        self.closed = False
        self.release_event = threading.Event()
        self.held_bytes = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()


def unix_proto(t, path):
    s = UnixProto(path)
    t.peers.append(s)
    return s


class Recorder:
    """A listening Unix socket that counts the connections it accepts: a path
    the ACL denies must never see one."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.closed = False
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()
        self.th.join(2)


def mode_of(path):
    """The permissions of path, or None while it does not exist."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def short_dir(t):
    """A directory for sockets: sun_path holds 107 bytes, and the case's
    own directory may be deep. Removed after the case."""
    d = tempfile.mkdtemp(prefix="ghu-")
    os.chmod(d, 0o755)
    t.defer(shutil.rmtree, d, True)
    return d


def dest(name, kind, listen=None, resource=None, extra=None, client_port=None):
    items = [("gateway", "gw1"), ("type", kind)]
    if listen:
        items.append(("listen", listen))
    if client_port:
        items += [("client_port", client_port), ("client_bind", HOST)]
    items.append(("resource", resource))
    return (f"destination {name}", ghtest._merge(items, extra))


# ---------------------------------------------------------------- cases


def test_onprem_unix_listen_to_tcp(t):
    """The server listens on a socket path (on-prem); the client connects to
    a TCP resource. Sizes up to 8 MiB; the file is 0600 by default; an IP
    allow list refuses a Unix-socket peer (it has no address)."""
    d = short_dir(t)
    res = t.proto_server()
    app = os.path.join(d, "app.sock")
    denied = os.path.join(d, "allow.sock")
    srv, cli, _ = t.pair([
        dest("app", "onprem", listen=f"unix:{app}", resource=res.addr),
        dest("iponly", "onprem", listen=f"unix:{denied}", resource=res.addr,
             extra=[("allow", "127.0.0.1")])])
    wait_unix_echo(app, procs=[srv, cli])
    for size in (0, 1, 65536, 8 << 20):
        assert echo_unix(app, size) == size
    st = os.stat(app)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    # several at once
    errs = []

    def one():
        try:
            echo_unix(app, 300000)
        except Exception as e:
            errs.append(e)
    ths = [threading.Thread(target=one) for _ in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(60)
    assert not errs, errs
    # allow = 127.0.0.1: a peer with no IP address is refused, and logged
    before = res.accepted
    assert ghtest.expect_eof(unix_connect(denied)) in ("eof", "reset")
    srv.wait_log(r"refused \(unix socket\): not in the allow list")
    assert res.accepted == before


def test_cloud_tcp_app_to_unix_resource(t):
    """Cloud: the application connects over TCP to the client; the server
    connects to a Unix-socket resource."""
    d = short_dir(t)
    path = os.path.join(d, "res.sock")
    res = unix_proto(t, path)
    port = t.port()
    srv, cli, _ = t.pair([dest("c", "cloud", client_port=port,
                               resource=f"unix:{path}")])
    ghtest.wait_tunnel(port, procs=[srv, cli])
    for size in (1, 1 << 20, 8 << 20):
        assert ghtest.echo_check(port, size) == size
    assert ghtest.sink_check(port, 3 << 20) == 3 << 20
    assert ghtest.source_check(port, 3 << 20) == 3 << 20
    assert res.accepted >= 4


def test_cloud_unix_listen_needs_listen_rule(t):
    """Cloud with listen = unix:PATH: the client listens on the path only
    when a `listen = unix:GLOB` rule of its [acl] allows it."""
    d = short_dir(t)
    res = t.proto_server()
    app = os.path.join(d, "c.sock")
    token = t.token()
    srv = t.server([dest("c", "cloud", listen=f"unix:{app}", resource=res.addr,
                         extra=[("unix.mode", "0660")])], {"gw1": token})
    cli = t.client(srv, token)
    cli.wait_log(r"listen on unix:\S+ refused by the client's listen policy")
    srv.wait_log(r"c\b.*refused by the client's listen policy")
    assert not os.path.exists(app)
    cli.stop()
    cli2 = t.client(srv, token, name="client2",
                    acl=ghtest.DEFAULT_ACL + [("listen", f"unix:{d}/*.sock")])
    wait_unix_echo(app, procs=[srv, cli2])
    assert echo_unix(app, 2 << 20) == 2 << 20
    assert stat.S_IMODE(os.stat(app).st_mode) == 0o660
    cli2.stop()
    assert not os.path.exists(app), "the client's socket file outlived it"


def test_acl_path_rules(t):
    """On-prem resources on socket paths: the client's [acl] unix: rules
    decide; a denied path is never connected to, neither written directly
    nor reached through a symbolic link in an allowed directory; deny rules
    come first; the refusal is logged on both ends."""
    d = short_dir(t)
    ok_dir = os.path.join(d, "ok")
    no_dir = os.path.join(d, "no")
    os.mkdir(ok_dir)
    os.mkdir(no_dir)
    good = unix_proto(t, os.path.join(ok_dir, "good.sock"))
    secret = Recorder(os.path.join(no_dir, "docker.sock"))
    t.defer(secret.close)
    inner = Recorder(os.path.join(ok_dir, "inner.sock"))
    t.defer(inner.close)
    os.symlink(os.path.join(no_dir, "docker.sock"), os.path.join(ok_dir, "link.sock"))
    p = t.ports(4)
    # a compromised server pushes whatever it likes
    dests = [
        dest("good", "onprem", listen=f"{HOST}:{p[0]}", resource=f"unix:{ok_dir}/good.sock"),
        dest("docker", "onprem", listen=f"{HOST}:{p[1]}", resource=f"unix:{no_dir}/docker.sock"),
        dest("link", "onprem", listen=f"{HOST}:{p[2]}", resource=f"unix:{ok_dir}/link.sock"),
        dest("inner", "onprem", listen=f"{HOST}:{p[3]}", resource=f"unix:{ok_dir}/inner.sock"),
    ]
    acl = [("deny", f"unix:{ok_dir}/inner.sock"), ("allow", f"unix:{ok_dir}/*"),
           ("allow", "*")]  # `*` allows networks, never a socket path
    cadm = t.port()
    token = t.token()
    srv = t.server(dests, {"gw1": token})
    cli = t.client(srv, token, acl=acl, client={"admin_listen": f"{HOST}:{cadm}"})
    ghtest.wait_tunnel(p[0], procs=[srv, cli])
    assert ghtest.echo_check(p[0], 1 << 20) == 1 << 20
    for port, name in ((p[1], "docker"), (p[2], "link"), (p[3], "inner")):
        how = ghtest.expect_refused(port)
        t.log(f"{name}: {how}")
    cli.wait_log(rf"resource unix:{no_dir}/docker.sock refused by the ACL "
                 r"\(no unix: rule allows it\)")
    cli.wait_log(rf"resource unix:{ok_dir}/link.sock \(it leads to "
                 rf"{no_dir}/docker.sock\) refused by the ACL")
    cli.wait_log(rf"resource unix:{ok_dir}/inner.sock refused by the ACL "
                 rf"\(\S+:\d+\)")
    srv.wait_log(r"docker.*refused by the ACL")
    assert secret.accepted == 0, f"a denied path was connected to {secret.accepted} times"
    assert inner.accepted == 0, f"a denied path was connected to {inner.accepted} times"
    # the console shows the path rules with their hits, as any other rules:
    # deny inner (1), allow ok/* (good's opens), no match (docker, and link:
    # the decision counted is its real path's)
    co = ch.get_json(cadm, "/api/v1/overview")
    got = [(r["action"], r["target"], r["hits"]) for r in co["gateways"][0]["acl"]["rules"]]
    assert got[0] == ("deny", f"unix:{ok_dir}/inner.sock", 1), got
    assert got[1][:2] == ("allow", f"unix:{ok_dir}/*") and got[1][2] >= 2, got
    assert got[2] == ("allow", "*", 0), got
    assert co["gateways"][0]["acl"]["no_match_hits"] == 2, co["gateways"][0]["acl"]
    # the check is at each open, the path written and where it leads: the
    # link retargeted at an allowed socket works
    os.unlink(os.path.join(ok_dir, "link.sock"))
    os.symlink(os.path.join(ok_dir, "good.sock"), os.path.join(ok_dir, "link.sock"))
    assert ghtest.echo_check(p[2], 4096) == 4096


def test_mode_owner_and_cleanup(t):
    """unix.mode and unix.owner shape the socket file; a stale socket left
    by a crash is replaced, a file that is not a socket or a socket someone
    listens on is not; SIGTERM and a reload that drops the destination
    remove the file."""
    d = short_dir(t)
    res = t.proto_server()
    a = os.path.join(d, "a.sock")
    b = os.path.join(d, "b.sock")
    # a stale socket at a: bound, never listened on, its process gone
    s = socket.socket(socket.AF_UNIX)
    s.bind(a)
    s.close()
    if os.geteuid() == 0:
        owner, uid, gid = "nobody:nogroup", pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    else:
        me = pwd.getpwuid(os.geteuid()).pw_name
        owner, uid, gid = me, os.geteuid(), os.getegid()
    dests = [dest("a", "onprem", listen=f"unix:{a}", resource=res.addr,
                  extra=[("unix.mode", "0640"), ("unix.owner", owner)]),
             dest("b", "onprem", listen=f"unix:{b}", resource=res.addr)]
    srv, cli, _ = t.pair(dests)
    srv.wait_log(r"replaced a stale socket nobody listened on")
    wait_unix_echo(a, procs=[srv, cli])
    st = os.stat(a)
    assert stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode)
    assert st.st_uid == uid and (":" not in owner or st.st_gid == gid), (st.st_uid, st.st_gid)
    assert os.path.exists(b)
    # a reload without b removes its file, a stays
    text = srv.config_text()
    head, _, _ = text.partition("[destination b]")
    assert "unix.mode = 0640" in head
    with open(srv.config_path, "w") as f:  # and a's mode changes: a new listener
        f.write(head.replace("unix.mode = 0640", "unix.mode = 0660"))
    srv.send_signal(signal.SIGHUP)
    ghtest.wait_until(lambda: not os.path.exists(b), 20, what="b.sock removed at reload")
    ghtest.wait_until(lambda: mode_of(a) == 0o660, 20,
                      what="a.sock made again with its new mode")
    wait_unix_echo(a, procs=[srv, cli])
    # a second server on the same path: a live socket is not replaced
    tok = t.token()
    other = t.server([dest("a", "onprem", listen=f"unix:{a}", resource=res.addr)],
                     {"gw1": tok}, name="server2", wait=False)
    other.allow_exit = True
    other.wait(20)
    assert other.rc != 0
    assert "is a socket that a process listens on: not replaced" in other.log_text()
    assert os.path.exists(a) and echo_unix(a, 1000) == 1000
    # SIGTERM: the file goes with the server
    srv.stop()
    assert srv.rc == 0
    assert not os.path.exists(a), "socket file left after SIGTERM"
    # a regular file at the path is never replaced
    with open(a, "w") as f:
        f.write("precious")
    tok = t.token()
    third = t.server([dest("a", "onprem", listen=f"unix:{a}", resource=res.addr)],
                     {"gw1": tok}, name="server3", wait=False)
    third.allow_exit = True
    third.wait(20)
    assert third.rc != 0
    assert "exists and is not a socket: not replaced" in third.log_text()
    with open(a) as f:
        assert f.read() == "precious"


def test_hostile_server_pushes_socket_paths(t):
    """A compromised server (hostile_server.py) pushes socket paths of its
    choosing and opens streams to them: only what the client's unix: rules
    allow is reached; /var/run/docker.sock, a denied socket, a link to it
    and a path with '..' are refused and never connected to; an allowed
    socket works; a pushed socket listener outside the listen rules does
    not start."""
    d = short_dir(t)
    ok_dir, no_dir = os.path.join(d, "ok"), os.path.join(d, "no")
    os.mkdir(ok_dir)
    os.mkdir(no_dir)
    good = unix_proto(t, os.path.join(ok_dir, "good.sock"))
    secret = Recorder(os.path.join(no_dir, "secret.sock"))
    t.defer(secret.close)
    os.symlink(os.path.join(no_dir, "secret.sock"), os.path.join(ok_dir, "link.sock"))
    srv = hs.HostileServer(t.pki)
    t.peers.append(srv)
    gw = [("server", f"{HOST}:{srv.port}"), ("token", t.token()),
          ("ca", t.pki.ca_cert), ("connections", 1)]
    acl = [("allow", f"unix:{ok_dir}/*"), ("allow", "*"),
           ("listen", f"unix:{ok_dir}/*.sock")]
    cli = t.gatehouse("client", ghtest.client_sections({"gw1": gw}, acl))
    tun = srv.accept()
    unixed = dict(protocol="unix")
    tun.push([
        hs.onprem("good", f"unix:{ok_dir}/good.sock", **unixed),
        hs.onprem("docker", "unix:/var/run/docker.sock", **unixed),
        hs.onprem("secret", f"unix:{no_dir}/secret.sock", **unixed),
        hs.onprem("link", f"unix:{ok_dir}/link.sock", **unixed),
        hs.onprem("mismatch", f"unix:{no_dir}/secret.sock"),  # a tcp chain
        ("away", [("gateway", "gw1"), ("type", "cloud"), ("listen", f"unix:{no_dir}/l.sock"),
                  ("resource", "127.0.0.1:1"), ("listen.protocol", "unix"),
                  ("resource.protocol", "tcp"), ("connect_timeout", 5)]),
    ])
    code, msg = tun.notice("away")
    assert code == hs.EDENIED and "listen policy" in msg, (code, msg)
    assert not os.path.exists(os.path.join(no_dir, "l.sock"))
    code, msg = tun.notice("mismatch")
    assert code != 0 and "needs a transport for socket paths" in msg, (code, msg)
    st = tun.open("good")
    assert st.result == ("ok",), st.result
    tun.send(st, b"ECHO\nhello", fin=True)
    assert tun.recv(st, 5) == b"hello"
    for name, shown in (("docker", "unix:/var/run/docker.sock refused by the ACL"),
                        ("secret", f"unix:{no_dir}/secret.sock refused by the ACL"),
                        ("link", f"(it leads to {no_dir}/secret.sock) refused by the ACL")):
        st = tun.open(name)
        assert st.result[0] == "fail" and st.result[1] == hs.EDENIED, (name, st.result)
        assert shown in st.result[2], (name, st.result)
        cli.wait_log(__import__("re").escape(shown))
    assert secret.accepted == 0, f"a denied socket was connected to {secret.accepted} times"
    # a path with '..' is no path the client takes: the set is refused
    tun.push([hs.onprem("dots", f"unix:{ok_dir}/../no/secret.sock", **unixed)])
    cli.wait_log(r"bad destination set from the server: .*not a socket path")
    assert secret.accepted == 0
    assert good.accepted >= 1


def _pg_bin():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "postgres", "pg_ctl")):
            return d
    return None


@ghtest.timeout(300)
def test_postgres_over_its_socket(t):
    """A real PostgreSQL on its Unix socket, reached through an on-prem
    destination (TCP on the server, the socket on the client): psql and a
    short pgbench run."""
    pg = _pg_bin()
    psql, pgbench = shutil.which("psql"), shutil.which("pgbench")
    if not pg or not psql or not pgbench:
        ghtest.log("  SKIP postgres: PostgreSQL binaries missing "
                   "(scripts/deps.sh installs postgresql)")
        return
    base = tempfile.mkdtemp(prefix="ghpg-")
    t.defer(shutil.rmtree, base, True)
    os.chmod(base, 0o755)
    data, sockdir = os.path.join(base, "data"), os.path.join(base, "run")
    os.mkdir(sockdir)
    as_user = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        os.chown(sockdir, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    user = "postgres" if as_user else pwd.getpwuid(os.geteuid()).pw_name

    def run(cmd, **kw):
        r = subprocess.run(as_user + cmd, capture_output=True, text=True, timeout=120, **kw)
        assert r.returncode == 0, f"{cmd[0]}: {r.stdout}{r.stderr}"
        return r.stdout

    run([f"{pg}/initdb", "-D", data, "-A", "trust", "-U", user, "--no-sync"])
    pgport = t.port()  # the cluster's port names its socket file only
    log = os.path.join(base, "pg.log")
    run([f"{pg}/pg_ctl", "-D", data, "-l", log, "-w", "-o",
         f"-k {sockdir} -p {pgport} -c listen_addresses='' -c fsync=off", "start"])
    t.defer(lambda: subprocess.run(as_user + [f"{pg}/pg_ctl", "-D", data, "-m", "fast",
                                              "-w", "stop"], capture_output=True, timeout=60))
    pgsock = os.path.join(sockdir, f".s.PGSQL.{pgport}")
    assert stat.S_ISSOCK(os.stat(pgsock).st_mode)
    port = t.port()
    srv, cli, _ = t.pair([dest("pg", "onprem", listen=f"{HOST}:{port}",
                               resource=f"unix:{pgsock}")],
                         acl=[("allow", f"unix:{sockdir}/.s.PGSQL.*")])
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    conn = ["-h", HOST, "-p", str(port), "-U", user, "postgres"]

    def psql1():
        r = subprocess.run([psql, *conn, "-XAtc", "select 1"], capture_output=True,
                           text=True, timeout=60, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()
    out, _ = ghtest.retry(psql1, UP, what="psql through the tunnel", procs=[srv, cli])
    assert out == "1", out
    r = subprocess.run([pgbench, "-i", "-s", "1", *conn], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([pgbench, "-t", "50", "-c", "2", *conn], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "number of transactions actually processed: 100/100" in r.stdout, r.stdout
    t.log(" ".join(line for line in r.stdout.splitlines() if line.startswith("tps")))
    cli.wait_log(r"connected to unix:" + pgsock.replace(".", r"\."))


if __name__ == "__main__":
    ghtest.main(globals())
