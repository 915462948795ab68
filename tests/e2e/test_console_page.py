#!/usr/bin/env python3
"""End-to-end: the console page (GET /) in a real headless browser (Debian's
chromium, installed by scripts/deps.sh). On a running server and client the page
loads with no console message at all (no error, no failed request), shows the
gateway, its tunnel and destinations, the client's connection and its [acl]
refusal with the rule (FILE:LINE); the traffic graph's data moves while a stream
carries data. At 100 destinations and 1,000 open streams the page stays
readable: it loads with no console message, its destinations table sorts by a
click on a heading and filters by what is typed in the filter box (real input
events, over the DevTools protocol: cdp.py), and its numbers carry units.
Screenshots are kept in the test's directory (and written to
GH_CONSOLE_SHOTS, when set, for docs/)."""
import base64
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
import console_helpers as ch  # noqa: E402
import ghtest  # noqa: E402
from ghtest import HOST, cloud, onprem  # noqa: E402

CONSOLE_RX = re.compile(r":CONSOLE(?::|\()\d*\)?\]\s*(.*)")


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed: run scripts/deps.sh"
    return exe


def _browse(t, url, budget_ms=4000, screenshot=None):
    """(DOM text, console messages) of url after budget_ms of virtual time."""
    ud = os.path.join(t.dir, "chromium-profile")
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", f"--user-data-dir={ud}", "--enable-logging=stderr", "--v=0",
            f"--virtual-time-budget={budget_ms}", "--window-size=1400,1000"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    p = subprocess.run(args + [url], capture_output=True, text=True, timeout=120,
                       cwd=t.dir)
    assert p.returncode == 0, f"chromium rc={p.returncode}: {p.stderr[-2000:]}"
    console = [m.group(1) for m in map(CONSOLE_RX.search, p.stderr.splitlines()) if m]
    return p.stdout, console


class _Tables(HTMLParser):
    """Rows of each table by id: [[cell text, ...], ...]; canvases' data-*."""

    def __init__(self):
        super().__init__()
        self.tables, self.canvases = {}, []
        self._tid = self._row = self._cell = None
        self._row_key = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._tid = a.get("id")
            self.tables[self._tid] = []
        elif tag == "tbody" and self._tid:
            self._in_body = True
        elif tag == "tr" and self._tid and getattr(self, "_in_body", False):
            self._row = []
            self._row_key = a.get("data-key")
        elif tag == "td" and self._row is not None:
            self._cell = ""
        elif tag == "canvas":
            self.canvases.append({"table": self._tid, "row": self._row_key, **a})

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._tid].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._tid = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _parse(dom):
    p = _Tables()
    p.feed(dom)
    return p


def test_console_errors_are_seen(t):
    """The check itself: a page with an error is caught (so a clean page means
    something)."""
    _dom, console = _browse(t, "data:text/html,<script>undefinedFn()</script>", 1000)
    assert any("undefinedFn" in m for m in console), console
    b = cdp.Browser(t.dir)
    try:
        b.navigate("data:text/html,<script>console.error('seen');undefinedFn()</script>")
        b.wait_js("true")
        assert any("undefinedFn" in m for m in b.messages), b.messages
        assert any("seen" in m for m in b.messages), b.messages
    finally:
        b.close()


def test_server_and_client_pages(t):
    e = ch.setup(t)
    ch.refused_open(e["p2"])
    e["cli"].wait_log(r"refused by the ACL", 20)

    # the server's page
    dom, console = _browse(t, f"http://{HOST}:{e['sadm']}/")
    assert not console, f"console messages: {console}"
    p = _parse(dom)
    tun = p.tables["tunnels"]
    assert len(tun) == 1 and tun[0][0] == "gw1" and tun[0][4].startswith("TLSv1."), tun
    # bytes sent and received, with units
    assert all(re.fullmatch(r"\d+(\.\d)? (B|KiB|MiB)", c) for c in tun[0][9:11]), tun
    dests = {r[0]: r for r in p.tables["dests"]}
    assert set(dests) == {"d1", "d2"}, p.tables["dests"]
    assert dests["d1"][3] == f"{HOST}:{e['p1']}" and dests["d1"][6] == "up", dests["d1"]
    assert any(r[1] == "tunnel_up" for r in p.tables["events"]), p.tables["events"]
    t.log(f"server page: tunnel {tun[0][:5]}, destinations {sorted(dests)}")

    # the client's page: its connection, and the refusal with the rule
    dom, console = _browse(t, f"http://{HOST}:{e['cadm']}/")
    assert not console, f"console messages: {console}"
    p = _parse(dom)
    conns = p.tables["conns"]
    assert len(conns) == 1 and conns[0][0] == "gw1" and conns[0][2] == "up", conns
    ref = p.tables["refusals"]
    rule = f"{os.path.basename(e['cli'].config_path)}:"
    assert ref and "refused by the ACL" in ref[0][2] and rule in ref[0][2], ref
    assert ref[0][1].startswith("gw1 d2 #"), ref
    t.log(f"client page: refusal {ref[0][2]!r}")
    acl = [(r[2], r[3], r[4]) for r in p.tables["acl"]]
    assert acl[:2] == [("allow", f"{HOST}:*", "1"), ("deny", "*", "1")], acl
    assert acl[2] == ("deny", "(no rule matched)", "0"), acl
    _shot(t, e["cadm"], "client")


def _shot(t, port, role):
    png = os.path.join(t.dir, f"console-{role}.png")
    _browse(t, f"http://{HOST}:{port}/", 3000, screenshot=png)
    assert os.path.getsize(png) > 10000, f"{png}: {os.path.getsize(png)} bytes"
    shots = os.environ.get("GH_CONSOLE_SHOTS")
    if shots:
        shutil.copy(png, os.path.join(shots, f"console-{role}.png"))


def test_graph_moves_while_a_stream_carries_data(t):
    e = ch.setup(t)
    url = f"http://{HOST}:{e['sadm']}/"

    def d1_graph():
        dom, console = _browse(t, url, 3000)
        assert not console, f"console messages: {console}"
        cv = [c for c in _parse(dom).canvases if c["row"] == "gw1\x00d1"]
        assert len(cv) == 1, _parse(dom).canvases
        return int(cv[0]["data-samples"]), int(cv[0]["data-sum"])

    pump = ch.Pump(e["p1"])
    try:
        ghtest.wait_until(lambda: (ch.get_json(e["sadm"], "/api/v1/overview")
                                   ["destinations"][0]["rate"] or {}).get("bytes_in"),
                          20, interval=0.5, what="traffic on d1")
        n1, s1 = ghtest.wait_until(lambda: (lambda g: g if g[1] > 0 else None)(d1_graph()),
                                   30, interval=0.5, what="a graph with traffic")
        n2, s2 = ghtest.wait_until(lambda: (lambda g: g if g[0] > n1 and g[1] > s1 else None)(
            d1_graph()), 30, interval=0.5, what="the graph to move")
        t.log(f"d1 graph: {n1} samples, {s1} bytes; then {n2} samples, {s2} bytes")
        _shot(t, e["sadm"], "server")  # with its traffic
    finally:
        pump.stop()


def test_events_notices_and_refusals_newest_first(t):
    """The server's recent events, in the API and on the page, newest first:
    the client's NOTICEs (a cloud destination it listens for, one whose port
    it cannot take), an open its [acl] refused, one the destination's allow
    list refused."""
    res = t.proto_server()
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind((HOST, 0))
    held.listen(1)
    t.defer(held.close)
    c1, p_acl, p_allow, adm = t.ports(4)
    tok = t.token()
    srv = t.server([cloud("c1", c1, res.port), cloud("c2", held.getsockname()[1], res.port),
                    onprem("byacl", p_acl, res.port, resource_host="127.0.0.2"),
                    onprem("byallow", p_allow, res.port, extra=[("allow", "192.0.2.0/24")])],
                   {"gw1": tok}, server={"admin_listen": f"{HOST}:{adm}"})
    t.client(srv, tok)

    def events(pred):
        evs = ch.get_json(adm, "/api/v1/events")["events"]
        return [i for i, e in enumerate(evs) if pred(e)] and evs

    def notice(dest, text):
        return lambda e: (e["kind"] == "notice" and e["subject"].startswith("tunnel gw1 ")
                          and f"client reports destination {dest}: " in e["message"]
                          and text in e["message"])
    ghtest.wait_until(lambda: events(notice("c1", "listening")) and
                      events(notice("c2", "cannot listen")), 30, what="the client's notices")
    c2 = {d["name"]: d for d in ch.get_json(adm, "/api/v1/overview")["destinations"]}["c2"]
    assert c2["state"] == "down" and "cannot listen" in c2["reason"], c2

    def by_acl(e):
        return (e["kind"] == "refused" and e["subject"].startswith("gw1 byacl #")
                and "open refused by the client" in e["message"] and "ACL" in e["message"])

    def by_allow(e):
        return e["kind"] == "refused" and e["subject"] == "byallow" and "not in the allow list" in e["message"]
    ch.refused_open(p_acl)
    ghtest.wait_until(lambda: events(by_acl), 20, what="the refusal by the client's [acl]")
    ghtest.expect_refused(p_allow)
    evs = ghtest.wait_until(lambda: events(by_allow), 20, what="the refusal by allow")
    first = {name: next(i for i, e in enumerate(evs) if f(e)) for name, f in
             [("allow", by_allow), ("acl", by_acl), ("c2", notice("c2", "cannot listen")),
              ("c1", notice("c1", "listening"))]}
    assert first["allow"] == 0 and first["allow"] < first["acl"] < min(first["c1"], first["c2"]), \
        (first, evs[:8])
    times = [e["time_ms"] for e in evs]
    assert times == sorted(times, reverse=True), times
    t.log("server events: " + "; ".join(f"{e['kind']} {e['message'][:60]}" for e in evs[:5]))

    # the page shows the same, in the same order (nothing happens meanwhile)
    b = cdp.Browser(t.dir)
    t.defer(b.close)
    b.navigate(f"http://{HOST}:{adm}/")
    b.wait_js("document.querySelectorAll('#events tbody tr:not(.empty)').length > 0",
              what="the events table")
    rows = b.eval("[...document.querySelectorAll('#events tbody tr')].map("
                  "(tr) => [...tr.cells].map((c) => c.textContent))")
    want = ch.get_json(adm, "/api/v1/overview")["events"]
    assert [r[1:] for r in rows] == [[e["kind"], e["subject"], e["message"]] for e in want], \
        (rows[:5], want[:5])
    assert rows[0][1] == "refused" and "not in the allow list" in rows[0][3], rows[0]
    assert any(r[1] == "notice" and "cannot listen" in r[3] for r in rows), rows
    assert not b.messages, f"console messages: {b.messages}"


UNIT_RX = r"\d+(\.\d)? (B|KiB|MiB|GiB|TiB)"


def _column(b, table, i):
    """The text of column i of each row of table's body."""
    return b.eval(f"[...document.querySelectorAll('#{table} tbody tr')]"
                  f".map((tr) => tr.cells[{i}] ? tr.cells[{i}].textContent : null)")


def test_readable_at_100_destinations_and_1000_streams(t):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    res = ch.Holder()
    t.defer(res.close)
    n_dests = 100
    ports = t.ports(n_dests)
    adm = t.port()
    names = [f"dest{i:03d}" for i in range(n_dests)]
    # uneven: 1 to 19 streams each, so that a sort by streams has an order
    want = {names[i]: 1 + (7 * i) % 19 for i in range(n_dests)}
    want[names[0]] += 1000 - sum(want.values())
    total = sum(want.values())
    tok = t.token()
    srv = t.server([onprem(names[i], ports[i], res.port) for i in range(n_dests)],
                   {"gw1": tok}, server={"admin_listen": f"{HOST}:{adm}"})
    cli = t.client(srv, tok)
    ghtest.wait_port(HOST, ports[-1], 30, procs=[srv])
    ghtest.wait_until(lambda: ch.get_json(adm, "/api/v1/overview")["gateways"][0]["tunnels"],
                      30, what="the tunnel")
    socks = []
    t.defer(lambda: [s.close() for s in socks])
    for i, name in enumerate(names):
        for _ in range(want[name]):
            socks.append(socket.create_connection((HOST, ports[i]), timeout=30))
    # traffic on one of them, so that some counts grow past KiB
    socks[0].sendall(b"x" * (3 << 20))
    ghtest.wait_until(lambda: res.count == total and res.received >= 3 << 20, 60,
                      what=f"{total} streams held by the resource")
    o = ch.get_json(adm, "/api/v1/overview")
    assert {d["name"]: d["streams"] for d in o["destinations"]} == want
    assert o["gateways"][0]["tunnels"][0]["streams"] == total
    t.log(f"{total} streams open over {n_dests} destinations")

    b = cdp.Browser(t.dir)
    t.defer(b.close)
    b.navigate(f"http://{HOST}:{adm}/")
    b.wait_js(f"document.querySelectorAll('#dests tbody tr[data-key]').length === {n_dests}",
              what=f"{n_dests} destination rows")
    assert b.eval("document.getElementById('dests-count').textContent") == f"({n_dests})"
    # scrolled down the long table, its headings stay in view below the header
    b.eval("window.scrollTo(0, 2500)")
    head = b.eval("[document.querySelector('header').getBoundingClientRect().bottom,"
                  " document.querySelector('#dests thead th').getBoundingClientRect().top]")
    assert abs(head[1] - head[0]) <= 2, head
    b.eval("window.scrollTo(0, 0)")
    # the tunnel carries them all; its bytes with units
    tun = b.eval("[...document.querySelectorAll('#tunnels tbody tr')].map("
                 "(tr) => [...tr.cells].map((c) => c.textContent))")
    assert len(tun) == 1 and tun[0][7] == str(total), tun
    assert all(re.fullmatch(UNIT_RX, c) for c in tun[0][9:11]), tun
    assert re.fullmatch(r"\d+\.\d MiB", tun[0][9]), tun  # the 3 MiB sent
    # every rate carries its unit, once the sampler has two readings
    b.wait_js("document.querySelector('#dests tbody tr[data-key] canvas')"
              ".dataset.samples > 0", what="a sample")
    for col in (10, 11):
        vals = _column(b, "dests", col)
        assert all(re.fullmatch(UNIT_RX + "/s", v) for v in vals), vals

    # sort: a click on "streams" (ascending), another (descending); the
    # order holds through the next refreshes
    b.click("#dests th[data-k=streams]")
    got = [int(v) for v in _column(b, "dests", 7)]
    assert got == sorted(want.values()), got
    b.click("#dests th[data-k=streams]")
    got = _column(b, "dests", 7)
    assert [int(v) for v in got] == sorted(want.values(), reverse=True), got
    stamp = b.eval("document.getElementById('meta').textContent")
    b.wait_js(f"document.getElementById('meta').textContent !== {stamp!r}", what="a refresh")
    assert [int(v) for v in _column(b, "dests", 7)] == sorted(want.values(), reverse=True)
    png = os.path.join(t.dir, "console-100-destinations.png")
    with open(png, "wb") as f:
        f.write(base64.b64decode(b.call("Page.captureScreenshot", format="png")["data"]))
    b.click("#dests th[data-k=name]")
    assert _column(b, "dests", 0) == sorted(names)
    b.click("#dests th[data-k=name]")
    assert _column(b, "dests", 0) == sorted(names, reverse=True)

    # filter: typed into the box, every table at once
    b.click("#filter")
    b.type("dest04")
    rows = _column(b, "dests", 0)
    assert rows == [f"dest04{i}" for i in range(9, -1, -1)], rows
    assert b.eval("document.getElementById('dests-count').textContent") == f"(10 of {n_dests})"
    b.type("2")
    assert _column(b, "dests", 0) == ["dest042"]
    b.eval("document.getElementById('filter').select()")
    b.type("nothing-like-this")
    assert _column(b, "dests", 0) == ["nothing matches the filter"]

    assert not b.messages, f"console messages: {b.messages}"
    t.log(f"page of {n_dests} destinations, {total} streams: sorted, filtered; {png}")
    for s in socks:  # the streams end now, not in the processes' drain
        s.close()
    socks.clear()


if __name__ == "__main__":
    ghtest.main(globals())
