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
              "share/doc/gatehouse/README.md", "share/doc/gatehouse/sdk/README.md",
              "share/doc/gatehouse/docs/configuration.md",
              "share/doc/gatehouse/examples/proxy-protocol/proxy_protocol.c",
              "share/doc/gatehouse/examples/proxy-protocol/Makefile",
              "share/pkgconfig/gatehouse-sdk-transport.pc",
              "share/gatehouse/mock-host/mock_host.c",
              "share/gatehouse/mock-host/mock_host.h"]:
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


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _md_links(path):
    """The relative link targets of a Markdown file (no URL, no bare #anchor),
    without their #anchor, outside code blocks and spans."""
    text = re.sub(r"```.*?```", "", open(path).read(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in _LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        yield target.split("#")[0]


def _broken_links(root):
    """(file, target) of every relative link of every .md under root that does
    not resolve to a file or directory."""
    bad, n = [], 0
    for d, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".md"):
                continue
            for target in _md_links(os.path.join(d, f)):
                n += 1
                if not os.path.exists(os.path.normpath(os.path.join(d, target))):
                    bad.append((os.path.relpath(os.path.join(d, f), root), target))
    return bad, n


def test_installed_docs_links_resolve(t):
    """Every relative link of the installed documents (README, docs/, the SDK
    guide, the example's README) reaches a file of the installed tree; the
    installed README speaks of the installation, not of building sources."""
    p = _install(t)
    doc = os.path.join(p, "share/doc/gatehouse")
    bad, n = _broken_links(doc)
    assert n >= 30, f"only {n} links found under {doc}"
    assert not bad, "broken links in the installed tree:\n" + "\n".join(f"{f}: {x}" for f, x in bad)
    readme = open(os.path.join(doc, "README.md")).read()
    for gone in ("scripts/demo.sh", "scripts/test.sh", "cmake -S . -B build", "<!-- source-tree"):
        assert gone not in readme, f"the installed README says {gone!r}"
    for there in ("gatehouse demo", "share/gatehouse/mock-host/", "[sdk/README.md](sdk/README.md)"):
        assert there in readme, f"the installed README lacks {there!r}"
    # the same documents in the sources: every link holds there too
    bad = []
    for f in ["README.md", "sdk/README.md", "examples/proxy-protocol/README.md"] + \
            [os.path.join("docs", x) for x in os.listdir(os.path.join(ghtest._ROOT, "docs"))
             if x.endswith(".md")]:
        src = os.path.join(ghtest._ROOT, f)
        for target in _md_links(src):
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(src), target))):
                bad.append((f, target))
    assert not bad, f"broken links in the sources: {bad}"


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
    mock = pc("--variable=mockdir")
    assert os.path.realpath(mock) == os.path.realpath(os.path.join(p, "share/gatehouse/mock-host"))
    assert os.path.isfile(os.path.join(mock, "mock_host.c"))

    # transports: the SDK and libuv, the library of the core's loop
    def tpc(*args):
        r = subprocess.run(["pkg-config", *args, "gatehouse-sdk-transport"], capture_output=True,
                           text=True, env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    uv = subprocess.run(["pkg-config", "--libs", "libuv"], capture_output=True, text=True,
                        timeout=30).stdout.split()
    assert uv and all(x in tpc("--libs") for x in uv), (tpc("--libs"), uv)
    assert inc in tpc("--cflags"), tpc("--cflags")
    assert "gatehouse-sdk" in " ".join(tpc("--print-requires"))


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
