#!/usr/bin/env python3
"""UDP through gatehouse, beside direct loopback and beside socat's UDP relay,
in the same run, printed as ratios.

    python3 bench/udp.py [--size 1200] [--seconds 3] [--build build]

flood:    one source sends --size datagrams as fast as it can for --seconds;
          a sink behind the relay counts what arrives. Datagrams/s and Mbit/s
          are of what *arrived* (a relay that cannot keep up drops), with the
          share lost.
pingpong: one datagram in flight, answered by an echo resource: round trips
          per second (the latency a DNS-style client sees).

gatehouse: an on-prem `udp` destination (application -> server -> tunnel ->
client -> resource). socat: `socat UDP4-LISTEN:P,fork,reuseaddr UDP4:...`.
rathole's published loopback UDP figure is 217 Mbit/s, printed for scale.
Not a test: nothing here asserts a speed."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import HOST, ghtest  # noqa: E402

RATHOLE_MBITS = 217.0


def run(tool, mode, target, peer, size, secs):
    out = subprocess.run([tool, mode, str(target), str(peer), str(size), str(secs)],
                         capture_output=True, text=True, timeout=secs + 60, check=True).stdout.split()
    vals = dict(zip(out[0::2], out[1::2]))
    return {k: float(v) for k, v in vals.items()}


def flood_row(name, r, size, direct=None):
    pps = r["received"] / r["seconds"]
    mbits = r["bytes"] * 8 / r["seconds"] / 1e6
    lost = 100.0 * (1 - r["received"] / r["sent"]) if r["sent"] else 0.0
    ratio = f"{mbits / direct:.2f}" if direct else "1.00"
    return [name, pps, mbits, f"{lost:.1f}%", ratio, f"{mbits / RATHOLE_MBITS:.1f}"], mbits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1200)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--build")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gh-bench-udp-")
    tool = benchlib.compile_tool("udpload", work)
    sink, echo, lport, eport, sport, seport = ghtest.free_ports(6)
    dests = [("flood", [("type", "onprem"), ("listen", f"{HOST}:{lport}"),
                        ("resource", f"{HOST}:{sink}"), ("protocol", "udp")]),
             ("echo", [("type", "onprem"), ("listen", f"{HOST}:{eport}"),
                       ("resource", f"{HOST}:{echo}"), ("protocol", "udp")])]
    socat = shutil.which("socat")
    relays = []
    if socat:
        relays = [subprocess.Popen([socat, "-T", "10", f"UDP4-LISTEN:{p},bind={HOST},fork,reuseaddr",
                                    f"UDP4:{HOST}:{to}"], stderr=subprocess.DEVNULL)
                  for p, to in ((sport, sink), (seport, echo))]
    with benchlib.Pair(dests, build=a.build, workdir=work) as pair:
        def round_trip():  # the tunnel is up once one goes through
            assert run(tool, "pingpong", eport, echo, 8, 0.3)["transactions"] > 0

        ghtest.retry(round_trip, 30, what="udp tunnel up")
        time.sleep(0.5)
        rows = []
        d = run(tool, "flood", sink, sink, a.size, a.seconds)
        row, direct = flood_row("direct", d, a.size)
        rows.append(row)
        g = run(tool, "flood", lport, sink, a.size, a.seconds)
        rows.append(flood_row("gatehouse", g, a.size, direct)[0])
        if socat:
            s = run(tool, "flood", sport, sink, a.size, a.seconds)
            rows.append(flood_row("socat relay", s, a.size, direct)[0])
        benchlib.table(f"UDP flood, {a.size}-byte datagrams, {a.seconds:g} s, one source "
                       f"(what arrived)", ["path", "datagrams/s", "Mbit/s", "lost", "x direct",
                                           "x rathole"], rows)
        rows = []
        pd = run(tool, "pingpong", echo, echo, a.size, a.seconds)
        base = pd["transactions"] / pd["seconds"]
        for name, port in (("direct", echo), ("gatehouse", eport)) + ((("socat relay", seport),)
                                                                        if socat else ()):
            r = pd if port == echo else run(tool, "pingpong", port, echo, a.size, a.seconds)
            rate = r["transactions"] / r["seconds"]
            rows.append([name, rate, 1e6 / rate, f"{rate / base:.2f}"])
        benchlib.table(f"UDP ping-pong, {a.size}-byte datagrams, 1 in flight",
                       ["path", "round trips/s", "us each", "x direct"], rows)
    for r in relays:
        r.terminate()
        r.wait()


if __name__ == "__main__":
    main()
