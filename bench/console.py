#!/usr/bin/env python3
"""What the console costs: the server's CPU with --streams open streams (held
open through --dests on-prem destinations) while nobody looks, and while a
poller asks /api/v1/overview once a second as the page does (it also reads
/api/v1/history once, as the page does when it opens).

    python3 bench/console.py [--streams 1000] [--dests 100] [--seconds 30] [--build build]

CPU is user + system time from /proc/PID/stat over the same number of seconds in
each phase, as a share of one core. Not a test: nothing here asserts a speed;
the issue's bar (under 1 % of a core at 1,000 streams) is printed beside it."""

import argparse
import json
import os
import resource
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import HOST, ghtest  # noqa: E402


class Holder:
    """A resource that accepts connections and keeps them open, reading and
    dropping whatever comes."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((HOST, 0))
        self.ls.listen(4096)
        self.port = self.ls.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.ls, selectors.EVENT_READ)
        self.conns = []
        self.stop = False
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.2):
                if key.fileobj is self.ls:
                    c, _ = self.ls.accept()
                    c.setblocking(False)
                    self.conns.append(c)
                    self.sel.register(c, selectors.EVENT_READ)
                else:
                    try:
                        if not key.fileobj.recv(65536):
                            self.sel.unregister(key.fileobj)
                    except OSError:
                        self.sel.unregister(key.fileobj)


def poll(port, path):
    """GET path; the JSON it answers. (Raw HTTP/1.1: bench/http.py shadows the
    standard library's http package here.)"""
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            data += b
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    return json.loads(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--dests", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--build")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    res = Holder()
    ports = ghtest.free_ports(a.dests)
    adm = ghtest.free_port()
    dests = [(f"d{i}", [("type", "onprem"), ("listen", f"{HOST}:{p}"),
                        ("resource", f"{HOST}:{res.port}"), ("protocol", "tcp")])
             for i, p in enumerate(ports)]
    with benchlib.Pair(dests, build=a.build, server_opts=[("admin_listen", f"{HOST}:{adm}")]) as pair:
        srv_pid = pair.pids()[0]
        ghtest.wait_port(HOST, adm, 20)
        # wait for the tunnel: an open that reaches the resource
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            o = poll(adm, "/api/v1/overview")
            if o["gateways"][0]["tunnels"]:
                break
            time.sleep(0.2)
        socks = []
        for i in range(a.streams):
            s = socket.create_connection((HOST, ports[i % a.dests]))
            socks.append(s)
        while len(res.conns) < a.streams:
            time.sleep(0.1)
        o = poll(adm, "/api/v1/overview")
        open_now = sum(d["streams"] for d in o["destinations"])
        # let the sampler (started by those polls) stop: nobody looks from here
        print(f"{open_now} streams open over {a.dests} destinations; waiting 62 s for the "
              f"sampler to stop (nobody looks)", flush=True)
        time.sleep(62)

        def measure(poller):
            stop = threading.Event()
            n = [0, 0.0]

            def run():
                poll(adm, "/api/v1/history")
                while not stop.is_set():
                    t0 = time.monotonic()
                    poll(adm, "/api/v1/overview")
                    n[0] += 1
                    n[1] = max(n[1], time.monotonic() - t0)
                    stop.wait(max(0.0, 1.0 - (time.monotonic() - t0)))
            th = threading.Thread(target=run, daemon=True) if poller else None
            c0, t0 = benchlib.cpu_seconds([srv_pid]), time.monotonic()
            if th:
                th.start()
            time.sleep(a.seconds)
            stop.set()
            if th:
                th.join(10)
            c1, t1 = benchlib.cpu_seconds([srv_pid]), time.monotonic()
            return 100.0 * (c1 - c0) / (t1 - t0), n[0], n[1] * 1000

        idle, _, _ = measure(False)
        busy, polls, worst = measure(True)
        size = len(json.dumps(poll(adm, "/api/v1/overview")))
        benchlib.table(
            f"server CPU with {a.streams} streams open over {a.dests} destinations, "
            f"{a.seconds:.0f} s each (share of one core)",
            ["phase", "CPU %", "polls", "slowest poll ms"],
            [["nobody looks", idle, 0, 0.0], ["polled once a second", busy, polls, worst]])
        print(f"\n  the console's cost: {busy - idle:+.2f} % of a core "
              f"(bar: under 1 %); /api/v1/overview is {size:,} bytes here")
        for s in socks:
            s.close()
    res.stop = True


if __name__ == "__main__":
    main()
