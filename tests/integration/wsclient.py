"""wsclient.py: a small hand-driven RFC 6455 client (stdlib sockets) speaking XMPP over
WebSocket (RFC 7395), for protocol tests: it can also send frames a real client never would."""

import base64
import hashlib
import os
import socket
import ssl
import struct
import time
import xml.etree.ElementTree as ET

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_CLIENT = "jabber:client"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STREAM = "http://etherx.jabber.org/streams"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10


def q(ns, name):
    return "{%s}%s" % (ns, name)


class HTTPError(AssertionError):
    def __init__(self, status, head):
        super().__init__("HTTP %d: %s" % (status, head))
        self.status = status
        self.head = head


def http_request(port, raw, tls=False, timeout=5.0):
    """Sends raw request bytes; returns (status, head text, body bytes) of the answer."""
    s = connect(port, tls, timeout)
    s.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    length = 0
    for line in text.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.close()
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
    return status, text, body


def connect(port, tls=False, timeout=5.0, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=timeout)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


class WSClient:
    """One WebSocket; messages are XML elements (one per frame)."""

    def __init__(self, port, tls=False, protocol="xmpp", origin=None, timeout=5.0,
                 path="/xmpp-websocket"):
        self.sock = connect(port, tls, timeout)
        self.timeout = timeout
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: localhost", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: 13"]
        if protocol:
            lines.append("Sec-WebSocket-Protocol: " + protocol)
        if origin:
            lines.append("Origin: " + origin)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ", 2)[1])
        if self.status != 101:
            raise HTTPError(self.status, self.head)
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert "Sec-WebSocket-Accept: " + want in self.head, self.head
        assert "Sec-WebSocket-Protocol: xmpp" in self.head, self.head

    # ---- frames ----
    def send_frame(self, opcode, payload, fin=True, mask=True):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mbit | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def send(self, text):
        self.send_frame(OP_TEXT, text)

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no WebSocket frame in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def recv_frame(self, timeout=None):
        """(opcode, payload bytes) of the next frame from the server."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "server frames are not masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def recv(self, timeout=None):
        """The next text message as an element (pings are answered, pongs skipped)."""
        while True:
            op, payload = self.recv_frame(timeout)
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                raise EOFError("close frame %r" % payload[:2])
            assert op == OP_TEXT, op
            return ET.fromstring(payload.decode())

    def wait_for(self, pred, timeout=None, what="element"):
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = []
        while time.monotonic() < deadline:
            el = self.recv(deadline - time.monotonic())
            if pred(el):
                return el
            seen.append(el.tag)
        raise TimeoutError("no %s (saw %s)" % (what, seen))

    def close_code(self, timeout=None):
        """Reads until the server's close frame; returns its status code."""
        while True:
            op, payload = self.recv_frame(timeout)
            if op == OP_CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- XMPP ----
    def open(self, to="localhost"):
        self.send("<open xmlns='%s' to='%s' version='1.0'/>" % (NS_FRAMING, to))
        op = self.recv()
        assert op.tag == q(NS_FRAMING, "open"), op.tag
        features = self.recv()
        assert features.tag == q(NS_STREAM, "features"), features.tag
        return op, features

    def login(self, user, password, resource="ws", to="localhost"):
        _, features = self.open(to)
        mechs = [m.text for m in features.iter(q(NS_SASL, "mechanism"))]
        assert "PLAIN" in mechs, mechs
        cred = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, cred))
        res = self.recv()
        assert res.tag == q(NS_SASL, "success"), ET.tostring(res)
        self.open(to)
        self.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                  "<resource>%s</resource></bind></iq>" % (NS_BIND, resource))
        iq = self.recv()
        assert iq.get("type") == "result", ET.tostring(iq)
        self.jid = iq.find(".//" + q(NS_BIND, "jid")).text
        return self.jid
