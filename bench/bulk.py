#!/usr/bin/env python3
"""One-stream bulk throughput: direct loopback beside one gatehouse on-prem
destination, in the same run, printed with their ratio.

    python3 bench/bulk.py [--mib 1024] [--build build]

Starts a real `gatehouse server` and `gatehouse client` on loopback (fresh
certificates via openssl), a sink resource that discards what it reads, and
a sender that writes --mib MiB of zeros; the time runs from connect to the
sink's byte count. Not a test: it asserts nothing about speed."""

import argparse
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import ghtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


class Sink:
    """Counts and discards the bytes of each connection; reports per conn."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.done = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self._drain, args=(c,), daemon=True).start()

    def _drain(self, c):
        n = 0
        buf = bytearray(1 << 20)
        while True:
            k = c.recv_into(buf)
            if not k:
                break
            n += k
        self.done.append((n, time.monotonic()))
        c.close()


def send(port, total):
    chunk = bytes(1 << 20)
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    left = total
    while left:
        k = min(left, len(chunk))
        s.sendall(chunk[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    return t0


def measure(port, sink, total):
    before = len(sink.done)
    t0 = send(port, total)
    deadline = time.monotonic() + 120
    while len(sink.done) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    n, t1 = sink.done[-1]
    assert n == total, "sink got %d of %d bytes" % (n, total)
    return total / (t1 - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--build", default=None, help="build directory (default: build)")
    a = ap.parse_args()
    total = a.mib << 20
    sink = Sink()
    lport = ghtest.free_port()
    dests = [("bulk", [("type", "onprem"), ("listen", f"127.0.0.1:{lport}"),
                       ("resource", f"127.0.0.1:{sink.port}"), ("protocol", "tcp")])]
    with benchlib.Pair(dests, build=a.build):
        ghtest.wait_port("127.0.0.1", lport)
        ghtest.retry(lambda: measure(lport, sink, 1 << 20), 20, what="tunnel up")
        direct = measure(sink.port, sink, total)
        tunnel = measure(lport, sink, total)
        print("bulk, 1 stream, %d MiB: direct %.0f MiB/s, gatehouse %.0f MiB/s, "
              "gatehouse/direct %.2f" % (a.mib, direct / 2**20, tunnel / 2**20, tunnel / direct))


if __name__ == "__main__":
    main()
