"""A hostile gatehouse *server*: the server end of the tunnel protocol in
Python (stdlib only), to test what a real client does when its server is
compromised. It accepts a client over TLS, reads its HELLO, answers
WELCOME, pushes a destination set of its own making (CONFIG), opens streams
(OPEN) to the pushed on-prem destinations, and reports what happened:
OPEN_OK or OPEN_FAIL with its reason, the bytes received, the NOTICEs.

Everything runs on the caller's thread: pump() reads frames until a
condition holds, answering the client's PINGs on the way, so that one
thread alone uses the TLS socket.

Wire format (core/frame.h): 24-bit length, u8 type, u8 flags, u32 stream,
payload. The destination set (core/conf/push.c):
  "GHD" u8 version(1) u32 count
  per destination: u16 name_len name, u16 n_records
  per record: u8 tag(1 kv, 2 kv + file content) u16 key_len key
              u32 value_len value [tag 2: u32 blob_len blob]
"""
import socket
import ssl
import struct
import time

DATA, DGRAM, OPEN, OPEN_OK, OPEN_FAIL, RESET, WINDOW, PING = range(8)
GOAWAY, HELLO, WELCOME, REFUSE, CONFIG, NOTICE = range(8, 14)
FIN = ACK = 1

EDENIED = -4001
ENODEST = -4002


def frame(ftype, stream=0, payload=b"", flags=0):
    return struct.pack("!I", len(payload))[1:] + struct.pack("!BBI", ftype, flags, stream) + payload


def _s8(b):
    return bytes([len(b)]) + b


def _s16(b):
    return struct.pack("!H", len(b)) + b


def welcome_payload(name=b"hostile-server", window=256 * 1024, session=64 * 1024 * 1024):
    # ping interval 0: the client pings on its own keepalive, we answer
    return struct.pack("!HHIII", 1, 0, window, session, 0) + _s8(name)


def open_payload(dest, peer_port=4242):
    d = dest.encode()
    addr = bytes([4]) + struct.pack("!H", peer_port) + bytes([192, 0, 2, 1]) + bytes(12)
    return _s8(d) + addr + struct.pack("!I", 0)


def encode_dests(dests):
    """dests: [(name, [(key, value) | (key, value, blob_bytes), ...]), ...]."""
    out = b"GHD" + bytes([1]) + struct.pack("!I", len(dests))
    for name, records in dests:
        n = name.encode()
        out += struct.pack("!H", len(n)) + n + struct.pack("!H", len(records))
        for rec in records:
            key, value = rec[0].encode(), str(rec[1]).encode()
            blob = rec[2] if len(rec) > 2 else None
            out += bytes([2 if blob is not None else 1])
            out += struct.pack("!H", len(key)) + key + struct.pack("!I", len(value)) + value
            if blob is not None:
                out += struct.pack("!I", len(blob)) + blob
    return out


def onprem(name, resource, gateway="gw1", protocol="tcp", listen="127.0.0.1:1", extra=()):
    """A pushed on-prem destination: the client connects to `resource`."""
    return (name, [("gateway", gateway), ("type", "onprem"), ("listen", listen),
                   ("resource", resource), ("listen.protocol", protocol),
                   ("resource.protocol", protocol), ("connect_timeout", 5), *extra])


def cloud(name, client_port, client_bind, gateway="gw1", protocol="tcp",
          resource="127.0.0.1:1", extra=()):
    """A pushed cloud destination: the client listens on client_bind:client_port."""
    return (name, [("gateway", gateway), ("type", "cloud"), ("client_port", client_port),
                   ("client_bind", client_bind), ("resource", resource),
                   ("listen.protocol", protocol), ("resource.protocol", protocol),
                   ("connect_timeout", 5), *extra])


class Stream:
    def __init__(self, sid, dest):
        self.id = sid
        self.dest = dest
        self.result = None   # ("ok",) or ("fail", code, message)
        self.data = b""
        self.dgrams = []
        self.fin = False
        self.reset = None    # (code, message)


class Tunnel:
    """One client's tunnel, welcomed."""

    def __init__(self, sock, hello):
        self.s = sock
        self.buf = b""
        self.gateway, self.token, self.name = hello
        self.notices = []    # (destination, code, message)
        self.streams = {}
        self.next_id = 2     # the server opens even streams
        self.closed = False

    # -- reading
    def _read_frame(self, timeout):
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    ftype, flags, stream = struct.unpack("!BBI", self.buf[3:9])
                    payload = self.buf[9:9 + n]
                    self.buf = self.buf[9 + n:]
                    return ftype, flags, stream, payload
            d = self.s.recv(65536)
            if not d:
                self.closed = True
                raise EOFError("the client closed the tunnel")
            self.buf += d

    def _handle(self, ftype, flags, sid, p):
        if ftype == PING and not flags & ACK:
            self.s.sendall(frame(PING, 0, p, ACK))
        elif ftype == NOTICE:
            dn = p[0]
            dest = p[1:1 + dn].decode(errors="replace")
            code = struct.unpack("!i", p[1 + dn:5 + dn])[0]
            ml = struct.unpack("!H", p[5 + dn:7 + dn])[0]
            self.notices.append((dest, code, p[7 + dn:7 + dn + ml].decode(errors="replace")))
        elif sid in self.streams:
            st = self.streams[sid]
            if ftype == OPEN_OK:
                st.result = ("ok",)
            elif ftype in (OPEN_FAIL, RESET):
                code = struct.unpack("!i", p[:4])[0]
                ml = struct.unpack("!H", p[4:6])[0]
                msg = p[6:6 + ml].decode(errors="replace")
                if ftype == OPEN_FAIL:
                    st.result = ("fail", code, msg)
                else:
                    st.reset = (code, msg)
            elif ftype == DATA:
                st.data += p
                st.fin = st.fin or bool(flags & FIN)
                if p:  # give the credit back, as a reader that keeps up
                    self.s.sendall(frame(WINDOW, sid, struct.pack("!I", len(p))))
            elif ftype == DGRAM:
                st.dgrams.append(p)

    def pump(self, until, timeout=20.0, what="condition"):
        """Reads frames until until() is true; AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"hostile server: no {what} within {timeout}s")
            try:
                self._handle(*self._read_frame(min(left, 0.5)))
            except (socket.timeout, TimeoutError):
                continue
        return True

    def idle(self, seconds):
        """Serves the tunnel (pings) for `seconds`, whatever comes."""
        end = time.monotonic() + seconds
        try:
            self.pump(lambda: time.monotonic() >= end, seconds + 1)
        except AssertionError:
            pass

    # -- acting
    def push(self, dests):
        self.s.sendall(frame(CONFIG, 0, encode_dests(dests)))

    def notice(self, dest, timeout=20.0):
        """The first NOTICE about `dest`: (code, message)."""
        def got():
            return any(n[0] == dest for n in self.notices)
        self.pump(got, timeout, f"NOTICE for {dest}")
        return next((c, m) for d, c, m in self.notices if d == dest)

    def open(self, dest, timeout=20.0):
        """Opens a stream to `dest`; returns the Stream once it is answered."""
        sid = self.next_id
        self.next_id += 2
        st = self.streams[sid] = Stream(sid, dest)
        self.s.sendall(frame(OPEN, sid, open_payload(dest)))
        self.pump(lambda: st.result is not None, timeout, f"answer to OPEN {dest}")
        return st

    def send(self, st, data, fin=False):
        self.s.sendall(frame(DATA, st.id, data, FIN if fin else 0))

    def send_dgram(self, st, data):
        self.s.sendall(frame(DGRAM, st.id, data))

    def recv(self, st, n, timeout=20.0):
        self.pump(lambda: len(st.data) >= n or st.fin or st.reset, timeout, "data")
        return st.data

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class HostileServer:
    """Listens on 127.0.0.1 with the test PKI's server certificate."""

    def __init__(self, pki, host="127.0.0.1"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(pki.server_cert, pki.server_key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.tunnels = []

    def accept(self, timeout=30.0, refuse=None):
        """Accepts one client, reads its HELLO, answers WELCOME; or, with
        refuse=(code, text), answers REFUSE with that reason."""
        self.sock.settimeout(timeout)
        raw, _ = self.sock.accept()
        raw.settimeout(timeout)
        s = self.ctx.wrap_socket(raw, server_side=True)
        t = Tunnel(s, (None, None, None))
        ftype, _, _, p = t._read_frame(timeout)
        assert ftype == HELLO, f"expected HELLO, got frame type {ftype}"
        o = 12
        g = p[o + 1:o + 1 + p[o]]
        o += 1 + p[o]
        kl = struct.unpack("!H", p[o:o + 2])[0]
        k = p[o + 2:o + 2 + kl]
        o += 2 + kl
        t.gateway, t.token, t.name = g.decode(), k.decode(errors="replace"), p[o + 1:o + 1 + p[o]].decode()
        if refuse is not None:
            code, text = refuse
            s.sendall(frame(REFUSE, 0, struct.pack("!i", code) + _s16(text.encode())))
            return t
        s.sendall(frame(WELCOME, 0, welcome_payload()))
        self.tunnels.append(t)
        return t

    def close(self):
        for t in self.tunnels:
            t.close()
        try:
            self.sock.close()
        except OSError:
            pass
