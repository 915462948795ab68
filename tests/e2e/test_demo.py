#!/usr/bin/env python3
"""End-to-end: `gatehouse demo` runs a complete gateway on loopback with no files,
prints the endpoints to try, echoes through them, and stops cleanly on SIGINT."""
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402

ENDPOINT = re.compile(r"127\.0\.0\.1:(\d{1,5})\b")
# what the demo tells a person to try: "nc ... 127.0.0.1 PORT" and "curl http://127.0.0.1:PORT/"
TRY_NC = re.compile(r"\bnc\b.*?127\.0\.0\.1[ :](\d{1,5})\b")
TRY_HTTP = re.compile(r"https?://127\.0\.0\.1:(\d{1,5})(/\S*)?")


def _echo_once(port, data, timeout=5.0):
    """Send data, read the same number of bytes back (no half-close needed)."""
    with socket.create_connection((ghtest.HOST, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(data)
        back = b""
        while len(back) < len(data):
            b = s.recv(65536)
            if not b:
                break
            back += b
        return back


def _http_get(port, path, timeout=10.0):
    """The status line of GET path (retried while the tunnel settles)."""
    def get():
        with socket.create_connection((ghtest.HOST, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
            buf = b""
            while b"\r\n" not in buf:
                b = s.recv(4096)
                if not b:
                    break
                buf += b
            if not buf:
                raise EOFError("no answer")
            return buf.split(b"\r\n")[0].decode("latin-1")
    return ghtest.retry(get, 20, what=f"GET http://127.0.0.1:{port}{path}")[0]


def test_demo_runs_and_echoes(t):
    demo = t.gatehouse("demo", args=["demo"], name="demo")
    # what it prints: every 127.0.0.1:PORT, once its "try:" lines are out (or,
    # should it print none, once the list has not grown for a few seconds)
    ports, last_new = [], None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        demo.check_alive()
        text = demo.log_text()
        for p in (int(x) for x in ENDPOINT.findall(text)):
            if p not in ports and 0 < p < 65536:
                ports.append(p)
                last_new = time.monotonic()
        settled = ports and time.monotonic() - last_new > 0.5
        if settled and (TRY_NC.search(text) or TRY_HTTP.search(text)):
            break
        if ports and time.monotonic() - last_new > 5:
            break
        time.sleep(0.2)
    assert ports, "gatehouse demo printed no 127.0.0.1:PORT endpoint"
    t.log(f"demo endpoints: {ports}")
    # where it says "nc ... 127.0.0.1 PORT", those are the echo endpoints to try;
    # otherwise try every printed port
    nc_ports = sorted({int(x) for x in TRY_NC.findall(demo.log_text())})
    candidates = [p for p in ports if p in nc_ports] or nc_ports or ports

    # push bytes through; the demo's resource is an echo, so at least one printed
    # endpoint must give them back identical (retry while the tunnel comes up)
    data = os.urandom(64 * 1024)
    echoed = []
    deadline = time.monotonic() + 30
    while not echoed and time.monotonic() < deadline:
        demo.check_alive()
        for p in candidates:
            try:
                if _echo_once(p, data) == data:
                    echoed.append(p)
            except OSError:
                pass
        if not echoed:
            time.sleep(0.5)
    assert echoed, f"no demo endpoint echoed 64 KiB back identical (tried {candidates})"
    t.log(f"echo verified through: {echoed}")
    # a bigger, concurrent check through the endpoints that echo
    t.log("4 MiB echo through each")
    ghtest.run_parallel([ghtest.job(ghtest.echo_check, p, 4 * ghtest.MiB, header=b"",
                                    desc=f"echo 4 MiB via {p}") for p in echoed])

    # what it says to try must work as it says
    text = demo.log_text()
    for p in sorted({int(x) for x in TRY_NC.findall(text)}):
        assert _echo_once(p, b"hello\n") == b"hello\n", f"the demo's 'nc 127.0.0.1 {p}' does not echo"
        t.log(f"'nc 127.0.0.1 {p}' echoes")
    for p, path in sorted(set(TRY_HTTP.findall(text))):
        status = _http_get(int(p), path or "/")
        assert status.startswith("HTTP/1."), f"the demo's http://127.0.0.1:{p}{path} answered {status!r}"
        t.log(f"http://127.0.0.1:{p}{path or '/'} answered {status!r}")

    t.log("SIGINT")
    rc = demo.stop(signal.SIGINT, timeout=40)
    assert rc == 0, f"gatehouse demo exited {rc} on SIGINT (want 0)"


if __name__ == "__main__":
    ghtest.main(globals())
