#!/usr/bin/env python3
"""End-to-end: a hostile *server*. A real client dials a Python server
(hostile_server.py) that holds the right certificate but is compromised: it
pushes destinations of its own making and opens streams to them. Nothing it
pushes may make the client reach, read or listen on anything beyond what the
client's own file allows:

- a resource at an unspecified address (0.0.0.0, [::], [::ffff:0.0.0.0], a
  name resolving to 0.0.0.0), which Linux connects to the local host, is
  refused although the [acl] allows everything but loopback, and the
  loopback service sees no connection (tcp and udp; and on the server's
  resource side);
- a file option pushed as a bare path is never read: the same answer for a
  file that exists and one that does not; the client's own FIFO does not
  hang it;
- [acl GATEWAY] scopes the rules: a second gateway does not get the reach
  the global [acl] grants the first;
- the listen policy: a cloud destination on 0.0.0.0 or on port 80 is refused
  unless the client's file has a listen = rule for it, and runs when it does.
"""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
import hostile_server as hs  # noqa: E402

HOST = ghtest.HOST
# Everything but the loopback block: what a rule-writer means by "the
# network, not this machine"; an unspecified address must not slip past it.
NO_LOOPBACK = [("deny", "127.0.0.0/8:*"), ("deny", "[::1]:*"), ("allow", "*")]


class Trap:
    """A loopback service on every local address of one port (dual-stack
    [::]), TCP or UDP, that counts what reaches it."""

    def __init__(self, udp=False):
        self.udp = udp
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.sock.bind(("::", 0))
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.closed = False
        if not udp:
            self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    def _loop(self):
        while not self.closed:
            try:
                if self.udp:
                    self.sock.recvfrom(65536)
                else:
                    c, _ = self.sock.accept()
                    c.sendall(b"SECRET\n")
                    c.close()
                self.hits += 1
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.closed = True
        self.sock.close()
        self.th.join(2)


def _start(t, acl=NO_LOOPBACK, gateways=("gw1",), acls=(), locals_=()):
    """A hostile server and a real client of it (one tunnel per gateway).
    acls: extra sections, e.g. [("acl gw2", [...])]. Returns (server,
    client, {gateway: tunnel})."""
    srv = hs.HostileServer(t.pki)
    t.peers.append(srv)
    gws = {g: [("server", f"{HOST}:{srv.port}"), ("token", t.token()),
               ("ca", t.pki.ca_cert), ("connections", 1)] for g in gateways}
    secs = ghtest.client_sections(gws, acl) + list(acls) + list(locals_)
    cli = t.gatehouse("client", secs)
    tunnels = {}
    for _ in gateways:
        tun = srv.accept()
        tunnels[tun.gateway] = tun
    return srv, cli, tunnels


def _refused_unspecified(t, resource, protocol="tcp", shown=None):
    trap = Trap(udp=protocol == "udp")
    t.peers.append(trap)
    _, cli, tuns = _start(t)
    tun = tuns["gw1"]
    res = resource.format(port=trap.port)
    tun.push([hs.onprem("z", res, protocol=protocol)])
    st = tun.open("z")
    if st.result[0] == "ok" and protocol == "udp":
        tun.send_dgram(st, b"ping")
        tun.idle(1)
    assert st.result[0] == "fail", f"{res}: the client opened it (trap hits: {trap.hits})"
    _, code, msg = st.result
    assert code == hs.EDENIED and "unspecified address" in msg, st.result
    shown = (shown or res).format(port=trap.port)
    cli.wait_log(r"resource %s refused: unspecified address" % __import__("re").escape(shown))
    assert trap.hits == 0, f"the loopback service was reached {trap.hits} time(s)"
    again = tun.open("z")  # the tunnel is up, and the answer the same
    assert again.result == st.result, again.result
    assert trap.hits == 0


def test_unspecified_v4(t):
    _refused_unspecified(t, "0.0.0.0:{port}")


def test_unspecified_v6(t):
    _refused_unspecified(t, "[::]:{port}")


def test_unspecified_v4_mapped(t):
    _refused_unspecified(t, "[::ffff:0.0.0.0]:{port}")


def test_unspecified_by_name(t):
    """A host name the resolver turns into 0.0.0.0 (glibc reads "0x0" as
    inet_aton does): every resolved address is checked."""
    _refused_unspecified(t, "0x0:{port}", shown="0x0:{port}")


def test_unspecified_udp(t):
    _refused_unspecified(t, "0.0.0.0:{port}", protocol="udp")


def test_unspecified_on_the_server_side(t):
    """The server's resource side refuses the same: a cloud destination
    whose resource is a name resolving to 0.0.0.0 (its file's check cannot
    see it) does not reach the server's own loopback services."""
    trap = Trap()
    t.peers.append(trap)
    p_cl = ghtest.free_port()
    srv, cli, _ = t.pair([ghtest.cloud("c", p_cl, trap.port, resource_host="0x0")])
    ghtest.wait_port(HOST, p_cl, 30, procs=[srv, cli])
    mark = srv.log_size()
    ghtest.expect_refused(p_cl)
    srv.wait_log(r"resource 0x0:%d refused: unspecified address \(0\.0\.0\.0\)" % trap.port,
                 since=mark)
    assert trap.hits == 0, f"the server's loopback service was reached {trap.hits} time(s)"


def _tls_dest(name, port, key, value):
    return hs.onprem(name, f"{HOST}:{port}", protocol="tcp+tls",
                     extra=[(key, value)])


def test_pushed_path_is_never_read(t):
    """resource.tls.* pushed as a path with no content: refused, with the
    same answer whether the file exists or not, and never read (pushing the
    client's own tunnel key would make it show that key to a resource)."""
    echo = t.echo_server()
    _, cli, tuns = _start(t, acl=[("allow", f"{HOST}:*")])
    tun = tuns["gw1"]
    tun.push([_tls_dest("exists", echo.port, "resource.tls.ca", "/etc/hostname"),
              _tls_dest("missing", echo.port, "resource.tls.ca", "/nonexistent/secret"),
              _tls_dest("mykey", echo.port, "resource.tls.key", t.pki.client_key)])
    answers = {d: tun.notice(d) for d in ("exists", "missing", "mykey")}
    for d, (code, msg) in answers.items():
        assert code < 0, f"{d}: accepted: {msg}"
        assert "no file that a server names" in msg, msg
        assert "No such file" not in msg and "/etc/hostname" not in msg, msg
    norm = {d: m.replace(d, "NAME") for d, (_, m) in answers.items()}
    assert norm["exists"] == norm["missing"], norm
    for d in answers:
        st = tun.open(d)
        assert st.result[0] == "fail" and st.result[1] == hs.ENODEST, (d, st.result)
    # the content itself, pushed, is taken
    ca = open(t.pki.ca_cert, "rb").read()
    name, recs = hs.onprem("inline", f"{HOST}:{echo.port}", protocol="tcp+tls")
    tun.push([(name, recs + [("resource.tls.ca", "ca.pem", ca)])])
    cli.wait_log(r"destination inline: on-prem resource")


def test_own_fifo_does_not_hang(t):
    """The client's own [destination NAME] naming a FIFO: refused as not a
    regular file; the client does not block opening it."""
    fifo = os.path.join(t.dir, "ca.fifo")
    os.mkfifo(fifo)
    echo = t.echo_server()
    local = [("destination f", [("gateway", "gw1"), ("resource.tls.ca", fifo)])]
    _, cli, tuns = _start(t, acl=[("allow", f"{HOST}:*")], locals_=local)
    tun = tuns["gw1"]
    tun.push([_tls_dest("f", echo.port, "resource.tls.verify", "yes"),
              hs.onprem("plain", f"{HOST}:{echo.port}")])
    code, msg = tun.notice("f")
    assert code < 0 and "cannot read" in msg, msg
    st = tun.open("plain")  # the loop is alive
    assert st.result == ("ok",), st.result
    tun.send(st, b"hello", fin=True)
    assert tun.recv(st, 5) == b"hello"


def test_gateway_scoped_acl(t):
    """[acl] grants gw1 the echo service; gw2 has its own [acl gw2], which
    does not: gw2's server cannot reach it."""
    echo = t.echo_server()
    acls = [("acl gw2", [("allow", "192.0.2.1:443"), ("deny", "*")])]
    _, cli, tuns = _start(t, acl=[("allow", f"{HOST}:*")], gateways=("gw1", "gw2"), acls=acls)
    for g in ("gw1", "gw2"):
        tuns[g].push([hs.onprem("e", f"{HOST}:{echo.port}", gateway=g)])
    a = tuns["gw1"].open("e")
    assert a.result == ("ok",), a.result
    tuns["gw1"].send(a, b"hi", fin=True)
    assert tuns["gw1"].recv(a, 2) == b"hi"
    before = echo.accepted
    b = tuns["gw2"].open("e")
    assert b.result[0] == "fail" and b.result[1] == hs.EDENIED, b.result
    assert "refused by the ACL" in b.result[2], b.result
    assert echo.accepted == before


def _bound(port, host=HOST):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


def test_listen_policy_default(t):
    """No listen rule: a cloud destination on 0.0.0.0, or on a privileged
    port, is refused (NOTICE, not listening); one on loopback above 1023
    runs, and the refused ones do not stop it."""
    p_any, p_lo = ghtest.free_ports(2)
    _, cli, tuns = _start(t, acl=[("allow", f"{HOST}:*")])
    tun = tuns["gw1"]
    tun.push([hs.cloud("wide", p_any, "0.0.0.0"), hs.cloud("low", 80, HOST),
              hs.cloud("lo", p_lo, HOST)])
    for d, port in (("wide", p_any), ("low", 80)):
        code, msg = tun.notice(d)
        assert code == hs.EDENIED and "listen policy" in msg, (d, code, msg)
    assert not _bound(p_any), "listening on 0.0.0.0 anyway"
    cli.wait_log(r"listen on 0\.0\.0\.0:%d refused by the client's listen policy" % p_any)
    cli.wait_log(r"listen on 127\.0\.0\.1:80 refused by the client's listen policy")
    code, msg = tun.notice("lo")
    assert code == 0 and msg == "listening", (code, msg)
    assert _bound(p_lo)


def _free_low_port():
    for p in range(1000, 900, -1):
        s = socket.socket()
        try:
            s.bind((HOST, p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    return None


def test_listen_policy_rules(t):
    """listen = rules in the client's file allow what they name, for the
    gateway whose section holds them: 0.0.0.0 on one port, a privileged
    port (when this user can bind one)."""
    p_any, p_other = ghtest.free_ports(2)
    low = _free_low_port() if os.geteuid() == 0 else None
    acl = [("allow", f"{HOST}:*"), ("listen", f"0.0.0.0:{p_any}")]
    if low:
        acl.append(("listen", f"{HOST}:{low}"))
    _, cli, tuns = _start(t, acl=acl)
    tun = tuns["gw1"]
    dests = [hs.cloud("wide", p_any, "0.0.0.0"), hs.cloud("other", p_other, "0.0.0.0")]
    if low:
        dests.append(hs.cloud("low", low, HOST))
    tun.push(dests)
    code, msg = tun.notice("wide")
    assert code == 0 and msg == "listening", (code, msg)
    assert _bound(p_any)
    code, msg = tun.notice("other")  # the rule names one port only
    assert code == hs.EDENIED and "listen policy" in msg, (code, msg)
    if low:
        code, msg = tun.notice("low")
        assert code == 0 and msg == "listening", (code, msg)
    else:
        t.log("not root: the privileged-port rule is left to the unit tests")


def test_listen_policy_reload(t):
    """A listen rule added by a reload restarts that gateway's tunnel, so
    that what it refused is pushed again and now runs; a gateway whose rules
    did not change keeps its tunnel."""
    import signal
    p_any = ghtest.free_port()
    acls = [("acl gw2", [("allow", f"{HOST}:*")])]
    srv, cli, tuns = _start(t, acl=[("allow", f"{HOST}:*")], gateways=("gw1", "gw2"),
                            acls=acls)
    tuns["gw1"].push([hs.cloud("wide", p_any, "0.0.0.0")])
    code, _ = tuns["gw1"].notice("wide")
    assert code == hs.EDENIED
    mark = cli.log_size()
    secs = [(title, list(items) + ([("listen", f"0.0.0.0:{p_any}")] if title == "acl" else []))
            for title, items in cli.sections]
    cli.sections = secs
    cli.write_config()
    cli.send_signal(signal.SIGHUP)
    cli.wait_log(r"gateway gw1 changed: closing its tunnels", since=mark)
    again = srv.accept()
    assert again.gateway == "gw1"
    again.push([hs.cloud("wide", p_any, "0.0.0.0")])
    code, msg = again.notice("wide")
    assert code == 0 and msg == "listening", (code, msg)
    assert _bound(p_any)
    assert "gateway gw2 changed" not in cli.log_text(since=mark)
    # gw2's tunnel is the same one: it still answers
    st = tuns["gw2"].open("nothing-pushed")
    assert st.result[0] == "fail" and st.result[1] == hs.ENODEST, st.result


def test_check_refuses_acl_for_unknown_gateway(t):
    """[acl NAME] for a gateway the file does not have: FILE:LINE."""
    secs = ghtest.client_sections({"gw1": [("server", f"{HOST}:1"), ("token", t.token()),
                                           ("ca", t.pki.ca_cert)]}, [("allow", "*")])
    secs.append(("acl gw9", [("allow", "*")]))
    text = ghtest.ini_text(secs)
    path = os.path.join(t.dir, "c.ini")
    with open(path, "w") as f:
        f.write(text)
    import subprocess
    r = subprocess.run([ghtest.GH_BIN, "check", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    line = ghtest.ini_line_of(text, r"^\[acl gw9\]")
    assert r.returncode != 0 and f"c.ini:{line}: [acl gw9]: no [gateway gw9]" in r.stdout, r.stdout


FORGED = "\n2026-01-01T00:00:00.000Z error client: forged\r\x1b[2J"


def test_refusal_text_cannot_forge_log_lines(t):
    """A REFUSE's text is the server's: the client logs it escaped, on the
    one line of its event, and keeps trying."""
    srv = hs.HostileServer(t.pki)
    t.peers.append(srv)
    gws = {"gw1": [("server", f"{HOST}:{srv.port}"), ("token", t.token()),
                   ("ca", t.pki.ca_cert), ("connections", 1)]}
    cli = t.gatehouse("client", ghtest.client_sections(gws, NO_LOOPBACK))
    srv.accept(refuse=(-4004, "bad token" + FORGED))
    cli.wait_log(r"server refused the tunnel: bad token\\x0a2026-01-01T00:00:00\.000Z "
                 r"error client: forged\\x0d\\x1b\[2J")
    for line in cli.log_text().splitlines():
        assert not line.startswith("2026-01-01T00:00:00.000Z"), f"forged line in the log: {line!r}"
        assert "\r" not in line and "\x1b" not in line, f"raw control byte in the log: {line!r}"
    srv.accept()  # it reconnects, and a welcome brings the tunnel up
    cli.wait_log(r"tunnel up")


if __name__ == "__main__":
    ghtest.main(globals())
