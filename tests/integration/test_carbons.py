"""test_carbons.py: XEP-0280 message carbons: enable/disable, received copies for the other
enabled resources, sent copies, private and no-copy, and no copies for disabled resources or
for messages every resource got already."""

import rawxmpp
from rawxmpp import q, dump
from imclient import NS_CARBONS, NS_FORWARD, fresh, login, is_message, nothing

J = "%s@localhost"


def enable(c, on=True):
    r = c.iq("set", "<%s xmlns='%s'/>" % ("enable" if on else "disable", NS_CARBONS))
    assert r.get("type") == "result", dump(r)


def carbon(el, kind, body):
    if el.tag != q(rawxmpp.NS_CLIENT, "message"):
        return None
    k = el.find(q(NS_CARBONS, kind))
    if k is None:
        return None
    inner = k.find(q(NS_FORWARD, "forwarded") + "/" + q(rawxmpp.NS_CLIENT, "message"))
    if inner is None or inner.findtext(q(rawxmpp.NS_CLIENT, "body")) != body:
        return None
    return inner


def test_received_and_sent_copies(server):
    u, o = fresh(server, "cu"), fresh(server, "co")
    hi = login(server, u, "hi", presence="<priority>5</priority>")
    lo = login(server, u, "lo", presence="<priority>1</priority>")
    off = login(server, u, "off", presence="<priority>1</priority>")
    other = login(server, o, presence="")
    try:
        enable(hi)
        enable(lo)
        # To the bare JID: hi gets it, lo a received carbon, off (not enabled) nothing.
        other.send("<message to='%s' type='chat'><body>one</body></message>" % (J % u))
        hi.wait_for(lambda e: is_message(e, "one"), what="original")
        el = lo.wait_for(lambda e: carbon(e, "received", "one") is not None, what="carbon")
        assert el.get("from") == J % u, dump(el)
        inner = carbon(el, "received", "one")
        assert inner.get("from") == other.jid and inner.get("to") == J % u, dump(el)
        nothing(off, lambda e: carbon(e, "received", "one") is not None or is_message(e, "one"))
        # To a full JID: the others enabled get a copy.
        other.send("<message to='%s' type='chat'><body>two</body></message>" % lo.jid)
        lo.wait_for(lambda e: is_message(e, "two"), what="original")
        hi.wait_for(lambda e: carbon(e, "received", "two") is not None, what="carbon")
        # Sent by hi: lo gets a sent carbon.
        hi.send("<message to='%s' type='chat'><body>three</body></message>" % other.jid)
        other.wait_for(lambda e: is_message(e, "three"), what="delivered")
        el = lo.wait_for(lambda e: carbon(e, "sent", "three") is not None, what="sent carbon")
        inner = carbon(el, "sent", "three")
        assert inner.get("from") == hi.jid and inner.get("to") == other.jid, dump(el)
        nothing(off, lambda e: carbon(e, "sent", "three") is not None)
        # Private and no-copy: no carbons.
        hi.send("<message to='%s' type='chat'><body>four</body><private xmlns='%s'/></message>"
                % (other.jid, NS_CARBONS))
        other.send("<message to='%s' type='chat'><body>five</body>"
                   "<no-copy xmlns='urn:xmpp:hints'/></message>" % (J % u))
        hi.wait_for(lambda e: is_message(e, "five"), what="original")
        nothing(lo, lambda e: carbon(e, "sent", "four") is not None or
                carbon(e, "received", "five") is not None)
        # Headline to the bare JID reaches every resource itself: no carbons.
        other.send("<message to='%s' type='headline'><body>six</body></message>" % (J % u))
        lo.wait_for(lambda e: is_message(e, "six"), what="headline")
        nothing(lo, lambda e: carbon(e, "received", "six") is not None)
        # Disabled: no more copies.
        enable(lo, False)
        other.send("<message to='%s' type='chat'><body>seven</body></message>" % (J % u))
        hi.wait_for(lambda e: is_message(e, "seven"), what="original")
        nothing(lo, lambda e: carbon(e, "received", "seven") is not None)
    finally:
        for x in (hi, lo, off, other):
            x.close()


def test_carbons_feature_in_disco(server):
    c = login(server, fresh(server, "cd"))
    try:
        r = c.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=c.bare)
        feats = [f.get("var") for f in r.iter(q("http://jabber.org/protocol/disco#info",
                                                  "feature"))]
        assert NS_CARBONS in feats and "urn:xmpp:blocking" in feats, feats
    finally:
        c.close()
