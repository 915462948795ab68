#!/usr/bin/env python3
"""End-to-end, issue 10: two gatehouse servers with the same configuration behind
HAProxy (from Debian, run in the foreground), one client listing both servers.
The HAProxy configuration is the sample of docs/deployment.md, with its
addresses replaced by loopback ports (and a stats socket added to read the
servers' health), so that the documented setup is the tested one.

Applications connect through HAProxy; one server is killed in the middle of a
load: the streams it carried end, every stream started after its death
succeeds byte-exact; once it is started again, it gets traffic again.

Run: ``python3 test_lb.py``.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_helpers as fh  # noqa: E402
import ghtest  # noqa: E402
import ha_helpers as ha  # noqa: E402
from ghtest import HOST, KiB, onprem, rng  # noqa: E402

UP = 30.0
DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "docs", "deployment.md")
GW = "dc1"  # the gateway of the sample
OPENED = "gatehouse_streams_opened_total"
ACTIVE = "gatehouse_streams_active"


def haproxy_config(t, fe, a, b):
    """The sample of docs/deployment.md for this test's ports: ``fe`` the
    balancer's port, ``a``/``b`` (listen port, admin port) of each server."""
    with open(DOC) as f:
        m = re.search(r"```haproxy\n(.*?)```", f.read(), re.S)
    assert m, f"no ```haproxy block in {DOC}"
    cfg = m.group(1)
    subst = [("bind 10.0.0.10:15432", f"bind {HOST}:{fe}"),
             ("server gw-a 10.0.0.11:15432 check port 9100", f"server gw-a {HOST}:{a[0]} check port {a[1]}"),
             ("server gw-b 10.0.0.12:15432 check port 9100", f"server gw-b {HOST}:{b[0]} check port {b[1]}")]
    for old, new in subst:
        assert cfg.count(old) == 1, f"{DOC}: the sample no longer has {old!r}"
        cfg = cfg.replace(old, new)
    sock = os.path.join(t.dir, "haproxy.sock")
    cfg = cfg.replace("global\n", f"global\n    stats socket {sock} mode 600 level admin\n", 1)
    return cfg, sock


class HAProxy:
    def __init__(self, t, cfg, sock):
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(exe):
            raise AssertionError("haproxy not found: scripts/deps.sh installs it (Debian package haproxy)")
        self.path = os.path.join(t.dir, "haproxy.cfg")
        self.log_path = os.path.join(t.dir, "haproxy.log")
        self.sock = sock
        self.check_status = {}
        with open(self.path, "w") as f:
            f.write(cfg)
        r = subprocess.run([exe, "-c", "-f", self.path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        assert r.returncode == 0, f"haproxy -c: {r.stdout.decode(errors='replace')}"
        with open(self.log_path, "ab") as lf:
            self.proc = subprocess.Popen([exe, "-f", self.path, "-db"], stdin=subprocess.DEVNULL,
                                         stdout=lf, stderr=subprocess.STDOUT, cwd=t.dir,
                                         preexec_fn=ghtest._pdeathsig)
        t.defer(self.stop)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def states(self):
        """{server name: status} of backend billing_db (UP, DOWN, UP 1/2, ...)."""
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited with {self.proc.returncode}:\n{self.log()[-2000:]}")
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        try:
            try:
                s.connect(self.sock)
            except (FileNotFoundError, ConnectionRefusedError):
                return {}  # still starting
            s.sendall(b"show stat\n")
            data = ghtest.recv_to_eof(s)
        finally:
            s.close()
        lines = data.decode(errors="replace").splitlines()
        head = lines[0].lstrip("# ").split(",")
        out = {}
        for ln in lines[1:]:
            row = dict(zip(head, ln.split(",")))
            if row.get("pxname") == "billing_db" and row.get("svname") not in ("BACKEND", "FRONTEND", None):
                out[row["svname"]] = row["status"]
                self.check_status[row["svname"]] = row.get("check_status")
        return out

    def wait_state(self, want, timeout):
        box = {}

        def ok():
            box["s"] = self.states()
            return all(box["s"].get(k) == v for k, v in want.items())

        t0 = time.monotonic()
        try:
            ghtest.wait_until(ok, timeout, interval=0.2, what=f"haproxy servers {want}")
        except TimeoutError as e:
            raise AssertionError(f"{e}: last {box.get('s')}\n{self.log()[-3000:]}") from None
        return time.monotonic() - t0

    def log(self):
        return ghtest._read_file(self.log_path)


class Load:
    """``n`` workers, each opening streams through ``port`` one after the other
    (a verified echo of 16-256 KiB, then EOF) until stop(). Each stream is
    recorded as (start time, end time, error or None)."""

    def __init__(self, port, n):
        self.port = port
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]
        for th in self.threads:
            th.start()

    def _run(self):
        while not self.stopping.is_set():
            t0 = time.monotonic()
            err = None
            try:
                ghtest.echo_check(self.port, rng.randrange(16 * KiB, 256 * KiB), timeout=30,
                                  half_close=True)
            except Exception as e:  # recorded
                err = repr(e)
            with self.lock:
                self.records.append((t0, time.monotonic(), err))

    def count(self):
        with self.lock:
            return len(self.records)

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join(60)
        assert not any(th.is_alive() for th in self.threads), "a load stream hangs"
        return list(self.records)


@ghtest.timeout(300)
def test_two_servers_behind_haproxy(t):
    res = ha.tag_server(t)
    tok = t.token()
    fe, a_port, a_adm, b_port, b_adm = t.ports(5)

    def server(name, port, adm):
        return t.server([onprem("billing-db", port, res.port, gateway=GW)], {GW: tok}, name=name,
                        server={"admin_listen": f"{HOST}:{adm}"})

    srv_a = server("serverA", a_port, a_adm)
    srv_b = server("serverB", b_port, b_adm)
    cfg, sock = haproxy_config(t, fe, (a_port, a_adm), (b_port, b_adm))
    hap = HAProxy(t, cfg, sock)
    # no client yet: both servers listen, but without a tunnel they are unfit
    hap.wait_state({"gw-a": "DOWN", "gw-b": "DOWN"}, 30)
    t.log(f"no tunnel yet: haproxy has both servers DOWN (check {hap.check_status})")

    cli = t.client(srv_a, tok, gateway=GW, client={"reconnect_max": 2}, gateway_opts={
        "server": [f"{HOST}:{srv_a.tunnel_port}", f"{HOST}:{srv_b.tunnel_port}"],
        "connections": 2})
    for adm in (a_adm, b_adm):
        fh.wait_metric(adm, "gatehouse_tunnels_up", lambda v: v == 2, UP, gateway=GW)
    secs = hap.wait_state({"gw-a": "UP", "gw-b": "UP"}, 30)
    t.log(f"client up (2 tunnels to each server): haproxy has both UP {secs:.1f}s later")
    for p in (a_port, b_port):
        ghtest.wait_tunnel(p, UP, procs=[srv_a, srv_b, cli])

    # streams held open through the balancer, on both servers
    held = [ha.Held(fe, f"held{i}") for i in range(10)]
    on_a = fh.metric(a_adm, ACTIVE, destination="billing-db")
    on_b = fh.metric(b_adm, ACTIVE, destination="billing-db")
    t.log(f"10 held streams: {on_a:.0f} on serverA, {on_b:.0f} on serverB")
    assert on_a + on_b == 10 and on_a > 0 and on_b > 0, (on_a, on_b)

    load = Load(fe, 4)
    ghtest.wait_until(lambda: load.count() >= 40, 60, what="40 streams of load")
    srv_a.kill9()
    t_dead = time.monotonic()
    t.log(f"serverA killed after {load.count()} streams of load")
    ends = []
    for h in held:
        try:
            h._roundtrip(64 * KiB)
        except (AssertionError, OSError, EOFError) as e:
            ends.append((h, repr(e)[:60]))
    t.log(f"held streams that ended with serverA: {len(ends)} ({sorted(set(e for _, e in ends))})")
    assert len(ends) == on_a, f"{len(ends)} held streams ended, serverA carried {on_a:.0f}"
    secs = hap.wait_state({"gw-a": "DOWN", "gw-b": "UP"}, 30)
    t.log(f"haproxy: gw-a DOWN {time.monotonic() - t_dead:.1f}s after the kill")
    n_dead = load.count()
    ghtest.wait_until(lambda: load.count() >= n_dead + 40, 60, what="40 streams with serverA down")

    since = cli.log_size()
    srv_a.start()
    t_back = time.monotonic()
    hap.wait_state({"gw-a": "UP", "gw-b": "UP"}, 60)
    t.log(f"serverA restarted: UP in haproxy {time.monotonic() - t_back:.1f}s later")
    cli.wait_log(r"tunnel up", 5, since=since)
    v, secs = fh.wait_metric(a_adm, OPENED, lambda v: v >= 10, 60, destination="billing-db")
    t.log(f"serverA gets traffic again: {v:.0f} streams within {secs:.1f}s of being UP")
    n_back = load.count()
    ghtest.wait_until(lambda: load.count() >= n_back + 40, 60, what="40 more streams")
    records = load.stop()

    before = [r for r in records if r[0] < t_dead]
    after = [r for r in records if r[0] >= t_dead]
    failed_before = [r for r in before if r[2]]
    failed_after = [r for r in after if r[2]]
    t.log(f"load: {len(records)} streams; started before the kill: {len(before)} "
          f"({len(failed_before)} ended with serverA); after: {len(after)}, "
          f"{len(failed_after)} failed")
    assert not failed_after, f"streams started after the kill failed: {failed_after[:5]}"
    b_opened = fh.metric(b_adm, OPENED, destination="billing-db")
    a_opened = fh.metric(a_adm, OPENED, destination="billing-db")
    t.log(f"streams opened: serverA (since its restart) {a_opened:.0f}, serverB {b_opened:.0f}")
    for h in held:
        if all(h is not x for x, _ in ends):
            h.finish()
        else:
            h.close()


if __name__ == "__main__":
    ghtest.main(globals())
