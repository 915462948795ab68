#!/usr/bin/env python3
"""End-to-end: who may read the console. Off loopback the admin endpoint needs
admin_token (the start refuses it without, with FILE:LINE); with a token every
path but /metrics answers 401 without "Authorization: Bearer TOKEN", 200 with;
the token appears in no answer and no log line."""
import os
import http.client
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_helpers as ch  # noqa: E402
import ghtest  # noqa: E402

PATHS = ("/status", "/api/v1/overview", "/api/v1/history", "/api/v1/events")


def _non_loopback_ip():
    """An address of this host that is not loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


def test_off_loopback_without_token_refused_at_start(t):
    for role in ("server", "client"):
        port = t.port()
        if role == "server":
            secs = ghtest.server_sections(t.port(), t.pki, {"gw1": t.token()},
                                          server={"admin_listen": f"0.0.0.0:{port}"})
        else:
            secs = ghtest.client_sections({"gw1": {"server": f"{ghtest.HOST}:{t.port()}",
                                                   "token": t.token(), "ca": t.pki.ca_cert}},
                                          client={"admin_listen": f"0.0.0.0:{port}"})
        g = t.gatehouse(role, secs, name=f"{role}-open")
        g.allow_exit = True
        rc = g.wait(20)
        text = g.log_text()
        line = ghtest.ini_line_of(g.config_text(), r"^admin_listen")
        assert rc == 2, f"{role}: rc={rc}\n{g.tail()}"
        assert f"{role}-open.ini:{line}" in text and "admin_token" in text, g.tail()
        t.log(f"{role}: {[ln for ln in text.splitlines() if 'admin_token' in ln][0]}")


def test_token_required_and_never_shown(t):
    """On loopback too, a configured token is required."""
    atok = t.token()
    e = ch.setup(t, server={"admin_token": atok}, client={"admin_token": atok})
    srv = e["srv"]
    for port in (e["sadm"], e["cadm"]):
        for path in PATHS:
            code, h, body = ch.get(port, path)
            assert code == 401, f"{path} without a token: {code}"
            code, _h, body = ch.get(port, path, token=atok + "x")
            assert code == 401, f"{path} with a wrong token: {code}"
            code, _h, body = ch.get(port, path, token=atok)
            assert code == 200, f"{path} with the token: {code}"
            assert atok.encode() not in body, path
        code, _h, body = ch.get(port, "/metrics")
        assert code == 200 and atok.encode() not in body
        # the page is code without data: served without the token, never with it
        code, h, body = ch.get(port, "/")
        assert code == 200 and h["content-type"].startswith("text/html"), code
        assert "connect-src 'self'" in h["content-security-policy"], h
        assert atok.encode() not in body and b"gw1" not in body
    for g in (srv, e["cli"]):
        assert atok not in g.log_text(), f"{g.name}: the admin token is in the log"
    t.log(f"401 without/with a wrong token, 200 with it, on {len(PATHS)} paths")


def test_non_loopback_with_token(t):
    ip = _non_loopback_ip()
    if not ip:
        t.log("no non-loopback IPv4 address on this host: binding 0.0.0.0 instead")
    host = ip or "0.0.0.0"
    atok, adm = t.token(), t.port()
    tokfile = os.path.join(t.dir, "admin.token")
    with open(tokfile, "w") as f:
        f.write(atok + "\n")
    srv = t.server([], {"gw1": t.token()},
                   server={"admin_listen": f"{host}:{adm}", "admin_token_file": tokfile})
    ghtest.wait_port(ip or ghtest.HOST, adm, 20, procs=[srv])
    code, _h, _b = ch.get(adm, "/api/v1/overview", host=ip or ghtest.HOST)
    assert code == 401, code
    o = ch.get_json(adm, "/api/v1/overview", token=atok, host=ip or ghtest.HOST)
    assert o["role"] == "server"
    code, _h, _b = ch.get(adm, "/metrics", host=ip or ghtest.HOST)
    assert code == 200


def test_admin_tls(t):
    """admin.tls.cert/key: the endpoint speaks HTTPS (and only that); the token
    still applies; a lone cert is refused with FILE:LINE."""
    atok, adm = t.token(), t.port()
    srv = t.server([], {"gw1": t.token()},
                   server={"admin_listen": f"{ghtest.HOST}:{adm}", "admin_token": atok,
                           "admin.tls.cert": t.pki.server_cert,
                           "admin.tls.key": t.pki.server_key})
    ghtest.wait_port(ghtest.HOST, adm, 20, procs=[srv])
    ca = t.pki.ca_cert
    code, _h, _b = ch.get(adm, "/api/v1/overview", tls_ca=ca)
    assert code == 401, code
    o = ch.get_json(adm, "/api/v1/overview", token=atok, tls_ca=ca)
    assert o["role"] == "server"
    code, h, body = ch.get(adm, "/", tls_ca=ca)
    assert code == 200 and body.startswith(b"<!DOCTYPE html>"), code
    code, _h, body = ch.get(adm, "/metrics", tls_ca=ca)
    assert code == 200 and b"gatehouse_info" in body and atok.encode() not in body
    # plain HTTP gets no answer
    try:
        code, _h, _b = ch.get(adm, "/metrics", timeout=8)
    except (OSError, http.client.HTTPException) as e:
        t.log(f"plain HTTP on the TLS endpoint: {e!r}")
    else:
        raise AssertionError(f"plain HTTP answered {code}")
    # several requests in a row, the handshake each time
    for _ in range(5):
        assert ch.get(adm, "/status", token=atok, tls_ca=ca)[0] == 200

    bad = ghtest.server_sections(t.port(), t.pki, {"gw1": t.token()},
                                 server={"admin_listen": f"{ghtest.HOST}:{t.port()}",
                                         "admin.tls.cert": t.pki.server_cert})
    g = t.gatehouse("server", bad, name="lone-cert")
    g.allow_exit = True
    assert g.wait(20) == 2, g.tail()
    line = ghtest.ini_line_of(g.config_text(), r"^admin\.tls\.cert")
    assert f"lone-cert.ini:{line}: admin.tls.cert and admin.tls.key go together" in g.log_text(), \
        g.tail()


if __name__ == "__main__":
    ghtest.main(globals())
