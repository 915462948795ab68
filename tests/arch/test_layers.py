#!/usr/bin/env python3
"""The layers of core/ (docs/architecture.md): the roles (server, client,
admin, the runtime's start and stop, the commands) sit on the data engine
(tunnel, mux, stream, chain, gateway, loop, host table, TLS), which sits on
the configuration model, the loader and the utilities. Nothing below calls
up. This reads the `#include "..."` lines of core/ and fails when

  - an engine file (.c or .h) includes a role header, directly or through
    another header;
  - a lower file (configuration, loader, utilities) includes an engine or a
    role header;
  - an engine .c file names a role function (gh__server_*, gh__client_*,
    gh__admin_*) or tests the role (->role, GH__ROLE_*).

`test_layers.py [CORE_DIR]`; `--self-test` first checks that a planted
violation of each kind is caught."""
import os
import re
import sys
import tempfile

ROLE_HEADERS = {"server.h", "client.h", "admin.h"}
ENGINE = {"tunnel", "tlsio", "mux", "stream", "chain", "gateway", "loop", "host", "tls",
          "address", "runtime.h", "types.h"}
ROLES = {"server.c", "client.c", "admin.c", "runtime.c", "main.c",
         "commands.c", "demo.c"}
LOWER = {"config", "acl", "plugin", "plugin_chain", "plugin_desc", "plugin_path",
         "plugin_int", "frame", "wire", "words", "util", "buf", "log", "certgen",
         "sockpath"}
LOWER_DIRS = {"conf", "plugin"}  # folders of the configuration and loader
# the console's ring of events: the engine records into it, so it includes
# nothing above it (its rendering, console/api.c, is the admin endpoint's)
LOWER_FILES = {"console/events.h", "console/events.c"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
ROLE_CALL = re.compile(r"\bgh__(server|client|admin)_\w+\s*\(|->role\b|"
                       r"\bGH__ROLE_\w+")


def layer(rel):
    """'engine', 'role', 'lower' or None for a path relative to core/."""
    parts = rel.split("/")
    name = parts[-1]
    stem = os.path.splitext(name)[0]
    if rel in LOWER_FILES:
        return "lower"
    if len(parts) > 1:
        return "lower" if parts[0] in LOWER_DIRS else None
    if name in ENGINE or stem in ENGINE:
        return "engine"
    if name in ROLES or name in ROLE_HEADERS:
        return "role"
    if stem in LOWER:
        return "lower"
    return None


def sources(core):
    out = {}
    for root, _, files in os.walk(core):
        for f in files:
            if f.endswith((".c", ".h")):
                p = os.path.join(root, f)
                with open(p, encoding="utf-8") as fh:
                    out[os.path.relpath(p, core)] = fh.read()
    return out


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def closure(src, rel, headers):
    """Every header rel includes, directly or through other headers of core."""
    seen, todo = set(), [rel]
    base = os.path.dirname(rel)
    while todo:
        cur = todo.pop()
        for inc in INCLUDE.findall(src.get(cur, "")):
            name = os.path.normpath(os.path.join(os.path.dirname(cur), inc))
            if name not in src:
                name = os.path.normpath(inc)
            if name not in src:
                name = os.path.normpath(os.path.join(base, inc))
            if name in src and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def check(core):
    src = sources(core)
    problems = []
    for rel in sorted(src):
        kind = layer(rel)
        if kind is None:
            continue
        for inc in sorted(closure(src, rel, src)):
            inc_kind = layer(inc)
            name = os.path.basename(inc)
            if kind == "engine" and name in ROLE_HEADERS:
                problems.append(f"{rel}: the engine includes the role header {inc}")
            if kind == "lower" and inc_kind in ("engine", "role"):
                problems.append(f"{rel}: a lower layer includes {inc} ({inc_kind})")
        if kind == "engine" and rel.endswith(".c"):
            for n, line in enumerate(strip_comments(src[rel]).split("\n"), 1):
                m = ROLE_CALL.search(line)
                if m:
                    problems.append(f"{rel}:{n}: the engine names a role: {m.group(0)}")
    return problems


def self_test():
    planted = {
        "tunnel.c": '#include "server.h"\nvoid f(void) {}\n',
        "mux.c": '#include "mux.h"\nvoid g(void) { gh__client_go(); }\n',
        "mux.h": '#include "admin.h"\n',
        "stream.c": '#include "stream.h"\nint h(T *rt) { return rt->role; }\n',
        "stream.h": "\n",
        "config.c": '#include "tunnel.h"\n',
        "tunnel.h": "\n",
        "server.h": "\n", "admin.h": "\n",
        "chain.c": '/* gh__server_start() in a comment is fine */\n',
    }
    with tempfile.TemporaryDirectory() as d:
        for name, text in planted.items():
            with open(os.path.join(d, name), "w", encoding="utf-8") as fh:
                fh.write(text)
        got = check(d)
    want = ["tunnel.c: the engine includes the role header server.h",
            "mux.c: the engine includes the role header admin.h",
            "mux.h: the engine includes the role header admin.h",
            "mux.c:2: the engine names a role: gh__client_go(",
            "stream.c:2: the engine names a role: ->role",
            "config.c: a lower layer includes tunnel.h (engine)"]
    missing = [w for w in want if w not in got]
    extra = [g for g in got if g not in want]
    if missing or extra:
        print("self-test failed: missing %s, unexpected %s" % (missing, extra))
        return 1
    return 0


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    args = [a for a in argv[1:] if a != "--self-test"]
    if "--self-test" in argv[1:] and self_test():
        return 1
    core = args[0] if args else os.path.join(here, "..", "..", "core")
    problems = check(core)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering problem(s) in {os.path.abspath(core)}")
        return 1
    print("core/: the roles sit on the data engine; nothing below calls up")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
