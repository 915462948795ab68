#!/usr/bin/env python3
"""HTTP requests per second with wrk, in one run, through:

    direct   wrk -> the resource
    tcp      wrk -> gatehouse server (tcp destination) -> tunnel -> client -> resource
    http     the same with protocol = http (the http layer on both sides)
    ssh      wrk -> ssh -L -> a private sshd -> the resource

for three loads: keep-alive on 1 connection, keep-alive on 64 connections, and
one connection per request (``Connection: close``, 16 connections). Prints
requests/s and the ratios to direct, and http/tcp (the http layer's cost over
plain tcp); and, for tcp and http, the CPU time the two gatehouse processes
spent per request, which tells the layer's cost even when other work on the
machine makes requests/s noisy.

    python3 bench/http.py [--build build] [--seconds 5] [--rounds 3] [--no-ssh]

The resource is bench/httpd.c (compiled here with cc): a one-thread epoll
responder with a fixed 13-byte body, fast enough not to be the limit. The
sshd runs on a free high port with its own host key and an authorized key for
the current user, all in a temp dir; ssh -L forwards to the resource. wrk,
sshd and ssh come from `scripts/deps.sh --bench`. Each figure is the best of
--rounds runs, the targets taking turns within a round, so that a burst of
other work on the machine does not land on one target only. Not a test: it
asserts nothing about speed."""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
import compare  # noqa: E402
import ghtest  # noqa: E402

LOADS = [
    ("keep-alive, 1 conn", ["-c", "1"]),
    ("keep-alive, 64 conns", ["-c", "64"]),
    ("conn per request, 16", ["-c", "16", "-H", "Connection: close"]),
]


def build_httpd(d):
    exe = os.path.join(d, "httpd")
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "httpd.c")], check=True)
    p = subprocess.Popen([exe, "0"], stdout=subprocess.PIPE)
    port = int(p.stdout.readline())
    return p, port


def wrk(port, args, seconds, pids=()):
    """Runs wrk; returns (requests/s, note, CPU seconds the processes ``pids``
    used per request)."""
    cmd = ["wrk", "-t", "1", "-d", f"{seconds}s", *args, f"http://127.0.0.1:{port}/"]
    cpu0 = benchlib.cpu_seconds(pids)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=seconds + 60)
    cpu = benchlib.cpu_seconds(pids) - cpu0
    out = r.stdout.decode(errors="replace")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if r.returncode != 0 or not m or not n:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    note = ""
    if bad:
        note += f" non-2xx={bad.group(1)}"
    if errs:
        note += f" socket errors: {errs.group(1)}"
    return float(m.group(1)), note, cpu / max(1, int(n.group(1)))


def start_gatehouse(d, build, res_port):
    """A tcp and an http on-prem destination to the resource: (pair, tcp port, http port)."""
    p_tcp, p_http = ghtest.free_ports(2)
    dests = [(proto, [("type", "onprem"), ("listen", f"127.0.0.1:{port}"),
                      ("resource", f"127.0.0.1:{res_port}"), ("protocol", proto)])
             for proto, port in (("tcp", p_tcp), ("http", p_http))]
    pair = benchlib.Pair(dests, build=build, workdir=os.path.join(d, "gatehouse"))
    for port in (p_tcp, p_http):
        ghtest.wait_port("127.0.0.1", port)
    # the tunnel is up once a request goes through
    for port in (p_tcp, p_http):
        ghtest.retry(lambda: _probe(port), 30, what=f"gatehouse port {port}")
    return pair, p_tcp, p_http


def _probe(port):
    with ghtest.connect(port, timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\n\r\n")
        b = s.recv(4096)
        if not b.startswith(b"HTTP/1.1 200"):
            raise AssertionError(f"probe on {port}: {b[:60]!r}")


def start_ssh(procs, d, res_port):
    """ssh -L to the resource through a private sshd (bench/compare.py's);
    its port, or None when sshd or ssh is missing."""
    if not (shutil.which("sshd") or os.path.exists("/usr/sbin/sshd")) or not shutil.which("ssh"):
        print("ssh -L: skipped (no sshd or ssh; scripts/deps.sh --bench installs them)")
        return None
    return compare.path_ssh(procs, d, {"http": res_port}, probe=_probe).ports["http"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=None, help="build directory (default: build)")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-ssh", action="store_true")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: scripts/deps.sh --bench installs it")
    d = tempfile.mkdtemp(prefix="gh-bench-http-")
    procs = compare.Procs(d)
    pair = None
    try:
        httpd, res_port = build_httpd(d)
        procs.adopt(httpd, "httpd")
        pair, p_tcp, p_http = start_gatehouse(d, a.build, res_port)
        targets = [("direct", res_port), ("tcp", p_tcp), ("http", p_http)]
        ssh_port = None if a.no_ssh else start_ssh(procs, d, res_port)
        if ssh_port:
            targets.append(("ssh -L", ssh_port))
        gh_pids = pair.pids()
        results, cpu = {}, {}
        for load, args in LOADS:
            for name, port in targets:
                wrk(port, args, 1)  # warm up
            for rnd in range(a.rounds):
                for name, port in targets:
                    pids = gh_pids if name in ("tcp", "http") else ()
                    rps, note, cpr = wrk(port, args, a.seconds, pids)
                    results[(load, name)] = max(results.get((load, name), 0.0), rps)
                    if pids:
                        cpu[(load, name)] = min(cpu.get((load, name), 1e9), cpr)
                    extra = f"  {cpr * 1e6:6.1f} us gatehouse CPU/request" if pids else ""
                    print(f"  {load:22s} {name:7s} round {rnd + 1}: {rps:8.0f} req/s{extra}{note}",
                          flush=True)
        print()
        names = [n for n, _ in targets]
        print(f"{'requests/s':22s} " + " ".join(f"{n:>9s}" for n in names) +
              "   " + " ".join(f"{n + '/direct':>13s}" for n in names[1:]) + "   http/tcp")
        for load, _ in LOADS:
            row = [results[(load, n)] for n in names]
            ratios = [results[(load, n)] / results[(load, "direct")] for n in names[1:]]
            print(f"{load:22s} " + " ".join(f"{v:9.0f}" for v in row) + "   " +
                  " ".join(f"{r:13.2f}" for r in ratios) +
                  f"   {results[(load, 'http')] / results[(load, 'tcp')]:8.2f}")
        print()
        print("gatehouse CPU per request (server + client, user + system; lowest of the rounds):")
        for load, _ in LOADS:
            t_, h_ = cpu[(load, "tcp")], cpu[(load, "http")]
            print(f"  {load:22s} tcp {t_ * 1e6:6.1f} us   http {h_ * 1e6:6.1f} us   "
                  f"http costs {(h_ / t_ - 1) * 100:+.0f}% CPU, i.e. tcp/http = {t_ / h_:.2f}")
    finally:
        if pair:
            pair.close()
        procs.stop_all()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
