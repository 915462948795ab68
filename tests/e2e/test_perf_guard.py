#!/usr/bin/env python3
"""The regression guard of issue 16: eight streams through one tunnel must
carry at least 0.75x what one stream carries (they once carried less).

Best of two rounds, each round one stream then eight for a few seconds
through a real server and client, with tests/tools/gh_bulk (a C sender and
sink, so no Python in the data path). A ratio, not a speed: both figures
come from the same minute on the same machine, so the guard does not flake
on a loaded one. The throughput and the CPU per GiB (server + client, user +
system, from /proc) are printed, never asserted."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import onprem  # noqa: E402

SECONDS = 2.0
ROUNDS = 2
FLOOR = 0.75  # 8 streams / 1 stream


def _cpu(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def _bulk(tool, sink, port, streams, pids):
    """(Gbit/s, CPU seconds per GiB) of one gh_bulk run."""
    p = subprocess.Popen([tool, str(sink), str(port), str(streams), str(SECONDS)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready", "gh_bulk did not start"
        c0 = _cpu(pids)
        p.stdin.write("go\n")
        p.stdin.flush()
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    c1 = _cpu(pids)
    assert p.returncode == 0, f"gh_bulk exited {p.returncode}: {out}"
    got = dict(line.split("=", 1) for line in out.split())
    nbytes = int(got["bytes"])
    assert nbytes > 0, f"nothing moved: {out}"
    # the CPU window holds the warm-up second too: count its bytes as the mean
    moved = nbytes * (SECONDS + 1.0) / SECONDS
    return float(got["gbps"]), (c1 - c0) / (moved / 2**30)


def test_eight_streams_carry_at_least_one(t):
    tool = os.path.join(ghtest.GH_BUILD_DIR, "gh_bulk")
    assert os.path.exists(tool), f"{tool}: build the tests first"
    listen, sink = t.ports(2)
    srv, cli, _ = t.pair([onprem("bulk", listen, sink)])
    cli.wait_log(r"tunnel up", 30)
    cli.wait_log(r"destination bulk: on-prem resource", 30)  # it may open
    ghtest.wait_port(ghtest.HOST, listen, 20, procs=[srv])
    pids = [srv.pid(), cli.pid()]
    ratios = []
    for r in range(ROUNDS):
        one, cpu1 = _bulk(tool, sink, listen, 1, pids)
        eight, cpu8 = _bulk(tool, sink, listen, 8, pids)
        ratios.append(eight / one)
        t.log(f"round {r + 1}: 1 stream {one:.2f} Gbit/s ({cpu1:.2f} CPU s/GiB), "
              f"8 streams {eight:.2f} Gbit/s ({cpu8:.2f} CPU s/GiB): ratio {eight / one:.2f}")
    best = max(ratios)
    assert best >= FLOOR, (f"8 streams carry {best:.2f}x one stream (best of {ROUNDS} rounds), "
                           f"under {FLOOR}x")


if __name__ == "__main__":
    ghtest.main(globals())
