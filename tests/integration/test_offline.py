"""test_offline.py: XEP-0160 offline messages: stored in order when no resource can take
them, delivered on the next available presence with XEP-0203 delay stamps, per-account quota,
types and payloads that are not stored, negative priority, and RFC 6121 §8.5 delivery rules."""

import re

import rawxmpp
from rawxmpp import q, dump
from imclient import NS_DELAY, fresh, login, is_message, nothing

SERVER_OPTIONS = {"im.offline_quota": "3"}
J = "%s@localhost"


def send(c, to, body, type_="chat", extra=""):
    c.send("<message to='%s' type='%s'><body>%s</body>%s</message>" % (to, type_, body, extra))


def test_stored_in_order_with_delay_and_removed(server):
    a = login(server, fresh(server, "oa"), presence="")
    b = fresh(server, "ob")
    for i in range(3):
        send(a, J % b, "m%d" % i, "normal" if i == 1 else "chat")
    a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    c = login(server, b)
    nothing(c, is_message, 0.3)       # not before the initial presence
    c.send("<presence/>")
    bodies = []
    for _ in range(3):
        m = c.wait_for(is_message, what="offline message")
        bodies.append(m.findtext(q(rawxmpp.NS_CLIENT, "body")))
        assert m.get("from") == a.jid, dump(m)
        d = m.find(q(NS_DELAY, "delay"))
        assert d is not None and d.get("from") == "localhost", dump(m)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d.get("stamp")), dump(m)
    assert bodies == ["m0", "m1", "m2"]
    c.close()
    c = login(server, b, presence="")
    nothing(c, is_message)
    c.close()
    a.close()


def test_quota_gives_service_unavailable(server):
    a = login(server, fresh(server, "qa"), presence="")
    b = fresh(server, "qb")
    for i in range(3):
        send(a, J % b, "q%d" % i)
    a.send("<message to='%s' type='chat' id='over'><body>q3</body></message>" % (J % b))
    r = a.wait_for(lambda e: e.get("id") == "over", what="error")
    assert r.get("type") == "error" and rawxmpp.stanza_error(r)[1] == "service-unavailable"
    a.close()


def test_not_stored_types_and_payloads(server):
    a = login(server, fresh(server, "na"), presence="")
    b = fresh(server, "nb")
    send(a, J % b, "head", "headline")
    a.send("<message to='%s' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/>"
           "</message>" % (J % b))
    a.send("<message to='%s' type='groupchat' id='gc'><body>g</body></message>" % (J % b))
    r = a.wait_for(lambda e: e.get("id") == "gc", what="groupchat error")
    assert rawxmpp.stanza_error(r)[1] == "service-unavailable", dump(r)
    a.send("<message to='%s' type='error'><body>e</body></message>" % (J % b))
    a.send("<message to='%s' type='chat' id='ns'><body>x</body>"
           "<no-store xmlns='urn:xmpp:hints'/></message>" % (J % b))
    r = a.wait_for(lambda e: e.get("id") == "ns", what="no-store error")
    assert rawxmpp.stanza_error(r)[1] == "service-unavailable", dump(r)
    send(a, J % b, "kept")
    a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    c = login(server, b)
    c.send("<presence/>")
    m = c.wait_for(is_message, what="the one stored message")
    assert m.findtext(q(rawxmpp.NS_CLIENT, "body")) == "kept", dump(m)
    nothing(c, is_message)
    c.close()
    a.close()


def test_negative_priority_keeps_messages_offline(server):
    a = login(server, fresh(server, "pa"), presence="")
    b = fresh(server, "pb")
    c = login(server, b, presence="<priority>-1</priority>")
    send(a, J % b, "later")
    nothing(c, is_message)
    c.send("<presence><priority>1</priority></presence>")
    m = c.wait_for(is_message, what="offline after priority change")
    assert m.find(q(NS_DELAY, "delay")) is not None, dump(m)
    # Still reachable at its full JID.
    send(a, c.jid, "direct")
    c.wait_for(lambda e: is_message(e, "direct"), what="full-JID message")
    c.close()
    a.close()


def test_delivery_rules_bare_and_full(server):
    """§8.5: bare JID to the highest non-negative priority; full JID to that resource; a
    non-existent resource is treated as the bare JID for chat, dropped for headline, refused
    for groupchat; unknown account: service-unavailable."""
    a = login(server, fresh(server, "da"), presence="")
    b = fresh(server, "db")
    hi = login(server, b, "hi", presence="<priority>5</priority>")
    lo = login(server, b, "lo", presence="<priority>1</priority>")
    send(a, J % b, "to-bare")
    hi.wait_for(lambda e: is_message(e, "to-bare"), what="bare to high priority")
    nothing(lo, lambda e: is_message(e, "to-bare"))
    send(a, J % b, "news", "headline")
    for x in (hi, lo):
        x.wait_for(lambda e: is_message(e, "news"), what="headline to all")
    send(a, J % b + "/gone", "via-bare")
    hi.wait_for(lambda e: is_message(e, "via-bare"), what="unknown resource -> bare")
    send(a, J % b + "/lo", "to-full")
    lo.wait_for(lambda e: is_message(e, "to-full"), what="full JID")
    a.send("<message to='%s/gone' type='groupchat' id='g1'><body>x</body></message>" % (J % b))
    r = a.wait_for(lambda e: e.get("id") == "g1", what="groupchat error")
    assert rawxmpp.stanza_error(r)[1] == "service-unavailable", dump(r)
    a.send("<message to='nobody-x@localhost' type='chat' id='u1'><body>x</body></message>")
    r = a.wait_for(lambda e: e.get("id") == "u1", what="unknown account error")
    assert rawxmpp.stanza_error(r)[1] == "service-unavailable", dump(r)
    for x in (a, hi, lo):
        x.close()
