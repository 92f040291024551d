"""rawxmpp.py: a tiny hand-driven XMPP client (socket, optional TLS) for protocol tests."""

import base64
import hashlib
import select
import socket
import ssl
import time
import uuid
import xml.etree.ElementTree as ET
import xml.sax.saxutils

import scram

NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_CLIENT = "jabber:client"
NS_IQAUTH = "jabber:iq:auth"
NS_IQAUTH_FEATURE = "http://jabber.org/features/iq-auth"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"

DEFAULT_TIMEOUT = 5.0


def q(ns, name):
    return "{%s}%s" % (ns, name)


def local(tag):
    return tag.rsplit("}", 1)[-1]


def ns_of(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def dump(el):
    return ET.tostring(el, encoding="unicode")


def condition(el, ns):
    """Local name of the first child of el in namespace ns (other than <text/>), or None."""
    for child in el.iter():
        if child is el:
            continue
        if ns_of(child.tag) == ns and local(child.tag) != "text":
            return local(child.tag)
    return None


def header(to="localhost", version="1.0", xmlns="jabber:client", decl=True, extra=""):
    """A client stream header (str)."""
    parts = []
    if decl:
        parts.append("<?xml version='1.0'?>")
    attrs = ""
    if to is not None:
        attrs += " to='%s'" % to
    if version is not None:
        attrs += " version='%s'" % version
    parts.append("<stream:stream xmlns='%s' xmlns:stream='%s'%s%s>"
                 % (xmlns, NS_STREAM, attrs, extra))
    return "".join(parts)


class Closed(AssertionError):
    """The peer ended the stream or closed the connection while we waited for something."""


class RawClient:
    """One TCP connection to the server, optionally TLS (direct, or later by starttls()).

    Incoming bytes are kept in `raw` (after TLS: decrypted) and fed to an XML pull parser; the
    children of the stream root arrive as ElementTree elements through next()/expect().
    """

    def __init__(self, port, tls=False, timeout=DEFAULT_TIMEOUT, tls_max=None, tls_min=None,
                 sni="localhost", host="127.0.0.1", source=None):
        # source: the local (loopback) address to connect from, e.g. "127.0.0.5".
        self.port = port
        self.timeout = timeout
        self.tls_max = tls_max
        self.tls_min = tls_min
        self.sni = sni
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.local_port = self.sock.getsockname()[1]
        self.raw = bytearray()
        self.eof = False
        self.send_failed = False
        self.stream_id = None
        self.header_attrs = None
        self.stream_ended = False
        self.pending = []
        self.tls = False
        self._reset_parser()
        if tls:
            self._wrap_tls()

    # ---- transport ----------------------------------------------------------------------------

    def _ssl_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if self.tls_max is not None:
            ctx.maximum_version = self.tls_max
        if self.tls_min is not None:
            ctx.minimum_version = self.tls_min
        return ctx

    def _wrap_tls(self):
        self.sock.settimeout(self.timeout)
        self.sock = self._ssl_context().wrap_socket(self.sock, server_hostname=self.sni)
        self.tls = True

    @property
    def tls_version(self):
        return self.sock.version() if self.tls else None

    def _reset_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.root = None
        self.header_attrs = None
        self.stream_ended = False
        self.parsed_from = len(self.raw)

    def send(self, data):
        """Sends str/bytes; returns False (and sets send_failed) when the peer is gone."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            self.send_failed = True
            return False

    def send_flood(self, data, chunk=1 << 16):
        """Sends a large payload chunk by chunk, reading between chunks, and stops as soon as
        the server ends the stream or stops reading. Returns the number of bytes sent."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        sent = 0
        for i in range(0, len(data), chunk):
            if self.eof or self.stream_ended:
                break
            if not self.send(data[i:i + chunk]):
                break
            sent += min(chunk, len(data) - i)
            self.poll()
        return sent

    def _recv_some(self, timeout):
        """Reads once (waiting up to timeout s); returns the bytes read (b"" on nothing/EOF)."""
        if self.eof:
            return b""
        try:
            if timeout <= 0:
                if not (self.tls and self.sock.pending()):
                    ready, _, _ = select.select([self.sock], [], [], 0)
                    if not ready:
                        return b""
                self.sock.settimeout(0.5)
            else:
                self.sock.settimeout(timeout)
            data = self.sock.recv(1 << 16)
        except (socket.timeout, ssl.SSLWantReadError, BlockingIOError):
            return b""
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            self.eof = True
            return b""
        if not data:
            self.eof = True
            return b""
        self.raw += data
        self._feed(data)
        return data

    def _feed(self, data):
        try:
            self.parser.feed(data)
            events = list(self.parser.read_events())
        except ET.ParseError as e:
            raise AssertionError("server sent XML we cannot parse (%s); bytes received:\n%r"
                                 % (e, bytes(self.raw[self.parsed_from:])[-3000:]))
        for event, el in events:
            if event == "start":
                self.depth += 1
                if self.depth == 1:
                    self.root = el
                    self.header_attrs = dict(el.attrib)
                    self.header_tag = el.tag
                    self.stream_id = el.attrib.get("id")
            else:
                if self.depth == 2:
                    self.pending.append(el)
                    if self.root is not None:
                        try:
                            self.root.remove(el)
                        except ValueError:
                            pass
                elif self.depth == 1:
                    self.stream_ended = True
                self.depth -= 1

    def poll(self):
        """Reads whatever is available now without waiting."""
        while self._recv_some(0):
            pass

    def text(self):
        return bytes(self.raw).decode("utf-8", "replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- reading elements ---------------------------------------------------------------------

    def next(self, timeout=None):
        """The next child of the stream root; raises Closed when the stream ends first."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self.pending:
            if self.stream_ended or self.eof:
                raise Closed("stream closed while waiting (ended=%s eof=%s); received:\n%r"
                             % (self.stream_ended, self.eof, bytes(self.raw)[-3000:]))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timeout after %.1f s waiting for an element; received:\n%r"
                                     % (timeout, bytes(self.raw)[-3000:]))
            self._recv_some(left)
        return self.pending.pop(0)

    def expect(self, tag, timeout=None):
        el = self.next(timeout)
        assert el.tag == tag, "expected %s, got %s" % (tag, dump(el))
        return el

    def wait_for(self, pred, timeout=None, what="element"):
        """Skips elements until pred(el); returns it."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timeout waiting for %s; skipped: %s"
                                     % (what, [dump(e)[:300] for e in seen]))
            el = self.next(left)
            if pred(el):
                return el
            seen.append(el)

    def wait_header(self, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while self.header_attrs is None:
            if self.eof:
                raise Closed("closed before the server's stream header; received:\n%r"
                             % bytes(self.raw)[-3000:])
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no stream header within %.1f s; received:\n%r"
                                     % (timeout, bytes(self.raw)[-3000:]))
            self._recv_some(left)
        return self.header_attrs

    def wait_closed(self, timeout=None):
        """Reads until EOF; returns True when the connection closed within timeout."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._recv_some(left)
        return True

    def stream_error(self, timeout=None):
        """Reads until a stream error; returns its condition. Fails on anything but an error
        (features, stanzas before it are skipped)."""
        el = self.wait_for(lambda e: e.tag == q(NS_STREAM, "error"), timeout, "a stream error")
        return condition(el, NS_STREAMS_ERR)

    def expect_stream_error(self, cond, timeout=None):
        """Asserts: the server's header came first, then <stream:error><cond/>, then
        </stream:stream>, then the TCP connection closes."""
        timeout = self.timeout if timeout is None else timeout
        try:
            got = self.stream_error(timeout)
        except Closed as e:
            raise AssertionError("expected stream error <%s/>, stream closed without one: %s"
                                 % (cond, e))
        assert got == cond, "expected stream error <%s/>, got <%s/>; received:\n%r" % (
            cond, got, bytes(self.raw)[-2000:])
        assert self.header_attrs is not None, "stream error without a server stream header"
        deadline = time.monotonic() + timeout
        while not self.stream_ended and not self.eof and time.monotonic() < deadline:
            self._recv_some(deadline - time.monotonic())
        assert self.stream_ended, "no </stream:stream> after the stream error; received:\n%r" % (
            bytes(self.raw)[-2000:])
        assert self.wait_closed(timeout), "connection not closed after the stream error"
        return got

    # ---- stream steps -------------------------------------------------------------------------

    def open(self, to="localhost", timeout=None, **kw):
        """Sends a stream header; returns the <stream:features/> element."""
        self._reset_parser()
        self.send(header(to=to, **kw))
        self.wait_header(timeout)
        return self.expect(q(NS_STREAM, "features"), timeout)

    def starttls(self, to="localhost"):
        """STARTTLS then a new stream; returns the features after TLS."""
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        self.expect(q(NS_TLS, "proceed"))
        assert not self.pending, "data after <proceed/>"
        self._wrap_tls()
        return self.open(to=to)

    def sasl_auth(self, mechanism, initial=None):
        """Sends <auth/>; initial: bytes (None = no initial response, b"" = "=")."""
        if initial is None:
            body = ""
        elif initial == b"":
            body = "="
        else:
            body = base64.b64encode(initial).decode()
        self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (NS_SASL, mechanism, body))

    def sasl_next(self):
        """Next SASL element: ("challenge"|"success"|"failure", data bytes or condition)."""
        el = self.wait_for(lambda e: ns_of(e.tag) == NS_SASL, what="a SASL element")
        kind = local(el.tag)
        if kind == "failure":
            return kind, condition(el, NS_SASL)
        text = (el.text or "").strip()
        data = b"" if text in ("", "=") else base64.b64decode(text)
        return kind, data

    def sasl_response(self, data):
        body = "=" if not data else base64.b64encode(data).decode()
        self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, body))

    def plain(self, user, password, authzid=""):
        """SASL PLAIN; returns ("success", b"") or ("failure", condition)."""
        self.sasl_auth("PLAIN", ("%s\0%s\0%s" % (authzid, user, password)).encode())
        return self.sasl_next()

    def scram(self, mech, user, password, cb_type=None, gs2_flag=None, cb_data=None):
        """SCRAM[-PLUS]. Returns ("success", verified_bool) or ("failure", condition)."""
        if cb_data is None:
            cb_data = b""
            if cb_type and (mech.endswith("-PLUS") or (gs2_flag or "").startswith("p=")):
                cb_data = scram.channel_binding(self.sock, cb_type)
        client = scram.ScramClient(mech, user, password, cb_type=cb_type, cb_data=cb_data,
                                   gs2_flag=gs2_flag)
        self.sasl_auth(mech, client.first())
        kind, data = self.sasl_next()
        if kind != "challenge":
            return kind, data
        self.sasl_response(client.final(data))
        kind, data = self.sasl_next()
        if kind == "challenge":
            # Server-final sent as a challenge (allowed): answer empty, then expect success.
            verified = client.verify(data)
            self.sasl_response(b"")
            kind, data2 = self.sasl_next()
            return (kind, verified) if kind == "success" else (kind, data2)
        if kind == "success":
            return kind, client.verify(data)
        return kind, data

    def restart(self, to="localhost"):
        """New stream after SASL success; returns the features."""
        return self.open(to=to)

    def bind(self, resource=None):
        """Resource binding; returns the full JID the server assigned."""
        res = "<resource>%s</resource>" % resource if resource is not None else ""
        el = self.iq("set", "<bind xmlns='%s'>%s</bind>" % (NS_BIND, res))
        assert el.get("type") == "result", "bind failed: %s" % dump(el)
        jid = el.find(q(NS_BIND, "bind") + "/" + q(NS_BIND, "jid"))
        assert jid is not None and jid.text, "bind result without jid: %s" % dump(el)
        self.jid = jid.text
        return jid.text

    def iq(self, type_, payload, to=None, id_=None, timeout=None):
        """Sends an iq and returns the response with the same id."""
        id_ = id_ or uuid.uuid4().hex[:12]
        to_attr = " to='%s'" % to if to else ""
        self.send("<iq type='%s' id='%s'%s>%s</iq>" % (type_, id_, to_attr, payload))
        want = xml.sax.saxutils.unescape(id_, {"&apos;": "'", "&quot;": '"'})
        return self.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == want,
                             timeout, "iq response id=%s" % id_)

    def end(self):
        self.send("</stream:stream>")


def mechanisms(features):
    """The SASL mechanism names offered in a features element (in order)."""
    mechs = features.find(q(NS_SASL, "mechanisms"))
    if mechs is None:
        return []
    return [m.text.strip() for m in mechs.findall(q(NS_SASL, "mechanism")) if m.text]


def cb_types(features):
    el = features.find(q(NS_SASL_CB, "sasl-channel-binding"))
    if el is None:
        return None
    return [c.get("type") for c in el.findall(q(NS_SASL_CB, "channel-binding"))]


def connect(server, direct_tls=False, to="localhost", timeout=DEFAULT_TIMEOUT, tls_max=None):
    """A connection with TLS done (STARTTLS or direct); returns (client, features)."""
    if direct_tls:
        c = RawClient(server.tls_port, tls=True, timeout=timeout, tls_max=tls_max, sni=to)
        feats = c.open(to=to)
    else:
        c = RawClient(server.port, timeout=timeout, tls_max=tls_max, sni=to)
        feats = c.open(to=to)
        feats = c.starttls(to=to)
    return c, feats


def login(server, user, password, resource="raw", domain="localhost", direct_tls=False,
          session=True, timeout=DEFAULT_TIMEOUT):
    """A fully logged-in raw client (TLS, SASL PLAIN, bind, session)."""
    c, _feats = connect(server, direct_tls=direct_tls, to=domain, timeout=timeout)
    kind, data = c.plain(user, password)
    assert kind == "success", "PLAIN login of %s@%s failed: %s" % (user, domain, data)
    feats = c.restart(to=domain)
    c.bind(resource)
    if session and feats.find(q(NS_SESSION, "session")) is not None:
        r = c.iq("set", "<session xmlns='%s'/>" % NS_SESSION)
        assert r.get("type") == "result", dump(r)
    return c


def legacy_digest(stream_id, password):
    return hashlib.sha1((stream_id + password).encode()).hexdigest()


def stanza_error(el):
    """(type, condition) of a stanza error reply."""
    err = el.find(q(NS_CLIENT, "error"))
    if err is None:
        return None, None
    return err.get("type"), condition(err, NS_STANZAS)
