#!/usr/bin/env python3
"""Several plugin directories, as a third party uses them (issue 17).

A layer written out of tree (tests/e2e/data/rot13.c, built here with cc against
sdk/include only) lives in a directory of its own, listed after the shipped one
with two plugin_dir lines: no links, no copies. Then:

- the shipped handlers and the new layer and its alias serve a real tunnel, and
  the bytes are checked at both ends (rot13 applied on the side that runs it);
- a name declared by two files (a second rot13, a layer named tcp) is an error
  naming both files: `gatehouse plugins` exits 1, `check` and a start exit 2;
- a refused file (built for ABI 2) is named, with its reason, where a
  destination uses its handler, and `gatehouse plugins` exits 1;
- a server without a layer that only its client runs says to install the
  plugin on both machines.
"""
import codecs
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import HOST  # noqa: E402

UP = 30.0
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "rot13.c")
SDK_INCLUDE = os.path.join(ghtest._ROOT, "sdk", "include")


def _shipped():
    d = os.path.abspath(ghtest.GH_PLUGIN_DIR or os.path.join(ghtest.GH_BUILD_DIR, "plugins"))
    assert os.path.isfile(os.path.join(d, "tcp.so")), f"no tcp.so in {d}"
    return d


def _build(t, dirname, *defs, name="rot13.so"):
    """rot13.c compiled into t.dir/dirname/name with -D defs; returns the path."""
    d = os.path.join(t.dir, dirname)
    os.makedirs(d, exist_ok=True)
    out = os.path.join(d, name)
    cmd = ["cc", "-std=c17", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{SDK_INCLUDE}",
           *[f"-D{x}" for x in defs], "-shared", "-fPIC", "-fvisibility=hidden",
           "-Wl,--no-undefined", "-o", out, SRC]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{' '.join(cmd)}:\n{r.stdout}{r.stderr}"
    return out


def _plugins(*dirs):
    args = [ghtest.GH_BIN, "plugins"]
    for d in dirs:
        args += ["--plugin-dir", d]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def _check(path):
    return subprocess.run([ghtest.GH_BIN, "check", "-c", path], capture_output=True, text=True,
                          timeout=30)


def _write(t, name, sections):
    path = os.path.join(t.dir, name)
    text = ghtest.ini_text(sections)
    with open(path, "w") as f:
        f.write(text)
    return path, text


def _start_fails(t, dests, dirs, token):
    """A server that must refuse to start: returns (rc, its output)."""
    srv = t.server(dests, {"gw1": token}, server={"plugin_dir": dirs}, wait=False)
    srv.allow_exit = True
    rc = srv.wait(30)
    return rc, srv.log_text()


class Recorder(ghtest._TCPServer):
    """Reads a connection to EOF, keeps what came, answers REPLY and closes."""
    REPLY = b"Plain reply, 42!\n"

    def __init__(self, **kw):
        self.got = []
        super().__init__(**kw)

    def handle(self, c):
        data = ghtest.recv_to_eof(c)
        with self.lock:
            self.got.append(data)
        c.sendall(self.REPLY)


def _exchange(port, data):
    """Sends data, half-closes, returns everything that comes back."""
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return ghtest.recv_to_eof(s)


def rot13(b):
    return codecs.encode(b.decode(), "rot13").encode()


# --------------------------------------------------------------------------- tests


def test_own_directory_beside_shipped(t):
    shipped = _shipped()
    mine = os.path.dirname(_build(t, "mine"))
    # listed in order, the layer and its alias beside the shipped handlers
    r = _plugins(shipped, mine)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "searched in order (core ABI " in r.stdout, r.stdout
    assert f"):\n  {shipped}\n  {mine}\n\n" in r.stdout, r.stdout
    assert f"{mine}/rot13.so\n  name rot13, version 1.0.0, ABI " in r.stdout, r.stdout
    assert "    rot13 (layer): rot13 of every letter, both ways\n" in r.stdout, r.stdout
    assert "  aliases:\n    tcp-rot13 = tcp+rot13\n" in r.stdout, r.stdout
    assert "  aliases:\n    http = tcp+http\n    https = tcp+tls+http\n" in r.stdout, r.stdout
    assert "tcp (transport)" in r.stdout and "\nrefused:" not in r.stdout, r.stdout
    # once a directory is given, the built-in one is not searched unless listed
    r = _plugins(mine)
    assert r.returncode == 0 and "tcp (transport)" not in r.stdout, r.stdout

    # through a real tunnel: rot13 on the listen side (the server's), and the
    # alias on the resource side (the client's); both processes use both dirs
    res = Recorder()
    t.peers.append(res)
    p1, p2 = t.ports(2)
    dests = [ghtest.onprem("listen-rot", p1, res.port,
                           extra={"protocol": None, "listen.protocol": "tcp+rot13",
                                  "resource.protocol": "tcp"}),
             ghtest.onprem("alias-rot", p2, res.port,
                           extra={"protocol": None, "listen.protocol": "tcp",
                                  "resource.protocol": "tcp-rot13"})]
    token = t.token()
    path, _ = _write(t, "check.ini", ghtest.server_sections(
        t.port(), t.pki, {"gw1": token}, dests, server={"plugin_dir": [shipped, mine]}))
    r = _check(path)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    srv = t.server(dests, {"gw1": token}, server={"plugin_dir": [shipped, mine]})
    cli = t.client(srv, token, client={"plugin_dir": [shipped, mine]})
    text = b"Hello, World! The quick brown fox jumps over the lazy dog. 0123456789\n" * 50
    for port in (p1, p2):
        reply = ghtest.retry(lambda: _exchange(port, text), UP, what=f"tunnel on {port}",
                             procs=[srv, cli])[0]
        # the application's bytes went through one rot13 on the way to the
        # resource, and the reply through one on the way back
        assert reply == rot13(Recorder.REPLY), reply
        with res.lock:
            assert res.got and res.got[-1] == rot13(text), res.got[-1][:80]
    for g in (srv, cli):
        g.wait_log(re.escape(f"{mine}/rot13.so: loaded rot13 1.0.0"))
        g.wait_log(re.escape(f"{shipped}/tcp.so: loaded tcp"))


def test_same_name_in_two_files(t):
    shipped = _shipped()
    a = _build(t, "a")
    b = _build(t, "b")
    da, db = os.path.dirname(a), os.path.dirname(b)
    both = f'{b}: handler "rot13" is already declared by {a}'
    r = _plugins(shipped, da, db)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert both in r.stdout and both in r.stderr, (r.stdout, r.stderr)
    assert f"{a}\n  name rot13" in r.stdout, r.stdout  # the first is listed
    # the same name, whatever the configuration uses: check and start stop
    res = ghtest.ProtoServer()
    t.peers.append(res)
    port = t.port()
    token = t.token()
    dests = [ghtest.onprem("d", port, res.port)]
    path, _ = _write(t, "dup.ini", ghtest.server_sections(
        t.port(), t.pki, {"gw1": token}, dests, server={"plugin_dir": [shipped, da, db]}))
    r = _check(path)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f"{path}: {both}: two plugin files declare one name" in r.stderr, r.stderr
    rc, out = _start_fails(t, dests, [shipped, da, db], token)
    assert rc == 2, (rc, out)
    assert both in out, out

    # a layer named tcp ahead of the shipped directory: both files named, and
    # never the hint of a chain that starts with a layer
    shadow = _build(t, "shadow", 'HNAME="tcp"', "NO_ALIAS", name="aa-shadow.so")
    dshadow = os.path.dirname(shadow)
    want = f'{shipped}/tcp.so: handler "tcp" is already declared by {shadow}'
    r = _plugins(dshadow, shipped)
    assert r.returncode == 1 and want in r.stdout, (r.returncode, r.stdout)
    rc, out = _start_fails(t, dests, [dshadow, shipped], token)
    assert rc == 2 and want in out, (rc, out)
    assert "a layer" not in out, out
    # the same file through a link in a second directory is no conflict
    dlink = os.path.join(t.dir, "link")
    os.makedirs(dlink)
    os.symlink(a, os.path.join(dlink, "rot13.so"))
    r = _plugins(shipped, da, dlink)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)


def test_refused_file_named_where_used(t):
    shipped = _shipped()
    so = _build(t, "old", "ABI_MAJOR=2")
    d = os.path.dirname(so)
    r = _plugins(shipped, d)
    major, minor = re.search(r"core ABI (\d+)\.(\d+)", r.stdout).groups()
    why = f"built for ABI 2.{minor}, this core speaks {major}.{minor}"
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert f"\nrefused:\n  {so}: {why}\n" in r.stdout, r.stdout
    assert "tcp (transport)" in r.stdout, r.stdout  # the good ones are listed
    res = Recorder()
    t.peers.append(res)
    token = t.token()
    dests = [ghtest.onprem("d", t.port(), res.port,
                           extra={"protocol": None, "listen.protocol": "tcp+rot13"})]
    path, text = _write(t, "refused.ini", ghtest.server_sections(
        t.port(), t.pki, {"gw1": token}, dests, server={"plugin_dir": [shipped, d]}))
    line = ghtest.ini_line_of(text, r"^listen\.protocol")
    want = (f"{path}:{line}: listen protocol 'tcp+rot13': handler \"rot13\": {so} was "
            f"refused: {why}")
    r = _check(path)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert want in r.stderr and "unknown protocol handler" not in r.stderr, r.stderr
    # and a start stops on it the same way (its file is server.ini)
    rc, out = _start_fails(t, dests, [shipped, d], token)
    assert rc == 2 and want.replace(path, os.path.join(t.dir, "server.ini")) in out, (rc, out)


def test_server_lacks_a_layer_its_client_runs(t):
    shipped = _shipped()
    mine = os.path.dirname(_build(t, "mine"))
    res = Recorder()
    t.peers.append(res)
    token = t.token()
    # on-prem: the client runs the resource side
    dests = [ghtest.onprem("d", t.port(), res.port,
                           extra={"protocol": None, "listen.protocol": "tcp",
                                  "resource.protocol": "tcp+rot13"})]
    path, text = _write(t, "lacks.ini", ghtest.server_sections(
        t.port(), t.pki, {"gw1": token}, dests, server={"plugin_dir": [shipped]}))
    line = ghtest.ini_line_of(text, r"^resource\.protocol")
    r = _check(path)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    want = (f"{path}:{line}: resource protocol 'tcp+rot13': unknown protocol handler "
            f"\"rot13\"")
    hint = "the client runs this side, and the server checks it too: install the plugin " \
           "on both machines"
    assert want in r.stderr and hint in r.stderr, r.stderr
    rc, out = _start_fails(t, dests, [shipped], token)
    assert rc == 2 and hint in out, (rc, out)
    # with the plugin on both machines it runs
    srv = t.server(dests, {"gw1": token}, server={"plugin_dir": [shipped, mine]})
    cli = t.client(srv, token, client={"plugin_dir": [shipped, mine]})
    port = int(dict(dests[0][1])["listen"].rsplit(":", 1)[1])
    reply = ghtest.retry(lambda: _exchange(port, b"abc XYZ"), UP, what="tunnel",
                         procs=[srv, cli])[0]
    assert reply == rot13(Recorder.REPLY)
    with res.lock:
        assert res.got[-1] == b"nop KLM", res.got


if __name__ == "__main__":
    ghtest.main(globals())
