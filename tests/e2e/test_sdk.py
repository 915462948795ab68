#!/usr/bin/env python3
"""The SDK as a third party meets it: `cmake --install` into a fresh prefix,
then examples/proxy-protocol built OUT of tree (a copy of the directory, its
Makefile, `pkg-config --cflags gatehouse-sdk` with PKG_CONFIG_PATH at the
prefix), unit-tested against the mock host (a copy of tests/support/mock_host.*)
and installed into `pkg-config --variable=plugindir`. The INSTALLED gatehouse
then loads it from its own plugin directory and carries traffic through it: a
resource behind `resource.protocol = tcp+proxy-protocol` must receive the exact
PROXY header (v1 text, v2 binary) naming the application's socket, IPv4 and
IPv6, on-prem and cloud, then every byte of the stream (sha256 both ways)."""
import glob
import os
import re
import shutil
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
import ha_helpers as ha  # noqa: E402
from ghtest import HOST, KiB, MiB  # noqa: E402

UP = 30.0  # seconds a tunnel may take to come up
EXAMPLE = os.path.join(ghtest._ROOT, "examples", "proxy-protocol")
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

_sdk = {}  # the prefix and the example's build, made once for the file


def _run(cmd, env=None, cwd=None, timeout=120):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)}: rc={r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def _installed_sdk():
    """Install once; build, test and install the example once. Returns a dict:
    prefix, env (PKG_CONFIG_PATH), plugindir, so (the built plugin), make (its
    output)."""
    if _sdk:
        return _sdk
    top = os.path.join(ghtest.session_dir(), "sdk")
    shutil.rmtree(top, ignore_errors=True)  # a failed attempt of an earlier test
    prefix = os.path.join(top, "prefix")
    _run(["cmake", "--install", ghtest.GH_BUILD_DIR, "--prefix", prefix])
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "share", "pkgconfig"))
    # Out of tree: a copy of the example as installed, nothing of the
    # sources; `make check` finds the installed mock host with pkg-config.
    docs = os.path.join(prefix, "share", "doc", "gatehouse", "examples")
    src = os.path.join(top, "proxy-protocol")
    shutil.copytree(os.path.join(docs, "proxy-protocol"), src)
    assert sorted(os.listdir(src)) == sorted(f for f in os.listdir(EXAMPLE)
                                             if f not in ("proxy-protocol.so", "test_proxy_protocol"))
    mock = _run(["pkg-config", "--variable=mockdir", "gatehouse-sdk"], env=env).strip()
    assert os.path.realpath(mock) == os.path.realpath(
        os.path.join(prefix, "share", "gatehouse", "mock-host")), mock
    out = _run(["make"], env=env, cwd=src)
    out += _run(["make", "check"], env=env, cwd=src)
    assert f"{mock}/mock_host.c" in out, out
    out += _run(["make", "install"], env=env, cwd=src)
    plugindir = _run(["pkg-config", "--variable=plugindir", "gatehouse-sdk"], env=env).strip()
    _sdk.update(prefix=prefix, env=env, plugindir=plugindir, make=out,
                so=os.path.join(src, "proxy-protocol.so"), bin=os.path.join(prefix, "bin", "gatehouse"))
    # every gatehouse process of this file is the installed one
    ghtest.GH_BIN = _sdk["bin"]
    return _sdk


# --------------------------------------------------------------------------- the resource


def _read_proxy_header(c):
    """The PROXY header at the start of connection c, exactly as sent (v1: up to
    CRLF, at most 107 bytes; v2: the 16-byte head and its length)."""
    first = ghtest.recv_exact(c, 1)
    if first == b"P":
        buf = first
        while not buf.endswith(b"\r\n"):
            if len(buf) >= 107:
                raise ValueError(f"v1 header without CRLF within 107 bytes: {buf!r}")
            buf += ghtest.recv_exact(c, 1)
        return buf
    if first == b"\r":
        head = first + ghtest.recv_exact(c, 15)
        if head[:12] != V2_SIG:
            raise ValueError(f"bad v2 signature: {head!r}")
        (n,) = struct.unpack("!H", head[14:16])
        return head + ghtest.recv_exact(c, n)
    raise ValueError(f"the stream does not start with a PROXY header: {first!r}")


class _ProxyMixin:
    """Reads the PROXY header first and records it, then serves the rest as a
    ProtoServer (ECHO, SINK, ...)."""

    def handle(self, c):
        hdr = _read_proxy_header(c)
        with self.lock:
            self.headers.append(hdr)
        super().handle(c)


class ProxyResource(_ProxyMixin, ghtest.ProtoServer):
    def __init__(self, **kw):
        self.headers = []
        super().__init__(**kw)


class ProxyResource6(_ProxyMixin, ha.ProtoServer6):
    def __init__(self, **kw):
        self.headers = []
        super().__init__(**kw)


def _resource(t, v6=False):
    r = ProxyResource6() if v6 else ProxyResource()
    t.peers.append(r)
    return r


# --------------------------------------------------------------------------- expectations


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def expected_header(version, src, sport, dst, dport):
    """The header proxy-protocol must send: source = the application's socket;
    destination = the resource as configured (README.md: the resource side does
    not know where the application arrived). An IPv4 destination under an IPv6
    source is written IPv4-mapped."""
    fam = _family(src)
    if fam == socket.AF_INET6 and _family(dst) == socket.AF_INET:
        dst = "::ffff:" + dst
    if version == 1:
        s = socket.inet_ntop(fam, socket.inet_pton(fam, src))
        d = socket.inet_ntop(fam, socket.inet_pton(fam, dst))
        proto = "TCP4" if fam == socket.AF_INET else "TCP6"
        return f"PROXY {proto} {s} {d} {sport} {dport}\r\n".encode()
    addrs = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x21, 0x11 if fam == socket.AF_INET else 0x21]) + \
        struct.pack("!H", len(addrs)) + addrs


def echo_via(port, host, src, size):
    """A verified echo of ``size`` bytes from source address ``src`` through the
    destination at host:port, half-closed, EOF required. Returns the
    application socket's own (address, port)."""
    return ha.echo_from(src, port, size, host=host, timeout=30.0)


def _check_header(res, want, what):
    """The resource received exactly `want` for one of its streams. It records
    a header before it echoes a byte, so after a verified echo it is there."""
    with res.lock:
        got = list(res.headers)
    assert want in got, f"{what}: the resource did not get {want!r}; it got (last 3) {got[-3:]!r}"


# --------------------------------------------------------------------------- tests


def test_example_builds_out_of_tree_from_installed_sdk(t):
    sdk = _installed_sdk()
    prefix = os.path.realpath(sdk["prefix"])
    cflags = _run(["pkg-config", "--cflags", "gatehouse-sdk"], env=sdk["env"]).split()
    assert cflags and all(os.path.realpath(f[2:]).startswith(prefix) for f in cflags), cflags
    # the build names the installed SDK (and the copied mock host) and nothing
    # of the gatehouse sources; it is warning-free under -Werror
    assert ghtest._ROOT not in sdk["make"], sdk["make"]
    assert f"-I{sdk['prefix']}/share/pkgconfig/../../include" in sdk["make"], sdk["make"]
    assert "-shared -fPIC" in sdk["make"] and "-fvisibility=hidden" in sdk["make"], sdk["make"]
    assert re.search(r"test_proxy_protocol: \d+ checks passed", sdk["make"]), sdk["make"]
    # installed where the SDK says plugins go, which is where gatehouse looks
    assert os.path.realpath(sdk["plugindir"]) == os.path.join(prefix, "lib", "gatehouse", "plugins")
    so = os.path.join(sdk["plugindir"], "proxy-protocol.so")
    assert os.path.isfile(so)
    out = _run(["nm", "-D", "--defined-only", so])
    names = [ln.split()[-1] for ln in out.splitlines() if ln.strip()]
    assert names == ["gh_plugin_entry"], f"{so} exports {names!r}"
    # `gatehouse plugins` (installed, its own plugin directory) shows the
    # plugin, its handler and its option with type, range, default and help
    out = _run([sdk["bin"], "plugins"])
    abi = (_run(["pkg-config", "--variable=abi_major", "gatehouse-sdk"], env=sdk["env"]).strip(),
           _run(["pkg-config", "--variable=abi_minor", "gatehouse-sdk"], env=sdk["env"]).strip())
    assert "proxy-protocol.so\n  name proxy-protocol, version 1.0.0, ABI %s.%s\n" % abi in out, out
    assert "proxy-protocol (layer): resource side: sends a PROXY protocol header" in out, out
    assert re.search(r"\n      proxy-protocol\.version  int 1\.\.2  default 1\n"
                     r"        PROXY protocol version sent to the resource: 1 \(text\) or 2 "
                     r"\(binary\)\n", out), out


def _server(t, dests, token):
    return t.server(dests, {"gw1": token}, server={"plugin_dir": None})


def _client(t, srv, token, acl):
    return t.client(srv, token, acl=acl, client={"plugin_dir": None})


ACL46 = [("allow", f"{HOST}:*"), ("allow", "[::1]:*"), ("deny", "*")]


def test_onprem_headers_ipv4_ipv6_v1_v2(t):
    """On-prem: the client (resource side) sends the header. Applications from
    127.0.0.2 (IPv4, not the client's own address) and ::1 (IPv6)."""
    _installed_sdk()
    r4, r6 = _resource(t), _resource(t, v6=True)
    p = dict(zip(("v1-4", "v2-4", "v1-6", "v2-6", "mixed"), t.ports(5)))

    def dest(name, listen, res_host, res_port, version):
        items = [("gateway", "gw1"), ("type", "onprem"), ("listen", listen),
                 ("resource", f"[{res_host}]:{res_port}" if ":" in res_host else f"{res_host}:{res_port}"),
                 ("resource.protocol", "tcp+proxy-protocol")]
        if version:
            items.append(("resource.proxy-protocol.version", version))
        return (f"destination {name}", items)

    dests = [dest("v1-4", f"{HOST}:{p['v1-4']}", HOST, r4.port, None),  # default: v1
             dest("v2-4", f"{HOST}:{p['v2-4']}", HOST, r4.port, 2),
             dest("v1-6", f"[::1]:{p['v1-6']}", "::1", r6.port, 1),
             dest("v2-6", f"[::1]:{p['v2-6']}", "::1", r6.port, 2),
             dest("mixed", f"[::1]:{p['mixed']}", HOST, r4.port, 1)]
    token = t.token()
    srv = _server(t, dests, token)
    cli = _client(t, srv, token, ACL46)
    ghtest.wait_tunnel(p["v1-4"], UP, procs=[srv, cli])
    before = len(r4.headers) + len(r6.headers)  # the waits' own streams
    cases = [("v1-4", 1, "127.0.0.2", HOST, r4), ("v2-4", 2, "127.0.0.2", HOST, r4),
             ("v1-6", 1, "::1", "::1", r6), ("v2-6", 2, "::1", "::1", r6),
             ("mixed", 1, "::1", HOST, r4)]
    for name, version, src, res_host, res in cases:
        listen_host = "::1" if ":" in src else HOST
        for size in (0, 100 * KiB + 7, 2 * MiB):
            me = echo_via(p[name], listen_host, src, size)
            want = expected_header(version, me[0], me[1], res_host, res.port)
            _check_header(res, want, f"{name} {size}")
        t.log(f"{name}: {want!r}")
    # one header per stream, none lost, none extra
    assert len(r4.headers) + len(r6.headers) - before == 3 * len(cases), (r4.headers, r6.headers)
    assert not r4.errors and not r6.errors, (r4.errors, r6.errors)
    cli.wait_log(r"proxy-protocol: v2 header \(52 bytes\): source ::1 port \d+, destination ::1")


def test_cloud_headers(t):
    """Cloud: the server (resource side) sends the header; the application
    connects to the client, over IPv4 and IPv6."""
    _installed_sdk()
    res = _resource(t)
    p4, p6 = t.ports(2)
    pp = {"protocol": None, "listen.protocol": "tcp", "resource.protocol": "tcp+proxy-protocol"}
    dests = [ghtest.cloud("c4", p4, res.port, extra={**pp, "proxy-protocol.version": 2}),
             ghtest.cloud("c6", p6, res.port, client_bind="::1", extra=pp)]
    token = t.token()
    srv = _server(t, dests, token)
    cli = _client(t, srv, token, ghtest.DEFAULT_ACL)
    ghtest.retry(lambda: echo_via(p4, HOST, HOST, 10), UP, what="cloud destination up",
                 procs=[srv, cli])
    ghtest.retry(lambda: echo_via(p6, "::1", "::1", 10), UP, what="cloud destination on [::1] up",
                 procs=[srv, cli])
    for port, host, src, version in ((p4, HOST, "127.0.0.3", 2), (p6, "::1", "::1", 1)):
        me = echo_via(port, host, src, 1 * MiB + 3)
        _check_header(res, expected_header(version, me[0], me[1], HOST, res.port),
                      f"cloud v{version} from {src}")
    assert not res.errors, res.errors


def _readme_listing():
    """The C listing that follows the minimal-plugin marker in sdk/README.md."""
    text = open(os.path.join(ghtest._ROOT, "sdk", "README.md")).read()
    m = re.search(r"<!-- minimal-plugin[^>]*-->\s*```c\n(.*?)```", text, re.S)
    assert m, "sdk/README.md: no C listing after the minimal-plugin marker"
    return m.group(1)


def test_readme_plugin_builds_loads_and_works(t):
    """The guide's complete plugin, as printed, builds warning-free against the
    installed SDK, exports one symbol, and counts the bytes of a real stream."""
    sdk = _installed_sdk()
    d = os.path.join(t.dir, "plugins")
    os.makedirs(d)
    with open(os.path.join(t.dir, "tap.c"), "w") as f:
        f.write(_readme_listing())
    cflags = _run(["pkg-config", "--cflags", "gatehouse-sdk"], env=sdk["env"]).split()
    _run(["cc", "-std=c17", "-Wall", "-Wextra", "-Wshadow", "-Werror", "-O2", *cflags, "-shared",
          "-fPIC", "-fvisibility=hidden", "-Wl,--no-undefined", "-o", os.path.join(d, "tap.so"),
          os.path.join(t.dir, "tap.c")])
    out = _run(["nm", "-D", "--defined-only", os.path.join(d, "tap.so")])
    assert [ln.split()[-1] for ln in out.splitlines() if ln.strip()] == ["gh_plugin_entry"], out
    for so in glob.glob(os.path.join(sdk["plugindir"], "*.so")):
        os.symlink(so, os.path.join(d, os.path.basename(so)))
    out = _run([sdk["bin"], "plugins", "--plugin-dir", d])
    assert "tap.label  string  default tap\n" in out and "\nrefused:\n" not in out, out
    res = t.proto_server()
    port = t.port()
    token = t.token()
    srv = t.server([ghtest.onprem("d", port, res.port, protocol="tcp+tap",
                                  extra={"resource.tap.label": "counted"})],
                   {"gw1": token}, server={"plugin_dir": d})
    cli = t.client(srv, token, client={"plugin_dir": d})
    ghtest.wait_tunnel(port, UP, procs=[srv, cli])
    n = 765432
    ghtest.echo_check(port, n, half_close=True)
    # the resource side (client) saw the request go down and the echo go up
    cli.wait_log(r"counted: %d bytes up, %d down \(closed\)" % (n, n + len("ECHO\n")))
    srv.wait_log(r"tap: %d bytes up, %d down \(closed\)" % (n + len("ECHO\n"), n))


def test_close_has_stream_id_and_send_up_reenters_down(t):
    """What the guide promises about a link, on the real core (the layers of
    tests/plugins/probe.c on the server's listen side): a line logged in
    close() carries the stream's id ("#N", N > 0, and link_info() agrees),
    and send_up() may re-enter the same link's down() when the layer above
    answers at once (bounce sends every byte straight back down)."""
    probe = os.path.join(ghtest.GH_BUILD_DIR, "test-plugins", "probe", "probe.so")
    assert os.path.isfile(probe), f"{probe}: not built"
    d = os.path.join(t.dir, "plugins")
    os.makedirs(d)
    for so in glob.glob(os.path.join(os.path.abspath(ghtest.GH_PLUGIN_DIR), "*.so")) + [probe]:
        os.symlink(so, os.path.join(d, os.path.basename(so)))
    res = t.proto_server()
    plain, port = t.ports(2)
    token = t.token()
    dests = [ghtest.onprem("plain", plain, res.port),
             ghtest.onprem("b", port, res.port, protocol=None,
                           extra={"listen.protocol": "tcp+probe+bounce",
                                  "resource.protocol": "tcp",
                                  "listen.probe.label": "watched"})]
    srv = t.server(dests, {"gw1": token}, server={"plugin_dir": d})
    cli = t.client(srv, token, client={"plugin_dir": d})
    ghtest.wait_tunnel(plain, UP, procs=[srv, cli])
    msg = b"bounced by the layer above probe\n"
    with ghtest.connect(port) as c:
        c.sendall(msg)
        assert ghtest.recv_exact(c, len(msg)) == msg
        c.shutdown(socket.SHUT_WR)
        assert ghtest.expect_eof(c) in ("eof", "reset")
    m = srv.wait_log(r"gw1 b #(\d+) \S+: probe: down\(\) re-entered inside send_up\(\)")
    n = m.group(1)
    assert int(n) > 0, f"the stream's id is {n} while it is open"
    # the close() line: the same id in the subject and from link_info()
    srv.wait_log(r"gw1 b #%s \S+: probe: close: watched, stream_id %s, destination b " % (n, n))
    assert not re.search(r"#0 \S+: probe: close", srv.log_text()), srv.tail(20)


def test_header_compiles_pedantic_c99_and_cxx(t):
    """The header builds warning-free under -std=c99 -pedantic and as C++
    (gh_option's anonymous union, ABI 1.2), an ENUM option included."""
    inc = os.path.join(ghtest._ROOT, "sdk", "include")
    src = ('#include <gatehouse/gatehouse.h>\n'
           'static const char *const w[] = {"upper", "rot13", NULL};\n'
           'static const gh_option o[] = {{"mode", GH_OPT_ENUM, 0, {0}, 0, "upper", "h"}};\n'
           'int f(void);\nint f(void) { return o[0].min == 0 && w[0] && GH_HANDLER_NAME_MAX == 32; }\n')
    c = os.path.join(t.dir, "h.c")
    with open(c, "w") as fh:
        fh.write(src)
    _run(["cc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", f"-I{inc}", "-c", c,
          "-o", os.path.join(t.dir, "h.o")])
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx:
        cc = os.path.join(t.dir, "h.cc")
        with open(cc, "w") as fh:
            fh.write(src.replace("{0}", "{.choices = w}"))
        _run([cxx, "-std=c++20", "-pedantic", "-Wall", "-Wextra", "-Werror", f"-I{inc}", "-c", cc,
              "-o", os.path.join(t.dir, "h2.o")])


def test_guide_states_the_headers_rules(t):
    """The handler-name rule is one: the header's GH_HANDLER_NAME_RULE, worded
    the same in the header and in the guide; the guide's close() table names
    the calls the header's does."""
    hdr = open(os.path.join(ghtest._ROOT, "sdk", "include", "gatehouse", "gatehouse.h")).read()
    guide = open(os.path.join(ghtest._ROOT, "sdk", "README.md")).read()
    rule = re.search(r'#define GH_HANDLER_NAME_RULE "([^"]+)"', hdr).group(1)
    words = "a lower-case letter or digit, then up to 31 more of them or '-'"
    assert words in " ".join(hdr.replace("*", " ").split()), "header: the rule's words changed"
    assert f"{words}: `{rule}`" in " ".join(guide.split()), "sdk/README.md: the rule differs"
    table = guide.split("What `close(link, reason)` may call", 1)[1].split("\n\n", 2)[1]
    for call in ("log", "link_data", "link_set_data", "link_info", "opt_*", "closed",
                 "send_up", "abort"):
        assert f"`{call}`" in table, f"the guide's close() table lacks {call}"
        assert re.search(r"\*\s.*\b%s\b" % re.escape(call.rstrip("*")), hdr), call


def test_listen_side_and_bad_version_refused(t):
    """The plugin refuses the listen side (its inst_init), and the core refuses
    a version outside the declared 1..2 with FILE:LINE."""
    sdk = _installed_sdk()
    port, rport = t.ports(2)
    token = t.token()
    # both sides: the server, which runs the listen side, refuses to start
    srv = t.server([ghtest.onprem("both", port, rport, protocol="tcp+proxy-protocol")],
                   {"gw1": token}, server={"plugin_dir": None}, wait=False)
    srv.allow_exit = True
    rc = srv.wait(30)
    assert rc not in (None, 0), f"server started with proxy-protocol on its listen side (rc={rc})"
    srv.wait_log(r"destination both: proxy-protocol: proxy-protocol is a resource-side layer")
    # an out-of-range version is a configuration error with its line
    secs = ghtest.server_sections(t.port(), t.pki, {"gw1": token},
                                  [ghtest.onprem("v3", port, rport, extra={
                                      "protocol": None, "listen.protocol": "tcp",
                                      "resource.protocol": "tcp+proxy-protocol",
                                      "resource.proxy-protocol.version": 3})],
                                  server={"plugin_dir": None})
    text = ghtest.ini_text(secs)
    path = os.path.join(t.dir, "v3.ini")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([sdk["bin"], "check", "-c", path], capture_output=True, text=True, timeout=30)
    line = ghtest.ini_line_of(text, r"^resource\.proxy-protocol\.version")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f"{path}:{line}: resource.proxy-protocol.version" in r.stderr, r.stderr


if __name__ == "__main__":
    ghtest.main(globals())
