"""sasl2.py: a raw-socket XEP-0388 SASL2 client (with XEP-0386 Bind 2, XEP-0484 FAST and
XEP-0474 SSDP) over rawxmpp.RawClient: no library in Debian speaks it."""

import base64
import hashlib
import hmac
import xml.sax.saxutils

import rawxmpp
import scram
from rawxmpp import NS_SASL, q

NS_SASL2 = "urn:xmpp:sasl:2"
NS_BIND2 = "urn:xmpp:bind:0"
NS_FAST = "urn:xmpp:fast:0"
NS_CARBONS = "urn:xmpp:carbons:2"

HT_CB = {"HT-SHA-256-NONE": None, "HT-SHA-256-ENDP": "tls-server-end-point",
         "HT-SHA-256-EXPR": "tls-exporter", "HT-SHA-256-UNIQ": "tls-unique"}


def esc(text):
    return xml.sax.saxutils.escape(text, {"'": "&apos;"})


class Offer:
    """What <authentication/> in the stream features offers."""

    def __init__(self, features):
        auth = features.find(q(NS_SASL2, "authentication"))
        assert auth is not None, "no SASL2 <authentication/>: %s" % rawxmpp.dump(features)
        self.mechanisms = [m.text for m in auth.findall(q(NS_SASL2, "mechanism"))]
        inline = auth.find(q(NS_SASL2, "inline"))
        bind = inline.find(q(NS_BIND2, "bind")) if inline is not None else None
        self.bind2 = None
        if bind is not None:
            feats = bind.find(q(NS_BIND2, "inline"))
            self.bind2 = [f.get("var") for f in feats] if feats is not None else []
        fast = inline.find(q(NS_FAST, "fast")) if inline is not None else None
        self.fast = [m.text for m in fast] if fast is not None else None
        self.cb_types = rawxmpp.cb_types(features)


def ssdp_string(mechs, cb_types):
    """XEP-0474: sorted mechanisms joined by 0x1E, then 0x1F and the sorted binding types."""
    s = "\x1e".join(sorted(mechs))
    if cb_types is not None:
        s += "\x1f" + "\x1e".join(sorted(cb_types))
    return s


def ssdp_d(mech, mechs, cb_types):
    base = mech[:-5] if mech.endswith("-PLUS") else mech
    h = scram.HASHES[base]
    return base64.b64encode(hashlib.new(h, ssdp_string(mechs, cb_types).encode()).digest()).decode()


def authenticate_xml(mech, initial=None, agent=None, software=None, device=None, bind=None,
                     request_token=None, fast=None, extra=""):
    """The <authenticate/> element. bind: None (no Bind 2) or the inner XML of <bind/>;
    fast: None or a dict of <fast/> attributes; initial: bytes or None."""
    parts = ["<authenticate xmlns='%s' mechanism='%s'>" % (NS_SASL2, mech)]
    if initial is not None:
        body = base64.b64encode(initial).decode() if initial else "="
        parts.append("<initial-response>%s</initial-response>" % body)
    if agent is not None:
        parts.append("<user-agent id='%s'>" % esc(agent))
        if software:
            parts.append("<software>%s</software>" % esc(software))
        if device:
            parts.append("<device>%s</device>" % esc(device))
        parts.append("</user-agent>")
    if bind is not None:
        parts.append("<bind xmlns='%s'>%s</bind>" % (NS_BIND2, bind))
    if request_token:
        parts.append("<request-token xmlns='%s' mechanism='%s'/>" % (NS_FAST, request_token))
    if fast is not None:
        attrs = "".join(" %s='%s'" % kv for kv in fast.items())
        parts.append("<fast xmlns='%s'%s/>" % (NS_FAST, attrs))
    parts.append(extra)
    parts.append("</authenticate>")
    return "".join(parts)


def next_sasl2(c, timeout=None):
    """The next SASL2 element: (kind, element). What came before it is kept in c.before_sasl2."""
    skipped = []

    def is_sasl2(e):
        if rawxmpp.ns_of(e.tag) == NS_SASL2:
            return True
        skipped.append(e)
        return False

    el = c.wait_for(is_sasl2, timeout, "a SASL2 element")
    c.before_sasl2 = skipped
    return rawxmpp.local(el.tag), el


def data_of(el, name=None):
    node = el if name is None else el.find(q(NS_SASL2, name))
    if node is None:
        return None
    text = (node.text or "").strip()
    return b"" if text in ("", "=") else base64.b64decode(text)


def failure_condition(el):
    return rawxmpp.condition(el, NS_SASL)


def failure_text(el):
    t = el.find(q(NS_SASL2, "text"))
    return t.text if t is not None else None


class Result:
    def __init__(self, kind, el, **kw):
        self.kind = kind
        self.el = el
        self.__dict__.update(kw)

    @property
    def jid(self):
        a = self.el.find(q(NS_SASL2, "authorization-identifier"))
        return a.text if a is not None else None

    @property
    def bound(self):
        return self.el.find(q(NS_BIND2, "bound"))

    @property
    def token(self):
        t = self.el.find(q(NS_FAST, "token"))
        return (t.get("token"), t.get("expiry")) if t is not None else (None, None)

    @property
    def condition(self):
        return failure_condition(self.el) if self.kind == "failure" else None


def scram_login(c, offer, mech, user, password, cb_type=None, ssdp_check=True, **kw):
    """A SCRAM[-PLUS] exchange over SASL2. Returns a Result; on success .verified tells whether
    the server signature matched and .d the server's d= (SSDP) value."""
    cb_data = scram.channel_binding(c.sock, cb_type) if mech.endswith("-PLUS") else b""
    client = scram.ScramClient(mech, user, password, cb_type=cb_type, cb_data=cb_data)
    c.send(authenticate_xml(mech, client.first(), **kw))
    kind, el = next_sasl2(c)
    if kind != "challenge":
        return Result(kind, el)
    server_first = data_of(el)
    attrs = dict(a.split("=", 1) for a in server_first.decode().split(",") if "=" in a)
    d = attrs.get("d")
    if ssdp_check:
        assert d == ssdp_d(mech, offer.mechanisms, offer.cb_types), \
            "SSDP d= does not match the advertised lists"
    c.send("<response xmlns='%s'>%s</response>"
           % (NS_SASL2, base64.b64encode(client.final(server_first)).decode()))
    kind, el = next_sasl2(c)
    verified = kind == "success" and client.verify(data_of(el, "additional-data") or b"")
    return Result(kind, el, verified=verified, d=d)


def ht_initial(user, token, cb_data=b""):
    key = token.encode()
    return user.encode() + b"\0" + hmac.new(key, b"Initiator" + cb_data, "sha256").digest()


def ht_expected(token, cb_data=b""):
    return hmac.new(token.encode(), b"Responder" + cb_data, "sha256").digest()


def fast_login(c, mech, user, token, agent, **kw):
    """A FAST login in one round trip. Result.verified: the server proved the token too."""
    cb = HT_CB[mech]
    cb_data = scram.channel_binding(c.sock, cb) if cb else b""
    kw.setdefault("fast", {})
    c.send(authenticate_xml(mech, ht_initial(user, token, cb_data), agent=agent, **kw))
    kind, el = next_sasl2(c)
    verified = kind == "success" and data_of(el, "additional-data") == ht_expected(token, cb_data)
    return Result(kind, el, verified=verified)
