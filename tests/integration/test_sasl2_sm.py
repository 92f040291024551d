"""test_sasl2_sm.py: XEP-0198 stream management and XEP-0352 CSI inline in SASL2 and Bind 2
(XEP-0388, XEP-0386) by raw socket (sasl2.py): <enable/> and <inactive/> inside <bind/>,
<resume/> inside <authenticate/> (resent stanzas after <success/>), and a failed inline resume
followed by a normal Bind 2 binding."""

import rawxmpp
import sasl2
from imclient import PASSWORD, NS_CLIENT, drop, fresh, login, is_message, is_presence, nothing
from rawxmpp import dump, q

NS_SM = "urn:xmpp:sm:3"
NS_CSI = "urn:xmpp:csi:0"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_PING = "<ping xmlns='urn:xmpp:ping'/>"
SM_ENABLE = "<tag>Phone</tag><enable xmlns='%s' resume='true'/>" % NS_SM

SERVER_OPTIONS = {"xmpp.receiving.ping_interval": "0"}


def is_sm(el, name):
    return el.tag == q(NS_SM, name)


def sasl2_login(server, user, bind=SM_ENABLE, agent="phone-1", extra=""):
    c, feats = rawxmpp.connect(server)
    r = sasl2.scram_login(c, sasl2.Offer(feats), "SCRAM-SHA-256", user, PASSWORD, agent=agent,
                          bind=bind, extra=extra)
    assert r.kind == "success", dump(r.el)
    assert r.verified
    return c, r


def chat(c, to, body):
    c.send("<message to='%s' type='chat'><body>%s</body></message>" % (to, body))


def ask_ack(c):
    c.send("<r xmlns='%s'/>" % NS_SM)
    return c.wait_for(lambda e: is_sm(e, "a"), what="<a/>").get("h")


def test_offer_lists_sm_and_csi_inline(server):
    c, feats = rawxmpp.connect(server)
    offer = sasl2.Offer(feats)
    assert NS_SM in offer.bind2 and NS_CSI in offer.bind2, offer.bind2
    inline = feats.find(q(sasl2.NS_SASL2, "authentication")).find(q(sasl2.NS_SASL2, "inline"))
    assert inline.find(q(NS_SM, "sm")) is not None, dump(feats)
    c.close()


def test_bind2_enables_sm_counted_from_success(server):
    user = fresh(server, "bs")
    a, r = sasl2_login(server, user)
    en = r.bound.find(q(NS_SM, "enabled"))
    assert en is not None, dump(r.el)
    assert en.get("resume") == "true" and len(en.get("id") or "") == 32, dump(en)
    assert ask_ack(a) == "0"  # nothing received from us yet
    b = login(server, fresh(server, "bb"))
    chat(b, r.jid, "one")
    m = a.wait_for(is_message, what="the message")
    assert m.findtext(q(NS_CLIENT, "body")) == "one"
    a.send("<a xmlns='%s' h='1'/>" % NS_SM)   # the message is the first stanza counted
    chat(a, b.jid, "back")
    assert ask_ack(a) == "1"
    got = b.wait_for(is_message, what="alice's answer")
    assert got.findtext(q(NS_CLIENT, "body")) == "back"
    # Only that one stanza was sent since <success/>: an ack of two is a client error.
    a.send("<a xmlns='%s' h='2'/>" % NS_SM)
    assert a.stream_error() == "undefined-condition"
    a.close()
    b.close()


def test_bind2_csi_inactive_holds_presence(server):
    user = fresh(server, "bc")
    a, r = sasl2_login(server, user, bind="<inactive xmlns='%s'/>" % NS_CSI, agent="phone-2")
    assert r.bound is not None and len(r.bound) == 0, dump(r.el)  # CSI answers nothing
    b = login(server, fresh(server, "bd"), presence="")
    b.send("<presence to='%s'><status>one</status></presence>" % r.jid)
    b.send("<presence to='%s'><status>two</status></presence>" % r.jid)
    b.iq("get", NS_PING, to="localhost")
    nothing(a, lambda e: is_presence(e, frm=b.jid), 0.6)
    a.send("<active xmlns='%s'/>" % NS_CSI)
    p = a.wait_for(lambda e: is_presence(e, frm=b.jid), what="the flushed presence")
    assert p.findtext(q(NS_CLIENT, "status")) == "two", dump(p)
    nothing(a, lambda e: is_presence(e, frm=b.jid), 0.4)
    a.close()
    b.close()


def test_resume_inline_resends_after_success_exactly_once(server):
    user = fresh(server, "rs")
    a, r = sasl2_login(server, user)
    jid = r.jid
    previd = r.bound.find(q(NS_SM, "enabled")).get("id")
    b = login(server, fresh(server, "rb"))
    chat(b, jid, "m1")
    chat(b, jid, "m2")
    got = [a.wait_for(is_message, what="m%d" % i) for i in (1, 2)]
    assert [m.findtext(q(NS_CLIENT, "body")) for m in got] == ["m1", "m2"]
    a.send("<a xmlns='%s' h='1'/>" % NS_SM)
    a.iq("get", NS_PING, to="localhost")  # the ack is in before the loss
    drop(a)
    assert server.wait_log(r"%s: connection lost, session kept" % jid), server.log_text()[-2000:]
    chat(b, jid, "m3")  # while detached
    b.iq("get", NS_PING, to="localhost")
    # Like Conversations: <resume/> and a Bind 2 request in the same <authenticate/>.
    resume = "<resume xmlns='%s' previd='%s' h='2'/>" % (NS_SM, previd)
    c, r2 = sasl2_login(server, user, extra=resume)
    assert not [e for e in c.before_sasl2 if is_message(e)], "stanzas before <success/>"
    res = r2.el.find(q(NS_SM, "resumed"))
    assert res is not None and res.get("previd") == previd, dump(r2.el)
    assert res.get("h") == "1", dump(res)  # our ping
    assert r2.bound is None, dump(r2.el)  # resumed: no new binding
    assert r2.jid == jid
    # The ping's answer (unacknowledged: h=2 acked m1 and m2) and m3, each once.
    resent = []
    while True:
        try:
            el = c.next(0.8)
        except AssertionError:
            break
        if is_message(el):
            resent.append(el.findtext(q(NS_CLIENT, "body")))
    assert resent == ["m3"], resent
    chat(b, jid, "m4")
    m = c.wait_for(is_message, what="m4")
    assert m.findtext(q(NS_CLIENT, "body")) == "m4"
    c.close()
    b.close()


def test_failed_inline_resume_then_bind2(server):
    user = fresh(server, "fr")
    resume = "<resume xmlns='%s' previd='0123456789abcdef0123456789abcdef' h='0'/>" % NS_SM
    c, r = sasl2_login(server, user, extra=resume)
    f = r.el.find(q(NS_SM, "failed"))
    assert f is not None, dump(r.el)
    assert rawxmpp.condition(f, rawxmpp.NS_STANZAS) == "item-not-found", dump(f)
    assert r.el.find(q(NS_SM, "resumed")) is None
    assert r.bound is not None and r.bound.find(q(NS_SM, "enabled")) is not None, dump(r.el)
    assert r.jid.startswith("%s@localhost/Phone." % user), r.jid
    res = c.iq("get", NS_PING, to="localhost")
    assert res.get("type") == "result", dump(res)
    assert ask_ack(c) == "1"
    c.close()
