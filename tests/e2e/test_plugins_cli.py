"""`gatehouse plugins` and the shipped plugins' symbol tables.

Each shipped plugin exports exactly one dynamic symbol, its entry point
(the SDK's rule in sdk/README.md: hidden visibility, no symbols but
gh_plugin_entry), and `gatehouse plugins` lists every plugin with its
handlers and options."""

import glob
import os
import re
import subprocess

import ghtest


def _plugins():
    files = sorted(os.path.abspath(p) for p in glob.glob(os.path.join(ghtest.GH_PLUGIN_DIR, "*.so")))
    assert files, "no plugin found in %s" % ghtest.GH_PLUGIN_DIR
    return files


def test_each_plugin_exports_only_its_entry(t):
    for so in _plugins():
        out = subprocess.run(["nm", "-D", "--defined-only", so], check=True,
                             capture_output=True, text=True).stdout
        names = [line.split()[-1] for line in out.splitlines() if line.strip()]
        assert names == ["gh_plugin_entry"], "%s exports %r" % (so, names)


def test_plugins_command_lists_handlers_and_options(t):
    r = subprocess.run([ghtest.GH_BIN, "plugins", "--plugin-dir", os.path.abspath(ghtest.GH_PLUGIN_DIR)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "\nrefused:\n" not in r.stdout, r.stdout
    for so in _plugins():
        assert so in r.stdout, "%s not listed:\n%s" % (so, r.stdout)
    assert "tcp (transport)" in r.stdout, r.stdout
    assert "tcp.nodelay  bool  default yes" in r.stdout, r.stdout
    assert "tls.min_version  enum 1.2|1.3  default 1.2\n" in r.stdout, r.stdout
    abi = "ABI %s.%s" % _sdk_abi()
    assert "(core %s)" % abi in r.stdout and ", %s\n" % abi in r.stdout, r.stdout


def _sdk_abi():
    """(major, minor) as the SDK header in this tree says."""
    path = os.path.join(ghtest._ROOT, "sdk", "include", "gatehouse", "version.h")
    with open(path) as f:
        text = f.read()
    return tuple(re.search(r"#define GH_ABI_%s (\d+)" % k, text).group(1) for k in ("MAJOR", "MINOR"))


def test_refused_plugin_is_reported_and_others_load(t):
    d = os.path.join(t.dir, "plugins")
    os.makedirs(d)
    for so in _plugins():
        os.symlink(so, os.path.join(d, os.path.basename(so)))
    with open(os.path.join(d, "broken.so"), "w") as f:
        f.write("this is not a shared object\n")
    r = subprocess.run([ghtest.GH_BIN, "plugins", "--plugin-dir", d],
                       capture_output=True, text=True, timeout=30)
    # listed, and exit 1: a start would run without it
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "broken.so: not an ELF shared object" in r.stdout, r.stdout
    assert "tcp (transport)" in r.stdout, r.stdout


def test_enum_options_listed_and_refused(t):
    """GH_OPT_ENUM: `plugins` lists the words of a plugin of ABI 1.2, and
    refuses, naming the file and why, one built for ABI 1.1 and declarations
    the configuration could not use (tests/plugins/CMakeLists.txt, enum/)."""
    d = os.path.join(ghtest.GH_BUILD_DIR, "test-plugins", "enum")
    r = subprocess.run([ghtest.GH_BIN, "plugins", "--plugin-dir", d],
                       capture_output=True, text=True, timeout=30)
    assert "\n      t-enum.mode  enum upper|rot13  default upper\n        what to do\n" in r.stdout, \
        r.stdout
    refused = r.stdout.split("\nrefused:\n", 1)[1]
    for f, why in (("refuse-enum-abi11.so", 'option "mode" is GH_OPT_ENUM, which needs ABI 1.2; '
                    "the plugin was built for ABI 1.1"),
                   ("refuse-enum-def.so", 'default "lower" is not one of its choices'),
                   ("refuse-enum-word.so", 'invalid choice "rot 13"'),
                   ("refuse-enum-twice.so", 'choice "upper" is listed twice'),
                   ("refuse-enum-none.so", "GH_OPT_ENUM without choices")):
        assert re.search(r"^  \S*/%s: .*%s" % (re.escape(f), re.escape(why)), refused, re.M), \
            (f, refused)


def test_check_refuses_a_bad_enum_word_for_the_clients_side(t):
    """The point of GH_OPT_ENUM: a bad word for the side the client runs (the
    resource side of an on-prem destination) is found by the server's
    `check`, with FILE:LINE, instead of by the plugin on the client."""
    secs = ghtest.server_sections(t.port(), t.pki, {"gw1": t.token()}, [ghtest.onprem(
        "db", t.port(), 5432, protocol=None,
        extra={"listen.protocol": "tcp", "resource.protocol": "tcp+tls",
               "resource.tls.min_version": "1.1"})])
    text = ghtest.ini_text(secs)
    path = os.path.join(t.dir, "server.ini")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([ghtest.GH_BIN, "check", "-c", path], capture_output=True, text=True,
                       timeout=30)
    line = ghtest.ini_line_of(text, r"^resource\.tls\.min_version")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f'{path}:{line}: destination db: resource.tls.min_version = "1.1": expected one of ' \
        "1.2, 1.3" in r.stderr, r.stderr


if __name__ == "__main__":
    ghtest.main(globals())
