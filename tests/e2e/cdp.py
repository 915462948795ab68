"""A real headless chromium driven over the DevTools protocol, on a pipe
(--remote-debugging-pipe: JSON messages ended by NUL on fds 3 and 4), with
the standard library only. Clicks and keys are input events, as a user's
are (Input.dispatchMouseEvent / dispatchKeyEvent), not element.click().
Every console message, uncaught exception and browser log entry of the page
is kept in ``messages``."""
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed: run scripts/deps.sh"
    return exe


def _high(fd):
    h = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return h


class Browser:
    def __init__(self, workdir, width=1400, height=1000, timeout=60.0):
        self.timeout = timeout
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # the child's ends above 9, so that placing them at 3 and 4 clobbers
        # neither
        to_chrome_r, from_chrome_w = (_high(fd) for fd in (to_chrome_r, from_chrome_w))
        profile = os.path.join(workdir, "chromium-cdp-profile")
        args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-extensions", "--remote-debugging-pipe", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "about:blank"]
        # chromium reads fd 3 and writes fd 4: bash puts the pipes there (dash
        # takes single-digit descriptors only)
        sh = (f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} '
              f'{to_chrome_r}<&- {from_chrome_w}>&-')
        self.stderr = open(os.path.join(workdir, "chromium-cdp.log"), "wb")
        self.proc = subprocess.Popen(["/bin/bash", "-c", sh, *args], pass_fds=(to_chrome_r, from_chrome_w),
                                     stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=self.stderr, cwd=workdir)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next = 0
        self._buf = b""
        self._replies = {}
        self._events = []
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.messages = []  # console messages, exceptions, log entries
        self.session = None
        pages = [t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        assert pages, "chromium has no page"
        self.session = self.call("Target.attachToTarget", targetId=pages[0]["targetId"],
                                 flatten=True, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")

    def _read(self):
        while True:
            try:
                b = os.read(self._r, 1 << 16)
            except OSError:
                b = b""
            with self._cv:
                if not b:
                    self._replies[None] = "closed"
                    self._cv.notify_all()
                    return
                self._buf += b
                while b"\0" in self._buf:
                    raw, self._buf = self._buf.split(b"\0", 1)
                    m = json.loads(raw)
                    if "id" in m:
                        self._replies[m["id"]] = m
                    else:
                        self._event(m)
                self._cv.notify_all()

    def _event(self, m):
        meth, p = m.get("method"), m.get("params", {})
        if meth == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.messages.append(f"console.{p.get('type')}: {text}")
        elif meth == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.messages.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif meth == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("level") in ("error", "warning"):
                self.messages.append(f"log {e.get('level')}: {e.get('text')} {e.get('url', '')}")
        self._events.append(m)

    def call(self, method, session=True, **params):
        with self._cv:
            self._next += 1
            mid = self._next
        msg = {"id": mid, "method": method, "params": params}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        with self._cv:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                assert left > 0 and None not in self._replies, \
                    f"chromium: no answer to {method} ({self._replies.get(None)})"
                self._cv.wait(left)
            r = self._replies.pop(mid)
        assert "error" not in r, f"{method}: {r['error']}"
        return r.get("result", {})

    def wait_event(self, method, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cv:
            while True:
                for i, m in enumerate(self._events):
                    if m.get("method") == method:
                        del self._events[: i + 1]
                        return m.get("params", {})
                left = deadline - time.monotonic()
                assert left > 0, f"chromium: no {method}"
                self._cv.wait(left)

    def navigate(self, url):
        with self._cv:
            self._events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def eval(self, expr):
        """The value of a JavaScript expression (awaited when a promise)."""
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, f"{expr}: {r['exceptionDetails']}"
        return r["result"].get("value")

    def wait_js(self, expr, timeout=30.0, what=None):
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            assert time.monotonic() < deadline, f"timed out waiting for {what or expr}"
            time.sleep(0.2)

    def click(self, selector):
        """A left click at the middle of the element, as a mouse gives it."""
        box = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                        f" if (!e) return null; e.scrollIntoView({{block: 'center'}});"
                        f" const r = e.getBoundingClientRect();"
                        f" return [r.left + r.width / 2, r.top + r.height / 2]; }})()")
        assert box, f"no element {selector}"
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=0 if kind == "mouseMoved" else 1)

    def type(self, text):
        """Keys into the focused element, one character at a time."""
        for ch in text:
            self.call("Input.dispatchKeyEvent", type="keyDown", text=ch, key=ch,
                      unmodifiedText=ch)
            self.call("Input.dispatchKeyEvent", type="keyUp", key=ch)

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except AssertionError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self._w)
        self._reader.join(10)  # chromium gone: its end of the pipe closed
        os.close(self._r)
        self.stderr.close()
