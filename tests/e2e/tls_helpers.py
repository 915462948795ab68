"""Helpers for the tls layer's end-to-end tests (stdlib + the openssl CLI).

- :func:`tls_pki`: certificates beyond ghtest's PKI: an expired server
  certificate, one for another name, a client certificate of the unrelated CA.
- :class:`TLSProtoServer`: ghtest's ProtoServer behind Python's ssl (a TLS
  resource), counting handshakes, their failures and the client certificates.
- :func:`client_ctx`, :func:`server_ctx`: ssl contexts for applications and
  resources; ``tls_connect``, ``tls_sink``, ``tls_source``, ``tls_echo``:
  streams through a TLS listen side, checked by sha256.
- :class:`HalfCloseClient`: a TLS client (ssl.MemoryBIO) that sends its
  close_notify and FIN and keeps reading, as Python's SSLSocket cannot.
- :func:`client_with_local`: a gatehouse client whose INI adds
  ``[destination NAME]`` sections (client-local handler options).
"""

import hashlib
import os
import socket
import ssl
import struct
import subprocess

import ghtest
from ghtest import HOST, rng


# --------------------------------------------------------------------------- PKI

class TLSPKI:
    def __init__(self, d, base):
        j = lambda n: os.path.join(d, n)  # noqa: E731
        self.base = base
        self.dir = d
        self.expired_cert, self.expired_key = j("expired.crt"), j("expired.key")
        self.wrongname_cert, self.wrongname_key = j("wrongname.crt"), j("wrongname.key")
        self.other_client_cert, self.other_client_key = j("other-client.crt"), j("other-client.key")


_EXT = """\
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[wrongname]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""

# `openssl ca` is the one way in OpenSSL 3.0 to set dates in the past
# (`x509 -days` must be positive and `-not_after` came in 3.4).
_CA_CNF = """\
[ca]
default_ca = testca
[testca]
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
"""

_tls_pki = None


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stdout.decode(errors='replace')}")


def tls_pki():
    """The extra certificates (made once per test run) beside ghtest.session_pki()."""
    global _tls_pki
    if _tls_pki is not None:
        return _tls_pki
    base = ghtest.session_pki()
    d = os.path.join(ghtest.session_dir(), "tls-pki")
    os.makedirs(d, exist_ok=True)
    p = TLSPKI(d, base)
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write(_EXT)
    cacnf = os.path.join(d, "ca.cnf")
    with open(cacnf, "w") as f:
        f.write(_CA_CNF.format(d=d))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("%016X\n" % ghtest._sysrand.getrandbits(63))

    def csr(key, cn):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", key, cwd=d)
        out = key + ".csr"
        _openssl("req", "-new", "-key", key, "-out", out, "-subj", "/CN=" + cn, cwd=d)
        return out

    def sign(cert, key, cn, ext_name, ca_cert, ca_key, days="30"):
        r = csr(key, cn)
        _openssl("x509", "-req", "-in", r, "-CA", ca_cert, "-CAkey", ca_key,
                 "-set_serial", str(ghtest._sysrand.getrandbits(63)), "-days", days,
                 "-sha256", "-extfile", ext, "-extensions", ext_name, "-out", cert, cwd=d)
        os.unlink(r)

    r = csr(p.expired_key, "localhost")
    _openssl("ca", "-batch", "-config", cacnf, "-cert", base.ca_cert, "-keyfile", base.ca_key,
             "-in", r, "-out", p.expired_cert, "-notext", "-startdate", "20200101000000Z",
             "-enddate", "20200201000000Z", "-extfile", ext, "-extensions", "server", cwd=d)
    os.unlink(r)
    sign(p.wrongname_cert, p.wrongname_key, "wrong.example", "wrongname", base.ca_cert, base.ca_key)
    sign(p.other_client_cert, p.other_client_key, "other client", "client",
         base.other_ca_cert, base.other_ca_key)
    # the expired one really is expired, and only that is wrong with it
    r = subprocess.run(["openssl", "verify", "-CAfile", base.ca_cert, p.expired_cert],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert b"expired" in r.stdout, r.stdout
    _openssl("verify", "-CAfile", base.ca_cert, "-no_check_time", p.expired_cert, cwd=d)
    _tls_pki = p
    return p


def read(path):
    with open(path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------- contexts

def client_ctx(ca=None, cert=None, key=None, min_v=None, max_v=None, legacy=False):
    """An application's context: trusts ``ca`` (default: the test CA)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca or ghtest.session_pki().ca_cert)
    if cert:
        ctx.load_cert_chain(cert, key)
    if legacy:
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    if min_v:
        ctx.minimum_version = min_v
    if max_v:
        ctx.maximum_version = max_v
    return ctx


def server_ctx(cert=None, key=None, client_ca=None, min_v=None, max_v=None, legacy=False):
    """A resource's context: shows ``cert`` (default: the test server's), and
    with ``client_ca`` requires a client certificate signed by it."""
    pki = ghtest.session_pki()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert or pki.server_cert, key or pki.server_key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    if legacy:
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    if min_v:
        ctx.minimum_version = min_v
    if max_v:
        ctx.maximum_version = max_v
    return ctx


class TLSProtoServer(ghtest.ProtoServer):
    """A TLS resource speaking ghtest's line protocol. ``handshakes`` counts
    the good ones, ``failures`` the refused ones (repr of the error),
    ``subjects`` the CN of each client certificate shown, ``sni`` the names
    the clients sent."""

    def __init__(self, ctx, **kw):
        self.ctx = ctx
        self.handshakes = 0
        self.failures = []
        self.subjects = []
        self.sni = []
        self.versions = []
        ctx.sni_callback = self._on_sni
        super().__init__(**kw)

    def _on_sni(self, sslobj, name, ctx):
        with self.lock:
            self.sni.append(name)

    def handle(self, c):
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.lock:
                self.failures.append(repr(e))
            return
        cert = s.getpeercert()
        with self.lock:
            self.handshakes += 1
            self.versions.append(s.version())
            if cert:
                self.subjects.append(dict(x[0] for x in cert["subject"]).get("commonName"))
        try:
            super().handle(s)
        finally:
            s.close()


class BannerServer(ghtest._TCPServer):
    """A plaintext service that greets first (as SMTP or SSH do)."""

    def handle(self, c):
        c.sendall(b"220 plaintext service ready\r\n")
        ghtest._drain_to_eof(c)


class AskThenResetServer(ghtest._TCPServer):
    """A TLS 1.3 resource that asks for a client certificate (optional, so
    that its handshake completes) and then resets the connection without a
    word: what a resource that refuses a missing certificate looks like
    when its alert is lost to its reset."""

    def __init__(self, ctx, **kw):
        self.ctx = ctx
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.handshakes = 0
        super().__init__(**kw)

    def handle(self, c):
        s = self.ctx.wrap_socket(c, server_side=True)
        with self.lock:
            self.handshakes += 1
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


class SilentServer(ghtest._TCPServer):
    """Accepts and reads, never answers: a resource whose handshake stalls."""

    def handle(self, c):
        ghtest._drain_to_eof(c)


# --------------------------------------------------------------------------- streams

def tls_connect(port, ctx, server_hostname="localhost", host=HOST, timeout=30.0):
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        s = ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise
    s.settimeout(timeout)
    return s


def tls_sink(port, ctx, size, **kw):
    """Upload ``size`` bytes over TLS to a SINK resource; check its sha256 answer."""
    seed = rng.getrandbits(64)
    with tls_connect(port, ctx, **kw) as s:
        sha = ghtest._send_stream(s, seed, size, f"SINK {size}\n".encode())
        line, _ = ghtest.recv_line(s)
        assert line.strip() == sha, f"sink {size}: the resource got other bytes"
    return size


def tls_source(port, ctx, size, **kw):
    """Download ``size`` bytes over TLS from a SOURCE resource; check by sha256."""
    seed = rng.getrandbits(64)
    with tls_connect(port, ctx, **kw) as s:
        s.sendall(f"SOURCE {size} {seed}\n".encode())
        got, sha = ghtest._recv_hash(s, size)
        assert sha == ghtest.stream_sha256(seed, size), f"source {size}: sha256 mismatch"
    return size


def tls_echo(port, ctx, payload=None, **kw):
    """A small echo over TLS (sent whole, then read back: one thread)."""
    payload = payload if payload is not None else rng.randbytes(4000)
    with tls_connect(port, ctx, **kw) as s:
        s.sendall(b"ECHO\n" + payload)
        got = ghtest.recv_exact(s, len(payload))
        assert got == payload, "echo: other bytes came back"
    return len(payload)


def handshake_refused(port, ctx, server_hostname="localhost", timeout=30.0):
    """Connect, try the handshake and one exchange, and return how it was
    refused (a string). Fails if data came back: the refusal must come
    before any byte of the resource."""
    raw = socket.create_connection((HOST, port), timeout=timeout)
    local = raw.getsockname()
    try:
        s = ctx.wrap_socket(raw, server_hostname=server_hostname)
    except (ssl.SSLError, OSError) as e:
        raw.close()
        return local, f"handshake: {e!r}"
    try:
        # TLS 1.3: the client's handshake ends before the server has checked
        # its certificate; the refusal comes as an alert on the first read.
        s.settimeout(timeout)
        try:
            s.sendall(b"ECHO\nping")
            b = s.recv(100)
        except (ssl.SSLError, OSError) as e:
            return local, f"read: {e!r}"
        if b:
            raise AssertionError(f"refused connection got data: {b!r}")
        return local, "eof"
    finally:
        s.close()


class HalfCloseClient:
    """TLS over ssl.MemoryBIO, so that it can send close_notify and FIN and
    still read what comes back."""

    def __init__(self, port, ctx, server_hostname="localhost", timeout=30.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=server_hostname)
        self.eof = False
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        b = self.sock.recv(1 << 16)
        if not b:
            self.inc.write_eof()
        else:
            self.inc.write(b)
        return b

    def sendall(self, data):
        for i in range(0, len(data), 1 << 16):
            self.obj.write(data[i:i + (1 << 16)])
            self._flush()

    def close_write(self):
        """Our close_notify, then the TCP half-close."""
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass  # it waits for the peer's close_notify: not now
        self._flush()
        self.sock.shutdown(socket.SHUT_WR)

    def recv(self, n=1 << 16):
        """Plaintext; b"" at the peer's close_notify (or a bare EOF)."""
        while not self.eof:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    self.eof = True
            except ssl.SSLZeroReturnError:
                self.eof = True
        return b""

    def close(self):
        self.sock.close()


def half_close_check(port, ctx, req_size, reply_size, **kw):
    """Through a TLS listen side: a request, our close_notify and FIN, then the
    whole reply (sha256 of the request + reply_size bytes) and the end."""
    seed = rng.getrandbits(64)
    c = HalfCloseClient(port, ctx, **kw)
    try:
        h = hashlib.sha256()
        c.sendall(f"EOF {reply_size} {seed}\n".encode())
        for chunk in ghtest.stream_chunks(seed ^ 1, req_size):
            c.sendall(chunk)
            h.update(chunk)
        c.close_write()
        buf = b""
        while b"\n" not in buf:
            b = c.recv()
            assert b, f"half-close: the end came before the answer ({buf[:64]!r})"
            buf += b
        line, rest = buf.split(b"\n", 1)
        assert line.decode() == h.hexdigest(), "half-close: the resource saw another request"
        hr = hashlib.sha256(rest)
        got = len(rest)
        while True:
            b = c.recv()
            if not b:
                break
            hr.update(b)
            got += len(b)
        assert got == reply_size and hr.hexdigest() == ghtest.stream_sha256(seed, reply_size), \
            f"half-close: reply of {got} bytes, {reply_size} expected (or sha256 mismatch)"
    finally:
        c.close()


def s_client(port, *args, timeout=30):
    """openssl s_client to 127.0.0.1:port with ``args``, stdin closed; returns
    (exit status, output)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername",
                        "localhost", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace")


# --------------------------------------------------------------------------- gatehouse

def client_with_local(t, server, token, locals_, gateway="gw1", name="client", acl=ghtest.DEFAULT_ACL):
    """A gatehouse client of ``server`` whose INI also has ``[destination NAME]``
    sections: ``locals_`` is {name: [(key, value), ...]} (gateway = is added)."""
    opts = [("server", f"{HOST}:{server.tunnel_port}"), ("token", token),
            ("ca", ghtest.session_pki().ca_cert), ("connections", 1)]
    secs = ghtest.client_sections({gateway: opts}, acl)
    for dname, pairs in locals_.items():
        secs.append((f"destination {dname}", [("gateway", gateway)] + list(pairs)))
    g = t.gatehouse("client", secs, name=name)
    g.token = token
    return g


def tls_dest(kind, name, port, resource_port, listen=None, resource=None, extra=(), **kw):
    """An onprem/cloud destination with per-side chains (``listen``, ``resource``:
    e.g. "tls" or "tcp") and extra keys."""
    pairs = [("protocol", None)]
    pairs.append(("listen.protocol", listen or "tcp"))
    pairs.append(("resource.protocol", resource or "tcp"))
    pairs.extend(extra)
    fn = ghtest.onprem if kind == "onprem" else ghtest.cloud
    return fn(name, port, resource_port, extra=pairs, **kw)


def wait_tls(port, ctx, timeout=30.0, procs=(), **kw):
    """Retry a small TLS echo through ``port`` until it works."""
    _, secs = ghtest.retry(lambda: tls_echo(port, ctx, **kw), timeout,
                           what=f"TLS echo through {port}", procs=procs)
    return secs


def count_lock(server):
    with server.lock:
        return server.accepted

