#!/usr/bin/env python3
"""gatehouse against its peers, on loopback, in one run (issue 8).

    python3 bench/compare.py [--build build] [--seconds 5] [--smoke]
                             [--only SCENARIO[,SCENARIO...]] [--json FILE]

Every scenario runs through five paths, one after the other, in the same run:

    direct     the application talks to the resource (the physical limit here)
    gatehouse  a real `gatehouse server` and `gatehouse client`, one TLS tunnel
    socat      one plain TCP hop (socat TCP-LISTEN,fork -> TCP)
    ssh -L     one ssh connection (aes128-gcm@openssh.com) to a private sshd
    stunnel    an stunnel client and an stunnel server, TLS between them

Scenarios (--only takes these names):

    bulk1    iperf3, 1 stream, Gbit/s
    bulk8    iperf3 -P 8, Gbit/s
    ka1      wrk keep-alive, 1 connection, against nginx serving 1 KiB: req/s and p99
    ka64     the same with 64 connections
    close16  wrk -c16 -H 'Connection: close': one connection per request
    idle     RSS of the forwarder's processes with 1,000 and 10,000 idle streams
             held open: bytes per stream = (RSS_with - RSS_idle) / N
    stall    one stream whose application never reads, beside a neighbour doing
             bulk (iperf3 -R): the neighbour's throughput with it, in % of without
             (the median of 3 alternating rounds; 1 with --smoke)

Beside each throughput figure, the CPU the processes in the middle spent for
it (user + system seconds from /proc: server + client; ssh + sshd; socat
and its forks; stunnel's two): seconds per GiB moved for bulk, microseconds
per request for HTTP. It is far steadier than throughput on a shared
machine. The last column is gatehouse / ssh -L.

--smoke runs each scenario for one second and 1,000 idle streams only: it keeps
the harness working (ctest label `bench`); it fails when a figure is missing,
never on a figure's value. The peers come from `scripts/deps.sh --bench`.
Every process is started here, on free loopback ports, and killed at the end
(also on Ctrl-C). Not a test: it asserts nothing about speed."""

import argparse
import getpass
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import HOST, ghtest  # noqa: E402

PATHS = ["direct", "gatehouse", "socat", "ssh -L", "stunnel"]
PEERS = ["socat", "ssh -L", "stunnel"]
TOOLS = ["iperf3", "wrk", "nginx", "socat", "ssh", "sshd", "ssh-keygen", "stunnel4", "openssl"]

# (figure, scenario it belongs to, label, unit, higher is better)
# The _cpu figures: user + system seconds of the processes in the middle
# (server + client; ssh + its sshd; socat's forks; stunnel's two), from
# /proc: steadier than throughput on a shared machine, so the figure to
# optimise against.
FIGURES = [
    ("bulk1", "bulk1", "bulk, 1 stream", "Gbit/s", True),
    ("bulk1_cpu", "bulk1", "bulk, 1 stream, CPU", "s/GiB", False),
    ("bulk8", "bulk8", "bulk, 8 streams", "Gbit/s", True),
    ("bulk8_cpu", "bulk8", "bulk, 8 streams, CPU", "s/GiB", False),
    ("ka1", "ka1", "keep-alive, 1 conn", "req/s", True),
    ("ka1_p99", "ka1", "keep-alive, 1 conn, p99", "ms", False),
    ("ka1_cpu", "ka1", "keep-alive, 1 conn, CPU", "us/req", False),
    ("ka64", "ka64", "keep-alive, 64 conns", "req/s", True),
    ("ka64_p99", "ka64", "keep-alive, 64 conns, p99", "ms", False),
    ("ka64_cpu", "ka64", "keep-alive, 64 conns, CPU", "us/req", False),
    ("close16", "close16", "conn per request, 16", "req/s", True),
    ("close16_p99", "close16", "conn per request, 16, p99", "ms", False),
    ("close16_cpu", "close16", "conn per request, 16, CPU", "us/req", False),
    ("idle1000", "idle", "idle streams: 1,000", "B/stream", False),
    ("idle10000", "idle", "idle streams: 10,000", "B/stream", False),
    ("stall", "stall", "stalled reader: neighbour", "%", True),
]
# idle runs first: its RSS baseline is taken on processes that have not yet
# grown their heaps for thousands of short streams (close16) or bulk buffers
SCENARIOS = ["idle", "bulk1", "bulk8", "ka1", "ka64", "close16", "stall"]
# paths a figure does not apply to: direct has no process in the middle;
# socat forks one process per connection, so an RSS sum means nothing
NOT_APPLICABLE = {("idle1000", "direct"), ("idle10000", "direct"),
                  ("idle1000", "socat"), ("idle10000", "socat")}
NOT_APPLICABLE |= {(f[0], "direct") for f in FIGURES if f[0].endswith("_cpu")}


def say(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------- processes


class Procs:
    """Every process the harness starts, each in its own process group (so that
    sshd's session children go with it), killed by stop_all()."""

    def __init__(self, workdir):
        self.dir = workdir
        self.procs = []

    def start(self, name, argv, **kw):
        log = open(os.path.join(self.dir, name.replace(" ", "_") + ".log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=kw.pop("stdout", log),
                             stderr=log, start_new_session=True,
                             preexec_fn=benchlib.pdeathsig, **kw)
        p.bench_name = name
        p.own_group = True
        self.procs.append(p)
        return p

    def adopt(self, p, name):
        """A process started elsewhere (in the harness's process group)."""
        p.bench_name = name
        p.own_group = False
        self.procs.append(p)

    def check(self, p):
        if p.poll() is not None:
            raise RuntimeError(f"{p.bench_name} exited with status {p.returncode} "
                               f"(log in {self.dir})")

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM) if p.own_group else p.terminate()
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for p in reversed(self.procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                if p.own_group:
                    os.killpg(p.pid, signal.SIGKILL)  # the group: also children left behind
            except (ProcessLookupError, PermissionError):
                pass
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs = []


def wait_ready(port, procs, p_list, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        for p in p_list:
            procs.check(p)
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"127.0.0.1:{port} not accepting after {timeout}s")
            time.sleep(0.05)


def http_probe(port):
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        data = ghtest.recv_to_eof(s)
    if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"x" * 1024):
        raise AssertionError(f"probe on {port}: {data[:80]!r}")


# --------------------------------------------------------------------------- resources


def start_iperf3(procs):
    port = ghtest.free_port()
    p = procs.start("iperf3-server", ["iperf3", "-s", "-B", HOST, "-p", str(port)])
    wait_ready(port, procs, [p])
    return port


def start_nginx(procs, d):
    """nginx with a private config: 1 worker, access_log off, /1k.bin = 1 KiB."""
    port = ghtest.free_port()
    nd = os.path.join(d, "nginx")
    www = os.path.join(nd, "www")
    os.makedirs(www)
    with open(os.path.join(www, "1k.bin"), "wb") as f:
        f.write(b"x" * 1024)
    conf = os.path.join(nd, "nginx.conf")
    user = "user root;\n" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""{user}worker_processes 1;
daemon off;
pid {nd}/nginx.pid;
error_log {nd}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    client_body_temp_path {nd}/body;
    proxy_temp_path {nd}/proxy;
    fastcgi_temp_path {nd}/fastcgi;
    uwsgi_temp_path {nd}/uwsgi;
    scgi_temp_path {nd}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    default_type application/octet-stream;
    server {{
        listen {HOST}:{port} backlog=4096;
        root {www};
    }}
}}
""")
    p = procs.start("nginx", ["nginx", "-p", nd, "-c", conf])
    wait_ready(port, procs, [p])
    http_probe(port)
    return port


HOLDER = r"""
import selectors, socket, sys, time
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(4096); ls.setblocking(False)
print(ls.getsockname()[1], flush=True)
sel = selectors.DefaultSelector(); sel.register(ls, selectors.EVENT_READ)
live, last, shown = 0, 0.0, -1
while True:
    for key, _ in sel.select(0.05):
        if key.fileobj is ls:
            while True:
                try:
                    c, _ = ls.accept()
                except BlockingIOError:
                    break
                c.setblocking(False); sel.register(c, selectors.EVENT_READ); live += 1
        else:
            try:
                b = key.fileobj.recv(65536)
            except OSError:
                b = b""
            if not b:
                sel.unregister(key.fileobj); key.fileobj.close(); live -= 1
    if live != shown and time.monotonic() - last > 0.02:
        print(live, flush=True); shown, last = live, time.monotonic()
"""


class Holder:
    """The idle streams' resource, in a process of its own (the harness already
    holds the application ends: one process cannot hold both at 10,000 under
    the usual 20,000 open files): it accepts, reads nothing that comes (nothing
    does), closes on EOF, and prints how many connections it holds."""

    def __init__(self, procs):
        self.p = procs.start("holder", [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE)
        self.port = int(self.p.stdout.readline())
        self.live = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.live = int(line)

    def wait(self, n, timeout):
        deadline = time.monotonic() + timeout
        while self.live != n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the resource holds {self.live} connections, not {n}, "
                                   f"after {timeout}s")
            time.sleep(0.02)


class Source:
    """The stalled stream's resource: writes zeros to each connection as fast as
    the connection takes them, until it breaks."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pour, args=(c,), daemon=True).start()

    def _pour(self, c):
        chunk = bytes(256 * 1024)
        try:
            while True:
                c.sendall(chunk)
                self.sent += len(chunk)
        except OSError:
            pass
        finally:
            c.close()


# --------------------------------------------------------------------------- paths


class Path:
    """One way from the application to the resources: ports[resource] is where
    the application connects to reach it; pids() the processes in the middle."""

    def __init__(self, name, ports, pids=None):
        self.name = name
        self.ports = ports
        self.pids = pids or (lambda: [])
        self.cpu = pids is not None  # direct has no process in the middle


def path_gatehouse(procs, d, build, res):
    dests = [(f"{r}", [("type", "onprem"), ("listen", f"{HOST}:{ghtest.free_port()}"),
                       ("resource", f"{HOST}:{port}"), ("protocol", "tcp")])
             for r, port in res.items()]
    pair = benchlib.Pair(dests, build=build, workdir=os.path.join(d, "gatehouse"),
                         server_opts=[("drain_timeout", 1)], client_opts=[("drain_timeout", 1)])
    for p, role in zip(pair.procs, ("server", "client")):
        procs.adopt(p, "gatehouse " + role)
    ports = {r: int(dict(kv)["listen"].rsplit(":", 1)[1]) for r, (_n, kv) in zip(res, dests)}
    for port in ports.values():
        wait_ready(port, procs, pair.procs)
    ghtest.retry(lambda: http_probe(ports["http"]), 30, what="gatehouse tunnel up")
    return Path("gatehouse", ports, pair.pids)


def path_socat(procs, d, res):
    ports, plist = {}, []
    for r, port in res.items():
        if r == "idle":
            continue  # a process per connection: not measured
        lp = ghtest.free_port()
        plist.append(procs.start(f"socat-{r}", [
            "socat", f"TCP-LISTEN:{lp},bind={HOST},reuseaddr,fork,backlog=1024",
            f"TCP:{HOST}:{port}"]))
        ports[r] = lp
    for p in ports.values():
        wait_ready(p, procs, plist)
    return Path("socat", ports, lambda: [c for p in plist for c in benchlib.descendants(p.pid)])


def path_ssh(procs, d, res, probe=None):
    """probe(port) raises until the forward of resource "http" works
    (default: the nginx of this harness)."""
    sd = os.path.join(d, "ssh")
    os.makedirs(sd, mode=0o700)
    hostkey, userkey = os.path.join(sd, "host_ed25519"), os.path.join(sd, "user_ed25519")
    for k in (hostkey, userkey):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k], check=True)
    auth = os.path.join(sd, "authorized_keys")
    shutil.copy(userkey + ".pub", auth)
    os.chmod(auth, 0o600)
    sport = ghtest.free_port()
    cfg = os.path.join(sd, "sshd_config")
    with open(cfg, "w") as f:
        f.write(f"""Port {sport}
ListenAddress {HOST}
HostKey {hostkey}
AuthorizedKeysFile {auth}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile none
AllowTcpForwarding yes
MaxSessions 100000
MaxStartups 100
Ciphers aes128-gcm@openssh.com
""")
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    daemon = procs.start("sshd", [sshd, "-D", "-e", "-f", cfg])
    wait_ready(sport, procs, [daemon])
    ports = {r: ghtest.free_port() for r in res}
    fwd = []
    for r, port in res.items():
        fwd += ["-L", f"{HOST}:{ports[r]}:{HOST}:{port}"]
    ssh = procs.start("ssh", [
        "ssh", "-N", "-p", str(sport), "-i", userkey, "-c", "aes128-gcm@openssh.com",
        "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR", "-o", "Compression=no",
        *fwd, f"{getpass.getuser()}@{HOST}"])
    for p in ports.values():
        wait_ready(p, procs, [daemon, ssh])
    ghtest.retry(lambda: (probe or http_probe)(ports["http"]), 15, what="ssh -L up")
    return Path("ssh -L", ports, lambda: [ssh.pid] + benchlib.descendants(daemon.pid))


def path_stunnel(procs, d, res):
    sd = os.path.join(d, "stunnel")
    os.makedirs(sd)
    cert, key = os.path.join(sd, "cert.pem"), os.path.join(sd, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=localhost"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    head = "foreground = yes\npid =\ndebug = err\n"
    srv, cli, ports = head + f"cert = {cert}\nkey = {key}\n", head + "client = yes\n", {}
    for r, port in res.items():
        mid, lp = ghtest.free_port(), ghtest.free_port()
        srv += f"[{r}]\naccept = {HOST}:{mid}\nconnect = {HOST}:{port}\n"
        cli += f"[{r}]\naccept = {HOST}:{lp}\nconnect = {HOST}:{mid}\n"
        ports[r] = lp
    plist = []
    for role, text in (("server", srv), ("client", cli)):
        conf = os.path.join(sd, role + ".conf")
        with open(conf, "w") as f:
            f.write(text)
        plist.append(procs.start(f"stunnel-{role}", ["stunnel4", conf]))
    for p in ports.values():
        wait_ready(p, procs, plist)
    ghtest.retry(lambda: http_probe(ports["http"]), 15, what="stunnel up")
    return Path("stunnel", ports, lambda: [p.pid for p in plist])


# --------------------------------------------------------------------------- measures


def run(cmd, timeout):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{out[-2000:]}")
    return out


def iperf3(port, seconds, streams=1, reverse=False, moved=None):
    """Gbit/s received, over the whole run (moved[0] += the bytes). The iperf3 server runs one test at
    a time: while it still winds the last one down ("busy"), wait for it."""
    cmd = ["iperf3", "-c", HOST, "-p", str(port), "-t", str(seconds), "-P", str(streams), "-J",
           "--connect-timeout", "10000"] + (["-R"] if reverse else [])
    deadline = time.monotonic() + 30
    while True:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=seconds + 60)
        out = r.stdout.decode(errors="replace")
        try:
            j = json.loads(out)
        except ValueError:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{out[-2000:]}")
        if "busy" in j.get("error", "") and time.monotonic() < deadline:
            time.sleep(0.5)
            continue
        if "error" in j:
            raise RuntimeError(f"iperf3: {j['error']}")
        if moved is not None:
            moved[0] += j["end"]["sum_received"]["bytes"]
        return j["end"]["sum_received"]["bits_per_second"] / 1e9


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(port, seconds, conns, close=False):
    """(requests/s, p99 latency in ms, note, requests)."""
    cmd = ["wrk", "-t", "1", "-c", str(conns), "-d", f"{seconds}s", "--latency"]
    cmd += ["-H", "Connection: close"] if close else []
    out = run(cmd + [f"http://{HOST}:{port}/1k.bin"], seconds + 60)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    nreq = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    if not rps or not p99 or not nreq:
        raise RuntimeError(f"{' '.join(cmd)}: no figures in:\n{out}")
    note = []
    for rx in (r"Non-2xx or 3xx responses: \d+", r"Socket errors: .*"):
        m = re.search(rx, out)
        if m:
            note.append(m.group(0))
    return (float(rps.group(1)), float(p99.group(1)) * _UNIT[p99.group(2)], "; ".join(note),
            int(nreq.group(1)))


class Cpu:
    """CPU the path's processes spend from here to done()."""

    def __init__(self, path):
        self.path = path
        self.start = benchlib.cpu_seconds(path.pids(), reaped=True) if path.cpu else None

    def done(self):
        time.sleep(0.3)  # for forks that just ended to be reaped
        if self.start is None:
            return None
        return benchlib.cpu_seconds(self.path.pids(), reaped=True) - self.start


def idle_streams(path, holder, counts, settle, out):
    """Fills out[N] = bytes per stream for each N of counts (ascending), the
    streams held together; raises at the first count it cannot reach."""
    port = path.ports["idle"]
    holder.wait(0, 30)
    time.sleep(settle)
    base = benchlib.rss_bytes(path.pids())
    socks = []
    try:
        for n in counts:
            while len(socks) < n:
                if len(socks) - holder.live > 256:  # gatehouse refuses floods of opens
                    t0 = time.monotonic()
                    while len(socks) - holder.live > 64:
                        if time.monotonic() - t0 > 60:
                            raise TimeoutError(f"{path.name}: {len(socks)} opened, "
                                               f"{holder.live} reached the resource")
                        time.sleep(0.005)
                socks.append(socket.create_connection((HOST, port), timeout=10))
            holder.wait(n, 120)
            time.sleep(settle)  # let the processes settle
            out[n] = (benchlib.rss_bytes(path.pids()) - base) / n
    finally:
        for s in socks:
            s.close()
    holder.wait(0, 120)


def stalled(path, source, seconds):
    """The neighbour's iperf3 -R throughput with a stalled stream, in % of without:
    the median of rounds that each measure alone, then beside a freshly stalled
    stream (alternating, so that the machine's drift falls on both sides)."""
    rounds = 3 if seconds >= 3 else 1
    ratios = []
    for _ in range(rounds):
        alone = iperf3(path.ports["iperf"], seconds, reverse=True)
        s = socket.create_connection((HOST, path.ports["stall"]), timeout=10)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            last, t0 = -1, time.monotonic()
            while source.sent != last and time.monotonic() - t0 < 10:  # until it is stuck
                last = source.sent
                time.sleep(0.3)
            beside = iperf3(path.ports["iperf"], seconds, reverse=True)
        finally:
            s.close()
        ratios.append(100.0 * beside / alone)
    return sorted(ratios)[len(ratios) // 2]


# --------------------------------------------------------------------------- report


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def best_peer(fig_higher, vals):
    got = [v for v in vals if v is not None]
    if not got:
        return None
    return max(got) if fig_higher else min(got)


def print_table(results, figures):
    header = ["figure", "unit", "better", *PATHS, "gh/direct", "gh/best-peer", "gh/ssh -L"]
    rows = []
    for key, _sc, label, unit, higher in figures:
        r = results.get(key, {})
        gh, direct = r.get("gatehouse"), r.get("direct")
        best = best_peer(higher, [r.get(p) for p in PEERS])
        ratio = lambda a, b: f"{a / b:.2f}" if a is not None and b else "-"  # noqa: E731
        rows.append([label, unit, "higher" if higher else "lower",
                     *[fmt(r.get(p)) for p in PATHS], ratio(gh, direct), ratio(gh, best),
                     ratio(gh, r.get("ssh -L"))])
    benchlib.table("gatehouse against its peers (loopback)", header, rows)


def machine():
    def ver(cmd, rx=r"(.*)"):
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
            m = re.search(rx, r.stdout.decode(errors="replace"))
            return m.group(1).strip() if m else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "missing"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        m = re.search(r"model name\s*:\s*(.*)", f.read())
        cpu = m.group(1) if m else cpu
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "openssl": ver(["openssl", "version"], r"OpenSSL ([\d.]+)"),
            "ssh": ver(["ssh", "-V"], r"OpenSSH_([^ ,]+)"),
            "stunnel": ver(["stunnel4", "-version"], r"stunnel ([\d.]+)"),
            "nginx": ver(["nginx", "-v"], r"nginx/([\d.]+)"),
            "iperf3": ver(["iperf3", "--version"], r"iperf ([\d.]+)"),
            "wrk": ver(["wrk", "-v"], r"wrk (?:debian/)?([\d.]+)"),
            "socat": ver(["socat", "-V"], r"socat version ([\d.]+)")}


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=None, help="build dir holding gatehouse (default: build)")
    ap.add_argument("--seconds", type=float, default=5, help="seconds per measure (default 5)")
    ap.add_argument("--smoke", action="store_true",
                    help="1 s per measure, 1,000 idle streams only: keeps the harness working")
    ap.add_argument("--only", action="append", default=[],
                    help="scenario(s), comma separated, may repeat: " + ", ".join(SCENARIOS))
    ap.add_argument("--paths", default=",".join(PATHS),
                    help="paths to measure, comma separated (default: all)")
    ap.add_argument("--json", help="also write the figures (and the machine) to this JSON file")
    a = ap.parse_args(argv)
    only = [s for x in a.only for s in x.split(",") if s] or SCENARIOS
    bad = [s for s in only if s not in SCENARIOS]
    if bad:
        ap.error(f"unknown scenario {', '.join(bad)}; choose from {', '.join(SCENARIOS)}")
    a.only = [s for s in SCENARIOS if s in only]
    a.paths = [p.strip() for p in a.paths.split(",")]
    if any(p not in PATHS for p in a.paths):
        ap.error(f"paths are {', '.join(PATHS)}")
    if a.smoke:
        a.seconds = 1
    a.seconds = max(1, int(round(a.seconds)))
    return a


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def measure_all(a, paths, holder, source, results, errors):
    def record(key, pname, fn):
        try:
            v = fn()
        except Exception as e:  # noqa: BLE001 - a failed cell is reported, the run goes on
            errors[(key, pname)] = f"{type(e).__name__}: {e}"
            say(f"  {key:12s} {pname:9s} FAILED: {str(e).splitlines()[0] if str(e) else e!r}")
            return None
        return v

    def put(key, pname, v, extra=""):
        results.setdefault(key, {})[pname] = v
        say(f"  {key:12s} {pname:9s} {fmt(v):>10s}{extra}")

    s = a.seconds
    for sc in a.only:
        say(f"{sc}:")
        for p in paths:
            if sc in ("bulk1", "bulk8"):
                moved, cpu = [0], Cpu(p)
                v = record(sc, p.name, lambda: iperf3(p.ports["iperf"], s, 1 if sc == "bulk1" else 8,
                                                      moved=moved))
                used = cpu.done()
                if v is not None:
                    put(sc, p.name, v)
                    if used is not None and moved[0]:
                        put(sc + "_cpu", p.name, used / (moved[0] / 2**30))
            elif sc in ("ka1", "ka64", "close16"):
                conns = {"ka1": 1, "ka64": 64, "close16": 16}[sc]
                cpu = Cpu(p)
                v = record(sc, p.name, lambda: wrk(p.ports["http"], s, conns, close=sc == "close16"))
                used = cpu.done()
                if v is not None:
                    put(sc, p.name, v[0], f"   p99 {v[1]:.3f} ms  {v[2]}")
                    put(sc + "_p99", p.name, v[1])
                    if used is not None and v[3]:
                        put(sc + "_cpu", p.name, 1e6 * used / v[3])
            elif sc == "idle":
                if (("idle1000", p.name)) in NOT_APPLICABLE:
                    continue
                counts = [1000] if a.smoke else [1000, 10000]
                got = {}
                record(f"idle{counts[-1]}", p.name,
                       lambda: idle_streams(p, holder, counts, 0.3 if a.smoke else 1.0, got))
                for n, per in got.items():
                    put(f"idle{n}", p.name, per)
            elif sc == "stall":
                v = record(sc, p.name, lambda: stalled(p, source, s))
                if v is not None:
                    put(sc, p.name, v)


def main(argv=None):
    a = parse_args(argv)
    missing = [t for t in TOOLS if not (shutil.which(t) or os.path.exists("/usr/sbin/" + t))]
    if missing:
        sys.exit(f"compare.py: missing {', '.join(missing)}: run scripts/deps.sh --bench")
    build = benchlib.build_dir(a.build)
    if not os.path.exists(os.path.join(build, "gatehouse")):
        sys.exit(f"compare.py: no gatehouse in {build} (--build DIR)")
    nofile = raise_nofile()
    if "idle" in a.only and nofile < 10000 + 1000:
        say(f"warning: RLIMIT_NOFILE hard limit is {nofile}: 10,000 idle streams will fail")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored

    info = machine()
    say("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    say(f"gatehouse: {build}/gatehouse; {a.seconds} s per measure; scenarios: {', '.join(a.only)}")
    d = tempfile.mkdtemp(prefix="gh-compare-")
    procs = Procs(d)
    results, errors = {}, {}
    ok = False
    try:
        res = {"iperf": start_iperf3(procs), "http": start_nginx(procs, d)}
        holder = Holder(procs)
        source = Source()
        res["idle"], res["stall"] = holder.port, source.port
        makers = {"direct": lambda: Path("direct", dict(res)),
                  "gatehouse": lambda: path_gatehouse(procs, d, build, res),
                  "socat": lambda: path_socat(procs, d, res),
                  "ssh -L": lambda: path_ssh(procs, d, res),
                  "stunnel": lambda: path_stunnel(procs, d, res)}
        paths = []
        for name in a.paths:
            try:
                paths.append(makers[name]())
            except Exception as e:  # noqa: BLE001 - reported, and counted as a failure
                errors[("setup", name)] = f"{type(e).__name__}: {e}"
                say(f"{name}: could not be set up: {e}")
        measure_all(a, paths, holder, source, results, errors)
        ok = True
    finally:
        procs.stop_all()
        if ok and not errors:
            shutil.rmtree(d, ignore_errors=True)
        else:
            say(f"logs kept in {d}")
    figures = [f for f in FIGURES if f[1] in a.only and not (a.smoke and f[0] == "idle10000")]
    for key, *_ in figures:
        for pname in a.paths:
            if (key, pname) not in NOT_APPLICABLE and results.get(key, {}).get(pname) is None \
                    and (key, pname) not in errors and ("setup", pname) not in errors:
                errors[(key, pname)] = "no figure"
    print_table(results, figures)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": info, "seconds": a.seconds, "smoke": a.smoke,
                       "results": results,
                       "errors": {f"{k[0]} / {k[1]}": v for k, v in errors.items()}}, f, indent=2)
    if errors:
        say(f"\n{len(errors)} figure(s) missing:")
        for (key, pname), e in sorted(errors.items()):
            say(f"  {key} / {pname}: {e.splitlines()[0] if e else ''}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted: every process stopped")
        sys.exit(130)
