#!/usr/bin/env python3
"""End-to-end, issue 6: IP tables (`allow`), the client's [acl], high availability
(several clients, `connections`, several servers) and a client of several gateways
with a client-port clash. Real server and client processes on loopback.

Where a stream went is read from the kernel, never guessed: the resource
(ha_helpers.TagServer) records the source port of each tagged stream and
/proc/net/tcp + /proc/PID/fd tell which gatehouse process owns that port; which
tunnel carried an upload is read from the tunnel sockets' byte counters (ss).
Every payload is checked by sha256. No test asserts a speed or a delay: the
timeouts are hang guards only.

Run one test: ``python3 test_access_ha.py two_clients``.
"""
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
import ha_helpers as ha  # noqa: E402
from ghtest import HOST, KiB, MiB, cloud, job, onprem, rng  # noqa: E402

UP = 30.0  # seconds a tunnel may take to come up (a hang guard)
TUNNEL_UP = r"tunnel up"


def _ip(addr):
    """A regex for the address ``addr`` not glued to more digits/dots
    (127.0.0.1 must not match 127.0.0.15)."""
    return r"(?<![\d.:])" + re.escape(addr) + r"(?![\d])"


def _all_of(*parts):
    """A regex matching a line that contains every one of ``parts`` (regexes)."""
    return "".join(f"(?=.*{p})" for p in parts)


def _wait_tunnels(g, n, since=0, timeout=UP):
    """Wait until ``g``'s log shows ``n`` tunnels coming up after offset ``since``."""
    rx = re.compile(TUNNEL_UP)

    def count():
        lines = [ln for ln in g.log_text(since).splitlines() if not ln.startswith(ghtest._MARK)]
        g.check_alive()
        return sum(1 for ln in lines if rx.search(ln)) >= n

    ghtest.wait_until(count, timeout, what=f"{n} tunnel(s) up in {g.name}'s log")


def _split(held, res, procs):
    """{Gatehouse: number of the ``held`` streams it carries to ``res``} and
    {stream name: Gatehouse}, from the kernel's view of the source ports."""
    missing = [h.name for h in held if h.name not in res.tags]
    assert not missing, f"the resource never saw the tagged streams {missing}"
    ports = [res.tags[h.name][1] for h in held]
    who = ha.owners(ports, res.port, procs)
    unknown = [h.name for h, g in zip(held, who) if g is None]
    assert not unknown, (f"no process of {[g.name for g in procs]} holds the resource "
                         f"connection of streams {unknown}")
    counts = {g: 0 for g in procs}
    for g in who:
        counts[g] += 1
    return counts, {h.name: g for h, g in zip(held, who)}


def _fmt_counts(counts):
    return ", ".join(f"{g.name}: {n}" for g, n in counts.items())


# --------------------------------------------------------------------------- allow


ALLOW_V4 = ["127.0.0.16/30, 127.0.0.40-127.0.0.42", "127.0.0.77"]  # two `allow` lines
ALLOWED_V4 = ["127.0.0.16", "127.0.0.19", "127.0.0.40", "127.0.0.41", "127.0.0.42", "127.0.0.77"]
DENIED_V4 = ["127.0.0.1", "127.0.0.20", "127.0.0.39", "127.0.0.43", "127.0.0.76", "127.0.0.78"]


def _check_allow(t, port, who, res, allowed, denied, first_denied, host=HOST):
    """Allowed sources get a verified echo; each denied source is closed without
    a byte and never reaches the resource; the first denied one is logged by
    ``who`` (the listen side) with its address."""
    for src in allowed:
        ha.echo_from(src, port, rng.randrange(1, 64 * KiB), host=host)
    before = res.accepted
    since = who.log_size()
    how = ha.refused_from(first_denied, port, host=host)
    m = who.wait_log(_all_of(r"(?i:refus|denied|not allowed|reject)", _ip(first_denied)), 20,
                     since=since)
    t.log(f"{host}:{port}: {first_denied} closed ({how}); {who.name}: {m.string.strip()[:160]}")
    for src in denied:
        ha.refused_from(src, port, host=host)
    # a barrier: a later allowed stream is through, so a leaked open would have arrived
    ha.echo_from(allowed[0], port, 1000, host=host)
    leaked = res.accepted - before - 1
    assert leaked == 0, f"{leaked} connection(s) from denied sources reached the resource"


def test_allow_ipv4_onprem_and_cloud(t):
    """`allow` with a CIDR block, a range, a single address and two lines, on an
    on-prem destination (the server listens) and a cloud one (the client
    listens); a destination without `allow` takes everyone."""
    res = t.proto_server()
    p_on, p_cl, p_open = t.ports(3)
    srv, cli, _ = t.pair([onprem("on", p_on, res.port, extra={"allow": ALLOW_V4}),
                          cloud("cl", p_cl, res.port, extra={"allow": ALLOW_V4}),
                          onprem("open", p_open, res.port)])
    _wait_tunnels(cli, 1)
    # the cloud listener exists once the destinations are pushed
    ghtest.retry(lambda: ha.echo_from(ALLOWED_V4[0], p_cl, 100), UP,
                 what="cloud destination up", procs=[srv, cli])
    _check_allow(t, p_on, srv, res, ALLOWED_V4, DENIED_V4, "127.0.0.20")
    _check_allow(t, p_cl, cli, res, ALLOWED_V4, DENIED_V4, "127.0.0.43")
    for src in DENIED_V4[:3]:  # no allow key: everyone may connect
        ha.echo_from(src, p_open, 10 * KiB)


def _dest6(name, kind, port, res_port, allow):
    if kind == "onprem":
        items = [("gateway", "gw1"), ("type", "onprem"), ("listen", f"[::1]:{port}"),
                 ("resource", f"{HOST}:{res_port}"), ("protocol", "tcp"), ("allow", allow)]
    else:
        items = [("gateway", "gw1"), ("type", "cloud"), ("client_port", port),
                 ("client_bind", "::1"), ("resource", f"{HOST}:{res_port}"),
                 ("protocol", "tcp"), ("allow", allow)]
    return (f"destination {name}", items)


def test_allow_ipv6(t):
    """Destinations listening on [::1]: `allow = ::1` (single), `::/126` (CIDR)
    let ::1 in; `::2-::ff, 127.0.0.0/8` (a range and an IPv4 block) does not."""
    res = t.proto_server()
    p1, p2, p3, p4, p5 = t.ports(5)
    srv, cli, _ = t.pair([_dest6("on-one", "onprem", p1, res.port, "::1"),
                          _dest6("on-cidr", "onprem", p2, res.port, "::/126"),
                          _dest6("on-no", "onprem", p3, res.port, "::2-::ff, 127.0.0.0/8"),
                          _dest6("cl-one", "cloud", p4, res.port, ["::5", "::1"]),
                          _dest6("cl-no", "cloud", p5, res.port, "::2, 127.0.0.1")])
    _wait_tunnels(cli, 1)
    ghtest.retry(lambda: ha.echo_from("::1", p4, 100, host="::1"), UP,
                 what="cloud destination on [::1] up", procs=[srv, cli])
    ha.echo_from("::1", p1, 100 * KiB, host="::1")
    ha.echo_from("::1", p2, 100 * KiB, host="::1")
    for port, who, ok_port in ((p3, srv, p1), (p5, cli, p4)):
        before = res.accepted
        since = who.log_size()
        how = ha.refused_from("::1", port, host="::1")
        m = who.wait_log(_all_of(r"(?i:refus|denied|not allowed|reject)", r"\[?::1\]?:\d+"), 20,
                         since=since)
        t.log(f"[::1]:{port}: ::1 closed ({how}); {who.name}: {m.string.strip()[:160]}")
        ha.echo_from("::1", ok_port, 1000, host="::1")  # barrier
        assert res.accepted == before + 1, "a denied IPv6 source reached the resource"


# --------------------------------------------------------------------------- [acl]


def _refused_open(port, what, timeout=20.0):
    """An application of an on-prem destination whose open the client refuses:
    the connection ends with no byte of an answer."""
    try:
        return ghtest.expect_refused(port, timeout=timeout)
    except AssertionError as e:
        raise AssertionError(f"{what}: the open was not refused: {e}") from None


def test_acl_rules(t):
    """First match wins, port ranges, CIDR:port, host:*, `*`; a name (localhost)
    whose address falls in a denied block is refused although a later rule
    allows the name. The server logs the client's reason (with the deciding
    rule's line); a refused resource is never contacted."""
    r = {k: t.proto_server() for k in ("a", "b", "c", "x", "l")}
    r["d"] = t.proto_server(host="127.0.0.2")
    # localhost may also resolve to ::1: the resource must then be there too
    v6 = {}
    fams = {ai[0] for ai in socket.getaddrinfo("localhost", None, proto=socket.IPPROTO_TCP)}
    if socket.AF_INET6 in fams:
        for k in ("x", "l"):
            v6[k] = ha.ProtoServer6(port=r[k].port)
            t.peers.append(v6[k])
    acl = [("allow", f"127.0.0.0/8:{r['c'].port}"),   # 1: c allowed before...
           ("deny", f"127.0.0.1:{r['a'].port}"),       # 2: a denied before the allow below
           ("deny", f"127.0.0.1:{r['c'].port}"),       # 3: ...this deny of c, never reached
           ("allow", f"localhost:{r['x'].port}"),      # 4: x allowed by name
           ("deny", f"127.0.0.0/24:{r['l'].port}"),    # 5: l's address is denied...
           ("allow", "localhost:*"),                   # 6: ...though its name is allowed here
           ("allow", "127.0.0.1:1024-65535"),          # 7: b (and a, c: too late)
           ("deny", "*")]                              # 8: d (127.0.0.2)
    ports = dict(zip("abcxld", t.ports(6)))
    dests = [onprem("acl-a", ports["a"], r["a"].port), onprem("acl-b", ports["b"], r["b"].port),
             onprem("acl-c", ports["c"], r["c"].port),
             onprem("acl-x", ports["x"], r["x"].port, resource_host="localhost"),
             onprem("acl-l", ports["l"], r["l"].port, resource_host="localhost"),
             onprem("acl-d", ports["d"], r["d"].port, resource_host="127.0.0.2")]
    srv, cli, _ = t.pair(dests, acl=acl)
    text = cli.config_text()
    rule_line = {k: ghtest.ini_line_of(text, rx) for k, rx in
                 (("a", rf"^deny = 127\.0\.0\.1:{r['a'].port}$"),
                  ("l", rf"^deny = 127\.0\.0\.0/24:{r['l'].port}$"),
                  ("d", r"^deny = \*$"))}
    ghtest.wait_tunnel(ports["b"], UP, procs=[srv, cli])
    for k in "bcx":
        ghtest.echo_check(ports[k], 300 * KiB)
        ghtest.sink_check(ports[k], 200 * KiB)
    for k in "ald":
        since = srv.log_size()
        how = _refused_open(ports[k], f"acl-{k}")
        m = srv.wait_log(_all_of(rf"\bacl-{k}\b", r"(?i:\bacl\b)", rf":{rule_line[k]}(?!\d)"),
                         20, since=since)
        t.log(f"acl-{k}: application connection ended ({how}); server: {m.string.strip()[:200]}")
    # a barrier, then: the refused resources were never contacted
    ghtest.echo_check(ports["b"], 1000)
    for k in "ald":
        n = r[k].accepted + (v6[k].accepted if k in v6 else 0)
        assert n == 0, f"the refused resource of acl-{k} was connected to ({n} times)"
    for k in "bcx":
        assert r[k].accepted + (v6[k].accepted if k in v6 else 0) >= 2, f"acl-{k} never reached"


def test_no_acl_refuses_everything(t):
    """Without an [acl] section the client refuses every on-prem resource (the
    server logs the reason); cloud destinations, which the ACL does not govern,
    still work."""
    res, res2, res_cl = t.proto_server(), t.proto_server(), t.proto_server()
    p_on, p_on2, p_cl = t.ports(3)
    srv, cli, _ = t.pair([onprem("on", p_on, res.port), onprem("on2", p_on2, res2.port),
                          cloud("cl", p_cl, res_cl.port)], acl=None)
    assert "[acl]" not in cli.config_text()
    ghtest.wait_tunnel(p_cl, UP, procs=[srv, cli])
    for name, port in (("on", p_on), ("on2", p_on2)):
        since = srv.log_size()
        how = _refused_open(port, name)
        m = srv.wait_log(_all_of(rf"\b{name}\b", r"(?i:\bacl\b)"), 20, since=since)
        t.log(f"{name}: ended ({how}); server: {m.string.strip()[:200]}")
    ghtest.echo_check(p_cl, 200 * KiB)  # barrier
    assert res.accepted == 0 and res2.accepted == 0, \
        "an on-prem resource was reached although no [acl] allows it"
    assert res_cl.accepted >= 2


def test_acl_refusals_counted(t):
    """The server counts the opens the client's ACL refused: its /metrics has a
    refused count of at least the number refused for that destination."""
    res, other = t.proto_server(), t.proto_server()
    p_ok, p_no, adm = t.ports(3)
    acl = [("allow", f"{HOST}:{res.port}"), ("deny", "*")]
    srv, cli, _ = t.pair([onprem("ok", p_ok, res.port), onprem("no-way", p_no, other.port)],
                         acl=acl, server={"admin_listen": f"{HOST}:{adm}"})
    ghtest.wait_tunnel(p_ok, UP, procs=[srv, cli])
    n = 3
    for _ in range(n):
        since = srv.log_size()
        _refused_open(p_no, "no-way")
        srv.wait_log(_all_of(r"\bno-way\b", r"(?i:\bacl\b)"), 20, since=since)
    assert other.accepted == 0
    try:
        code, body = ha.http_get(adm, "/metrics")
    except OSError as e:
        raise AssertionError(f"the server's admin_listen {HOST}:{adm} does not serve /metrics: "
                             f"{e!r}") from None
    assert code == 200, f"GET /metrics: HTTP {code}"
    rows = [ln for ln in body.splitlines()
            if not ln.startswith("#") and "refused" in ln and "no-way" in ln]
    assert rows, f"/metrics has no refused count for destination no-way:\n{body[:1500]}"
    total = sum(float(ln.rsplit(None, 1)[-1]) for ln in rows)
    assert total >= n, f"/metrics counts {total} refused opens of no-way, {n} were refused: {rows}"


# --------------------------------------------------------------------------- HA


def _hold(port, n, prefix):
    return [ha.Held(port, f"{prefix}{i}") for i in range(n)]


@ghtest.timeout(180)
def test_two_clients_round_robin_and_failover(t):
    """Two clients of one gateway: 20 held streams split 10/10; kill -9 one:
    its streams end, the other's carry on, 50 new streams all succeed; it comes
    back and gets its share of new streams again."""
    res = ha.tag_server(t)
    port = t.port()
    token = t.token()
    srv = t.server([onprem("d1", port, res.port)], {"gw1": token})
    c1 = t.client(srv, token, name="client1")
    c2 = t.client(srv, token, name="client2")
    for c in (c1, c2):
        _wait_tunnels(c, 1)
    srv.wait_log(r"\b2 tunnel\(s\) for gw1\b", UP)
    ghtest.wait_tunnel(port, UP, procs=[srv, c1, c2])

    held = _hold(port, 20, "first-")
    counts, where = _split(held, res, [c1, c2])
    t.log(f"20 held streams: {_fmt_counts(counts)}")
    assert counts == {c1: 10, c2: 10}, f"20 streams over two clients: {_fmt_counts(counts)}"

    c1.kill9()
    ends = [h.expect_end(20) for h in held if where[h.name] is c1]
    t.log(f"client1 killed: its {len(ends)} streams ended ({', '.join(sorted(set(ends)))})")
    assert set(ends) == {"reset"}, f"client1's streams must be reset, they ended: {ends}"
    survivors = [h for h in held if where[h.name] is c2]
    jobs = [job(ghtest.echo_check, port, rng.randrange(1, 256 * KiB), desc=f"echo #{i}")
            for i in range(35)]
    jobs += [job(ghtest.sink_check, port, rng.randrange(1, 256 * KiB), desc=f"sink #{i}")
             for i in range(15)]
    ghtest.run_parallel(jobs, timeout=120, what="streams after the kill")
    t.log("50 new streams after the kill: all verified")
    for h in survivors:  # client2's streams were never disturbed
        h.finish()

    since, since_srv = c1.log_size(), srv.log_size()
    c1.start()
    _wait_tunnels(c1, 1, since=since)
    srv.wait_log(r"\b2 tunnel\(s\) for gw1\b", UP, since=since_srv)
    again = _hold(port, 20, "again-")
    counts, _ = _split(again, res, [c1, c2])
    t.log(f"after the restart, 20 held streams: {_fmt_counts(counts)}")
    assert counts == {c1: 10, c2: 10}, f"after the restart: {_fmt_counts(counts)}"
    for h in again:
        h.finish()


def test_connections_3_tunnels_and_spread(t):
    """`connections = 3`: three tunnels from one client; on-prem streams from the
    server and cloud streams from the client are spread over all three."""
    res = t.proto_server()
    p_on, p_cl = t.ports(2)
    token = t.token()
    srv = t.server([onprem("on", p_on, res.port), cloud("cl", p_cl, res.port)], {"gw1": token})
    cli = t.client(srv, token, gateway_opts={"connections": 3})
    _wait_tunnels(cli, 3)
    srv.wait_log(r"\b3 tunnel\(s\) for gw1\b", UP)
    n = ha.established_to(cli, srv.tunnel_port)
    assert n == 3, f"the client holds {n} connections to the tunnel port, not 3"
    for p in (p_on, p_cl):
        ghtest.wait_tunnel(p, UP, procs=[srv, cli])
    size = 2 * MiB
    for port, side, what in ((p_on, 1, "on-prem (server -> client)"),
                             (p_cl, 0, "cloud (client -> server)")):
        before = ha.tunnel_rx(srv.tunnel_port)
        assert len(before) == 3, f"ss shows {len(before)} tunnel connections: {before}"
        for _ in range(3):  # three streams in a row: one per tunnel if round-robin
            ghtest.sink_check(port, size)
        after = ha.tunnel_rx(srv.tunnel_port)
        got = {k: after.get(k, (0, 0))[side] - before[k][side] for k in before}
        t.log(f"{what}: bytes received per tunnel: {sorted(got.values())}")
        assert all(v >= size for v in got.values()), \
            f"{what}: 3 uploads of {size} bytes were not spread over the 3 tunnels: {got}"


def test_two_servers(t):
    """A client listing two servers (same gateway, token and destinations) keeps
    a tunnel to each; on-prem streams through either server work; the client's
    cloud streams are spread over both; when one server dies, its streams end
    and new ones go through the other."""
    res = ha.tag_server(t)
    token = t.token()
    p_cl, on_a, on_b = t.ports(3)
    srv_a = t.server([onprem("on", on_a, res.port), cloud("cl", p_cl, res.port)],
                     {"gw1": token}, name="serverA")
    srv_b = t.server([onprem("on", on_b, res.port), cloud("cl", p_cl, res.port)],
                     {"gw1": token}, name="serverB")
    cli = t.client(srv_a, token, gateway_opts={
        "server": [f"{HOST}:{srv_a.tunnel_port}", f"{HOST}:{srv_b.tunnel_port}"]})
    _wait_tunnels(cli, 2)
    for s in (srv_a, srv_b):
        s.wait_log(TUNNEL_UP, UP)
        n = ha.established_to(cli, s.tunnel_port)
        assert n == 1, f"the client holds {n} tunnel(s) to {s.name}, not 1"
    for p in (on_a, on_b, p_cl):
        ghtest.wait_tunnel(p, UP, procs=[srv_a, srv_b, cli])
    for p in (on_a, on_b):
        ghtest.echo_check(p, 1 * MiB)
        ghtest.source_check(p, 1 * MiB)

    held = _hold(p_cl, 20, "cl-")
    counts, where = _split(held, res, [srv_a, srv_b])
    t.log(f"20 cloud streams from the client: {_fmt_counts(counts)}")
    assert counts == {srv_a: 10, srv_b: 10}, f"cloud streams: {_fmt_counts(counts)}"

    srv_a.kill9()
    ends = [h.expect_end(20) for h in held if where[h.name] is srv_a]
    t.log(f"serverA killed: its {len(ends)} streams ended ({', '.join(sorted(set(ends)))})")
    assert set(ends) == {"reset"}, f"serverA's streams must be reset, they ended: {ends}"
    ghtest.run_parallel([job(ghtest.echo_check, p_cl, rng.randrange(1, 128 * KiB))
                         for _ in range(20)], timeout=120, what="cloud streams after serverA died")
    ghtest.echo_check(on_b, 512 * KiB)
    for h in held:
        if where[h.name] is srv_b:
            h.finish()


# --------------------------------------------------------------------------- several gateways


def _clash_setup(t, client_extra=None):
    """Client of gateways gwA (serverA) and gwB (serverB, its own CA and token);
    both push a cloud destination on the same client port P. serverB starts
    only once a-clash listens, so that a-clash is the first. Returns a dict."""
    pki2 = ghtest.make_pki(os.path.join(t.dir, "pki2"))
    res_a, res_b = ha.tag_server(t), ha.tag_server(t)
    P, qa, qb, la, lb, tb = t.ports(6)
    tok_a, tok_b = t.token(), t.token()
    a_dests = [cloud("a-clash", P, res_a.port, gateway="gwA"),
               cloud("a-only", qa, res_a.port, gateway="gwA"),
               onprem("a-on", la, res_a.port, gateway="gwA")]
    srv_a = t.server(a_dests, {"gwA": tok_a}, name="serverA")
    secs = ghtest.client_sections({
        "gwA": {"server": f"{HOST}:{srv_a.tunnel_port}", "token": tok_a, "ca": t.pki.ca_cert},
        "gwB": {"server": f"{HOST}:{tb}", "token": tok_b, "ca": pki2.ca_cert},
    }, client=client_extra)
    cli = t.gatehouse("client", secs, name="client")
    ghtest.wait_tunnel(P, UP, procs=[srv_a, cli])
    assert res_a.accepted >= 1 and res_b.accepted == 0
    b_dests = [cloud("b-clash", P, res_b.port, gateway="gwB"),
               cloud("b-only", qb, res_b.port, gateway="gwB"),
               onprem("b-on", lb, res_b.port, gateway="gwB")]
    srv_b = t.gatehouse("server", ghtest.server_sections(tb, pki2, {"gwB": tok_b}, b_dests),
                        name="serverB")
    srv_b.tunnel_port = tb
    ghtest.wait_port(HOST, tb, 20, procs=[srv_b])
    for p in (qb, lb):
        ghtest.wait_tunnel(p, UP, procs=[srv_a, srv_b, cli])
    return dict(P=P, qa=qa, qb=qb, la=la, lb=lb, res_a=res_a, res_b=res_b, srv_a=srv_a,
                srv_b=srv_b, cli=cli, a_dests=a_dests, tok_a=tok_a)


def _reaches(port, res, tag):
    """A verified held stream through ``port`` whose resource is ``res``."""
    h = ha.Held(port, tag, timeout=10)
    try:
        assert tag in res.tags, f"stream {tag} through port {port} did not reach {res.name}"
    finally:
        h.finish()


@ghtest.timeout(180)
def test_multi_gateway_port_clash(t):
    """One client, two gateways, each pushing a cloud destination on port P: the
    first binds; the client logs both destinations and the port; serverB (which
    pushed the second) logs the client's message; every other destination of
    both gateways works. Then a-clash goes away (serverA restarts with a
    configuration without it): b-clash must bind P, and serverB hear of it."""
    c = _clash_setup(t)
    P, cli, srv_a, srv_b = c["P"], c["cli"], c["srv_a"], c["srv_b"]
    res_a, res_b = c["res_a"], c["res_b"]
    m = cli.wait_log(_all_of(r"\bb-clash\b", r"\ba-clash\b", rf"(?<!\d){P}(?!\d)"), 20)
    t.log(f"client: {m.string.strip()[:220]}")
    m = srv_b.wait_log(_all_of(r"\bb-clash\b", r"\ba-clash\b", rf"(?<!\d){P}(?!\d)"), 20)
    t.log(f"serverB: {m.string.strip()[:220]}")
    _reaches(P, res_a, "p-first")  # the first still owns P
    for port, res, tag in ((c["qa"], res_a, "a-only"), (c["la"], res_a, "a-on"),
                           (c["qb"], res_b, "b-only"), (c["lb"], res_b, "b-on")):
        _reaches(port, res, tag)
        ghtest.echo_check(port, 256 * KiB, header=b"ECHO\n")
    assert "p-first" not in res_b.tags

    # a-clash goes away: serverA restarts without it, the client retires it
    since, since_b = cli.log_size(), srv_b.log_size()
    srv_a.stop()
    srv_a.sections = ghtest.server_sections(srv_a.tunnel_port, t.pki, {"gwA": c["tok_a"]},
                                            c["a_dests"][1:])
    srv_a.start()
    cli.wait_log(_all_of(r"\ba-clash\b", r"(?i:removed|retired|gone)"), UP, since=since)
    ghtest.wait_tunnel(c["qa"], UP, procs=[srv_a, srv_b, cli])  # gwA is back
    try:
        ghtest.retry(lambda: _reaches(P, res_b, f"p-second-{rng.getrandbits(32)}"), 15,
                     what=f"port {P} through b-clash", procs=[srv_a, srv_b, cli])
    except AssertionError as e:
        raise AssertionError(f"a-clash is gone but b-clash never bound port {P}: {e}") from None
    t.log(f"b-clash now owns port {P}")
    # serverB, told of the clash, is told that it is over
    srv_b.wait_log(_all_of(r"\bb-clash\b", r"(?i:\blistening\b)"), 20, since=since_b)
    _reaches(c["qb"], res_b, "b-only-after")


def test_port_clash_in_status(t):
    """The clashing destination's state is in the client's /status (its error
    names the port and the destination that holds it)."""
    adm = t.port()
    c = _clash_setup(t, client_extra={"admin_listen": f"{HOST}:{adm}"})
    P, cli = c["P"], c["cli"]
    cli.wait_log(_all_of(r"\bb-clash\b", r"\ba-clash\b", rf"(?<!\d){P}(?!\d)"), 20)
    try:
        doc = ha.status_json(adm)
    except OSError as e:
        raise AssertionError(f"the client's admin_listen {HOST}:{adm} does not serve /status: "
                             f"{e!r}") from None

    def holders(obj):
        if isinstance(obj, dict):
            if "b-clash" in obj or "b-clash" in [v for v in obj.values() if isinstance(v, str)]:
                yield obj
            for v in obj.values():
                yield from holders(v)
        elif isinstance(obj, list):
            for v in obj:
                yield from holders(v)

    found = list(holders(doc))
    assert found, f"/status does not mention b-clash: {str(doc)[:400]}"
    text = " ".join(s for o in found for s in ha.json_strings(o))
    assert str(P) in text and "a-clash" in text, \
        f"/status: b-clash's entry does not report the clash on port {P}: {text[:400]}"
    t.log(f"/status, b-clash: {text[:300]}")


# --------------------------------------------------------------------------- check


def test_check_refuses_duplicate_client_port(t):
    """`gatehouse check` refuses two cloud destinations of one gateway on the same
    client_port with FILE:LINE (the second's client_port line); the same port in
    two gateways is fine."""
    P, r1, tport = t.ports(3)
    toks = {"gw1": t.token(), "gw2": t.token()}
    for gw2, want_ok in (("gw2", True), ("gw1", False)):
        text = ghtest.ini_text(ghtest.server_sections(
            tport, t.pki, toks, [cloud("c1", P, r1, gateway="gw1"),
                                 cloud("c2", P, r1, gateway=gw2)]))
        path = os.path.join(t.dir, f"dup-{gw2}.ini")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([ghtest.GH_BIN, "check", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, cwd=t.dir)
        err = r.stderr.decode(errors="replace")
        if want_ok:
            assert r.returncode == 0, f"same client_port in two gateways refused:\n{err}"
            continue
        lines = text.splitlines()
        start = ghtest.ini_line_of(text, r"^\[destination c2\]")
        line = next(i for i in range(start, len(lines) + 1)
                    if lines[i - 1].startswith("client_port"))
        want = f"{os.path.basename(path)}:{line}"
        assert r.returncode == 2, f"exit {r.returncode} (want 2), stderr:\n{err}"
        assert re.search(re.escape(want) + r"(?!\d)", err), f"no {want} on stderr:\n{err}"
        t.log(f"check: {err.strip().splitlines()[0]}")


if __name__ == "__main__":
    ghtest.main(globals())
