#!/usr/bin/env python3
"""ABI compatibility, with the real binaries (tests/abi/CMakeLists.txt):

- the ABI 1.0 header in tests/abi/sdk-1.0 is frozen (pinned by sha256);
- abi10.so, a layer built against that frozen header, loads into the current
  core, carries streams on both sides of a destination (sha256 both ways),
  reads its options and link_info the 1.0 way, and sees every byte and EOF;
- abi-major2.so (claims ABI 2.0) and abi-minor99.so (claims 1.99) are refused
  with messages that name the file and both versions, by `gatehouse plugins`
  and at the start of a server and a client, which run on without them;
- each of these plugins exports one dynamic symbol, gh_plugin_entry.

Environment (set by ctest): GH_BIN, GH_PLUGIN_DIR, GH_BUILD_DIR and
GH_ABI_PLUGIN_DIR (where the abi*.so are built)."""
import glob
import hashlib
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import ghtest  # noqa: E402
from ghtest import KiB, MiB, onprem  # noqa: E402

UP = 30.0
ABI_DIR = os.environ.get("GH_ABI_PLUGIN_DIR") or os.path.join(ghtest.GH_BUILD_DIR, "abi-plugins")
FROZEN = os.path.join(HERE, "sdk-1.0", "include", "gatehouse")
# The released ABI 1.0 headers (git show 5429ffb:sdk/include/gatehouse/...).
# They never change: a plugin built against them must keep working.
FROZEN_SHA256 = {
    "gatehouse.h": "ef209f2709cb05c16bb69eb6cea935f93e76b48ca2f039883b6625b4551482bd",
    "version.h": "8063c3648c323925b5dec92f270517f5b75451469a76d86b637df3b50a606156",
}


def _core_abi():
    path = os.path.join(ghtest._ROOT, "sdk", "include", "gatehouse", "version.h")
    text = open(path).read()
    return tuple(int(re.search(r"#define GH_ABI_%s (\d+)" % k, text).group(1))
                 for k in ("MAJOR", "MINOR"))


def _plugin_dir(t):
    """The shipped plugins and the three abi*.so, side by side."""
    d = os.path.join(t.dir, "plugins")
    os.makedirs(d)
    shipped = sorted(glob.glob(os.path.join(ghtest.GH_PLUGIN_DIR, "*.so")))
    assert shipped, f"no plugin in {ghtest.GH_PLUGIN_DIR}"
    for so in shipped + [os.path.join(ABI_DIR, n) for n in
                         ("abi10.so", "abi-major2.so", "abi-minor99.so")]:
        assert os.path.isfile(so), f"{so} is missing (build the tests)"
        os.symlink(os.path.abspath(so), os.path.join(d, os.path.basename(so)))
    return d


def _refusals(d):
    major, minor = _core_abi()
    return [f"{d}/abi-major2.so: built for ABI 2.0, this core speaks {major}.{minor}",
            f"{d}/abi-minor99.so: needs ABI 1.99, this core has {major}.{minor}"]


def test_frozen_header_is_frozen(t):
    for name, want in FROZEN_SHA256.items():
        with open(os.path.join(FROZEN, name), "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        assert got == want, f"tests/abi/sdk-1.0/include/gatehouse/{name} was edited: it must stay " \
                            "the released ABI 1.0 header"
    text = open(os.path.join(FROZEN, "version.h")).read()
    assert "#define GH_ABI_MAJOR 1\n" in text and "#define GH_ABI_MINOR 0\n" in text


def test_one_exported_symbol(t):
    for n in ("abi10.so", "abi-major2.so", "abi-minor99.so"):
        so = os.path.join(ABI_DIR, n)
        out = subprocess.run(["nm", "-D", "--defined-only", so], check=True,
                             capture_output=True, text=True).stdout
        names = [ln.split()[-1] for ln in out.splitlines() if ln.strip()]
        assert names == ["gh_plugin_entry"], f"{so} exports {names!r}"


def test_plugins_command(t):
    d = _plugin_dir(t)
    r = subprocess.run([ghtest.GH_BIN, "plugins", "--plugin-dir", d], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1, (r.returncode, r.stderr)  # two were refused
    out = r.stdout
    assert f"{d}/abi10.so\n  name abi10, version 1.0.0, ABI 1.0\n" in out, out
    assert "abi10 (layer): a pass-through layer built against the frozen ABI 1.0 header" in out
    assert "      abi10.tag  string  default -\n        a word put in this layer's log lines\n" in out
    refused = out.split("\nrefused:\n", 1)[1] if "\nrefused:\n" in out else ""
    for msg in _refusals(d):
        assert f"  {msg}\n" in refused, (msg, out)
    assert "name abi-major2" not in out and "name abi-minor99" not in out, out
    assert "tcp (transport)" in out, out


def test_abi10_plugin_carries_streams(t):
    """tcp+abi10 on both sides of an on-prem destination: the server runs the
    listen side's abi10, the client the resource side's; each logs what it
    passed on when the stream closes."""
    d = _plugin_dir(t)
    res = t.proto_server()
    port = t.port()
    dest = onprem("d10", port, res.port, protocol="tcp+abi10",
                  extra={"listen.abi10.tag": "L", "resource.abi10.tag": "R"})
    token = t.token()
    srv = t.server([dest], {"gw1": token}, server={"plugin_dir": d})
    cli = t.client(srv, token, client={"plugin_dir": d})
    ghtest.wait_tunnel(port, UP, procs=[srv, cli])
    for g in (srv, cli):
        g.wait_log(r"loaded abi10 1\.0\.0 \(ABI 1\.0\): abi10")
        g.wait_log(r"abi10: init: core ABI %d\.%d, host table \d+ bytes" % _core_abi())
        for msg in _refusals(d):
            g.wait_log(re.escape(msg))
    # one stream of a size no other has, half-closed both ways
    n = 1234567
    assert ghtest.echo_check(port, n, half_close=True) == n
    srv.wait_log(r"abi10 L: close: %d bytes up, %d bytes down, eof up 1, eof down 1, reason OK"
                 % (n + 5, n))
    cli.wait_log(r"abi10 R: close: %d bytes up, %d bytes down, eof up 1, eof down 1, reason OK"
                 % (n, n + 5))
    srv.wait_log(r"abi10 L: open: side listen, link_info size 96")
    cli.wait_log(r"abi10 R: open: side resource, link_info size 96")
    # and many at once, every way
    jobs = [ghtest.job(ghtest.echo_check, port, 3 * MiB + 1),
            ghtest.job(ghtest.sink_check, port, 5 * MiB),
            ghtest.job(ghtest.source_check, port, 5 * MiB),
            ghtest.job(ghtest.request_reply_check, port, 64 * KiB, 2 * MiB)]
    jobs += [ghtest.job(ghtest.echo_check, port, 1000 + i) for i in range(12)]
    ghtest.run_parallel(jobs, timeout=120, what="streams through abi10")
    for g in (srv, cli):
        assert "broke the ABI 1.0 contract" not in g.log_text(), g.tail()


if __name__ == "__main__":
    ghtest.main(globals())
