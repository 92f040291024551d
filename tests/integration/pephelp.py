"""pephelp.py: raw-client helpers for the publish-subscribe / PEP tests: requests, forms and a
client that answers the server's XEP-0115 disco#info query with the features it advertises."""

import base64
import hashlib
import time

import rawxmpp
from rawxmpp import q, dump

NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_EVENT = NS_PUBSUB + "#event"
NS_OWNER = NS_PUBSUB + "#owner"
NS_ERRORS = NS_PUBSUB + "#errors"
NS_DATA = "jabber:x:data"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_CLIENT = rawxmpp.NS_CLIENT
CAPS_NODE = "https://tests.starling/pep"


def form(fields, form_type=NS_PUBSUB + "#publish-options", type_="submit"):
    out = "<x xmlns='%s' type='%s'>" % (NS_DATA, type_)
    out += "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % form_type
    for k, v in fields.items():
        vals = v if isinstance(v, list) else [v]
        out += "<field var='%s'>%s</field>" % (k, "".join("<value>%s</value>" % x for x in vals))
    return out + "</x>"


def publish(c, node, payload, item_id=None, options=None, to=None):
    idattr = " id='%s'" % item_id if item_id else ""
    opts = "<publish-options>%s</publish-options>" % form(options) if options else ""
    return c.iq("set", "<pubsub xmlns='%s'><publish node='%s'><item%s>%s</item></publish>%s"
                "</pubsub>" % (NS_PUBSUB, node, idattr, payload, opts), to=to)


def items(c, to, node, max_items=None, ids=()):
    m = " max_items='%d'" % max_items if max_items is not None else ""
    inner = "".join("<item id='%s'/>" % i for i in ids)
    return c.iq("get", "<pubsub xmlns='%s'><items node='%s'%s>%s</items></pubsub>"
                % (NS_PUBSUB, node, m, inner), to=to)


def item_ids(reply):
    its = reply.find(q(NS_PUBSUB, "pubsub") + "/" + q(NS_PUBSUB, "items"))
    assert its is not None, dump(reply)
    return [i.get("id") for i in its.findall(q(NS_PUBSUB, "item"))]


def ok(el):
    assert el.get("type") == "result", dump(el)
    return el


def error(el):
    """(type, condition, pubsub#errors condition or None) of an error reply."""
    assert el.get("type") == "error", dump(el)
    t, cond = rawxmpp.stanza_error(el)
    e = el.find(q(NS_CLIENT, "error"))
    app = None
    for child in e:
        if child.tag.startswith("{%s}" % NS_ERRORS):
            app = child.tag.split("}")[1]
    return t, cond, app


def caps_ver(features, identity=("client", "pc", "", "tests")):
    s = "%s/%s/%s/%s<" % identity
    s += "".join("%s<" % f for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def caps_presence(features):
    return "<c xmlns='%s' hash='sha-1' node='%s' ver='%s'/>" % (NS_CAPS, CAPS_NODE,
                                                                 caps_ver(features))


def is_disco_query(el):
    return (el.tag == q(NS_CLIENT, "iq") and el.get("type") == "get"
            and el.find(q(NS_DISCO_INFO, "query")) is not None)


def answer_disco(c, el, features):
    feats = "".join("<feature var='%s'/>" % f for f in features)
    node = el.find(q(NS_DISCO_INFO, "query")).get("node")
    c.send("<iq type='result' id='%s' to='%s'><query xmlns='%s' node='%s'>"
           "<identity category='client' type='pc' name='tests'/>%s</query></iq>"
           % (el.get("id"), el.get("from"), NS_DISCO_INFO, node, feats))


def is_event(el, node=None, frm=None):
    if el.tag != q(NS_CLIENT, "message"):
        return False
    ev = el.find(q(NS_EVENT, "event"))
    if ev is None:
        return False
    if frm is not None and el.get("from") != frm:
        return False
    if node is None:
        return True
    return any(child.get("node") == node for child in ev)


def wait_event(c, node, frm=None, features=(), timeout=5.0):
    """The next event message of `node`; disco#info queries met meanwhile are answered."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no event for node %s" % node
        el = c.next(left)
        if is_disco_query(el):
            answer_disco(c, el, features)
        elif is_event(el, node, frm):
            return el


def no_event(c, node, features=(), timeout=0.8):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            el = c.next(left)
        except AssertionError:
            return
        if is_disco_query(el):
            answer_disco(c, el, features)
        assert not is_event(el, node), "unexpected event: %s" % dump(el)


def event_item(el):
    ev = el.find(q(NS_EVENT, "event"))
    its = ev.find(q(NS_EVENT, "items"))
    return its.find(q(NS_EVENT, "item")) if its is not None else None
