#!/usr/bin/env python3
"""End-to-end: TCP destinations through one tunnel (server + client, real binaries).

Every stream is verified by length and sha256. No test asserts a speed; rates are
only printed. Run one test: ``python3 test_tunnel_tcp.py onprem_many``.
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import KiB, MiB, cloud, job, onprem, rng  # noqa: E402

UP = 30.0  # seconds a tunnel may take to come up


def _mixed_jobs(port, n_small, big, what):
    """Jobs for run_parallel: edge sizes, n_small random sizes (log-uniform
    1 KiB..2 MiB) and the ``big`` (mode, size) streams; modes rotate between
    echo (both ways), sink (upload) and source (download)."""
    modes = {"echo": ghtest.echo_check, "sink": ghtest.sink_check, "source": ghtest.source_check}
    names = list(modes)
    plan = [(names[i % 3], s) for i, s in enumerate(
        [0, 1, 2, 100, 16 * KiB - 1, 16 * KiB, 16 * KiB + 1, 64 * KiB + 3, 256 * KiB + 5])]
    for i in range(n_small):
        size = int(2 ** rng.uniform(10, 21))
        plan.append((names[i % 3], size))
    plan.extend(big)
    rng.shuffle(plan)
    vol = sum(s * (2 if m == "echo" else 1) for m, s in plan)
    jobs = [job(modes[m], port, s, timeout=120.0, desc=f"{what} {m} {s}") for m, s in plan]
    return jobs, vol


def _transfer(t, port, n_small, big, what):
    jobs, vol = _mixed_jobs(port, n_small, big, what)
    t0 = time.monotonic()
    ghtest.run_parallel(jobs, timeout=240, what=f"{what} streams")
    dt = time.monotonic() - t0
    t.log(f"{what}: {len(jobs)} concurrent streams, {vol / MiB:.1f} MiB through the "
               f"tunnel in {dt:.1f}s ({ghtest.mbps(vol, dt):.0f} MiB/s)")


def _setup(t, kind="onprem", **kw):
    """A resource, a server with one destination of ``kind`` to it, a client.
    Returns (port the application connects to, resource, server, client)."""
    res = t.proto_server()
    port = t.port()
    dest = onprem("d1", port, res.port) if kind == "onprem" else cloud("d1", port, res.port)
    srv, cli, _tok = t.pair([dest], **kw)
    secs = ghtest.wait_tunnel(port, UP, procs=[srv, cli])
    t.log(f"{kind} destination up after {secs:.1f}s")
    return port, res, srv, cli


# (a)
def test_onprem_many_streams(t):
    port, *_ = _setup(t, "onprem")
    _transfer(t, port, 44, [("sink", 32 * MiB), ("source", 32 * MiB), ("echo", 16 * MiB)], "onprem")


# (b)
def test_cloud_many_streams(t):
    port, *_ = _setup(t, "cloud")
    _transfer(t, port, 44, [("echo", 24 * MiB), ("source", 8 * MiB)], "cloud")


# (c)
def test_half_close(t):
    res = t.proto_server()
    p_on, p_cl = t.ports(2)
    srv, cli, _ = t.pair([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)])
    for p in (p_on, p_cl):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    for p in (p_on, p_cl):
        # request, shut down the write side, then the whole reply and EOF
        for req, rep in [(0, 0), (10, 10), (100 * KiB, 3), (4 * MiB, 4 * MiB), (17, 2 * MiB + 1)]:
            ghtest.request_reply_check(p, req, rep)
        # the echo keeps flowing after the application's half-close, then EOF
        ghtest.echo_check(p, 1 * MiB + 9, half_close=True)


# (d)
@ghtest.timeout(420)  # a hang guard only: no speed is asserted
def test_stalled_reader_does_not_block_others(t):
    port, res, srv, cli = _setup(t, "onprem")
    stall = 24 * MiB
    seed = rng.getrandbits(32)
    # 1. an application that never reads while the resource feeds it `stall` bytes
    reader = ghtest.stalled_reader(port, f"SOURCE {stall} {seed}\n".encode())
    # 2. a resource that reads nothing (HOLD) while the application pushes to it
    held = {}
    pushed = [0]

    def push():
        try:
            with ghtest.connect(port, timeout=300) as s:
                sha = ghtest._send_stream(s, seed + 1, stall, f"HOLD {stall}\n".encode(),
                                          on_sent=lambda n: pushed.__setitem__(0, n))
                line, _ = ghtest.recv_line(s)
                held["ok"] = line.strip() == sha
        except Exception as e:
            held["err"] = e

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    time.sleep(2)  # let both stalls fill every buffer on the way
    t.log(f"while stalled: the pusher got {pushed[0] / MiB:.1f} MiB of {stall / MiB:.0f} MiB out")

    # 3. meanwhile a 64 MiB stream each way at full speed on the same tunnel
    t0 = time.monotonic()
    ghtest.echo_check(port, 64 * MiB, timeout=120)
    dt = time.monotonic() - t0
    t.log(f"64 MiB echo beside two stalled streams: {dt:.1f}s ({ghtest.mbps(128 * MiB, dt):.0f} MiB/s both ways)")

    # 4. the stalled streams lost nothing: read/release them now
    n, sha = ghtest._recv_hash(reader, stall)
    reader.close()
    assert sha == ghtest.stream_sha256(seed, stall), "the stalled reader's stream is corrupt"
    res.release()
    pusher.join(120)
    assert not pusher.is_alive(), "the held upload never finished"
    assert "err" not in held, f"held upload failed: {held.get('err')!r}"
    assert held.get("ok"), "the held upload arrived corrupt"


# (e)
REFUSAL = re.compile(r"(?i)(refus|denied|reject|unauthori[sz]ed|forbidden|invalid token|bad token|"
                     r"wrong token|unknown token|auth\w*\W+fail|fail\w*\W+auth)")


def test_bad_token_refused_good_client_unaffected(t):
    port, res, srv, cli = _setup(t, "onprem")
    good_token = cli.token
    since_srv = srv.log_size()
    bad_token = ghtest.random_token()
    bad = t.client(srv, bad_token, name="client-badtoken")
    bad.allow_exit = True  # it may give up or keep retrying; either is fine
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not seen:
        if any(REFUSAL.search(line) for line in srv.log_text(since_srv).splitlines()):
            seen.append("server")
        if any(REFUSAL.search(line) and not line.startswith(ghtest._MARK)
               for line in bad.log_text().splitlines()):
            seen.append("bad client")
        time.sleep(0.2)
    assert seen, "neither the server nor the bad client logged a refusal"
    t.log(f"refusal logged by: {', '.join(seen)}")
    # the good tunnel still carries verified streams, a while after the bad attempt
    time.sleep(1)
    ghtest.run_parallel([job(ghtest.echo_check, port, 2 * MiB, desc="echo after bad token"),
                         job(ghtest.sink_check, port, 2 * MiB, desc="sink after bad token")])
    # tokens are secrets, never logged: neither the good one nor the wrong one
    for g in (srv, cli, bad):
        text = g.log_text()
        for tok in (good_token, bad_token):
            assert tok not in text, f"{g.name} logged a token"


def test_untrusted_server_certificate_refused(t):
    """A client whose `ca` is an unrelated CA refuses the server; the good client's
    tunnel keeps working."""
    port, res, srv, cli = _setup(t, "onprem")
    bad = t.client(srv, "ignored-because-tls-fails-first-0123", name="client-wrongca",
                   gateway_opts={"ca": t.pki.other_ca_cert})
    bad.allow_exit = True
    bad.wait_log(r"(?i)(verif\w*\W+(fail|error)|unable to get local issuer|untrusted|not trusted|"
                 r"self.signed|x509|certificate\W.{0,60}(fail|error|invalid|reject|unknown|bad)|"
                 r"(fail|error|reject)\w*\W.{0,60}certificate)", 20)
    ghtest.echo_check(port, 1 * MiB)


# (f)
def test_client_kill9_and_restart(t):
    res = t.proto_server()
    p_on, p_cl = t.ports(2)
    srv, cli, _ = t.pair([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)])
    for p in (p_on, p_cl):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    # a stream in flight when the client dies ends (EOF or reset), it does not hang
    live = ghtest.connect(p_on, timeout=30)
    live.sendall(b"ECHO\nping")
    assert ghtest.recv_exact(live, 4) == b"ping"
    cli.kill9()
    try:
        how = ghtest.expect_eof(live, 30)
    except OSError as e:
        how = repr(e)
    t.log(f"stream in flight at kill -9: {how}")
    live.close()
    # start it again: new streams work once it has reconnected
    cli.start()
    for p in (p_on, p_cl):
        secs = ghtest.wait_tunnel(p, 30, procs=[srv, cli])
        t.log(f"port {p} usable again {secs:.1f}s after the restart")
    ghtest.run_parallel([job(ghtest.echo_check, p_on, 3 * MiB), job(ghtest.source_check, p_cl, 3 * MiB)])
    srv.check_alive()


# (g)
def test_resource_connect_failure(t):
    res = t.proto_server()
    dead_on, dead_cl = t.ports(2)  # nothing listens there
    p_ok, p_on, p_cl = t.ports(3)
    srv, cli, _ = t.pair([onprem("ok", p_ok, res.port), onprem("deadon", p_on, dead_on),
                          cloud("deadcl", p_cl, dead_cl)])
    ghtest.wait_tunnel(p_ok, UP, procs=[srv, cli])
    why = re.compile(r"(?i)(refused|econnrefused|connect\w*\W.{0,60}(fail|error)|(fail|error).{0,60}connect)")
    # on-prem: the client connects to the dead resource, the application's
    # connection ends promptly and the client says why
    for port, who, what in ((p_on, cli, "onprem"), (p_cl, srv, "cloud")):
        since = who.log_size()
        if what == "cloud":  # the client's listener exists once the config is pushed
            ghtest.retry(lambda: socket.create_connection((ghtest.HOST, p_cl), 2).close(), UP,
                         what="client_port listening", procs=[srv, cli])
            since = who.log_size()
        t0 = time.monotonic()
        how = ghtest.expect_refused(port, timeout=20)
        t.log(f"{what}: application connection ended ({how}) after {time.monotonic() - t0:.2f}s")
        m = who.wait_log(why, 20, since=since)
        t.log(f"{what}: {who.name} logged: {m.string.strip()[:200]}")
    # the healthy destination is unaffected
    ghtest.echo_check(p_ok, 1 * MiB)


def test_acl_denies_unlisted_resource(t):
    """The client's ACL is the on-prem veto: a destination whose resource it does
    not allow is refused by the client, whatever the server says."""
    res = t.proto_server()
    other = t.proto_server()
    p_ok, p_no = t.ports(2)
    acl = [("allow", f"{ghtest.HOST}:{res.port}"), ("deny", "*")]
    srv, cli, _ = t.pair([onprem("ok", p_ok, res.port), onprem("no", p_no, other.port)], acl=acl)
    ghtest.wait_tunnel(p_ok, UP, procs=[srv, cli])
    try:
        ghtest.expect_refused(p_no, timeout=20)
    except ConnectionRefusedError:
        pass  # the server may not even listen for a refused destination
    # the refusal may be logged when the config arrives or at the connection
    cli.wait_log(r"(?i)(denied|not allowed|refus|forbid|reject)", 20)
    assert other.accepted == 0, "the denied resource was connected to"
    ghtest.echo_check(p_ok, 256 * KiB)


# (h)
def _check(path):
    r = subprocess.run([ghtest.GH_BIN, "check", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30, cwd=os.path.dirname(path))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def test_check_config(t):
    res_port, p_on, p_cl, tport = t.ports(4)
    token = t.token()
    good_srv = ghtest.ini_text(ghtest.server_sections(
        tport, t.pki, {"gw1": token}, [onprem("on", p_on, res_port), cloud("cl", p_cl, res_port)]))
    good_cli = ghtest.ini_text(ghtest.client_sections(
        {"gw1": {"server": f"127.0.0.1:{tport}", "token": token, "ca": t.pki.ca_cert}}))
    files = {}
    for name, text in [("good-server", good_srv), ("good-client", good_cli)]:
        files[name] = os.path.join(t.dir, name + ".ini")
        with open(files[name], "w") as f:
            f.write(text)
        rc, out, err = _check(files[name])
        assert rc == 0, f"check {name}: exit {rc}, stderr:\n{err}"
    # an unknown key, in the [server], a [destination] and the [client] section
    for name, text, after in [
        ("bad-server", good_srv, r"^log_level"),
        ("bad-dest", good_srv, r"^protocol = tcp"),
        ("bad-client", good_cli, r"^log_level"),
    ]:
        lines = text.splitlines()
        at = ghtest.ini_line_of(text, after)  # insert after this line
        lines.insert(at, "no_such_key_xyz = 1")
        path = os.path.join(t.dir, name + ".ini")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        rc, out, err = _check(path)
        want = f"{os.path.basename(path)}:{at + 1}"
        assert rc == 2, f"check {name}: exit {rc} (want 2), stderr:\n{err}"
        assert re.search(re.escape(want) + r"\b", err), f"check {name}: no {want} on stderr:\n{err}"
        t.log(f"{name}: {err.strip().splitlines()[0] if err.strip() else ''}")


if __name__ == "__main__":
    ghtest.main(globals())
