"""Helpers for the console tests: GET on an admin endpoint, a running pair
with admin endpoints on both sides, a stream that keeps carrying data, a
resource that holds many connections open."""
import http.client
import json
import os
import selectors
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import HOST, onprem  # noqa: E402


def get(port, path, token=None, host=HOST, tls_ca=None, timeout=10.0):
    """(status, headers dict, body bytes) of GET path."""
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        ctx.check_hostname = False
        c = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
    hdrs = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        c.request("GET", path, headers=hdrs)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def get_json(port, path, **kw):
    code, _h, body = get(port, path, **kw)
    assert code == 200, f"GET {path}: HTTP {code}: {body[:200]!r}"
    return json.loads(body)


def setup(t, server=None, client=None):
    """A server and a client, each with an admin endpoint; destination d1 to a
    ProtoServer, d2 to 127.0.0.2 which the client's [acl] refuses (its second
    rule). Returns a dict of what a test needs."""
    res = t.proto_server()
    p1, p2, sadm, cadm = t.ports(4)
    tok = t.token()
    srv = t.server([onprem("d1", p1, res.port),
                    onprem("d2", p2, res.port, resource_host="127.0.0.2")],
                   {"gw1": tok}, server={"admin_listen": f"{HOST}:{sadm}", **(server or {})})
    acl = [("allow", f"{HOST}:*"), ("deny", "*")]
    cli = t.client(srv, tok, acl=acl, client={"admin_listen": f"{HOST}:{cadm}", **(client or {})})
    ghtest.wait_tunnel(p1, 30, procs=[srv, cli])
    return {"srv": srv, "cli": cli, "res": res, "p1": p1, "p2": p2, "sadm": sadm,
            "cadm": cadm, "token": tok}


def refused_open(port):
    """An open the client's ACL refuses: no answer, an EOF or a reset (which
    may come before connect() returns)."""
    ghtest.expect_refused(port, b"ECHO\nx")


class Pump:
    """A stream through d1 that echoes data until stop()."""

    def __init__(self, port, chunk=64 * 1024):
        self.sock = ghtest.connect(port)
        self.sock.sendall(b"ECHO\n")
        self.stopped = threading.Event()
        self.moved = 0
        self.chunk = b"x" * chunk
        self.threads = [threading.Thread(target=self._send, daemon=True),
                        threading.Thread(target=self._recv, daemon=True)]
        for th in self.threads:
            th.start()

    def _send(self):
        try:
            while not self.stopped.is_set():
                self.sock.sendall(self.chunk)
                self.stopped.wait(0.05)
        except OSError:
            pass

    def _recv(self):
        try:
            while not self.stopped.is_set():
                b = self.sock.recv(1 << 16)
                if not b:
                    return
                self.moved += len(b)
        except OSError:
            pass

    def stop(self):
        self.stopped.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for th in self.threads:
            th.join(5)


class Holder:
    """A resource that accepts connections and keeps them open, reading and
    dropping what comes, in one thread (a thousand streams, not a thousand
    threads). ``count``: connections held now."""

    def __init__(self, host=HOST):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, 0))
        self.ls.listen(4096)
        self.port = self.ls.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.ls, selectors.EVENT_READ)
        self.count = 0
        self.received = 0
        self.stopped = False
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.stopped:
            for key, _ in self.sel.select(0.2):
                if key.fileobj is self.ls:
                    c, _ = self.ls.accept()
                    c.setblocking(False)
                    self.sel.register(c, selectors.EVENT_READ)
                    self.count += 1
                    continue
                try:
                    b = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    b = b""
                self.received += len(b)
                if not b:
                    self.sel.unregister(key.fileobj)
                    key.fileobj.close()
                    self.count -= 1

    def close(self):
        self.stopped = True
        self.th.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()
