#!/usr/bin/env python3
"""End-to-end: log_format = json on both sides. A server and a client carry a
tunnel and streams (one served, one refused by the client's [acl]); every line
either writes is one JSON object with the documented fields, and the subjects
that name a tunnel or a stream carry their gateway, destination and stream."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import onprem  # noqa: E402


def _objects(g):
    out = []
    for line in g.log_text().splitlines():
        if line.startswith(ghtest._MARK):
            continue
        obj = json.loads(line)  # raises on any line that is not one object
        assert isinstance(obj, dict), f"{g.name}: not an object: {line!r}"
        for k in ("time", "level", "subject", "message"):
            assert isinstance(obj.get(k), str), f"{g.name}: no string {k!r} in {line!r}"
        assert obj["level"] in ("error", "warn", "info", "debug", "trace"), line
        assert obj["time"].endswith("Z") and "T" in obj["time"], line
        out.append(obj)
    # the file as a whole is valid UTF-8 (json.loads took str already decoded
    # with errors="replace" by the harness: check the bytes)
    with open(g.log_path, "rb") as f:
        f.read().decode("utf-8")
    return out


def test_json_logs_through_a_tunnel_and_streams(t):
    res = t.proto_server()
    port, denied_port = t.port(), t.port()
    dests = [onprem("d1", port, res.port),
             onprem("d2", denied_port, res.port, resource_host="127.0.0.2")]
    tok = t.token()
    srv = t.server(dests, {"gw1": tok}, server={"log_format": "json"})
    cli = t.client(srv, tok, client={"log_format": "json"},
                   acl=[("allow", f"{ghtest.HOST}:*"), ("deny", "*")])
    ghtest.wait_tunnel(port, 30, procs=[srv, cli])
    for i in range(3):
        ghtest.echo_check(port, 1000 + i)
    s = ghtest.connect(denied_port)
    try:
        ghtest.recv_to_eof(s)
    except ConnectionResetError:
        pass
    s.close()
    srv.wait_log(r'"destination":"d2".*refused by the ACL', 20)
    so, co = _objects(srv), _objects(cli)
    assert so and co
    for objs, who in ((so, "server"), (co, "client")):
        tun = [o for o in objs if o.get("subsystem") == "tunnel"]
        assert tun, f"{who}: no line with subsystem tunnel"
        assert all(o.get("peer") for o in tun), tun[:3]
        assert any(o.get("gateway") == "gw1" for o in tun), tun[:3]
        for o in tun:  # "tunnel PEER" before the HELLO, "tunnel GW PEER" after
            assert o["subject"] == " ".join(["tunnel"] + ([o["gateway"]] if "gateway" in o else [])
                                            + [o["peer"]]), o
    streams = [o for o in so + co if o.get("subsystem") == "stream"]
    assert streams, "no line about a stream"
    for o in streams:
        assert o["gateway"] == "gw1" and o["destination"] in ("d1", "d2"), o
        assert isinstance(o["stream"], int), o
    t.log(f"server {len(so)} lines, client {len(co)} lines, {len(streams)} about streams; "
          f"e.g. {json.dumps(streams[0])}")


def test_log_format_refuses_other_values(t):
    srv = t.gatehouse("server", ghtest.server_sections(t.port(), t.pki, {"gw1": t.token()},
                                                        server={"log_format": "xml"}))
    srv.allow_exit = True
    rc = srv.wait(20)
    assert rc == 2, f"rc={rc}"
    assert "log_format must be text or json" in srv.log_text(), srv.tail()
    assert "server.ini:" in srv.log_text(), srv.tail()


if __name__ == "__main__":
    ghtest.main(globals())
