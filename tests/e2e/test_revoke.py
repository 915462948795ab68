#!/usr/bin/env python3
"""End-to-end: revocation at reload. A token removed from the server's file,
or a certificate a new CRL revokes, closes the tunnels that authenticated
with it at the next SIGHUP, and they cannot come back; every other tunnel
stays up with its streams. The client's `crl` refuses a revoked server
certificate."""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import onprem  # noqa: E402

UP = 30.0


def _reload(g, mark):
    g.write_config()
    g.send_signal(signal.SIGHUP)
    g.wait_log(r"configuration reloaded", since=mark)


def _set(sections, name, key, value):
    """Sets (or adds) ``key`` in section ``name`` of a config's sections."""
    out = []
    for sec, pairs in sections:
        if sec == name:
            pairs = [(k, v) for k, v in pairs if k != key] + [(key, value)]
        out.append((sec, pairs))
    return out


class Held:
    """An echo stream opened through ``port`` and kept open: ``check`` sends
    and reads back a few bytes on the same connection."""

    def __init__(self, port):
        self.s = ghtest.connect(port)
        self.n = 0
        self.check()

    def check(self):
        self.n += 1
        msg = b"held %d\n" % self.n
        self.s.sendall((b"ECHO\n" if self.n == 1 else b"") + msg)
        got = ghtest.recv_exact(self.s, len(msg))
        assert got == msg, f"held stream: sent {msg!r}, got {got!r}"

    def close(self):
        self.s.close()


def test_removed_token_closes_its_tunnel(t):
    """gw1 has two tokens, a client each; gw2 one. Removing gw1's first token
    closes that client's tunnel (logged), and it is refused when it comes
    back; gw1's other client and gw2's keep their tunnels and their open
    streams."""
    res = t.proto_server()
    p1, p2, padm = t.ports(3)
    tok_a, tok_a2, tok_b = t.token(), t.token(), t.token()
    srv = t.server([onprem("on1", p1, res.port, gateway="gw1"),
                    onprem("on2", p2, res.port, gateway="gw2")],
                   {"gw1": [tok_a, tok_a2], "gw2": tok_b},
                   server={"admin_listen": f"127.0.0.1:{padm}"})
    a = t.client(srv, tok_a, gateway="gw1", name="client-a")
    a2 = t.client(srv, tok_a2, gateway="gw1", name="client-a2")
    b = t.client(srv, tok_b, gateway="gw2", name="client-b")
    for c in (a, a2, b):
        c.wait_log(r"tunnel up", UP)
        c.allow_exit = c is a  # it may give up once refused
    ghtest.wait_tunnel(p1, UP, procs=[srv])
    ghtest.wait_tunnel(p2, UP, procs=[srv])
    held = Held(p2)
    mark, amark, a2mark = srv.log_size(), a.log_size(), a2.log_size()
    srv.sections = _set(srv.sections, "gateway gw1", "token", [tok_a2])
    _reload(srv, mark)
    srv.wait_log(r"tunnel gw1 \S+: tunnel closed: its token was removed from the configuration",
                 since=mark)
    a.wait_log(r"server refused the tunnel", UP, since=amark)  # and cannot come back
    held.check()  # gw2's stream went on across the reload
    ghtest.echo_check(p2, 256 * 1024)
    ghtest.echo_check(p1, 256 * 1024)  # over a2's tunnel
    text = srv.log_text(since=mark)
    assert len(re.findall(r"its token was removed", text)) == 1, text
    assert "tunnel closed" not in a2.log_text(since=a2mark), "a2's tunnel was closed"
    for g in (srv, a, a2, b):  # the tokens are never logged, nor their hashes' source
        for tok in (tok_a, tok_a2, tok_b):
            assert tok not in g.log_text(), f"a token in {g.name}'s log"
    m = re.search(r"gatehouse_tunnels_revoked_total (\d+)", _metrics(srv))
    assert m and int(m.group(1)) == 1, _metrics(srv)
    held.close()


def _metrics(srv):
    import urllib.request
    port = dict(dict(srv.sections)["server"]).get("admin_listen", "").rsplit(":", 1)[-1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def _cert_setup(t):
    """A server that asks for client certificates, with a CRL that revokes
    nothing yet, and two clients of gw1 with a certificate each."""
    pki = t.pki
    cert_a, key_a = ghtest.issue_cert(pki, "rev-a-" + t.name, "client a")
    cert_b, key_b = ghtest.issue_cert(pki, "rev-b-" + t.name, "client b")
    crl = ghtest.make_crl(pki, os.path.join(t.dir, "clients.crl"))
    res = t.proto_server()
    p1, padm = t.ports(2)
    tok = t.token()
    srv = t.server([onprem("on1", p1, res.port)], {"gw1": tok},
                   server={"client_ca": pki.ca_cert, "client_crl": crl,
                           "admin_listen": f"127.0.0.1:{padm}"})
    a = t.client(srv, tok, name="client-a", gateway_opts={"cert": cert_a, "key": key_a})
    b = t.client(srv, tok, name="client-b", gateway_opts={"cert": cert_b, "key": key_b})
    for c in (a, b):
        c.wait_log(r"tunnel up", UP)
    ghtest.wait_tunnel(p1, UP, procs=[srv])
    return srv, a, b, crl, cert_a, p1


def test_revoked_client_certificate_closes_its_tunnel(t):
    srv, a, b, crl, cert_a, p1 = _cert_setup(t)
    a.allow_exit = True
    mark, amark, bmark = srv.log_size(), a.log_size(), b.log_size()
    ghtest.make_crl(t.pki, crl, revoked=[cert_a])  # same path, new content
    _reload(srv, mark)
    srv.wait_log(r"tunnel closed: its client certificate is revoked \(client_crl\)", since=mark)
    # a comes back and is refused at the handshake, with the reason on both sides
    srv.wait_log(r"tunnel failed: TLS handshake failed: certificate: certificate revoked",
                 UP, since=mark)
    a.wait_log(r"certificate revoked", UP, since=amark)
    ghtest.echo_check(p1, 256 * 1024)  # over b's tunnel
    assert "tunnel closed" not in b.log_text(since=bmark), "b's tunnel was closed"
    assert len(re.findall(r"certificate is revoked", srv.log_text(since=mark))) == 1


def test_revoked_intermediate_is_refused_at_the_handshake(t):
    """The whole chain is checked at the handshake, as at a reload: a client
    certificate whose intermediate CA the root's CRL revokes is refused,
    although its own issuer's CRL revokes nothing."""
    pki = t.pki
    inter = ghtest.issue_cert(pki, "inter-" + t.name, "gatehouse test intermediate", ext="ca")
    leaf, key = ghtest.issue_cert(pki, "leaf-" + t.name, "client via intermediate", ca=inter)
    chain = os.path.join(t.dir, "chain.crt")
    with open(chain, "w") as f:
        f.write(open(leaf).read() + open(inter[0]).read())
    root_crl = ghtest.make_crl(pki, os.path.join(t.dir, "root.crl"), revoked=[inter[0]])
    inter_crl = ghtest.make_crl(pki, os.path.join(t.dir, "inter.crl"), ca=inter)
    crls = os.path.join(t.dir, "clients.crl")
    with open(crls, "w") as f:
        f.write(open(root_crl).read() + open(inter_crl).read())
    res = t.proto_server()
    p1 = t.port()
    tok = t.token()
    srv = t.server([onprem("on1", p1, res.port)], {"gw1": tok},
                   server={"client_ca": pki.ca_cert, "client_crl": crls})
    cli = t.client(srv, tok, gateway_opts={"cert": chain, "key": key})
    cli.allow_exit = True
    srv.wait_log(r"tunnel failed: TLS handshake failed: certificate: certificate revoked", UP)
    assert "tunnel up" not in srv.log_text()
    # the same chain with a root CRL that revokes nothing comes up
    ghtest.make_crl(pki, root_crl)
    with open(crls, "w") as f:
        f.write(open(root_crl).read() + open(inter_crl).read())
    mark = srv.log_size()
    _reload(srv, mark)
    cli.wait_log(r"tunnel up", UP)


def test_client_crl_refuses_a_revoked_server_certificate(t):
    """The client's `crl` beside `ca`: a server certificate it revokes is
    refused at the handshake, and a reload that revokes it closes the tunnel
    that is up."""
    pki = t.pki
    crl = ghtest.make_crl(pki, os.path.join(t.dir, "servers.crl"))
    res = t.proto_server()
    p1 = t.port()
    tok = t.token()
    srv = t.server([onprem("on1", p1, res.port)], {"gw1": tok})
    cli = t.client(srv, tok, gateway_opts={"crl": crl})
    cli.wait_log(r"tunnel up", UP)
    ghtest.wait_tunnel(p1, UP, procs=[srv, cli])
    mark = cli.log_size()
    ghtest.make_crl(pki, crl, revoked=[pki.server_cert])
    _reload(cli, mark)
    cli.wait_log(r"tunnel closed: the server's certificate is revoked \(crl\)", since=mark)
    cli.wait_log(r"certificate: certificate revoked", UP, since=mark)  # the reconnect
    assert "tunnel up" not in cli.log_text(since=mark)
    # a client started with that CRL never gets a tunnel up
    other = t.client(srv, tok, name="client-fresh", gateway_opts={"crl": crl})
    other.wait_log(r"certificate: certificate revoked", UP)
    assert "tunnel up" not in other.log_text()
    # and a CRL that no longer lists it lets the tunnel up again
    ghtest.make_crl(pki, crl)
    mark = cli.log_size()
    _reload(cli, mark)
    cli.wait_log(r"tunnel up", UP, since=mark)
    ghtest.echo_check(p1, 64 * 1024)


def test_check_names_a_bad_crl(t):
    """`gatehouse check` (and so a start or a reload) refuses a CRL file that
    holds no CRL, with FILE:LINE; and client_crl without client_ca."""
    bad = os.path.join(t.dir, "bad.crl")
    with open(bad, "w") as f:
        f.write("not a CRL\n")
    tok = t.token()
    ok = ghtest.make_crl(t.pki, os.path.join(t.dir, "ok.crl"))
    cases = [
        ("srv.ini", ghtest.server_sections(t.port(), t.pki, {"gw1": tok}, server={
            "client_ca": t.pki.ca_cert, "client_crl": bad}),
         r"srv\.ini:\d+: client_crl: .*bad\.crl.*no CRL found"),
        ("srv2.ini", ghtest.server_sections(t.port(), t.pki, {"gw1": tok}, server={
            "client_crl": ok}),
         r"srv2\.ini:\d+: client_crl needs client_ca"),
        ("cli.ini", ghtest.client_sections({"gw1": {"server": "127.0.0.1:1", "token": tok,
                                                    "ca": t.pki.ca_cert, "crl": bad}}),
         r"cli\.ini:\d+: crl: .*bad\.crl.*no CRL found"),
    ]
    for name, secs, want in cases:
        r = _check(t, name, secs)
        assert r.returncode != 0 and re.search(want, r.stdout + r.stderr), (name, r)
    good = ghtest.server_sections(t.port(), t.pki, {"gw1": tok}, server={
        "client_ca": t.pki.ca_cert, "client_crl": ok})
    r = _check(t, "good.ini", good)
    assert r.returncode == 0, r


def _check(t, name, secs):
    path = os.path.join(t.dir, name)
    with open(path, "w") as f:
        f.write(ghtest.ini_text(secs))
    return subprocess.run([ghtest.GH_BIN, "check", "-c", path], capture_output=True,
                          text=True, timeout=30)


if __name__ == "__main__":
    ghtest.main(globals())
