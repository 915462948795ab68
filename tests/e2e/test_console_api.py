#!/usr/bin/env python3
"""End-to-end: the console's JSON API (/api/v1/overview, /history, /events) on
a running server and client: its schema, version, rates that move while a
stream carries data, events (tunnel up, the client's ACL refusal with the rule,
a reload), and /metrics and /status as they were."""
import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_helpers as ch  # noqa: E402
import ghtest  # noqa: E402

TUNNEL_KEYS = {"peer", "name", "state", "tls_version", "cipher", "up_since_ms", "up_s", "streams",
               "rtt_ms", "bytes_sent", "bytes_received"}
DEST_KEYS = {"gateway", "name", "type", "side", "listen", "resource", "chains", "state",
             "reason", "streams", "opened", "refused", "failed", "bytes_in", "bytes_out", "rate"}


def _check_common(o, role):
    assert o["api"] == 1 and o["role"] == role, o
    assert isinstance(o["time_ms"], int) and o["sample_interval_s"] == 1
    assert [g["id"] for g in o["gateways"]] == ["gw1"], o["gateways"]
    assert {d["name"] for d in o["destinations"]} == {"d1", "d2"}, o["destinations"]
    for d in o["destinations"]:
        assert set(d) == DEST_KEYS, sorted(set(d) ^ DEST_KEYS)
        assert d["type"] == "onprem" and d["state"] == "up" and d["reason"] is None, d
        assert set(d["chains"]) == {"listen", "resource"}


def test_overview_schema_rates_and_events(t):
    e = ch.setup(t)
    so = ch.get_json(e["sadm"], "/api/v1/overview")
    _check_common(so, "server")
    gw = so["gateways"][0]
    assert len(gw["tunnels"]) == 1, gw
    tun = gw["tunnels"][0]
    assert set(tun) == TUNNEL_KEYS, sorted(set(tun) ^ TUNNEL_KEYS)
    assert tun["state"] == "up" and tun["tls_version"].startswith("TLSv1."), tun
    assert tun["cipher"] and tun["up_since_ms"] <= so["time_ms"], tun
    # the client's name, as the server's log gives it
    m = re.search(r"tunnel up: client (\S+),", e["srv"].log_text())
    assert m and tun["name"] == m.group(1), (tun, m)
    d1 = {d["name"]: d for d in so["destinations"]}["d1"]
    assert d1["listen"] == f"{ghtest.HOST}:{e['p1']}" and d1["side"] == "listen", d1
    assert any(ev["kind"] == "tunnel_up" for ev in so["events"]), so["events"]

    co = ch.get_json(e["cadm"], "/api/v1/overview")
    _check_common(co, "client")
    conns = co["gateways"][0]["connections"]
    assert len(conns) == 1 and conns[0]["state"] == "up", conns
    assert co["gateways"][0]["reconnects"] == 0

    # the traffic rate of d1 moves while a stream carries data
    pump = ch.Pump(e["p1"])
    try:
        def moving():
            o = ch.get_json(e["sadm"], "/api/v1/overview")
            r = {d["name"]: d for d in o["destinations"]}["d1"]["rate"]
            return r and r["bytes_in"] > 0 and r["bytes_out"] > 0 and r
        r = ghtest.wait_until(moving, 20, interval=0.5, what="a byte rate on d1")
        t.log(f"d1 rate while pumping: {r}")
        h = ch.get_json(e["sadm"], "/api/v1/history")
        assert h["api"] == 1 and h["fields"] == ["opens", "refusals", "bytes_in", "bytes_out"]
        hd = {x["name"]: x for x in h["destinations"]}
        assert any(s[2] > 0 for s in hd["d1"]["samples"]), hd["d1"]
        assert all(len(s) == 4 for s in hd["d2"]["samples"])
    finally:
        pump.stop()
    assert pump.moved > 0

    # the client's ACL refuses d2: an event on both sides, with the rule
    ch.refused_open(e["p2"])
    rule = f"{os.path.basename(e['cli'].config_path)}:"

    def refused(port):
        evs = ch.get_json(port, "/api/v1/events")["events"]
        return [ev for ev in evs if ev["kind"] == "refused"]
    cref = ghtest.wait_until(lambda: refused(e["cadm"]), 20, what="a refusal on the client")
    # the [acl] with each rule's hits: allow 127.0.0.1:* (d1's opens), deny * (d2)
    co = ch.get_json(e["cadm"], "/api/v1/overview")
    acl = co["gateways"][0]["acl"]
    d1_opens = {d["name"]: d for d in co["destinations"]}["d1"]["opened"]
    assert d1_opens >= 2  # wait_tunnel's probe and the pump
    assert acl["present"] is True and acl["file"] == e["cli"].config_path, acl
    text = e["cli"].config_text()
    rules = [(r["action"], r["target"], r["line"], r["hits"]) for r in acl["rules"]]
    assert rules == [("allow", f"{ghtest.HOST}:*", ghtest.ini_line_of(text, r"^allow = "),
                      d1_opens),
                     ("deny", "*", ghtest.ini_line_of(text, r"^deny = "), 1)], rules
    assert acl["no_match_hits"] == 0
    assert "refused by the ACL" in cref[0]["message"] and rule in cref[0]["message"], cref
    assert cref[0]["subject"].startswith("gw1 d2 #"), cref
    sref = ghtest.wait_until(lambda: refused(e["sadm"]), 20, what="a refusal on the server")
    assert "d2" in sref[0]["subject"], sref

    # a reload is an event, newest first
    since = e["srv"].log_size()
    e["srv"].send_signal(signal.SIGHUP)
    e["srv"].wait_log(r"configuration reloaded", 20, since=since)
    evs = ch.get_json(e["sadm"], "/api/v1/events")
    assert evs["events"][0]["kind"] == "reload", evs["events"][:2]
    times = [ev["time_ms"] for ev in evs["events"]]
    assert times == sorted(times, reverse=True)
    assert evs["events_total"] >= len(evs["events"])

    # the client goes: its tunnel's end is an event on the server
    e["cli"].stop()
    down = ghtest.wait_until(
        lambda: [ev for ev in ch.get_json(e["sadm"], "/api/v1/events")["events"]
                 if ev["kind"] == "tunnel_down"], 20, what="a tunnel_down event")
    assert down[0]["subject"].startswith("tunnel gw1 "), down
    assert ch.get_json(e["sadm"], "/api/v1/overview")["gateways"][0]["tunnels"] == []


def _tunnel(port):
    tuns = ch.get_json(port, "/api/v1/overview")["gateways"][0]["tunnels"]
    assert len(tuns) == 1, tuns
    return tuns[0]


def test_tunnel_bytes_each_way_and_streams(t):
    """Each tunnel counts the bytes its connection carries each way, on both
    sides: an echo of N bytes through d1 adds at least N to each count, and a
    stream held open shows in the tunnel's streams."""
    e = ch.setup(t)
    before = {side: _tunnel(e[side]) for side in ("sadm", "cadm")}
    for tun in before.values():
        assert tun["bytes_sent"] > 0 and tun["bytes_received"] > 0, tun  # the handshake
    n = 3 * 1024 * 1024 + 17
    assert ghtest.echo_check(e["p1"], n) == n
    for side in ("sadm", "cadm"):
        b, a = before[side], _tunnel(e[side])
        t.log(f"{side}: sent +{a['bytes_sent'] - b['bytes_sent']}, "
              f"received +{a['bytes_received'] - b['bytes_received']} for {n} bytes each way")
        assert a["bytes_sent"] - b["bytes_sent"] >= n, (b, a)
        assert a["bytes_received"] - b["bytes_received"] >= n, (b, a)
        # no more than the data with its frames and TLS records (about 1 %), pings
        assert a["bytes_sent"] - b["bytes_sent"] < n * 1.1, (b, a)
    held = [ch.Pump(e["p1"]) for _ in range(3)]
    try:
        for side in ("sadm", "cadm"):
            ghtest.wait_until(lambda: _tunnel(e[side])["streams"] == 3, 20,
                              interval=0.2, what=f"3 streams on the tunnel ({side})")
    finally:
        for p in held:
            p.stop()


def test_unknown_paths_and_old_endpoints(t):
    e = ch.setup(t)
    for path in ("/api/v2/overview", "/api/v1", "/api/v1/overview/x", "/api/"):
        code, _h, _b = ch.get(e["sadm"], path)
        assert code == 404, f"{path}: {code}"
    # /status and /metrics as they were
    st = ch.get_json(e["sadm"], "/status")
    assert set(st) == {"role", "version", "gateways"}, st
    code, h, body = ch.get(e["sadm"], "/metrics")
    assert code == 200 and h["content-type"].startswith("text/plain")
    assert b"gatehouse_destination_up" in body
    # no secret in any answer
    for path in ("/api/v1/overview", "/api/v1/history", "/api/v1/events", "/status", "/metrics"):
        for port in (e["sadm"], e["cadm"]):
            _c, _h, body = ch.get(port, path)
            assert e["token"].encode() not in body, path
            assert b"PRIVATE KEY" not in body, path


if __name__ == "__main__":
    ghtest.main(globals())
