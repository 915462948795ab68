"""Helpers of the access-control and high-availability e2e tests (test_access_ha.py).

- :class:`TagServer`: a resource that echoes like ProtoServer's ECHO and records,
  for a stream that starts with ``TAG name``, the address it came from (so that
  a test knows which gatehouse process carried which stream).
- :class:`Held`: one application stream kept open (verified echo on the way in,
  verified echo and EOF on the way out, or an expected end when its carrier dies).
- :func:`owners`: which process holds the local end of a TCP connection, from
  /proc/net/tcp* and /proc/PID/fd (so "stream X went through client 2" is read
  from the kernel, not guessed).
- :func:`tunnel_rx`: bytes received so far by each end of each tunnel TCP
  connection, from ``ss -tin`` (to see which tunnel carried an upload).
- :func:`connect_from`: a TCP connection from a chosen source address.
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import rng  # noqa: E402


# --------------------------------------------------------------------------- resources


class TagServer(ghtest.ProtoServer):
    """ProtoServer that also understands ``TAG name\\n`` (then echoes like ECHO)
    and records ``tags[name] = (peer host, peer port)``; ``peers`` lists the
    source of every connection it served, in order."""

    def __init__(self, *a, **kw):
        self.tags = {}
        self.peers = []
        super().__init__(*a, **kw)

    def handle(self, c):
        peer = c.getpeername()[:2]
        with self.lock:
            self.peers.append(peer)
        line, rest = ghtest.recv_line(c)
        word, *args = line.split()
        if word != "TAG":  # ECHO, SINK, SOURCE...: ProtoServer's, on the bytes read
            return super().handle(_Replay(c, (line + "\n").encode() + rest))
        with self.lock:
            self.tags[args[0]] = peer
        if rest:
            c.sendall(rest)
        ghtest.EchoServer.handle(self, c)


class _Replay:
    """A socket whose first recv() calls return ``data`` already read from it."""

    def __init__(self, sock, data):
        self._s, self._data = sock, data

    def recv(self, n, *flags):
        if self._data:
            out, self._data = self._data[:n], self._data[n:]
            return out
        return self._s.recv(n, *flags)

    def __getattr__(self, name):
        return getattr(self._s, name)


def tag_server(t, **kw):
    s = TagServer(**kw)
    t.peers.append(s)
    return s


class ProtoServer6(ghtest.ProtoServer):
    """ProtoServer listening on [::1] (port 0: one of its own)."""

    def __init__(self, port=0, timeout=120.0, name=None):  # noqa: D107 (no super: AF_INET6)
        self.name = name or "ProtoServer6"
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("::1", port))
        self.sock.listen(1024)
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()[:2]
        self.accepted = 0
        self.completed = 0
        self.errors = []
        self.conns = set()
        self.lock = threading.Lock()
        self.closed = False
        self.release_event = threading.Event()
        self.held_bytes = 0
        self._thread = threading.Thread(target=self._accept_loop, name=self.name, daemon=True)
        self._thread.start()


# --------------------------------------------------------------------------- applications


def connect_from(src, port, host=ghtest.HOST, timeout=20.0):
    """A TCP connection to host:port from source address ``src`` (any port)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def echo_from(src, port, size, host=ghtest.HOST, timeout=20.0):
    """A verified echo (sha256 both ways, then half-close and EOF) from source
    ``src``. Returns the application socket's own (address, port)."""
    seed = rng.getrandbits(64)
    s = connect_from(src, port, host, timeout)
    try:
        me = s.getsockname()[:2]
        box = {}

        def sender():
            try:
                box["sha"] = ghtest._send_stream(s, seed, size, b"ECHO\n")
                s.shutdown(socket.SHUT_WR)
            except Exception as e:  # reported below
                box["err"] = e

        th = threading.Thread(target=sender, daemon=True)
        th.start()
        _, sha = ghtest._recv_hash(s, size)
        th.join(timeout)
        if "err" in box:
            raise AssertionError(f"echo from {src}: send failed: {box['err']!r}")
        if sha != box.get("sha"):
            raise AssertionError(f"echo from {src}: sha256 mismatch")
        ghtest.expect_eof(s, timeout)
        return me
    finally:
        s.close()


def refused_from(src, port, host=ghtest.HOST, timeout=20.0):
    """Connect from ``src`` and send nothing: the gateway must end the connection
    on its own (EOF or reset) without a byte. Returns how it ended. (The
    timeout is a hang guard, not a speed requirement.)"""
    try:
        s = connect_from(src, port, host, timeout)
    except ConnectionRefusedError:
        raise AssertionError(f"{host}:{port} is not listening at all (from {src})")
    try:
        return ghtest.expect_eof(s, timeout)
    except AssertionError as e:
        raise AssertionError(f"connection from {src} to {host}:{port}: {e}") from None
    finally:
        s.close()


class Held:
    """One application stream through ``port`` kept open: ``TAG name`` then a
    verified echo of a few KiB. ``finish()`` sends more, half-closes and checks
    the echo and the EOF; ``expect_end()`` checks that the stream was ended
    (EOF or reset) without more data."""

    def __init__(self, port, name, host=ghtest.HOST, timeout=30.0, size=4096):
        self.name = name
        self.timeout = timeout
        self.sock = ghtest.connect(port, host, timeout)
        self.sock.sendall(f"TAG {name}\n".encode())
        self._roundtrip(size)

    def _roundtrip(self, size, half_close=False):
        seed = rng.getrandbits(64)
        box = {}

        def sender():
            try:
                box["sha"] = ghtest._send_stream(self.sock, seed, size)
                if half_close:
                    self.sock.shutdown(socket.SHUT_WR)
            except Exception as e:
                box["err"] = e

        th = threading.Thread(target=sender, daemon=True)
        th.start()
        _, sha = ghtest._recv_hash(self.sock, size)
        th.join(self.timeout)
        if "err" in box:
            raise AssertionError(f"held stream {self.name}: send failed: {box['err']!r}")
        if sha != box.get("sha"):
            raise AssertionError(f"held stream {self.name}: echo sha256 mismatch")

    def finish(self, size=64 * 1024):
        try:
            self._roundtrip(size, half_close=True)
            ghtest.expect_eof(self.sock, self.timeout)
        finally:
            self.close()

    def expect_end(self, timeout=20.0):
        try:
            return ghtest.expect_eof(self.sock, timeout)
        except AssertionError as e:
            raise AssertionError(f"held stream {self.name}: {e}") from None
        except OSError as e:  # e.g. ECONNABORTED: ended too
            return repr(e)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- the kernel's view


def _proc_net_tcp():
    """[(local (ip hex, port), remote (ip hex, port), state hex, inode)] of
    /proc/net/tcp and tcp6."""
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            p = ln.split()
            if len(p) < 10:
                continue
            lip, lport = p[1].split(":")
            rip, rport = p[2].split(":")
            rows.append(((lip, int(lport, 16)), (rip, int(rport, 16)), p[3], int(p[9])))
    return rows


def _socket_inodes(pid):
    out = set()
    d = f"/proc/{pid}/fd"
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        try:
            link = os.readlink(os.path.join(d, n))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            out.add(int(m.group(1)))
    return out


def owners(local_ports, remote_port, procs):
    """For each local port in ``local_ports`` (the source ports a resource saw),
    the Gatehouse in ``procs`` that holds an established TCP connection from that
    port to ``remote_port`` (None if no process of ``procs`` does)."""
    inode_to = {}
    for g in procs:
        if g.alive():
            for ino in _socket_inodes(g.pid()):
                inode_to[ino] = g
    by_port = {}
    for (_lip, lport), (_rip, rport), st, ino in _proc_net_tcp():
        if st == "01" and rport == remote_port and ino in inode_to:
            by_port[lport] = inode_to[ino]
    return [by_port.get(p) for p in local_ports]


def established_to(g, remote_port):
    """Number of established TCP connections that process ``g`` holds to
    ``remote_port`` (e.g. its tunnels to a server)."""
    inodes = _socket_inodes(g.pid())
    return sum(1 for _l, (_rip, rport), st, ino in _proc_net_tcp()
               if st == "01" and rport == remote_port and ino in inodes)


def tunnel_rx(tunnel_port):
    """{client's port: (bytes received by the server's end, by the client's end)}
    for every established connection to ``tunnel_port``, from ``ss -tin``."""
    r = subprocess.run(["ss", "-tin", "state", "established",
                        f"( sport = :{tunnel_port} or dport = :{tunnel_port} )"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    if r.returncode != 0:
        raise AssertionError(f"ss failed: {r.stderr.decode(errors='replace')}")
    out = {}
    cur = None
    for ln in r.stdout.decode(errors="replace").splitlines():
        m = re.match(r"^\s*\d+\s+\d+\s+\S+:(\d+)\s+\S+:(\d+)", ln)
        if m:
            lport, rport = int(m.group(1)), int(m.group(2))
            cur = ("srv", rport) if lport == tunnel_port else ("cli", lport)
            continue
        m = re.search(r"\bbytes_received:(\d+)", ln)
        if cur and m:
            side, key = cur
            srv_rx, cli_rx = out.get(key, (0, 0))
            n = int(m.group(1))
            out[key] = (n, cli_rx) if side == "srv" else (srv_rx, n)
            cur = None
    return out


# --------------------------------------------------------------------------- admin


def http_get(port, path, host=ghtest.HOST, timeout=10.0):
    """(status, body text) of GET http://host:port/path (HTTP/1.0, stdlib only)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        data = ghtest.recv_to_eof(s)
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not m:
        raise AssertionError(f"GET {path}: not an HTTP answer: {data[:80]!r}")
    return int(m.group(1)), body.decode(errors="replace")


def status_json(port):
    code, body = http_get(port, "/status")
    if code != 200:
        raise AssertionError(f"GET /status: HTTP {code}")
    try:
        return json.loads(body)
    except ValueError as e:
        raise AssertionError(f"GET /status: not JSON ({e}): {body[:200]!r}") from None


def json_strings(obj):
    """Every string (keys and values) of a JSON document, depth first."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from json_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from json_strings(v)
    elif obj is not None:
        yield str(obj)
