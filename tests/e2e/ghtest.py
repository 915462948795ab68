"""ghtest: the small harness behind gatehouse's end-to-end tests (stdlib only).

A test file defines functions ``test_*(t)`` and ends with::

    if __name__ == "__main__":
        ghtest.main(globals())

Each test gets a fresh :class:`Case` ``t`` (its own temp dir, processes and peers,
all cleaned up after it). The runner runs the tests in the order they are defined,
prints ``PASS name (1.2s)`` / ``FAIL name (3.4s)``, the tail of every gatehouse log
of a failed test, and closes with ``N passed, M failed`` (exit 1 if any failed).

Environment: GH_BIN (the gatehouse binary), GH_PLUGIN_DIR, GH_BUILD_DIR (set by
ctest); GH_SEED (reproduce random sizes), GH_KEEP=1 (keep temp dirs),
GH_TAIL=N (log lines shown on failure), GH_TEST_TIMEOUT=S (per-test watchdog).
Command line: test names (or substrings) to run only those.

Peers speak a tiny line protocol so one resource serves every kind of stream
(:class:`ProtoServer`): the application sends one header line, then data:

    ECHO\\n               echo everything until EOF, then shut down the write side
    SINK n\\n             read exactly n bytes, answer "<sha256 hex>\\n"
    SOURCE n seed\\n      send n bytes of the deterministic stream ``seed``
    EOF m seed\\n         read until EOF, answer "<sha256 hex>\\n" + m bytes of ``seed``, close
    HOLD n\\n             read nothing until the test calls release(), then as SINK n
"""

import hashlib
import os
import shutil
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HOST = "127.0.0.1"
CHUNK = 64 * 1024
MiB = 1024 * 1024
KiB = 1024

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))


def _default_bin():
    if os.environ.get("GH_BIN"):
        return os.environ["GH_BIN"]
    bdir = os.environ.get("GH_BUILD_DIR") or os.path.join(_ROOT, "build")
    return os.path.join(bdir, "gatehouse")


GH_BIN = _default_bin()
GH_PLUGIN_DIR = os.environ.get("GH_PLUGIN_DIR") or ""
GH_BUILD_DIR = os.environ.get("GH_BUILD_DIR") or os.path.dirname(GH_BIN)

SEED = int(os.environ.get("GH_SEED") or random.SystemRandom().getrandbits(32))
rng = random.Random(SEED)  # sizes and seeds of a run; print SEED to reproduce


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------- ports

_used_ports = set()
_ports_lock = threading.Lock()
_sysrand = random.SystemRandom()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port, host=HOST):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((host, port))  # no SO_REUSEADDR: TIME_WAIT counts as taken
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port(host=HOST):
    """A port that is free now (TCP and UDP) and not yet handed out by this process.

    Ports are drawn at random *below* the kernel's ephemeral range where there is
    room, so that an outgoing connection (the tunnel's own, the peers') cannot take
    the port between this call and the moment gatehouse binds it, and so that
    tests running in parallel rarely draw the same one. Falls back to bind(0).
    """
    lo, _hi = _ephemeral_range()
    a, b = (10000, lo - 1) if lo > 12000 else (1025, 9999)
    with _ports_lock:
        for _ in range(500):
            p = _sysrand.randint(a, b)
            if p not in _used_ports and _bindable(p, host):
                _used_ports.add(p)
                return p
        while True:
            s = socket.socket()
            s.bind((host, 0))
            p = s.getsockname()[1]
            s.close()
            if p not in _used_ports:
                _used_ports.add(p)
                return p


def free_ports(n, host=HOST):
    """n distinct free ports."""
    return [free_port(host) for _ in range(n)]


def wait_port(host, port, timeout=20.0, procs=()):
    """Wait until host:port accepts a TCP connection. Fails early if a process in
    ``procs`` (Gatehouse objects) has exited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for p in procs:
            p.check_alive()
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} not accepting after {timeout}s ({last!r})")


def wait_until(pred, timeout, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def _read_file(path, since=0):
    try:
        with open(path, "rb") as f:
            f.seek(since)
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def wait_log(source, regex, timeout=20.0, since=0):
    """Wait until the log (a Gatehouse object or a file path) has a line matching
    ``regex`` (str or compiled, searched per line) after byte offset ``since``.
    Returns the match. Fails early if the Gatehouse process has exited and the
    line is still not there."""
    rx = re.compile(regex) if isinstance(regex, str) else regex
    path = source.log_path if hasattr(source, "log_path") else source
    deadline = time.monotonic() + timeout
    while True:
        dead = hasattr(source, "alive") and not source.alive()
        for line in _read_file(path, since).splitlines():
            if line.startswith(_MARK):
                continue
            m = rx.search(line)
            if m:
                return m
        if dead:
            raise AssertionError(
                f"{getattr(source, 'name', path)} exited (rc={source.rc}) "
                f"with no log line matching {rx.pattern!r}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no line matching {rx.pattern!r} in {path} after {timeout}s")
        time.sleep(0.1)


_MARK = "===== ghtest:"  # the harness's own lines in a log (skipped by wait_log)


def log_size(source):
    path = source.log_path if hasattr(source, "log_path") else source
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def random_token():
    """A random 32-hex-character gateway token."""
    return "%032x" % _sysrand.getrandbits(128)


# --------------------------------------------------------------------------- PKI


class PKI:
    """Paths of a test PKI (see make_pki)."""

    def __init__(self, d):
        j = lambda n: os.path.join(d, n)  # noqa: E731
        self.dir = d
        self.ca_cert, self.ca_key = j("ca.crt"), j("ca.key")
        self.server_cert, self.server_key = j("server.crt"), j("server.key")
        self.client_cert, self.client_key = j("client.crt"), j("client.key")
        self.other_ca_cert, self.other_ca_key = j("other-ca.crt"), j("other-ca.key")
        self.other_cert, self.other_key = j("other.crt"), j("other.key")

    def __repr__(self):
        return f"PKI({self.dir})"


_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stdout.decode(errors='replace')}")


def make_pki(d):
    """Create, with the openssl CLI, in directory ``d``: a CA (EC P-256); a server
    certificate for DNS:localhost, IP:127.0.0.1, IP:::1 (serverAuth); a client
    certificate (clientAuth); and an unrelated second CA with a server-like
    certificate of its own, for negative tests. Returns a :class:`PKI`."""
    os.makedirs(d, exist_ok=True)
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(_OPENSSL_CNF)
    p = PKI(d)

    def key(path):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", path, cwd=d)

    def ca(cert, k, cn):
        key(k)
        _openssl("req", "-config", cnf, "-new", "-x509", "-key", k, "-out", cert,
                 "-days", "30", "-subj", "/CN=" + cn, "-extensions", "ca", "-sha256", cwd=d)

    def leaf(cert, k, cn, ext, ca_cert, ca_key):
        key(k)
        csr = cert + ".csr"
        _openssl("req", "-config", cnf, "-new", "-key", k, "-out", csr, "-subj", "/CN=" + cn, cwd=d)
        _openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                 "-set_serial", str(_sysrand.getrandbits(63)), "-days", "30", "-sha256",
                 "-extfile", cnf, "-extensions", ext, "-out", cert, cwd=d)
        os.unlink(csr)

    ca(p.ca_cert, p.ca_key, "gatehouse test CA")
    leaf(p.server_cert, p.server_key, "localhost", "server", p.ca_cert, p.ca_key)
    leaf(p.client_cert, p.client_key, "gw1 client", "client", p.ca_cert, p.ca_key)
    ca(p.other_ca_cert, p.other_ca_key, "unrelated test CA")
    leaf(p.other_cert, p.other_key, "localhost", "server", p.other_ca_cert, p.other_ca_key)
    for k in (p.ca_key, p.server_key, p.client_key, p.other_ca_key, p.other_key):
        os.chmod(k, 0o600)
    return p


def issue_cert(p, name, cn, ext="client", ca=None):
    """Another certificate of ``p``'s CA, or of ``ca`` = (cert, key) (``ext``:
    client, server or ca, as in make_pki). Returns (cert, key) paths in p.dir."""
    ca_cert, ca_key = ca or (p.ca_cert, p.ca_key)
    cert, key = os.path.join(p.dir, name + ".crt"), os.path.join(p.dir, name + ".key")
    cnf = os.path.join(p.dir, "openssl.cnf")
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", key, cwd=p.dir)
    os.chmod(key, 0o600)
    csr = cert + ".csr"
    _openssl("req", "-config", cnf, "-new", "-key", key, "-out", csr, "-subj", "/CN=" + cn,
             cwd=p.dir)
    _openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
             "-set_serial", str(_sysrand.getrandbits(63)), "-days", "30", "-sha256",
             "-extfile", cnf, "-extensions", ext, "-out", cert, cwd=p.dir)
    os.unlink(csr)
    return cert, key


def make_crl(p, out, revoked=(), ca=None):
    """A PEM CRL of ``p``'s CA, or of ``ca`` = (cert, key), at ``out``
    (openssl ca -gencrl) that revokes the certificates at the paths in
    ``revoked``. Each call starts a fresh CA database, so the CRL lists
    exactly ``revoked``."""
    ca_cert, ca_key = ca or (p.ca_cert, p.ca_key)
    d = os.path.join(p.dir, "crl-db-" + os.path.basename(out))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "crlnumber"), "w") as f:
        f.write("01\n")
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as f:
        f.write(f"""[ca]
default_ca = test_ca
[test_ca]
database = {d}/index.txt
crlnumber = {d}/crlnumber
certificate = {ca_cert}
private_key = {ca_key}
default_md = sha256
default_crl_days = 30
""")
    for cert in revoked:
        _openssl("ca", "-config", cnf, "-revoke", cert, cwd=d)
    tmp = out + ".tmp"
    _openssl("ca", "-config", cnf, "-gencrl", "-out", tmp, cwd=d)
    os.replace(tmp, out)  # a reload never reads half a file
    return out


def check_pki(p):
    """Self-check with Python's ssl: the chains verify and the wrong CA does not."""
    ctx = ssl.create_default_context(cafile=p.ca_cert)
    ctx.load_cert_chain(p.client_cert, p.client_key)
    ssl.create_default_context().load_cert_chain(p.server_cert, p.server_key)
    for cmd in (["verify", "-CAfile", p.ca_cert, "-purpose", "sslserver", p.server_cert],
                ["verify", "-CAfile", p.ca_cert, "-purpose", "sslclient", p.client_cert],
                ["verify", "-CAfile", p.other_ca_cert, p.other_cert]):
        _openssl(*cmd, cwd=p.dir)
    r = subprocess.run(["openssl", "verify", "-CAfile", p.other_ca_cert, p.server_cert],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode != 0, "server cert must not verify against the other CA"


# --------------------------------------------------------------------------- INI


def _fmt(v):
    if v is True:
        return "yes"
    if v is False:
        return "no"
    return str(v)


def ini_text(sections):
    """INI text from ``[(title, items), ...]``: ``items`` is a dict or a list of
    ``(key, value)`` pairs; a list/tuple value repeats the key once per element;
    a value of None drops the key."""
    out = []
    for title, items in sections:
        out.append(f"[{title}]")
        pairs = items.items() if isinstance(items, dict) else items
        for k, v in pairs:
            if v is None:
                continue
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                out.append(f"{k} = {_fmt(x)}")
        out.append("")
    return "\n".join(out)


def ini_line_of(text, pattern):
    """1-based number of the first line of ``text`` matching regex ``pattern``."""
    for i, line in enumerate(text.splitlines(), 1):
        if re.search(pattern, line):
            return i
    raise ValueError(f"no line matches {pattern!r}")


def _merge(base, extra):
    """Ordered (key, value) pairs: base, with keys of ``extra`` replacing or appended."""
    pairs = list(base.items() if isinstance(base, dict) else base)
    for k, v in (extra.items() if isinstance(extra, dict) else (extra or [])):
        idx = [i for i, (bk, _) in enumerate(pairs) if bk == k]
        if idx:
            pairs[idx[0]] = (k, v)
        else:
            pairs.append((k, v))
    return pairs


def server_sections(tunnel_port, pki, gateways, destinations=(), server=None):
    """Sections of a server config per SPEC.

    gateways: {"gw1": token or [tokens]}; destinations: from onprem()/cloud();
    server: extra or replacing [server] keys (e.g. {"client_ca": ...})."""
    base = [("tunnel_listen", f"{HOST}:{tunnel_port}"),
            ("cert", pki.server_cert), ("key", pki.server_key),
            ("plugin_dir", GH_PLUGIN_DIR or None),
            ("log_level", "debug"), ("drain_timeout", 3)]
    secs = [("server", _merge(base, server))]
    for gw, tokens in gateways.items():
        secs.append((f"gateway {gw}", [("token", tokens)]))
    secs.extend(destinations)
    return secs


def onprem(name, listen_port, resource_port, gateway="gw1", protocol="tcp",
           resource_host=HOST, extra=None):
    """An on-prem destination: the server listens on listen_port, the client
    connects to resource_host:resource_port."""
    return (f"destination {name}", _merge(
        [("gateway", gateway), ("type", "onprem"), ("listen", f"{HOST}:{listen_port}"),
         ("resource", f"{resource_host}:{resource_port}"), ("protocol", protocol)], extra))


def cloud(name, client_port, resource_port, gateway="gw1", protocol="tcp",
          resource_host=HOST, client_bind=HOST, extra=None):
    """A cloud destination: the client listens on client_bind:client_port, the
    server connects to resource_host:resource_port."""
    return (f"destination {name}", _merge(
        [("gateway", gateway), ("type", "cloud"), ("client_port", client_port),
         ("client_bind", client_bind), ("resource", f"{resource_host}:{resource_port}"),
         ("protocol", protocol)], extra))


DEFAULT_ACL = [("allow", f"{HOST}:*"), ("deny", "*")]


def client_sections(gateways, acl=DEFAULT_ACL, client=None):
    """Sections of a client config per SPEC.

    gateways: {"gw1": {"server": "127.0.0.1:PORT", "token": ..., "ca": ...,
    "connections": 1, ...}} (keys in that order, extra keys appended);
    acl: [(allow|deny, rule), ...] or None for no [acl] section."""
    base = [("plugin_dir", GH_PLUGIN_DIR or None), ("log_level", "debug")]
    secs = [("client", _merge(base, client))]
    for gw, opts in gateways.items():
        pairs = _merge([("server", None), ("token", None), ("ca", None),
                        ("connections", 1)], opts)
        secs.append((f"gateway {gw}", pairs))
    if acl is not None:
        secs.append(("acl", list(acl)))
    return secs


# --------------------------------------------------------------------------- processes

_all_procs = []


def _pdeathsig():
    # The child dies with the test runner, whatever kills the runner.
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


SANITIZER_RX = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|"
                          r"runtime error:|AddressSanitizer:DEADLYSIGNAL")


class Gatehouse:
    """One gatehouse process: ``role`` is server/client (with a config written from
    ``sections``) or any other command (``args``). Output goes to ``log_path``."""

    def __init__(self, case, role, sections=None, name=None, args=None, verbose=True):
        self.case = case
        self.role = role
        self.name = name or role
        self.sections = sections
        self.config_path = os.path.join(case.dir, f"{self.name}.ini") if sections is not None else None
        self.log_path = os.path.join(case.dir, f"{self.name}.log")
        self.args = args
        self.verbose = verbose
        self.proc = None
        self.rc = None
        self.killed = False       # the test killed it on purpose (kill9)
        self.allow_exit = False   # the test expects it may exit by itself
        self.tunnel_port = None   # servers: set by the helpers
        self.stopped = False      # stop() signalled it
        self.starts = 0

    # config
    def config_text(self):
        return self.sections if isinstance(self.sections, str) else ini_text(self.sections)

    def write_config(self):
        if self.config_path:
            with open(self.config_path, "w") as f:
                f.write(self.config_text())

    def command(self):
        if self.args is not None:
            return [GH_BIN, *self.args]
        cmd = [GH_BIN, self.role, "-c", self.config_path]
        return cmd + (["-v"] if self.verbose else [])

    # life
    def start(self):
        assert not self.alive(), f"{self.name} already running"
        if not os.path.exists(GH_BIN):
            raise AssertionError(f"gatehouse binary not found: {GH_BIN} (set GH_BIN)")
        self.write_config()
        self.starts += 1
        with open(self.log_path, "ab") as lf:
            lf.write(f"{_MARK} start #{self.starts}: {' '.join(self.command())}\n".encode())
            lf.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT, cwd=self.case.dir,
                                         preexec_fn=_pdeathsig)
        self.rc = None
        self.killed = False
        self.stopped = False
        _all_procs.append(self)
        return self

    def alive(self):
        if self.proc is None:
            return False
        if self.rc is None:
            self.rc = self.proc.poll()
        return self.rc is None

    def check_alive(self):
        if not self.alive() and not self.killed and not self.allow_exit:
            raise AssertionError(f"{self.name} exited early with rc={self.rc}")

    def pid(self):
        return self.proc.pid if self.proc else None

    def send_signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        return self.rc

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Send ``sig``, wait up to ``timeout`` s, then SIGKILL. Returns the exit
        status (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if not self.alive():
            return self.rc
        self.stopped = True
        self.proc.send_signal(sig)
        if self.wait(timeout) is None:
            log(f"  {self.name}: no exit {timeout}s after signal {sig}: SIGKILL")
            self.proc.kill()
            self.rc = self.proc.wait(timeout=10)
        return self.rc

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.rc = self.proc.wait(timeout=10)
        self.killed = True

    def restart(self):
        self.stop()
        return self.start()

    # logs
    def log_text(self, since=0):
        return _read_file(self.log_path, since)

    def log_size(self):
        return log_size(self)

    def tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_log(self, regex, timeout=20.0, since=0):
        return wait_log(self, regex, timeout, since)

    def sanitizer_report(self):
        m = SANITIZER_RX.search(self.log_text())
        if not m:
            return None
        text = self.log_text()
        return text[max(0, m.start() - 200): m.start() + 3000]


def _kill_all_procs():
    for p in _all_procs:
        try:
            if p.alive():
                p.proc.kill()
        except Exception:
            pass


# --------------------------------------------------------------------------- peers


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        b = sock.recv(min(n - len(buf), 1 << 20))
        if not b:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += b
    return bytes(buf)


def recv_line(sock, limit=256):
    """Read one header line; returns (line_without_newline, rest_already_read)."""
    buf = b""
    while b"\n" not in buf:
        b = sock.recv(limit)
        if not b:
            raise EOFError(f"EOF before the end of the header line ({buf[:64]!r})")
        buf += b
        if len(buf) > limit and b"\n" not in buf[:limit]:
            raise ValueError(f"header line too long: {buf[:64]!r}")
    line, rest = buf.split(b"\n", 1)
    return line.decode("ascii", "replace"), rest


def stream_chunks(seed, size, chunk=CHUNK):
    """The deterministic pseudo-random byte stream number ``seed``, ``size`` bytes long."""
    g = random.Random(seed)
    left = size
    while left > 0:
        n = min(chunk, left)
        yield g.randbytes(n)
        left -= n


def stream_sha256(seed, size):
    h = hashlib.sha256()
    for c in stream_chunks(seed, size):
        h.update(c)
    return h.hexdigest()


class _TCPServer:
    """A threaded TCP server on 127.0.0.1 (a port of its own by default): one
    thread per connection; close() shuts every connection down."""

    def __init__(self, port=0, host=HOST, timeout=120.0, name=None):
        self.name = name or type(self).__name__
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1024)
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()[:2]
        self.accepted = 0
        self.completed = 0
        self.errors = []
        self.conns = set()
        self.lock = threading.Lock()
        self.closed = False
        self._thread = threading.Thread(target=self._accept_loop, name=self.name, daemon=True)
        self._thread.start()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def _accept_loop(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            c.settimeout(self.timeout)
            with self.lock:
                self.accepted += 1
                self.conns.add(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handle(c)
            with self.lock:
                self.completed += 1
        except Exception as e:  # recorded; tests decide what matters
            if not self.closed:
                with self.lock:
                    self.errors.append(repr(e))
        finally:
            with self.lock:
                self.conns.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def handle(self, c):
        raise NotImplementedError

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(2)


def recv_to_eof(sock):
    """Everything the peer sends until it closes."""
    chunks = []
    while True:
        b = sock.recv(CHUNK)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _drain_to_eof(c):
    try:
        while c.recv(CHUNK):
            pass
    except OSError:
        pass


class EchoServer(_TCPServer):
    """Echoes every connection until EOF, then shuts down its write side."""

    def handle(self, c):
        while True:
            b = c.recv(CHUNK)
            if not b:
                break
            c.sendall(b)
        c.shutdown(socket.SHUT_WR)
        _drain_to_eof(c)


class ProtoServer(_TCPServer):
    """The test resource: one header line chooses ECHO / SINK / SOURCE / EOF / HOLD
    (see the module doc)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.release_event = threading.Event()
        self.held_bytes = 0  # what HOLD connections read once released

    def release(self):
        self.release_event.set()

    def handle(self, c):
        line, rest = recv_line(c)
        word, *args = line.split()
        if word == "ECHO":
            if rest:
                c.sendall(rest)
            EchoServer.handle(self, c)
        elif word in ("SINK", "HOLD"):
            n = int(args[0])
            if word == "HOLD":
                self.release_event.wait(self.timeout)
            h = hashlib.sha256(rest[:n])
            got = len(rest[:n])
            while got < n:
                b = c.recv(min(n - got, 1 << 20))
                if not b:
                    raise EOFError(f"{word}: EOF after {got} of {n} bytes")
                h.update(b)
                got += len(b)
            c.sendall(h.hexdigest().encode() + b"\n")
            c.shutdown(socket.SHUT_WR)
            _drain_to_eof(c)
        elif word == "SOURCE":
            n, seed = int(args[0]), int(args[1])
            for chunk in stream_chunks(seed, n):
                c.sendall(chunk)
            c.shutdown(socket.SHUT_WR)
            _drain_to_eof(c)
        elif word == "EOF":
            m, seed = int(args[0]), int(args[1])
            h = hashlib.sha256(rest)
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                h.update(b)
            c.sendall(h.hexdigest().encode() + b"\n")
            for chunk in stream_chunks(seed, m):
                c.sendall(chunk)
            c.shutdown(socket.SHUT_WR)
        else:
            raise ValueError(f"unknown request {line!r}")


# --------------------------------------------------------------------------- client helpers


def connect(port, host=HOST, timeout=60.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def connect_unix(path, timeout=60.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def _recv_hash(sock, n=None):
    """Read n bytes (or until EOF when n is None); returns (count, sha256 hex)."""
    h = hashlib.sha256()
    got = 0
    while n is None or got < n:
        want = (1 << 20) if n is None else min(n - got, 1 << 20)
        try:
            b = sock.recv(want)
        except ConnectionResetError as e:
            raise AssertionError(f"connection reset after {got} bytes") from e
        if not b:
            if n is None:
                break
            raise AssertionError(f"EOF after {got} of {n} bytes")
        h.update(b)
        got += len(b)
    return got, h.hexdigest()


def expect_eof(sock, timeout=30.0):
    """Assert that the peer ends the stream (EOF; a reset also counts) within timeout,
    with no further data."""
    sock.settimeout(timeout)
    try:
        b = sock.recv(CHUNK)
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        raise AssertionError(f"no EOF within {timeout}s")
    if b:
        raise AssertionError(f"unexpected {len(b)} more bytes instead of EOF: {b[:32]!r}")
    return "eof"


def expect_refused(port, request=b"ECHO\nhello", timeout=30.0, host=HOST):
    """Connect, send ``request`` and require the stream to end (EOF or reset)
    without a byte of answer, as a refused open does. Returns how it ended:
    "eof", "reset", or "reset at connect" (the refusal's reset came before
    connect() read SO_ERROR)."""
    try:
        with connect(port, host, timeout) as s:
            try:
                s.sendall(request)
            except OSError:
                pass  # the reset may come first
            return expect_eof(s, timeout)
    except ConnectionResetError:
        return "reset at connect"


def _send_stream(sock, seed, size, prefix=b"", on_sent=None):
    h = hashlib.sha256()
    if prefix:
        sock.sendall(prefix)
    sent = 0
    for c in stream_chunks(seed, size):
        sock.sendall(c)
        h.update(c)
        sent += len(c)
        if on_sent:
            on_sent(sent)
    return h.hexdigest()


def echo_check(port, size, seed=None, header=b"ECHO\n", host=HOST, timeout=60.0,
               half_close=False, path=None):
    """Send ``size`` pseudo-random bytes through an echo and verify what comes back
    by length and sha256 (a thread sends while this one reads). With
    ``half_close``, shut down the write side after sending and require EOF after
    the echo. ``header``: b"ECHO\\n" for a ProtoServer, b"" for a plain EchoServer.
    ``path``: connect to this Unix socket instead of ``port``.
    Returns the number of bytes verified."""
    seed = rng.getrandbits(64) if seed is None else seed
    s = connect_unix(path, timeout) if path else connect(port, host, timeout)
    try:
        box = {}

        def sender():
            try:
                box["sha"] = _send_stream(s, seed, size, header)
                if half_close:
                    s.shutdown(socket.SHUT_WR)
            except Exception as e:
                box["err"] = e

        th = threading.Thread(target=sender, daemon=True)
        th.start()
        got, sha = _recv_hash(s, size)
        th.join(timeout)
        if th.is_alive():
            raise AssertionError(f"echo {size}: sender still blocked after the echo")
        if "err" in box:
            raise AssertionError(f"echo {size}: send failed: {box['err']!r}")
        if sha != box["sha"]:
            raise AssertionError(f"echo {size}: sha256 mismatch")
        if half_close:
            expect_eof(s, timeout)
        return got
    finally:
        s.close()


def sink_check(port, size, seed=None, host=HOST, timeout=60.0, word="SINK"):
    """Upload: send ``size`` bytes to a SINK resource, verify its sha256 answer."""
    seed = rng.getrandbits(64) if seed is None else seed
    with connect(port, host, timeout) as s:
        sha = _send_stream(s, seed, size, f"{word} {size}\n".encode())
        line, _ = recv_line(s)
        if line.strip() != sha:
            raise AssertionError(f"sink {size}: resource got sha {line.strip()[:16]}…, sent {sha[:16]}…")
        return size


def source_check(port, size, seed=None, host=HOST, timeout=60.0):
    """Download: ask a SOURCE resource for ``size`` bytes, verify them by sha256."""
    seed = rng.getrandbits(64) if seed is None else seed
    with connect(port, host, timeout) as s:
        s.sendall(f"SOURCE {size} {seed}\n".encode())
        got, sha = _recv_hash(s, size)
        if sha != stream_sha256(seed, size):
            raise AssertionError(f"source {size}: sha256 mismatch")
        return got


def request_reply_check(port, req_size, reply_size, seed=None, host=HOST, timeout=60.0):
    """Half-close: send a request of req_size bytes, shut down the write side, and
    require the whole reply (sha256 of the request + reply_size bytes) then EOF."""
    seed = rng.getrandbits(64) if seed is None else seed
    with connect(port, host, timeout) as s:
        box = {}

        def sender():
            try:
                box["sha"] = _send_stream(s, seed ^ 1, req_size, f"EOF {reply_size} {seed}\n".encode())
                s.shutdown(socket.SHUT_WR)
            except Exception as e:
                box["err"] = e

        th = threading.Thread(target=sender, daemon=True)
        th.start()
        line, rest = recv_line(s)
        th.join(timeout)
        if "err" in box:
            raise AssertionError(f"request {req_size}: send failed: {box['err']!r}")
        if line.strip() != box.get("sha"):
            raise AssertionError("request/reply: the resource saw a different request")
        h = hashlib.sha256(rest)
        got = len(rest)
        while True:
            try:
                b = s.recv(1 << 20)
            except ConnectionResetError as e:
                raise AssertionError(f"reply: reset after {got} of {reply_size} bytes") from e
            if not b:
                break
            h.update(b)
            got += len(b)
        if got != reply_size or h.hexdigest() != stream_sha256(seed, reply_size):
            raise AssertionError(f"reply: got {got} of {reply_size} bytes"
                                 + ("" if got != reply_size else ", sha256 mismatch"))
        return req_size + reply_size


def stalled_reader(port, header=b"", host=HOST, timeout=300.0):
    """Connect, send ``header``, then read nothing: returns the socket (the caller
    closes it). Its receive buffer is kept small so that the stall reaches the
    tunnel quickly."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.settimeout(timeout)
    s.connect((host, port))
    if header:
        s.sendall(header)
    return s


def run_parallel(jobs, timeout=300.0, what="jobs"):
    """Run the callables in ``jobs`` at once (one thread each, started together);
    returns their results; raises AssertionError listing every failure."""
    results = [None] * len(jobs)
    errors = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs)) if jobs else None

    def run(i, fn):
        try:
            barrier.wait(30)
            results[i] = fn()
        except BaseException as e:  # noqa: B902
            errors[i] = e

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(jobs)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + timeout
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()))
    hung = [i for i, th in enumerate(threads) if th.is_alive()]
    failed = [(i, e) for i, e in enumerate(errors) if e is not None]
    if hung or failed:
        lines = [f"{len(failed)} of {len(jobs)} {what} failed, {len(hung)} still running after {timeout}s"]
        for i, e in failed[:20]:
            lines.append(f"  #{i} {getattr(jobs[i], 'desc', '')}: {e!r}")
        for i in hung[:20]:
            lines.append(f"  #{i} {getattr(jobs[i], 'desc', '')}: still running")
        raise AssertionError("\n".join(lines))
    return results


def job(fn, *args, desc=None, **kw):
    """A callable for run_parallel with a description for its failure message."""
    def run():
        return fn(*args, **kw)
    run.desc = desc or f"{fn.__name__}{args}"
    return run


def retry(fn, timeout, interval=0.2, what="operation", procs=()):
    """Call fn until it returns without raising, for at most ``timeout`` s. Fails
    early if a process in ``procs`` has exited. Returns (result, seconds)."""
    t0 = time.monotonic()
    last = None
    while True:
        for p in procs:
            p.check_alive()
        try:
            return fn(), time.monotonic() - t0
        except (OSError, AssertionError, EOFError, ValueError) as e:
            last = e
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: still failing after {timeout}s: {last!r}")
        time.sleep(interval)


def wait_tunnel(port, timeout=30.0, procs=(), header=b"ECHO\n", host=HOST):
    """Retry a short echo round trip through the destination listening on ``port``
    until it works (the tunnel is up and the destination is in place)."""
    _, secs = retry(lambda: echo_check(port, 1000, header=header, host=host, timeout=5.0),
                    timeout, what=f"echo through {host}:{port}", procs=procs)
    return secs


def mbps(nbytes, secs):
    return nbytes / MiB / secs if secs > 0 else float("inf")


# --------------------------------------------------------------------------- cases


_session_dir = None
_session_pki = None


def session_dir():
    global _session_dir
    if _session_dir is None:
        _session_dir = tempfile.mkdtemp(prefix="gh-e2e-")
    return _session_dir


def session_pki():
    global _session_pki
    if _session_pki is None:
        _session_pki = make_pki(os.path.join(session_dir(), "pki"))
    return _session_pki


class Case:
    """What one test owns: a temp dir, gatehouse processes and peers, cleaned up
    after the test. Processes stopped at the end must exit 0 (SPEC: clean stop),
    and no log may hold a sanitizer report."""

    def __init__(self, name):
        self.name = name
        self.dir = os.path.join(session_dir(), name)
        os.makedirs(self.dir, exist_ok=True)
        self.procs = []
        self.peers = []
        self.deferred = []
        self.t0 = time.monotonic()

    @property
    def pki(self):
        return session_pki()

    token = staticmethod(random_token)
    port = staticmethod(free_port)
    ports = staticmethod(free_ports)

    def log(self, msg):
        log(f"  [{time.monotonic() - self.t0:6.1f}s] {msg}")

    def defer(self, fn, *args):
        self.deferred.append((fn, args))

    # peers
    def echo_server(self, **kw):
        s = EchoServer(**kw)
        self.peers.append(s)
        return s

    def proto_server(self, **kw):
        s = ProtoServer(**kw)
        self.peers.append(s)
        return s

    # processes
    def gatehouse(self, role, sections=None, name=None, args=None, start=True):
        g = Gatehouse(self, role, sections, name=name, args=args)
        self.procs.append(g)
        if start:
            g.start()
        return g

    def server(self, destinations=(), gateways=None, tunnel_port=None, server=None,
               name="server", wait=True):
        """Start a server: gateways {"gw1": token}, destinations from onprem()/cloud()."""
        tunnel_port = tunnel_port or free_port()
        secs = server_sections(tunnel_port, self.pki, gateways or {}, destinations, server)
        g = self.gatehouse("server", secs, name=name, start=False)
        g.tunnel_port = tunnel_port
        g.start()
        if wait:
            wait_port(HOST, tunnel_port, 20, procs=[g])
        return g

    def client(self, server, token, gateway="gw1", acl=DEFAULT_ACL, gateway_opts=None,
               client=None, name="client", start=True):
        """Start a client of ``gateway`` dialing ``server`` (a Gatehouse or a port)."""
        port = server.tunnel_port if isinstance(server, Gatehouse) else server
        opts = _merge([("server", f"{HOST}:{port}"), ("token", token),
                       ("ca", self.pki.ca_cert), ("connections", 1)], gateway_opts)
        secs = client_sections({gateway: opts}, acl, client)
        g = self.gatehouse("client", secs, name=name, start=False)
        g.token = token
        if start:
            g.start()
        return g

    def pair(self, destinations, token=None, acl=DEFAULT_ACL, gateway="gw1", **kw):
        """A server with gateway ``gateway`` and ``destinations``, and one client of
        it. Returns (server, client, token)."""
        token = token or random_token()
        srv = self.server(destinations, {gateway: token}, **kw)
        cli = self.client(srv, token, gateway=gateway, acl=acl)
        return srv, cli, token

    # end
    def dump_logs(self, n=None):
        n = n or int(os.environ.get("GH_TAIL", "60"))
        for g in self.procs:
            log(f"----- {g.name}: last {n} lines of {g.log_path} (rc={g.rc}) -----")
            log(g.tail(n) or "(empty)")
        if self.procs:
            log("----- end of logs -----")

    def finish(self):
        """Stop everything; returns a list of problems (empty when all is well)."""
        problems = []
        # peers first: their connections end, so the streams through gatehouse
        # end too and its drain on SIGTERM is short
        for p in self.peers:
            p.close()
        for g in reversed(self.procs):
            if g.proc is None:
                continue
            was_alive = g.alive()
            rc = g.stop(timeout=40.0)  # > the client's 30 s default drain
            if g.killed or g.allow_exit:
                pass
            elif not was_alive and not g.stopped:
                hint = ""
                if re.search(r"SIG(TERM|INT)\b.{0,20}received", g.log_text()):
                    hint = (" (its log shows a SIGTERM/SIGINT that the harness did not send:"
                            " did another process signal it, e.g. a pkill/killall by name?)")
                problems.append(f"{g.name} exited by itself with rc={rc}{hint}")
            elif rc != 0:
                problems.append(f"{g.name} did not stop cleanly (exit 0) on its signal: rc={rc}")
            rep = g.sanitizer_report()
            if rep:
                problems.append(f"{g.name}: sanitizer report:\n{rep}")
        for fn, args in reversed(self.deferred):
            try:
                fn(*args)
            except Exception as e:
                problems.append(f"cleanup {fn.__name__}: {e!r}")
        return problems


# --------------------------------------------------------------------------- runner


def timeout(seconds):
    """Decorator: this test's watchdog limit in seconds."""
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco


def main(namespace, argv=None):
    argv = sys.argv[1:] if argv is None else argv
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    if argv:
        tests = [(n, f) for n, f in tests if any(a in n for a in argv)]
    default_limit = float(os.environ.get("GH_TEST_TIMEOUT", "240"))
    log(f"ghtest: {len(tests)} tests; GH_BIN={GH_BIN}; GH_PLUGIN_DIR={GH_PLUGIN_DIR or '(unset)'}; "
        f"GH_SEED={SEED}; dir={session_dir()}")
    passed = failed = 0

    def on_signal(signum, frame):
        _kill_all_procs()
        log(f"ghtest: killed by signal {signum}")
        log(f"{passed} passed, {failed + 1} failed")
        os._exit(1)

    signal.signal(signal.SIGTERM, on_signal)

    for name, fn in tests:
        case = Case(name)
        limit = getattr(fn, "timeout", default_limit)
        t0 = time.monotonic()

        def on_timeout(case=case, name=name, t0=t0, limit=limit):
            log(f"FAIL {name} ({time.monotonic() - t0:.1f}s): watchdog: still running after {limit}s")
            for th in threading.enumerate():
                if th is threading.main_thread():
                    log("main thread:\n" + "".join(traceback.format_stack(sys._current_frames()[th.ident])))
            case.dump_logs()
            _kill_all_procs()
            log(f"{passed} passed, {failed + 1} failed")
            os._exit(1)

        dog = threading.Timer(limit, on_timeout)
        dog.daemon = True
        dog.start()
        err = None
        try:
            fn(case) if fn.__code__.co_argcount else fn()
        except BaseException as e:  # noqa: B902
            err = e
            tb = traceback.format_exc()
        problems = case.finish()
        dog.cancel()
        dt = time.monotonic() - t0
        if err is None and not problems:
            passed += 1
            log(f"PASS {name} ({dt:.1f}s)")
        else:
            failed += 1
            log(f"FAIL {name} ({dt:.1f}s)")
            if err is not None:
                log(tb.rstrip())
            for p in problems:
                log(f"  problem: {p}")
            case.dump_logs()
            if isinstance(err, KeyboardInterrupt):
                break
    _kill_all_procs()
    keep = failed or os.environ.get("GH_KEEP")
    if _session_dir:
        if keep:
            log(f"ghtest: files kept in {_session_dir}")
        else:
            import shutil
            shutil.rmtree(_session_dir, ignore_errors=True)
    log(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not tests else 0)
