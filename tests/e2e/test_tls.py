#!/usr/bin/env python3
"""End-to-end: the tls layer on both sides of on-prem and cloud destinations,
with real gatehouse processes and real TLS peers (Python's ssl module, the
openssl CLI). Content is checked by sha256; refusals by what the peer saw,
what the resource saw (nothing) and the log line that names the reason and
the peer. No test asserts a speed or a duration.

Run one test: ``python3 test_tls.py listen_mutual``.
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
import tls_helpers as th  # noqa: E402
from ghtest import HOST, KiB, MiB  # noqa: E402

UP = 30.0  # seconds a tunnel may take to come up


def _listen_keys(pki, client_ca=None, extra=()):
    keys = [("listen.tls.cert", pki.server_cert), ("listen.tls.key", pki.server_key)]
    if client_ca:
        keys.append(("listen.tls.client_ca", client_ca))
    return keys + list(extra)


def _no_secret_logged(t, *procs):
    """No private key (PEM body) in any log."""
    pki, xp = t.pki, th.tls_pki()
    bodies = []
    for k in (pki.server_key, pki.client_key, pki.other_key, xp.other_client_key):
        lines = th.read(k).decode().strip().splitlines()
        bodies.extend(x for x in lines if "-----" not in x and len(x) > 20)
    for g in procs:
        text = g.log_text()
        for b in bodies:
            assert b not in text, f"{g.name} logged private key material"


def _expect_alert_then_end(s, timeout=20):
    """Nothing but a TLS alert, then EOF or a reset."""
    s.settimeout(timeout)
    got = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass
    assert not got or got[0] == 0x15, f"not an alert: {got[:32]!r}"


# ---------------------------------------------------------------- listen side

def test_listen_mutual_auth(t):
    """listen.tls.client_ca: no certificate and a certificate of another CA
    are refused in the handshake and never reach the resource; a good
    certificate passes, content checked by sha256."""
    pki, xp = t.pki, th.tls_pki()
    res = t.proto_server()
    port = t.port()
    d = th.tls_dest("onprem", "mtls", port, res.port, listen="tls",
                    extra=_listen_keys(pki, client_ca=pki.ca_cert))
    srv, cli, _ = t.pair([d])
    good = th.client_ctx(cert=pki.client_cert, key=pki.client_key)
    th.wait_tls(port, good, UP, procs=[srv, cli])
    reached = th.count_lock(res)

    cases = [
        ("no certificate, TLS 1.3", th.client_ctx(), r"no client certificate"),
        ("no certificate, TLS 1.2", th.client_ctx(max_v=ssl.TLSVersion.TLSv1_2),
         r"no client certificate"),
        ("certificate of another CA",
         th.client_ctx(cert=xp.other_client_cert, key=xp.other_client_key),
         r"certificate verify failed \(unable to get local issuer certificate\)"),
    ]
    for what, ctx, why in cases:
        since = srv.log_size()
        local, how = th.handshake_refused(port, ctx)
        t.log(f"{what}: refused ({how[:90]})")
        m = srv.wait_log(r"TLS handshake from 127\.0\.0\.1:%d failed: %s" % (local[1], why), 20,
                         since=since)
        t.log(f"  server: {m.string.strip()[:200]}")
    # a server certificate is no client certificate either (wrong purpose)
    since = srv.log_size()
    local, how = th.handshake_refused(port, th.client_ctx(cert=pki.server_cert, key=pki.server_key))
    srv.wait_log(r"from 127\.0\.0\.1:%d failed: certificate verify failed" % local[1], 20, since=since)

    # the good certificate passes, both ways, and nothing refused got through
    th.tls_sink(port, good, 3 * MiB + 7)
    th.tls_source(port, good, 2 * MiB + 3)
    th.tls_echo(port, good)
    assert th.count_lock(res) == reached + 3, \
        f"the resource saw {th.count_lock(res) - reached} connections, 3 expected (refused ones got through?)"
    srv.wait_log(r"TLS from 127\.0\.0\.1:\d+: TLSv1\.3 \S+, SNI 'localhost', client certificate 'CN=gw1 client'", 5)
    _no_secret_logged(t, srv, cli)


def test_listen_protocol_versions(t):
    """TLS 1.1 is refused (openssl s_client), TLS 1.2 and 1.3 pass;
    min_version = 1.3 refuses TLS 1.2. The log names the version and the peer."""
    pki = t.pki
    res = t.proto_server()
    p12, p13 = t.ports(2)
    d12 = th.tls_dest("onprem", "v12", p12, res.port, listen="tls", extra=_listen_keys(pki))
    d13 = th.tls_dest("onprem", "v13", p13, res.port, listen="tls",
                      extra=_listen_keys(pki, extra=[("listen.tls.min_version", "1.3")]))
    srv, cli, _ = t.pair([d12, d13])
    th.wait_tls(p12, th.client_ctx(), UP, procs=[srv, cli])
    th.wait_tls(p13, th.client_ctx(), UP, procs=[srv, cli])
    reached = th.count_lock(res)

    since = srv.log_size()
    rc, out = th.s_client(p12, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert rc != 0 and re.search(r"(?i)alert protocol version|unsupported protocol|version", out), \
        f"openssl s_client -tls1_1 was not refused (rc={rc}):\n{out[-600:]}"
    m = srv.wait_log(r"TLS handshake from 127\.0\.0\.1:\d+ failed: protocol version too old \(TLSv1\.1\)",
                     20, since=since)
    t.log(f"TLS 1.1: {m.string.strip()[:160]}")

    since = srv.log_size()
    local, how = th.handshake_refused(p13, th.client_ctx(max_v=ssl.TLSVersion.TLSv1_2))
    srv.wait_log(r"from 127\.0\.0\.1:%d failed: protocol version too old \(TLSv1\.2\)" % local[1],
                 20, since=since)
    assert th.count_lock(res) == reached, "a refused version reached the resource"

    for port, ver in ((p12, ssl.TLSVersion.TLSv1_2), (p12, ssl.TLSVersion.TLSv1_3),
                      (p13, ssl.TLSVersion.TLSv1_3)):
        ctx = th.client_ctx(min_v=ver, max_v=ver)
        with th.tls_connect(port, ctx) as s:
            assert s.version() == ver.name.replace("v1_", "v1."), s.version()
        th.tls_sink(port, ctx, 256 * KiB + 1)
    # s_client with TLS 1.2 and a good exchange
    rc, out = th.s_client(p12, "-tls1_2", "-brief")
    assert "TLSv1.2" in out, out[-400:]


def test_listen_plaintext_and_garbage_refused(t):
    """A plaintext client on a TLS port is refused at its first byte; so is
    a client that closes mid-handshake; neither reaches the resource and the
    good streams go on."""
    pki = t.pki
    res = t.proto_server()
    port = t.port()
    srv, cli, _ = t.pair([th.tls_dest("onprem", "web", port, res.port, listen="tls",
                                      extra=_listen_keys(pki))])
    ctx = th.client_ctx()
    th.wait_tls(port, ctx, UP, procs=[srv, cli])
    reached = th.count_lock(res)

    since = srv.log_size()
    with socket.create_connection((HOST, port), 10) as s:
        local = s.getsockname()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        how = ghtest.expect_eof(s, 20)
    m = srv.wait_log(r"TLS handshake from 127\.0\.0\.1:%d failed: plaintext \(not TLS\)" % local[1],
                     20, since=since)
    t.log(f"plaintext: connection {how}; {m.string.strip()[:160]}")

    # the first bytes of a ClientHello, then the end
    since = srv.log_size()
    with socket.create_connection((HOST, port), 10) as s:
        local = s.getsockname()
        s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]))
        s.shutdown(socket.SHUT_WR)
        ghtest.expect_eof(s, 20)
    srv.wait_log(r"TLS handshake from 127\.0\.0\.1:%d failed: connection closed during the handshake"
                 % local[1], 20, since=since)
    # garbage that looks like a record
    since = srv.log_size()
    with socket.create_connection((HOST, port), 10) as s:
        local = s.getsockname()
        s.sendall(bytes([0x16, 0x03, 0x03, 0x00, 0x05]) + b"\xff" * 5)
        _expect_alert_then_end(s)
    srv.wait_log(r"TLS handshake from 127\.0\.0\.1:%d failed: " % local[1], 20, since=since)
    assert th.count_lock(res) == reached, "a refused connection reached the resource"
    th.tls_sink(port, ctx, 1 * MiB)
    th.tls_source(port, ctx, 1 * MiB)


def test_listen_handshake_timeout(t):
    """A client that stalls its handshake is cut after handshake_timeout,
    while another connection on the same destination works meanwhile."""
    pki = t.pki
    res = t.proto_server()
    port = t.port()
    srv, cli, _ = t.pair([th.tls_dest("onprem", "slow", port, res.port, listen="tls",
                                      extra=_listen_keys(pki, extra=[
                                          ("listen.tls.handshake_timeout", 2)]))])
    ctx = th.client_ctx()
    th.wait_tls(port, ctx, UP, procs=[srv, cli])
    reached = th.count_lock(res)
    since = srv.log_size()
    stalled = [socket.create_connection((HOST, port), 10) for _ in range(2)]
    stalled[1].sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00]))  # a record header, no body
    # meanwhile, a good stream on the same destination
    th.tls_sink(port, ctx, 2 * MiB)
    th.tls_echo(port, ctx)
    for s in stalled:
        local = s.getsockname()
        how = ghtest.expect_eof(s, 30)
        m = srv.wait_log(r"TLS handshake from 127\.0\.0\.1:%d timed out after 2 s" % local[1], 10,
                         since=since)
        t.log(f"stalled: {how}; {m.string.strip()[:160]}")
        s.close()
    assert th.count_lock(res) == reached + 2, "the stalled connections reached the resource"


def test_listen_half_close(t):
    """The application's close_notify ends its direction only: the reply still
    comes through, then our close_notify."""
    pki = t.pki
    res = t.proto_server()
    port = t.port()
    srv, cli, _ = t.pair([th.tls_dest("onprem", "hc", port, res.port, listen="tls",
                                      extra=_listen_keys(pki))])
    ctx = th.client_ctx()
    th.wait_tls(port, ctx, UP, procs=[srv, cli])
    for req, rep in ((0, 0), (10, 3), (300 * KiB, 2 * MiB + 1)):
        th.half_close_check(port, ctx, req, rep)
    srv.wait_log(r"TLS from 127\.0\.0\.1:\d+: close_notify", 10)


# ---------------------------------------------------------------- resource side

def _resource_keys(pki, cert=True, extra=()):
    keys = [("resource.tls.ca", pki.ca_cert)]
    if cert:
        keys += [("resource.tls.cert", pki.client_cert), ("resource.tls.key", pki.client_key)]
    return keys + list(extra)


def _one_refused_stream(port):
    """Sends a request on a stream the resource will refuse; returns how the
    application saw its end."""
    return ghtest.expect_refused(port, b"ECHO\nping")


def test_resource_mutual_pushed(t):
    """TLS toward a resource that requires a client certificate: the
    certificate and key named in the server's file are pushed to the client;
    sessions are resumed. Without a certificate the resource refuses."""
    pki = t.pki
    res = th.TLSProtoServer(th.server_ctx(client_ca=pki.ca_cert))
    t.peers.append(res)
    p_ok, p_nocert = t.ports(2)
    d_ok = th.tls_dest("onprem", "db", p_ok, res.port, resource="tls", extra=_resource_keys(pki))
    d_no = th.tls_dest("onprem", "nocert", p_nocert, res.port, resource="tls",
                       extra=_resource_keys(pki, cert=False))
    srv, cli, _ = t.pair([d_ok, d_no])
    ghtest.wait_tunnel(p_ok, UP, procs=[srv, cli])
    ghtest.run_parallel([ghtest.job(ghtest.sink_check, p_ok, 4 * MiB + 1),
                         ghtest.job(ghtest.source_check, p_ok, 4 * MiB + 2),
                         ghtest.job(ghtest.echo_check, p_ok, 1 * MiB + 3),
                         ghtest.job(ghtest.request_reply_check, p_ok, 100 * KiB, 1 * MiB)])
    assert res.subjects and set(res.subjects) == {"gw1 client"}, res.subjects
    assert not any(res.sni), f"SNI sent for an IP address: {res.sni}"
    m = cli.wait_log(r"TLS with resource 127\.0\.0\.1:%d: TLSv1\.3 \S+, resumed session" % res.port, 10)
    t.log(f"resumption: {m.string.strip()[:160]}")

    failures = len(res.failures)
    since = cli.log_size()
    how = _one_refused_stream(p_nocert)
    # TLS 1.3: the resource refuses after our handshake ended; its alert
    # may be lost to its reset, and then the client says what is missing.
    m = cli.wait_log(r"TLS with resource 127\.0\.0\.1:%d failed: (the resource refused our certificate|"
                     r"the connection ended before any data; the resource asked for a client "
                     r"certificate and none is configured)" % res.port, 20, since=since)
    t.log(f"no certificate: application saw {how}; {m.string.strip()[:200]}")
    ghtest.wait_until(lambda: len(res.failures) > failures, 10, what="the resource's refusal")
    ghtest.echo_check(p_ok, 64 * KiB)
    _no_secret_logged(t, srv, cli)


def test_resource_asks_for_a_certificate_then_resets(t):
    """TLS 1.3 ends the client's handshake before the resource judges its
    certificate; a resource that then resets without a readable alert is
    reported with what is missing, and the application sees the end."""
    pki = t.pki
    res = th.AskThenResetServer(th.server_ctx(client_ca=pki.ca_cert))
    t.peers.append(res)
    p = t.port()
    d = th.tls_dest("onprem", "nocert", p, res.port, resource="tls", extra=_resource_keys(pki, cert=False))
    srv, cli, _ = t.pair([d])
    cli.wait_log(r"destination nocert: on-prem resource", UP)
    since = cli.log_size()
    how = _one_refused_stream(p)
    m = cli.wait_log(r"TLS with resource 127\.0\.0\.1:%d failed: the connection ended before any "
                     r"data; the resource asked for a client certificate and none is configured "
                     r"\(resource\.tls\.cert, resource\.tls\.key\)" % res.port, 20, since=since)
    assert res.handshakes >= 1
    t.log(f"application saw {how}; {m.string.strip()[:220]}")


def test_resource_mutual_local_override(t):
    """The client's own [destination NAME] section gives the certificate and
    key (relative paths, beside the client's INI), so that the key never
    leaves the premises; the server's file names none (or a wrong one,
    which the local one replaces)."""
    pki = t.pki
    res = th.TLSProtoServer(th.server_ctx(client_ca=pki.ca_cert))
    t.peers.append(res)
    p1, p2 = t.ports(2)
    # d1: the server names no certificate; d2: the server names a wrong one
    d1 = th.tls_dest("onprem", "local1", p1, res.port, resource="tls",
                     extra=_resource_keys(pki, cert=False))
    d3 = th.tls_dest("onprem", "wrongside", t.port(), res.port, resource="tls",
                     extra=_resource_keys(pki))
    d2 = th.tls_dest("onprem", "local2", p2, res.port, resource="tls",
                     extra=[("resource.tls.ca", pki.ca_cert),
                            ("resource.tls.cert", th.tls_pki().other_client_cert),
                            ("resource.tls.key", th.tls_pki().other_client_key)])
    token = t.token()
    srv = t.server([d1, d2, d3], {"gw1": token})
    # the client's files, beside its INI, named relatively
    os.makedirs(os.path.join(t.dir, "local"), exist_ok=True)
    shutil.copy(pki.client_cert, os.path.join(t.dir, "local", "me.crt"))
    shutil.copy(pki.client_key, os.path.join(t.dir, "local", "me.key"))
    locals_ = {"local1": [("resource.tls.cert", "local/me.crt"), ("resource.tls.key", "local/me.key")],
               "local2": [("tls.cert", "local/me.crt"), ("tls.key", "local/me.key")],
               "absent": [("resource.tls.server_name", "nowhere.example")],
               # the server's side cannot be set on the client
               "wrongside": [("listen.tls.cert", "local/me.crt")]}
    cli = th.client_with_local(t, srv, token, locals_)
    for p in (p1, p2):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli])
        ghtest.sink_check(p, 2 * MiB + 5)
        ghtest.source_check(p, 2 * MiB + 6)
    assert set(res.subjects) == {"gw1 client"}, res.subjects
    cli.wait_log(r"destination local1: resource\.tls\.cert, resource\.tls\.key from .*client\.ini", 5)
    cli.wait_log(r"no destination absent ", 5)
    cli.wait_log(r"destination wrongside cannot run here: .*client\.ini:\d+: listen\.tls\.cert: this "
                 r"client runs the resource side of destination wrongside ", 5)
    srv.wait_log(r"client reports destination wrongside: .*this client runs the resource side", 10)
    # the server pushed no key of d1 (it has none), and the client's key
    # appears in no log
    assert "me.key" not in srv.log_text()
    _no_secret_logged(t, srv, cli)


def test_resource_verification_failures(t):
    """Untrusted CA, wrong name, expired certificate: each refused with a log
    line naming the reason and the resource; the application's connection
    ends without data; a good destination keeps working."""
    pki, xp = t.pki, th.tls_pki()
    good = th.TLSProtoServer(th.server_ctx())
    untrusted = th.TLSProtoServer(th.server_ctx(pki.other_cert, pki.other_key))
    expired = th.TLSProtoServer(th.server_ctx(xp.expired_cert, xp.expired_key))
    wrongname = th.TLSProtoServer(th.server_ctx(xp.wrongname_cert, xp.wrongname_key))
    t.peers.extend([good, untrusted, expired, wrongname])
    ports = t.ports(6)
    ca = [("resource.tls.ca", pki.ca_cert)]
    dests = [
        th.tls_dest("onprem", "good", ports[0], good.port, resource="tls", extra=ca),
        th.tls_dest("onprem", "byname", ports[1], good.port, resource="tls", extra=ca,
                    resource_host="localhost"),
        th.tls_dest("onprem", "untrusted", ports[2], untrusted.port, resource="tls", extra=ca),
        th.tls_dest("onprem", "expired", ports[3], expired.port, resource="tls", extra=ca),
        th.tls_dest("onprem", "wrongname", ports[4], wrongname.port, resource="tls", extra=ca,
                    resource_host="localhost"),
        th.tls_dest("onprem", "othername", ports[5], good.port, resource="tls",
                    extra=ca + [("resource.tls.server_name", "db.example")]),
    ]
    srv, cli, _ = t.pair(dests)
    ghtest.wait_tunnel(ports[0], UP, procs=[srv, cli])
    ghtest.echo_check(ports[1], 100 * KiB)  # by name: SNI localhost, name checked
    assert "localhost" in good.sni, good.sni
    cases = [
        (ports[2], untrusted, r"certificate verify failed \(unable to get local issuer certificate\)"),
        (ports[3], expired, r"certificate verify failed \(certificate has expired\)"),
        (ports[4], wrongname, r"certificate verify failed \(hostname mismatch: the certificate is not "
                              r"for 'localhost'\)"),
        (ports[5], good, r"certificate verify failed \(hostname mismatch: the certificate is not "
                         r"for 'db\.example'\)"),
    ]
    for port, peer, why in cases:
        since = cli.log_size()
        before = peer.handshakes
        how = ghtest.expect_refused(port, b"ECHO\nping")
        m = cli.wait_log(r"TLS handshake with resource (127\.0\.0\.1|localhost):%d failed: %s"
                         % (peer.port, why), 20, since=since)
        t.log(f"{m.string.strip()[-150:]} (application: {how})")
        # the server tells the application's side why
        srv.wait_log(r"open failed: .*certificate verification failed", 20)
        assert peer.handshakes == before, "a refused handshake completed at the resource"
    assert "db.example" in good.sni
    ghtest.run_parallel([ghtest.job(ghtest.sink_check, ports[0], 2 * MiB),
                         ghtest.job(ghtest.source_check, ports[0], 2 * MiB)])


def test_resource_tls11_and_plaintext_refused(t):
    """A resource that speaks only TLS 1.1, one that greets in plaintext, one
    that hangs up on the ClientHello, and one that never answers: each
    refused, named in the log; the application's connection ends without
    data."""
    pki = t.pki
    old = th.TLSProtoServer(th.server_ctx(min_v=ssl.TLSVersion.TLSv1_1,
                                          max_v=ssl.TLSVersion.TLSv1_1, legacy=True))
    banner = th.BannerServer()
    plain = t.proto_server()
    silent = th.SilentServer()
    t.peers.extend([old, banner, silent])
    ports = t.ports(5)
    ca = [("resource.tls.ca", pki.ca_cert)]
    srv, cli, _ = t.pair([
        ghtest.onprem("probe", ports[4], plain.port),
        th.tls_dest("onprem", "old", ports[0], old.port, resource="tls", extra=ca),
        th.tls_dest("onprem", "banner", ports[1], banner.port, resource="tls", extra=ca),
        th.tls_dest("onprem", "plain", ports[2], plain.port, resource="tls", extra=ca),
        th.tls_dest("onprem", "silent", ports[3], silent.port, resource="tls",
                    extra=ca + [("resource.tls.handshake_timeout", 1)]),
    ])
    cases = [(ports[0], old, r"failed: protocol version too old: the resource accepts no version "
                             r"from TLSv1\.2 up \(tlsv1 alert protocol version\)"),
             (ports[1], banner, r"failed: plaintext \(not TLS\)"),
             (ports[2], plain, r"failed: the resource closed the connection without answering"),
             (ports[3], silent, r"timed out after 1 s")]
    ghtest.wait_tunnel(ports[4], UP, procs=[srv, cli])
    for port, peer, why in cases:
        since = cli.log_size()
        try:
            with ghtest.connect(port, timeout=30) as s:
                s.sendall(b"SOURCE 10 1\n")
                b = s.recv(100)
                how = "eof"
        except OSError as e:  # a reset may come before connect() looks (SO_ERROR)
            b, how = b"", repr(e)
        assert not b, f"data from a refused resource: {b!r}"
        m = cli.wait_log(r"TLS handshake with resource 127\.0\.0\.1:%d %s" % (peer.port, why), 20,
                         since=since)
        t.log(f"{m.string.strip()[-110:]} (application: {how})")
    assert old.handshakes == 0 and old.failures, (old.handshakes, old.failures)
    ghtest.echo_check(ports[4], 100 * KiB)


# ---------------------------------------------------------------- both sides, both directions

def test_cloud_both_sides(t):
    """A cloud destination: the client terminates TLS with a certificate the
    server pushed and requires the application's certificate; the server
    speaks TLS to the cloud resource. And one with resource.tls.verify = no,
    which works and is warned about."""
    pki = t.pki
    res = th.TLSProtoServer(th.server_ctx(client_ca=pki.ca_cert))
    untrusted = th.TLSProtoServer(th.server_ctx(pki.other_cert, pki.other_key))
    t.peers.extend([res, untrusted])
    p1, p2 = t.ports(2)
    d1 = th.tls_dest("cloud", "both", p1, res.port, listen="tls", resource="tls",
                     extra=_listen_keys(pki, client_ca=pki.ca_cert) + _resource_keys(pki))
    d2 = th.tls_dest("cloud", "noverify", p2, untrusted.port, listen="tls", resource="tls",
                     extra=_listen_keys(pki) + [("resource.tls.verify", "no")])
    srv, cli, _ = t.pair([d1, d2])
    srv.wait_log(r"destination noverify: resource\.tls\.verify = no: the resource's certificate "
                 r"is not verified", 10)
    app = th.client_ctx(cert=pki.client_cert, key=pki.client_key)
    th.wait_tls(p1, app, UP, procs=[srv, cli])
    ghtest.run_parallel([ghtest.job(th.tls_sink, p1, app, 3 * MiB + 1),
                         ghtest.job(th.tls_source, p1, app, 3 * MiB + 2),
                         ghtest.job(th.tls_sink, p1, app, 1),
                         ghtest.job(th.tls_source, p1, app, 0)])
    th.half_close_check(p1, app, 64 * KiB, 1 * MiB)
    assert set(res.subjects) == {"gw1 client"}, res.subjects
    # the application without a certificate is refused by the client
    reached = th.count_lock(res)
    since = cli.log_size()
    local, how = th.handshake_refused(p1, th.client_ctx())
    cli.wait_log(r"TLS handshake from 127\.0\.0\.1:%d failed: no client certificate" % local[1], 20,
                 since=since)
    assert th.count_lock(res) == reached
    # verify = no: the untrusted resource is reached
    th.wait_tls(p2, th.client_ctx(), UP, procs=[srv, cli])
    th.tls_sink(p2, th.client_ctx(), 1 * MiB)
    assert untrusted.handshakes >= 2
    _no_secret_logged(t, srv, cli)


def test_onprem_tls_both_sides(t):
    """protocol = tls on both sides of an on-prem destination: the server
    terminates, the client originates, many streams at once."""
    pki = t.pki
    res = th.TLSProtoServer(th.server_ctx())
    t.peers.append(res)
    port = t.port()
    d = th.tls_dest("onprem", "tls2", port, res.port, listen="tls", resource="tls",
                    extra=_listen_keys(pki) + [("resource.tls.ca", pki.ca_cert)])
    srv, cli, _ = t.pair([d])
    ctx = th.client_ctx()
    th.wait_tls(port, ctx, UP, procs=[srv, cli])
    jobs = []
    for i in range(24):
        size = int(2 ** ghtest.rng.uniform(0, 21))
        fn = th.tls_sink if i % 2 else th.tls_source
        jobs.append(ghtest.job(fn, port, ctx, size, desc=f"{fn.__name__} {size}"))
    jobs.append(ghtest.job(th.tls_sink, port, ctx, 24 * MiB, desc="sink 24 MiB"))
    jobs.append(ghtest.job(th.tls_source, port, ctx, 24 * MiB, desc="source 24 MiB"))
    t0 = time.monotonic()
    ghtest.run_parallel(jobs, timeout=180, what="TLS streams")
    t.log(f"{len(jobs)} TLS-in-TLS streams in {time.monotonic() - t0:.1f}s")


def test_config_errors(t):
    """A key that does not match its certificate, a bad min_version and a
    listen side without a certificate stop the server with a clear line
    naming FILE:LINE of the destination, and `check` finds the same."""
    pki = t.pki
    cases = [
        ([("listen.tls.cert", pki.server_cert), ("listen.tls.key", pki.client_key)],
         r"listen\.tls\.key does not match listen\.tls\.cert"),
        (_listen_keys(pki, extra=[("listen.tls.min_version", "1.1")]),
         r"destination bad: listen\.tls\.min_version = \"1\.1\": expected one of 1\.2, 1\.3"),
        ([("listen.tls.client_ca", pki.ca_cert)], r"the listen side needs listen\.tls\.cert"),
        ([("listen.tls.cert", pki.server_cert)], r"listen\.tls\.cert and listen\.tls\.key go together"),
        (_listen_keys(pki, extra=[("listen.tls.handshake_timeout", 0)]),
         r"listen\.tls\.handshake_timeout must be"),
    ]
    for i, (keys, why) in enumerate(cases):
        d = th.tls_dest("onprem", "bad", t.port(), 9, listen="tls", extra=keys)
        srv = t.server([d], {"gw1": t.token()}, name=f"server{i}", wait=False)
        srv.allow_exit = True
        rc = srv.wait(20)
        assert rc == 2, f"case {i}: exit status {rc}, 2 expected"
        m = re.search(r"server%d\.ini:\d+: .*%s" % (i, why), srv.log_text())
        assert m, f"case {i}: no line matching {why!r} in:\n{srv.tail(5)}"
        r = subprocess.run([ghtest.GH_BIN, "check", "-c", srv.config_path], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2 and re.search(r"server%d\.ini:\d+: .*%s" % (i, why), r.stderr), \
            f"case {i}: check said ({r.returncode}) {r.stdout}{r.stderr}"
        t.log(f"case {i}: {srv.tail(1).strip()[:160]}")


if __name__ == "__main__":
    ghtest.main(globals())
