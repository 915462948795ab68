"""docs/configuration.md is `gatehouse reference`: the key table and the
shipped plugins' option declarations, as generated now. When this fails,
the table or a plugin changed: run scripts/reference.sh and commit."""

import difflib
import os
import subprocess

import ghtest


def _generated():
    r = subprocess.run([ghtest.GH_BIN, "reference", "--plugin-dir", os.path.abspath(ghtest.GH_PLUGIN_DIR)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_docs_configuration_is_the_generated_reference(t):
    with open(os.path.join(ghtest._ROOT, "docs", "configuration.md")) as f:
        committed = f.read()
    generated = _generated()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                        "docs/configuration.md", "gatehouse reference"))
    assert not diff, "docs/configuration.md is out of date (run scripts/reference.sh):\n" + diff


def test_reference_lists_every_key_and_option(t):
    text = _generated()
    for row in ("| `tunnel_listen` | host:port |", "| `reconnect_max` | seconds | 30 | 1 to 86400 |",
                "| `streams_max` | int | 65536 | 1 to 16777216 |", "| `connect_timeout` | seconds | 10 |",
                "| `listen` | rule | loopback, ports 1024-65535 |", "| `tcp.nodelay` | bool | yes |",
                "| `tls.key` | file |  |  | secret |"):
        assert row in text, "%s missing:\n%s" % (row, text)


if __name__ == "__main__":
    ghtest.main(globals())
