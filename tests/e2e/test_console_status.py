#!/usr/bin/env python3
"""End-to-end: `gatehouse status` against a running server and client: the
tables, --json, -c FILE, the token, and its exit status (0 all up, 1 a
destination down, 3 not reachable or refused, 2 usage)."""
import json
import os
import re
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


if __name__ == "__main__":
    ghtest.main(globals())
