#!/usr/bin/env python3
"""End-to-end: `gatehouse status` against a running server and client: the
tables, --json, -c FILE, the token, and its exit status (0 all up, 1 a
destination down, 3 not reachable or refused, 2 usage); over HTTPS, the
endpoint verified before the request (and its token) goes: impostors with an
untrusted certificate, another certificate than the configuration's, or a
trusted certificate for another address hear nothing."""
import json
import os
import re
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_helpers as ch  # noqa: E402
import ghtest  # noqa: E402
from ghtest import GH_BIN, HOST, onprem  # noqa: E402


def _status(*args, env=None, timeout=30):
    e = dict(os.environ)
    e.pop("GATEHOUSE_ADMIN_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([GH_BIN, "status", *args], capture_output=True, text=True,
                       timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def test_tables_json_and_exit_codes(t):
    e = ch.setup(t)
    ch.refused_open(e["p2"])
    e["cli"].wait_log(r"refused by the ACL", 20)
    rc, out, err = _status("--admin", f"{HOST}:{e['sadm']}")
    assert rc == 0, f"rc={rc}\n{out}\n{err}"
    lines = out.splitlines()
    assert lines[0].startswith("gatehouse server "), lines[0]
    for head in ("GATEWAY", "TUNNEL", "TLS", "CIPHER", "RTT", "SENT", "RECEIVED"):
        assert head in out
    tun = [ln for ln in lines if ln.startswith("gw1 ") and "TLSv1." in ln]
    assert len(tun) == 1 and " up " in tun[0], out
    # bytes sent and received, with their units, end the tunnel's row
    assert re.search(r" ms +\d+(\.\d)? (B|KiB|MiB) +\d+(\.\d)? (B|KiB|MiB)$", tun[0]), tun
    dests = {ln.split()[0]: ln for ln in lines if ln.split() and ln.split()[0] in ("d1", "d2")}
    assert set(dests) == {"d1", "d2"}, out
    assert f"{HOST}:{e['p1']}" in dests["d1"] and " onprem " in dests["d1"]
    assert "EVENT" in out and "tunnel_up" in out
    t.log("server tables:\n" + out)

    rc, out, err = _status("-c", e["cli"].config_path)
    assert rc == 0, f"rc={rc}\n{out}\n{err}"
    assert out.startswith("gatehouse client ") and "SERVER" in out and "ATTEMPTS" in out
    assert "refused" in out and "refused by the ACL" in out, out
    line = ghtest.ini_line_of(e["cli"].config_text(), r"^deny = ")
    deny = [ln.split() for ln in out.splitlines() if ln.split()[:2] == ["gw1", str(line)]]
    assert deny and deny[0][2:] == ["deny", "*", "1"], out

    rc, out, err = _status("--admin", f"{HOST}:{e['cadm']}", "--json")
    assert rc == 0, err
    o = json.loads(out)
    assert o["api"] == 1 and o["role"] == "client"

    # not reachable: 3
    rc, out, err = _status("--admin", f"{HOST}:{t.port()}")
    assert rc == 3 and "cannot connect" in err, (rc, err)
    # usage: 2
    assert _status()[0] == 2
    assert _status("--admin", "nope")[0] == 2
    assert _status("--admin", f"{HOST}:{e['sadm']}", "-c", "x.ini")[0] == 2


def test_destination_down_exits_1(t):
    """A destination a reload adds on a port already taken is down: status
    shows it with its reason and exits 1."""
    import signal
    import socket
    res = t.proto_server()
    p1, ok_port, adm = t.ports(3)
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind((HOST, p1))
    held.listen(1)
    t.defer(held.close)
    srv = t.server([onprem("fine", ok_port, res.port)],
                   {"gw1": t.token()}, server={"admin_listen": f"{HOST}:{adm}"})
    ghtest.wait_port(HOST, adm, 20, procs=[srv])
    assert _status("--admin", f"{HOST}:{adm}")[0] == 0
    srv.sections.append(onprem("busy", p1, res.port))
    srv.write_config()
    since = srv.log_size()
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"did not start", 20, since=since)
    rc, out, err = _status("--admin", f"{HOST}:{adm}")
    assert rc == 1, f"rc={rc}\n{out}\n{err}"
    busy = [ln for ln in out.splitlines() if ln.startswith("busy ")]
    assert busy and "down:" in busy[0], out
    t.log(busy[0])
    rc, out, _ = _status("--admin", f"{HOST}:{adm}", "--json")
    assert rc == 1 and json.loads(out)["api"] == 1


def test_token(t):
    atok = t.token()
    e = ch.setup(t, server={"admin_token": atok})
    rc, _out, err = _status("--admin", f"{HOST}:{e['sadm']}")
    assert rc == 3 and "401" in err, (rc, err)
    rc, out, err = _status("--admin", f"{HOST}:{e['sadm']}", "--token", atok)
    assert rc == 0, err
    tf = os.path.join(t.dir, "tok")
    with open(tf, "w") as f:
        f.write(atok + "\n")
    assert _status("--admin", f"{HOST}:{e['sadm']}", "--token-file", tf)[0] == 0
    assert _status("--admin", f"{HOST}:{e['sadm']}",
                   env={"GATEHOUSE_ADMIN_TOKEN": atok})[0] == 0
    # -c reads admin_token from the file
    rc, out, err = _status("-c", e["srv"].config_path)
    assert rc == 0, err
    assert atok not in out and atok not in err


def test_watch_redraws(t):
    e = ch.setup(t)
    p = subprocess.Popen([GH_BIN, "status", "--admin", f"{HOST}:{e['sadm']}", "--watch",
                          "--interval", "1"], stdout=subprocess.PIPE, text=True)
    try:
        seen = 0
        for line in p.stdout:
            if "gatehouse server" in line:
                seen += 1
                if seen == 2:
                    break
        assert seen == 2
    finally:
        p.terminate()
        p.wait(10)


class Impostor(ghtest._TCPServer):
    """An HTTPS endpoint with a certificate of the test's choosing that answers
    any request with a healthy API v1 overview (so that a status that did not
    verify it would exit 0), and keeps what it was sent."""

    BODY = json.dumps({"api": 1, "version": "0.1.0", "role": "server", "time_ms": 0,
                       "gateways": [], "destinations": [], "events": []}).encode()

    def __init__(self, cert, key, **kw):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.requests = []
        self.refused = 0
        super().__init__(**kw)

    def handle(self, c):
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.refused += 1  # the client gave up in the handshake
            return
        req = s.recv(4096)
        with self.lock:
            self.requests.append(req)
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\n\r\n" + self.BODY)
        s.close()


def test_https(t):
    atok, adm = t.token(), t.port()
    pki = t.pki
    srv = t.server([], {"gw1": t.token()},
                   server={"admin_listen": f"{HOST}:{adm}", "admin_token": atok,
                           "admin.tls.cert": pki.server_cert,
                           "admin.tls.key": pki.server_key})
    ghtest.wait_port(HOST, adm, 20, procs=[srv])
    # -c: TLS because the file has admin.tls.cert, verified against that
    # very certificate; the token from the file
    rc, out, err = _status("-c", srv.config_path)
    assert rc == 0, f"rc={rc}\n{out}\n{err}"
    assert out.startswith("gatehouse server ") and atok not in out + err
    # -c with --cacert instead of the pinned certificate
    assert _status("-c", srv.config_path, "--cacert", pki.ca_cert)[0] == 0
    # --admin https:// with the CA, by address and by name, text and JSON
    for host in (HOST, "localhost"):
        rc, out, err = _status("--admin", f"https://{host}:{adm}", "--cacert", pki.ca_cert,
                               "--token", atok, "--json")
        assert rc == 0 and json.loads(out)["role"] == "server", (host, rc, err)
    # the endpoint's own certificate as --cacert (a leaf, not a CA)
    assert _status("--admin", f"https://{HOST}:{adm}", "--cacert", pki.server_cert,
                   "--token", atok)[0] == 0
    # secure by default: without --cacert the system's CAs, which do not
    # know the test CA
    rc, out, err = _status("--admin", f"https://{HOST}:{adm}", "--token", atok)
    assert rc == 3 and "certificate not trusted" in err and "--cacert" in err, (rc, err)
    t.log(f"no --cacert: {err.strip()}")
    # plain HTTP to the HTTPS endpoint: no answer, and a hint
    rc, out, err = _status("--admin", f"{HOST}:{adm}", "--token", atok)
    assert rc == 3 and "https://" in err, (rc, err)
    # usage: --cacert for a plain endpoint, a CA file without a certificate
    assert _status("--admin", f"http://{HOST}:{adm}", "--cacert", pki.ca_cert)[0] == 2
    assert _status("--admin", f"https://{HOST}:{adm}", "--cacert", srv.config_path)[0] == 2

    # an impostor with a certificate of an unrelated CA (for localhost and
    # 127.0.0.1 too) hears nothing: not with --cacert, not with -c
    imp = Impostor(pki.other_cert, pki.other_key)
    t.defer(imp.close)
    rc, _out, err = _status("--admin", f"https://{HOST}:{imp.port}", "--cacert", pki.ca_cert,
                            "--token", atok)
    assert rc == 3 and "certificate not trusted" in err, (rc, err)
    fake = os.path.join(t.dir, "impostor.ini")
    with open(fake, "w") as f:
        f.write(srv.config_text().replace(f"{HOST}:{adm}", f"{HOST}:{imp.port}"))
    rc, _out, err = _status("-c", fake)
    assert rc == 3 and "admin.tls.cert" in err, (rc, err)
    t.log(f"-c against an impostor: {err.strip()}")
    # a certificate of the same CA that is not the configuration's
    c2, k2 = ghtest.issue_cert(pki, "admin2", "localhost", ext="server")
    imp2 = Impostor(c2, k2)
    t.defer(imp2.close)
    with open(fake, "w") as f:
        f.write(srv.config_text().replace(f"{HOST}:{adm}", f"{HOST}:{imp2.port}"))
    rc, _out, err = _status("-c", fake)
    assert rc == 3 and "admin.tls.cert" in err, (rc, err)
    # a trusted certificate, but not for the address asked (127.0.0.2)
    imp3 = Impostor(pki.server_cert, pki.server_key, host="127.0.0.2")
    t.defer(imp3.close)
    rc, _out, err = _status("--admin", f"https://127.0.0.2:{imp3.port}", "--cacert",
                            pki.ca_cert, "--token", atok)
    assert rc == 3 and "mismatch" in err, (rc, err)
    t.log(f"another address: {err.strip()}")
    for i in (imp, imp2, imp3):
        # each connection handled to its end, then: refused in the handshake
        ghtest.wait_until(lambda: i.accepted >= 1 and i.completed == i.accepted, 20,
                          what="the impostor's connections handled")
        assert i.requests == [] and i.refused == i.accepted, (i.requests, i.refused, i.accepted)
    # the impostor check itself: trusted, it is heard (and says all is well)
    rc, _out, err = _status("--admin", f"https://{HOST}:{imp.port}", "--cacert",
                            pki.other_ca_cert, "--token", "not-the-token")
    assert rc == 0, (rc, err)
    ghtest.wait_until(lambda: imp.completed == imp.accepted, 20, what="the impostor's answer")
    assert len(imp.requests) == 1, imp.requests
    assert imp.requests[0].startswith(b"GET /api/v1/overview HTTP/1.1\r\n")


if __name__ == "__main__":
    ghtest.main(globals())
