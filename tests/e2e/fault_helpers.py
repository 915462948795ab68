"""Helpers of the fault, churn and load-balancer e2e tests (test_faults.py,
test_lb.py).

- :func:`start_wrapped`: a gatehouse process started through a wrapper command
  (``prlimit --nofile=N:N``, ``ip netns exec NS``) that execs it, so that the
  pid the harness holds is gatehouse's own.
- :func:`fd_count`, :func:`rss_kib`: what the kernel says a process holds.
- :func:`metrics`, :func:`metric`: the admin endpoint's /metrics, parsed.
- :class:`FaultServer`: a resource that misbehaves on request (reset, FIN
  mid-stream, slow reader, slow writer), besides ProtoServer's commands.
- :func:`silent_port`: a loopback port whose SYNs are never answered (a listen
  socket whose accept queue is full), for connect timeouts without leaving
  the machine.
- :class:`Download`: a bulk download (SOURCE) read in a thread, recording how
  it ended.
- :class:`Netns`: a network namespace joined to the host by a veth pair, with
  link-local addresses; always removed.
"""

import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
import ha_helpers as ha  # noqa: E402

# --------------------------------------------------------------------------- processes


class WrappedGatehouse(ghtest.Gatehouse):
    """A Gatehouse started as ``wrapper + [gatehouse, role, -c, cfg, -v]``.
    The wrapper must exec the command (prlimit and ip netns exec do)."""

    def __init__(self, case, role, sections, name, wrapper):
        super().__init__(case, role, sections, name=name)
        self.wrapper = list(wrapper)

    def command(self):
        return self.wrapper + super().command()


def start_wrapped(t, role, sections, name, wrapper, tunnel_port=None):
    g = WrappedGatehouse(t, role, sections, name, wrapper)
    g.tunnel_port = tunnel_port
    t.procs.append(g)
    g.start()
    return g


def sanitized():
    """True when GH_BIN is an AddressSanitizer build."""
    with open(ghtest.GH_BIN, "rb") as f:
        return b"__asan_init" in f.read()


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fd_count(pid, timeout=10.0):
    """The fd count once it holds still (two equal readings 0.3 s apart): a
    connection that just ended may still be closing."""
    deadline = time.monotonic() + timeout
    last = fd_count(pid)
    while True:
        time.sleep(0.3)
        n = fd_count(pid)
        if n == last or time.monotonic() > deadline:
            return n
        last = n


def fd_kinds(pid):
    """{kind: count} of a process's descriptors (socket, pipe, anon_inode:..., file)."""
    out = {}
    d = f"/proc/{pid}/fd"
    for n in os.listdir(d):
        try:
            link = os.readlink(os.path.join(d, n))
        except OSError:
            continue
        kind = re.sub(r"\[\d+\]$", "", link) if not link.startswith("/") else "file"
        out[kind] = out.get(kind, 0) + 1
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def nofile_limit(pid):
    """(soft, hard) RLIMIT_NOFILE of a running process, from /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for ln in f:
            if ln.startswith("Max open files"):
                p = ln.split()
                return int(p[3]), int(p[4])
    raise AssertionError("no 'Max open files' line")


# --------------------------------------------------------------------------- admin


_METRIC_RX = re.compile(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$')


def metrics(port):
    """[(name, {label: value}, float)] of GET /metrics on the admin port."""
    code, body = ha.http_get(port, "/metrics")
    if code != 200:
        raise AssertionError(f"GET /metrics: HTTP {code}")
    out = []
    for ln in body.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = _METRIC_RX.match(ln)
        if not m:
            raise AssertionError(f"/metrics: unparsable line {ln!r}")
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric(port, name, **labels):
    """The sum of metric ``name`` over the series whose labels match ``labels``."""
    return sum(v for n, lb, v in metrics(port)
               if n == name and all(lb.get(k) == str(x) for k, x in labels.items()))


def wait_metric(port, name, pred, timeout, what=None, **labels):
    """Wait until pred(metric value) holds; returns (value, seconds)."""
    t0 = time.monotonic()
    box = {}

    def ok():
        box["v"] = metric(port, name, **labels)
        return pred(box["v"])

    try:
        ghtest.wait_until(ok, timeout, interval=0.1, what=what or name)
    except TimeoutError as e:
        raise AssertionError(f"{e} (last value {box.get('v')})") from None
    return box["v"], time.monotonic() - t0


# --------------------------------------------------------------------------- resources


def _rst_close(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


class FaultServer(ha.TagServer):
    """TagServer (ProtoServer + TAG) with commands that misbehave:

        RST n seed            send n bytes of stream ``seed``, then reset (SO_LINGER 0)
        FIN n seed            send n bytes of stream ``seed``, then close (FIN), unread input ignored
        SLOWSRC n seed c ms   send n bytes in chunks of c with ms between them, then close
        SLOWSINK n c ms       read n bytes c at a time with ms between reads, answer sha256
    """

    def handle(self, c):
        line, rest = ghtest.recv_line(c)
        word, *args = line.split()
        if word in ("RST", "FIN"):
            n, seed = int(args[0]), int(args[1])
            for chunk in ghtest.stream_chunks(seed, n):
                c.sendall(chunk)
            if word == "RST":
                time.sleep(0.05)  # the bytes leave before the reset
                _rst_close(c)
            else:
                c.shutdown(socket.SHUT_WR)
                time.sleep(0.05)
            return
        if word == "SLOWSRC":
            n, seed, ch, ms = (int(x) for x in args)
            for chunk in ghtest.stream_chunks(seed, n, ch):
                c.sendall(chunk)
                time.sleep(ms / 1000.0)
            c.shutdown(socket.SHUT_WR)
            ghtest._drain_to_eof(c)
            return
        if word == "SLOWSINK":
            n, ch, ms = (int(x) for x in args)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            h = hashlib.sha256(rest[:n])
            got = len(rest[:n])
            while got < n:
                b = c.recv(min(ch, n - got))
                if not b:
                    raise EOFError(f"SLOWSINK: EOF after {got} of {n}")
                h.update(b)
                got += len(b)
                time.sleep(ms / 1000.0)
            c.sendall(h.hexdigest().encode() + b"\n")
            c.shutdown(socket.SHUT_WR)
            ghtest._drain_to_eof(c)
            return
        return super().handle(ha._Replay(c, (line + "\n").encode() + rest))  # TAG, ECHO, SOURCE...


def fault_server(t, **kw):
    s = FaultServer(**kw)
    t.peers.append(s)
    return s


class SilentPort:
    """A loopback port that never completes a TCP handshake: a listen socket
    with a backlog of 0 whose accept queue is filled (and never accepted), so
    that the kernel drops every further SYN and a connect() to it times out."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((ghtest.HOST, 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        # Linux queues backlog + 1 connections; fill until a connect hangs
        for _ in range(8):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex((ghtest.HOST, self.port))  # EINPROGRESS
            self.fillers.append(f)
            time.sleep(0.05)
            if not self._established(f):
                break
        else:
            raise AssertionError("could not fill the accept queue of the silent port")
        self.check()

    @staticmethod
    def _established(f):
        try:
            f.getpeername()
            return True
        except OSError:
            return False

    def check(self):
        """Assert that a new connection is not answered within 1 s."""
        p = socket.socket()
        p.settimeout(1.0)
        try:
            p.connect((ghtest.HOST, self.port))
        except socket.timeout:
            return
        except OSError as e:
            raise AssertionError(f"the silent port answered: {e!r}")
        finally:
            p.close()
        raise AssertionError("the silent port accepted a connection")

    def close(self):
        for f in self.fillers:
            f.close()
        self.sock.close()


# --------------------------------------------------------------------------- applications


class Download:
    """``SOURCE size seed`` through ``port``, read (and hashed) in a thread.
    ``ended`` is None while it runs, then "complete" (all bytes, right sha256,
    EOF), "eof" (EOF before the end), "reset", or "error: ..."."""

    def __init__(self, port, size, host=ghtest.HOST, timeout=120.0):
        self.size, self.seed = size, ghtest.rng.getrandbits(64)
        self.got = 0
        self.ended = None
        self.ended_at = None
        self.sock = ghtest.connect(port, host, timeout)
        self.sock.sendall(f"SOURCE {size} {self.seed}\n".encode())
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        h = hashlib.sha256()
        try:
            while True:
                b = self.sock.recv(1 << 18)
                if not b:
                    break
                h.update(b)
                self.got += len(b)
            if self.got == self.size and h.hexdigest() == ghtest.stream_sha256(self.seed, self.size):
                self.ended = "complete"
            elif self.got == self.size:
                self.ended = "error: sha256 mismatch"
            else:
                self.ended = "eof"
        except ConnectionResetError:
            self.ended = "reset"
        except OSError as e:
            self.ended = f"error: {e!r}"
        self.ended_at = time.monotonic()

    def wait(self, timeout):
        self.th.join(timeout)
        if self.th.is_alive():
            raise AssertionError(f"download of {self.size} bytes: still running after {timeout}s "
                                 f"({self.got} bytes in)")
        return self.ended

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- network namespaces


class Netns:
    """A network namespace ``name`` joined to the host by a veth pair: the host
    end ``host_if`` has ``host_ip``, the namespace end ``ns_if`` has ``ns_ip``
    (a /30 of link-local addresses); the namespace's loopback is up.
    ``available()`` says why it cannot be made here (or None)."""

    def __init__(self, tag, subnet=None):
        suffix = f"{os.getpid() % 100000}{tag}"
        self.name = f"ghf{suffix}"
        self.host_if, self.ns_if = f"ghh{suffix}"[:15], f"ghn{suffix}"[:15]
        subnet = subnet if subnet is not None else self._free_subnet()
        self.host_ip, self.ns_ip = f"169.254.{subnet}.1", f"169.254.{subnet}.2"
        self.made = False

    @staticmethod
    def _free_subnet():
        """A third octet of 169.254.N.0/30 that no interface of the host uses
        (another test run may have its own namespace at the same time)."""
        r = subprocess.run(["ip", "-o", "-4", "addr", "show"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=20)
        used = set(re.findall(r"169\.254\.(\d+)\.", r.stdout.decode(errors="replace")))
        free = [n for n in range(20, 250) if str(n) not in used]
        return ghtest._sysrand.choice(free)

    @staticmethod
    def available():
        if os.geteuid() != 0:
            return "not root"
        if not shutil.which("ip"):
            return "no ip command (iproute2)"
        return None

    def _ip(self, *args, check=True):
        r = subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20)
        if check and r.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {r.stdout.decode(errors='replace').strip()}")
        return r

    def create(self):
        self.destroy()  # a leftover of a killed run
        self._ip("netns", "add", self.name)
        self.made = True
        self._ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        self._ip("link", "set", self.ns_if, "netns", self.name)
        self._ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        self._ip("link", "set", self.host_if, "up")
        self._ip("-n", self.name, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
        self._ip("-n", self.name, "link", "set", self.ns_if, "up")
        self._ip("-n", self.name, "link", "set", "lo", "up")
        return self

    def wrapper(self):
        return ["ip", "netns", "exec", self.name]

    def link(self, up):
        self._ip("link", "set", self.host_if, "up" if up else "down")

    def destroy(self):
        self._ip("link", "del", self.host_if, check=False)
        self._ip("netns", "del", self.name, check=False)
        self.made = False
