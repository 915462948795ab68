"""What the benchmarks share: a gatehouse server and client on loopback with
the destinations a benchmark needs, fresh certificates, tools compiled from
bench/*.c, and the table every benchmark prints.

Not a test: nothing here asserts a speed."""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import ghtest  # noqa: E402

HOST = "127.0.0.1"


def build_dir(arg=None):
    return os.path.abspath(arg or os.path.join(HERE, "..", "build"))


def compile_tool(name, workdir):
    """cc -O2 bench/NAME.c into workdir; returns the binary's path."""
    out = os.path.join(workdir, name)
    cc = shutil.which("cc") or shutil.which("gcc") or "clang"
    subprocess.run([cc, "-O2", "-pthread", "-o", out, os.path.join(HERE, name + ".c")], check=True)
    return out


class Pair:
    """A gatehouse server and client with `destinations` (a list of
    (name, [(key, value), ...]) sections) on gateway "bench"; the client's
    ACL allows everything on loopback. Use as a context manager."""

    def __init__(self, destinations, build=None, workdir=None, log_level="warn",
                 server_opts=(), client_opts=()):
        b = build_dir(build)
        self.bin = os.path.join(b, "gatehouse")
        self.plugins = os.path.join(b, "plugins")
        self.dir = workdir or tempfile.mkdtemp(prefix="gh-bench-")
        self.pki = ghtest.make_pki(os.path.join(self.dir, "pki"))
        self.tport = ghtest.free_port()
        token = ghtest.random_token()
        srv = [("server", [("tunnel_listen", f"{HOST}:{self.tport}"), ("cert", self.pki.server_cert),
                           ("key", self.pki.server_key), ("plugin_dir", self.plugins),
                           ("log_level", log_level)] + list(server_opts)),
               ("gateway bench", [("token", token)])]
        srv += [(f"destination {n}", [("gateway", "bench")] + kv) for n, kv in destinations]
        cli = [("client", [("plugin_dir", self.plugins), ("log_level", log_level)] + list(client_opts)),
               ("gateway bench", [("server", f"{HOST}:{self.tport}"), ("token", token),
                                  ("ca", self.pki.ca_cert)]),
               ("acl", [("allow", f"{HOST}:*"), ("deny", "*")])]
        self.procs = []
        for role, secs in (("server", srv), ("client", cli)):
            path = os.path.join(self.dir, role + ".ini")
            with open(path, "w") as f:
                f.write(ghtest.ini_text(secs))
            log = open(os.path.join(self.dir, role + ".log"), "w")
            self.procs.append(subprocess.Popen([self.bin, role, "-c", path], stdout=log, stderr=log,
                                               stdin=subprocess.DEVNULL, preexec_fn=pdeathsig))
            if role == "server":
                ghtest.wait_port(HOST, self.tport, 20)

    def pids(self):
        return [p.pid for p in self.procs]

    def close(self, timeout=15):
        """SIGTERM both; SIGKILL what is still there after ``timeout`` s."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def pdeathsig():
    """preexec_fn: the child gets SIGKILL when the benchmark dies, however it dies."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except Exception:
        pass


def descendants(pid):
    """pid and every process below it (from /proc/*/stat)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def rss_bytes(pids):
    """Sum of VmRSS (resident set) of ``pids``, in bytes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


def cpu_seconds(pids, reaped=False):
    """User + system CPU time used so far by the processes ``pids``; with
    ``reaped``, their reaped children's too (socat forks one per connection,
    sshd one per session). A process gone is skipped: its time went to its
    parent's reaped children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime stime, then cutime cstime
        total += sum(int(x) for x in fields[11:15 if reaped else 13])
    return total / tick


def table(title, header, rows):
    """Prints rows (lists of cells) under header, right-aligned numbers."""
    cells = [header] + [[c if isinstance(c, str) else f"{c:,.2f}" if isinstance(c, float) and c < 10
                         else f"{c:,.0f}" for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for k, r in enumerate(cells):
        print("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))
