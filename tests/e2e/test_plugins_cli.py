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


if __name__ == "__main__":
    ghtest.main(globals())
