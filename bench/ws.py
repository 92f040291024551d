"""ws.py: the `ws` scenario: logins/s and msgs/s over RFC 7395 WebSocket and over TCP in the same
run, against Starling and (--servers) Prosody (mod_websocket) and ejabberd (ejabberd_http_ws),
one server at a time (bench/benchlib.py starts each on free loopback ports with a temporary
data folder). The client is Python (threads, one blocking socket each) and the same for both
transports, so the two columns compare the transports, not Starling with the C loadgen.

  python3 bench/ws.py [--build build] [--servers starling,prosody,ejabberd] [-n LOGINS]
                      [-c CONCURRENCY] [-m MESSAGES] [-w PAIRS]

Each login: connect, stream header (or <open/>), SASL PLAIN, restart, bind, close. Clear text on
both (xmpp.receiving.require_tls=no; a loopback WebSocket counts as secure anyway).
Each message run: W pairs of logged-in sender/receiver; every sender sends M chat messages to its
receiver, which counts them; msgs/s = all messages / time until the last arrived."""

import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import tempfile
import shutil
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
HEADER = ("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
          " to='%s' version='1.0'>")


class Tcp:
    """A client stream over TCP: elements from an incremental parser."""

    def __init__(self, port, domain):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.domain = domain
        self.items = []
        self.open()

    def open(self):
        self.p = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.send(HEADER % self.domain)

    def send(self, text):
        self.s.sendall(text.encode())

    def next(self):
        while not self.items:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("closed")
            self.p.feed(data)
            for ev, el in self.p.read_events():
                if ev == "start":
                    self.depth += 1
                elif ev == "end":
                    self.depth -= 1
                    if self.depth == 1:
                        self.items.append(el)
        return self.items.pop(0)

    def close(self):
        self.send("</stream:stream>")
        self.s.close()


class Ws(Tcp):
    """The same over a WebSocket (client frames masked, one element per message)."""

    def __init__(self, port, domain):
        self.buf = b""
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13"
                   "\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n" % key).encode())
        while b"\r\n\r\n" not in self.buf:
            self.buf += s.recv(65536)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise benchlib.BenchError("upgrade refused: %r" % head[:80])
        self.s = s
        self.domain = domain
        self.items = []
        self.open()

    def open(self):
        self.send("<open xmlns='%s' to='%s' version='1.0'/>" % (NS_FRAMING, self.domain))

    def send(self, text):
        data = text.encode()
        n = len(data)
        head = struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack(
            "!BBH", 0x81, 0x80 | 126, n) if n < 65536 else struct.pack("!BBQ", 0x81, 0xFF, n)
        mask = os.urandom(4)
        # XOR with the repeated 4-byte key as one big integer (a byte loop in Python would
        # make the client, not the server, the bottleneck).
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        self.s.sendall(head + mask + masked)

    def _need(self, n):
        while len(self.buf) < n:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("closed")
            self.buf += data

    def next(self):
        while True:
            self._need(2)
            op, ln, off = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
            if ln == 126:
                self._need(4)
                ln, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif ln == 127:
                self._need(10)
                ln, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            self._need(off + ln)
            payload, self.buf = self.buf[off:off + ln], self.buf[off + ln:]
            if op == 1:
                el = ET.fromstring(payload)
                if not el.tag.startswith("{%s}" % NS_FRAMING):
                    return el
            elif op == 8:
                raise EOFError("close frame")

    def close(self):
        self.send("<close xmlns='%s'/>" % NS_FRAMING)
        self.s.close()


def login(cls, port, domain, user):
    c = cls(port, domain)
    while not c.next().tag.endswith("features"):
        pass
    cred = base64.b64encode(("\0%s\0%s" % (user, benchlib.PASSWORD)).encode()).decode()
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, cred))
    if not c.next().tag.endswith("success"):
        raise benchlib.BenchError("login of %s over %s failed" % (user, cls.__name__))
    c.open()
    while not c.next().tag.endswith("features"):
        pass
    # Stanzas carry xmlns='jabber:client': RFC 7395 wants it in every WebSocket message.
    c.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='%s'/></iq>" % NS_BIND)
    el = c.next()
    while el.get("id") != "b":
        el = c.next()
    if el.get("type") != "result":
        raise benchlib.BenchError("bind of %s failed" % user)
    return c


def run_threads(fn, items, conc):
    """fn(item) for every item with `conc` threads; returns seconds taken."""
    it = iter(items)
    lock = threading.Lock()
    errors = []

    def worker():
        while True:
            with lock:
                x = next(it, None)
            if x is None:
                return
            try:
                fn(x)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise benchlib.BenchError("%d failures, first: %s" % (len(errors), errors[0]))
    return time.monotonic() - t0


def logins_per_s(cls, port, domain, n, conc):
    users = [benchlib.USER_FMT % (i % n) for i in range(n)]
    secs = run_threads(lambda u: login(cls, port, domain, u).close(), users, conc)
    return n / secs


def msgs_per_s(cls, port, domain, pairs, m):
    conns = [(login(cls, port, domain, benchlib.USER_FMT % (2 * i)),
              login(cls, port, domain, benchlib.USER_FMT % (2 * i + 1))) for i in range(pairs)]
    for s, r in conns:
        r.send("<presence xmlns='jabber:client'/>")
        s.send("<presence xmlns='jabber:client'/>")
    time.sleep(0.3)
    for s, r in conns:  # what arrived so far (presence) is not counted
        r.items.clear()

    def receive(pair):
        _, r = pair
        got = 0
        while got < m:
            if r.next().tag.endswith("message"):
                got += 1

    def send(pair):
        s, r = pair
        to = benchlib.USER_FMT % (2 * conns.index(pair) + 1) + "@" + domain
        for i in range(m):
            s.send("<message xmlns='jabber:client' to='%s' type='chat'><body>m%d</body></message>"
                   % (to, i))

    t0 = time.monotonic()
    rx = [threading.Thread(target=receive, args=(p,)) for p in conns]
    for t in rx:
        t.start()
    run_threads(send, conns, pairs)
    for t in rx:
        t.join()
    secs = time.monotonic() - t0
    for s, r in conns:
        s.close()
        r.close()
    return pairs * m / secs


def start(name, work, build):
    """The server `name`, started with a clear-text WebSocket endpoint; (server, ws port)."""
    srv = benchlib.make_server(name, os.path.join(work, name), build)
    cert = benchlib.bench_cert(work)
    if name == "starling":
        http_port, = benchlib.free_ports(1)
        srv.start(cert, {"server.workers": "2", "xmpp.receiving.require_tls": "no",
                         "http.listener": "127.0.0.1:%d" % http_port,
                         "xmpp.receiving.per_address_limit": "0"})
        benchlib.wait_ports(srv.proc, [http_port], 20, "starlingd http", srv.log_path)
        sock = os.path.join(srv.datadir, "admin.sock")
        deadline = time.monotonic() + 20
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.1)
        return srv, http_port
    srv.start(cert, {"require_tls": "no"})
    port = srv.http_port if name == "prosody" else srv.api_port
    benchlib.wait_ports(srv.proc, [port], 30, name + " http", srv.log_path)
    return srv, port


def measure(srv, ws_port, a):
    rows = []
    for name, cls, port in (("TCP", Tcp, srv.port), ("WebSocket", Ws, ws_port)):
        lps = logins_per_s(cls, port, srv.domain, a.n, a.c)
        mps = msgs_per_s(cls, port, srv.domain, a.w, a.m)
        rows.append((srv.name, name, lps, mps))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(benchlib.REPO, "build"))
    ap.add_argument("--servers", default="starling", help="comma list: starling,prosody,ejabberd")
    ap.add_argument("-n", type=int, default=400, help="logins per transport")
    ap.add_argument("-c", type=int, default=16, help="concurrent logins")
    ap.add_argument("-m", type=int, default=2000, help="messages per pair")
    ap.add_argument("-w", type=int, default=4, help="sender/receiver pairs")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="starling-bench-ws-")
    rows = []
    try:
        for name in a.servers.split(","):
            srv = None
            try:
                srv, ws_port = start(name.strip(), work, a.build)
                srv.provision(max(a.n, 2 * a.w))
                rows += measure(srv, ws_port, a)
            finally:
                if srv is not None and srv.proc is not None:
                    srv.stop()
        print("| server | transport | logins/s (n=%d, c=%d) | msgs/s (%d pairs x %d) |"
              % (a.n, a.c, a.w, a.m))
        print("|---|---|---|---|")
        for server, name, lps, mps in rows:
            print("| %s | %s | %.0f | %.0f |" % (server, name, lps, mps))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
