#!/usr/bin/env python3
"""End-to-end: what only root (or the running user) may change, and files
opened as root. A plugin directory that others can write is refused with its
reason at start, in ``check`` and in ``plugins``, before any code of it runs;
a pid file that is a symbolic link is refused and its target left alone;
secrets that others can read are warned about with FILE:LINE.

Run one test: ``python3 test_hygiene.py pidfile``."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghtest  # noqa: E402
from ghtest import onprem  # noqa: E402

PLUGINS = ghtest.GH_PLUGIN_DIR or os.path.join(ghtest.GH_BUILD_DIR, "plugins")
CTOR_SO = os.path.join(ghtest.GH_BUILD_DIR, "test-plugins", "ctor", "ctor.so")


def _plugin_dir(t, mode):
    """The shipped plugins (linked) and the constructor test plugin (copied)
    in a directory of ``mode``."""
    assert os.path.isfile(CTOR_SO), f"{CTOR_SO} is missing (build the tests)"
    d = os.path.join(t.dir, "plugins")
    os.makedirs(d)
    for n in os.listdir(PLUGINS):
        if n.endswith(".so"):
            os.symlink(os.path.abspath(os.path.join(PLUGINS, n)), os.path.join(d, n))
    shutil.copy(CTOR_SO, os.path.join(d, "ctor.so"))
    os.chmod(os.path.join(d, "ctor.so"), 0o644)
    os.chmod(d, mode)
    return d


def _env(marker):
    return dict(os.environ, GH_TEST_CTOR_MARKER=marker)


def test_world_writable_plugin_dir_refused(t):
    d = _plugin_dir(t, 0o777)
    marker = os.path.join(t.dir, "ctor.mark")
    want = f"plugin_dir {d}: refused: {d} is writable by others (mode 0777)"
    token = t.token()
    secs = ghtest.server_sections(t.port(), t.pki, {"gw1": token}, [onprem("d", t.port(), t.port())],
                                  server={"plugin_dir": d})
    cfg = os.path.join(t.dir, "server.ini")
    with open(cfg, "w") as f:
        f.write(ghtest.ini_text(secs))
    for cmd in (["check", "-c", cfg], ["server", "-c", cfg], ["plugins", "--plugin-dir", d]):
        r = subprocess.run([ghtest.GH_BIN, *cmd], capture_output=True, text=True, timeout=30,
                           env=_env(marker))
        assert r.returncode == 2, (cmd, r.returncode, r.stdout, r.stderr)
        assert want in r.stderr, (cmd, r.stderr)
        assert not os.path.exists(marker), f"{cmd}: a plugin's constructor ran as root"
    # the same directory, once only root can write it: the constructor runs
    # (so the mark would have shown it), and the plugins load
    os.chmod(d, 0o755)
    r = subprocess.run([ghtest.GH_BIN, "check", "-c", cfg], capture_output=True, text=True, timeout=30,
                       env=_env(marker))
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.exists(marker)


def test_group_writable_plugin_file_refused_others_load(t):
    """A refused file is one warning; the other plugins load and serve."""
    d = _plugin_dir(t, 0o755)
    so = os.path.join(d, "ctor.so")
    os.chmod(so, 0o664)
    marker = os.path.join(t.dir, "ctor.mark")
    want = f"{so}: refused: {so} is writable by group (mode 0664)"
    r = subprocess.run([ghtest.GH_BIN, "plugins", "--plugin-dir", d], capture_output=True, text=True,
                       timeout=30, env=_env(marker))
    assert r.returncode == 1, r.stdout + r.stderr  # listed, and said
    assert f"refused:\n  {want}\n" in r.stdout, r.stdout
    assert "handlers:" in r.stdout and "tcp (transport" in r.stdout, r.stdout
    res = t.proto_server()
    port = t.port()
    token = t.token()
    srv = t.server([onprem("d", port, res.port)], {"gw1": token}, server={"plugin_dir": d})
    r = subprocess.run([ghtest.GH_BIN, "check", "-c", srv.config_path], capture_output=True, text=True,
                       timeout=30, env=_env(marker))
    assert r.returncode == 0 and f"warning: plugin not loaded: {want}" in r.stderr, r.stdout + r.stderr
    srv.wait_log(re.escape(want))
    cli = t.client(srv, token)
    ghtest.wait_tunnel(port, 30, procs=[srv, cli])
    assert not os.path.exists(marker), "a refused plugin's constructor ran"


def test_pidfile_symlink_refused(t):
    target = os.path.join(t.dir, "precious")
    with open(target, "w") as f:
        f.write("keep me\n")
    pidfile = os.path.join(t.dir, "gh.pid")
    os.symlink(target, pidfile)
    token = t.token()
    secs = ghtest.server_sections(t.port(), t.pki, {"gw1": token})
    cfg = os.path.join(t.dir, "server.ini")
    with open(cfg, "w") as f:
        f.write(ghtest.ini_text(secs))
    r = subprocess.run([ghtest.GH_BIN, "server", "-c", cfg, "--pidfile", pidfile], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"{pidfile}: refused: the pid file is a symbolic link" in r.stderr, r.stderr
    assert open(target).read() == "keep me\n", "the symlink's target was written"
    # a hard link to another file is refused too
    os.unlink(pidfile)
    os.link(target, pidfile)
    r = subprocess.run([ghtest.GH_BIN, "server", "-c", cfg, "--pidfile", pidfile], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "not a regular file of one link" in r.stderr, (r.returncode, r.stderr)
    assert open(target).read() == "keep me\n", "the hard link's file was written"


def test_readable_secrets_warned(t):
    """A key others can read: check and the start say so with FILE:LINE; the
    server runs all the same."""
    key = os.path.join(t.dir, "server.key")
    shutil.copy(t.pki.server_key, key)
    os.chmod(key, 0o644)
    web_key = os.path.join(t.dir, "web.key")
    shutil.copy(t.pki.server_key, web_key)
    os.chmod(web_key, 0o604)
    res = t.proto_server()
    port = t.port()
    token = t.token()
    dest = onprem("web", port, res.port, protocol="tls",
                  extra={"listen.tls.cert": t.pki.server_cert, "listen.tls.key": web_key})
    srv = t.server([dest], {"gw1": token}, server={"key": key})
    text = open(srv.config_path).read()
    kline = ghtest.ini_line_of(text, r"^key =")
    wline = ghtest.ini_line_of(text, r"^listen\.tls\.key =")
    want_key = f"{srv.config_path}:{kline}: warning: key: '{key}' holds a secret and is readable by others (mode 0644"
    want_web = (f"{srv.config_path}:{wline}: warning: listen.tls.key: '{web_key}' holds a secret and is "
                f"readable by others (mode 0604")
    r = subprocess.run([ghtest.GH_BIN, "check", "-c", srv.config_path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert want_key in r.stderr and want_web in r.stderr, r.stderr
    srv.wait_log(r" warn  server: " + ghtest_re(want_key))
    srv.wait_log(r" warn  server: " + ghtest_re(want_web))
    os.chmod(key, 0o600)
    os.chmod(web_key, 0o600)
    r = subprocess.run([ghtest.GH_BIN, "check", "-c", srv.config_path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stdout + r.stderr


def ghtest_re(s):
    return re.escape(s)


if __name__ == "__main__":
    ghtest.main(globals())
