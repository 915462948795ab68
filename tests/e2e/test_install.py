#!/usr/bin/env python3
"""`cmake --install` into a fresh prefix: what a system installation gets
(binary, plugins, SDK header and pkg-config file, systemd units, logrotate
file, example configurations), and that it works from there. The example
configurations must pass `gatehouse check` once their /etc paths point at
real files."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402


def _install(t):
    prefix = os.path.join(t.dir, "prefix")
    r = subprocess.run(["cmake", "--install", ghtest.GH_BUILD_DIR, "--prefix", prefix],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return prefix


def test_installed_tree(t):
    p = _install(t)
    for f in ["bin/gatehouse", "include/gatehouse/gatehouse.h", "include/gatehouse/version.h",
              "share/pkgconfig/gatehouse-sdk.pc", "lib/systemd/system/gatehouse-server.service",
              "lib/systemd/system/gatehouse-client.service",
              "share/doc/gatehouse/examples/gatehouse.logrotate",
              "share/doc/gatehouse/examples/server.ini", "share/doc/gatehouse/examples/client.ini",
              "share/doc/gatehouse/README.md", "share/doc/gatehouse/SDK.md",
              "share/doc/gatehouse/examples/proxy-protocol/proxy_protocol.c",
              "share/doc/gatehouse/examples/proxy-protocol/Makefile",
              "share/doc/gatehouse/examples/mock-host/mock_host.c",
              "share/doc/gatehouse/examples/mock-host/mock_host.h"]:
        assert os.path.isfile(os.path.join(p, f)), f"missing {f}"
    built = sorted(f for f in os.listdir(ghtest.GH_PLUGIN_DIR) if f.endswith(".so"))
    assert built and sorted(os.listdir(os.path.join(p, "lib/gatehouse/plugins"))) == built
    # the installed binary finds the installed plugins by itself
    r = subprocess.run([os.path.join(p, "bin/gatehouse"), "plugins"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    dirs = r.stdout.split("plugin directories, searched in order", 1)[1].split("\n\n")[0]
    dirs = [ln.strip() for ln in dirs.splitlines()[1:]]
    assert [os.path.realpath(d) for d in dirs] == \
        [os.path.realpath(os.path.join(p, "lib/gatehouse/plugins"))], r.stdout
    for so in built:
        assert so in r.stdout, (so, r.stdout)
    # the units: notify, reload by SIGHUP, drain by SIGTERM, no @VAR@ left
    for role in ("server", "client"):
        unit = open(os.path.join(p, f"lib/systemd/system/gatehouse-{role}.service")).read()
        assert "@" not in unit.replace("@system-service", ""), unit
        for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM",
                     "NoNewPrivileges=yes", "ProtectSystem=strict"):
            assert line in unit, (role, line)
        assert re.search(rf"^ExecStart=/\S+/gatehouse {role} -c /etc/gatehouse/{role}\.ini$", unit, re.M)
    rot = open(os.path.join(p, "share/doc/gatehouse/examples/gatehouse.logrotate")).read()
    assert "kill -USR1" in rot


def test_pkg_config(t):
    if not shutil.which("pkg-config"):
        raise AssertionError("pkg-config is missing (scripts/deps.sh installs it)")
    p = _install(t)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(p, "share/pkgconfig"))

    def pc(*args):
        r = subprocess.run(["pkg-config", *args, "gatehouse-sdk"], capture_output=True, text=True,
                           env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    inc = pc("--cflags")
    assert inc.startswith("-I") and os.path.realpath(inc[2:]) == os.path.realpath(os.path.join(p, "include"))
    assert os.path.realpath(pc("--variable=plugindir")) == \
        os.path.realpath(os.path.join(p, "lib/gatehouse/plugins"))
    ver = open(os.path.join(ghtest._ROOT, "sdk/include/gatehouse/version.h")).read()
    assert pc("--variable=abi_major") == re.search(r"GH_ABI_MAJOR (\d+)", ver).group(1)
    assert pc("--modversion") == re.search(r'GH_VERSION_STRING "([^"]+)"', ver).group(1)


def test_examples_pass_check(t):
    pki = t.pki
    etc = os.path.join(t.dir, "etc")
    os.makedirs(etc)
    files = {"server.crt": pki.server_cert, "server.key": pki.server_key,
             "server-ca.crt": pki.ca_cert}
    for name, src in files.items():
        shutil.copy(src, os.path.join(etc, name))
    with open(os.path.join(etc, "dc1.token"), "w") as f:
        f.write(t.token() + "\n")
    for role in ("server", "client"):
        text = open(os.path.join(ghtest._ROOT, "examples", f"{role}.ini")).read()
        text = text.replace("/etc/gatehouse/", etc + "/")
        text = text.replace("[server]\n", f"[server]\nplugin_dir = {ghtest.GH_PLUGIN_DIR}\n")
        text = text.replace("[client]\n", f"[client]\nplugin_dir = {ghtest.GH_PLUGIN_DIR}\n")
        path = os.path.join(t.dir, f"{role}.ini")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([ghtest.GH_BIN, "check", "-c", path], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, f"examples/{role}.ini: {r.stdout}{r.stderr}"


if __name__ == "__main__":
    ghtest.main(globals())
