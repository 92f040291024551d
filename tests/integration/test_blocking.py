"""test_blocking.py: XEP-0191 blocking command: blocklist get/block/unblock with pushes to the
resources that asked for the list, and its effects: no presence either way, messages and
requests from a blocked JID refused, stanzas to it refused with <blocked/>."""

import rawxmpp
from rawxmpp import q, dump
from imclient import NS_BLOCKING, fresh, login, is_presence, is_message, nothing, befriend

J = "%s@localhost"
NS_BLOCK_ERR = "urn:xmpp:blocking:errors"


def blocklist(c):
    r = c.iq("get", "<blocklist xmlns='%s'/>" % NS_BLOCKING)
    assert r.get("type") == "result", dump(r)
    return sorted(i.get("jid") for i in r.find(q(NS_BLOCKING, "blocklist")))


def is_block_push(el, what):
    return el.tag == q(rawxmpp.NS_CLIENT, "iq") and el.get("type") == "set" and \
        el.find(q(NS_BLOCKING, what)) is not None


def test_blocklist_and_pushes(server):
    u = fresh(server, "bl")
    a = login(server, u, "a")
    b = login(server, u, "b")
    c = login(server, u, "c")
    try:
        assert blocklist(a) == []
        assert blocklist(b) == []
        r = a.iq("set", "<block xmlns='%s'><item jid='x@example.net'/><item jid='spam.example'/>"
                        "</block>" % NS_BLOCKING)
        assert r.get("type") == "result", dump(r)
        for x in (a, b):
            p = x.wait_for(lambda e: is_block_push(e, "block"), what="block push")
            jids = sorted(i.get("jid") for i in p.find(q(NS_BLOCKING, "block")))
            assert jids == ["spam.example", "x@example.net"], dump(p)
        nothing(c, lambda e: is_block_push(e, "block"))
        assert blocklist(c) == ["spam.example", "x@example.net"]
        r = a.iq("set", "<unblock xmlns='%s'><item jid='x@example.net'/></unblock>" % NS_BLOCKING)
        assert r.get("type") == "result", dump(r)
        b.wait_for(lambda e: is_block_push(e, "unblock"), what="unblock push")
        assert blocklist(b) == ["spam.example"]
        r = a.iq("set", "<unblock xmlns='%s'/>" % NS_BLOCKING)
        assert r.get("type") == "result", dump(r)
        assert blocklist(a) == []
        r = a.iq("set", "<block xmlns='%s'/>" % NS_BLOCKING)
        assert rawxmpp.stanza_error(r)[1] == "bad-request", dump(r)
        r = a.iq("set", "<block xmlns='%s'><item jid='@@bad'/></block>" % NS_BLOCKING)
        assert rawxmpp.stanza_error(r)[1] == "jid-malformed", dump(r)
    finally:
        for x in (a, b, c):
            x.close()


def test_blocking_effects(server):
    a_name, b_name = fresh(server, "ea"), fresh(server, "eb")
    befriend(server, a_name, b_name)
    b = login(server, b_name, presence="")
    a = login(server, a_name, presence="")
    b.wait_for(lambda e: is_presence(e, frm=a.jid, type_=None), what="a online")
    try:
        r = a.iq("set", "<block xmlns='%s'><item jid='%s'/></block>" % (NS_BLOCKING, J % b_name))
        assert r.get("type") == "result", dump(r)
        # b sees a go unavailable; a sees b go unavailable.
        b.wait_for(lambda e: is_presence(e, frm=a.jid, type_="unavailable"), what="unavailable")
        a.wait_for(lambda e: is_presence(e, frm=J % b_name, type_="unavailable"), what="b gone")
        # No more presence either way.
        a.send("<presence><status>new</status></presence>")
        b.send("<presence><status>also new</status></presence>")
        nothing(b, lambda e: is_presence(e, frm=a.jid))
        nothing(a, lambda e: is_presence(e, frm=b.jid))
        # b's message is refused; a's to b too, with <blocked/>.
        b.send("<message to='%s' type='chat' id='m1'><body>hi</body></message>" % (J % a_name))
        r = b.wait_for(lambda e: e.get("id") == "m1", what="refusal")
        assert rawxmpp.stanza_error(r)[1] == "service-unavailable", dump(r)
        nothing(a, is_message)
        a.send("<message to='%s' type='chat' id='m2'><body>hi</body></message>" % (J % b_name))
        r = a.wait_for(lambda e: e.get("id") == "m2", what="blocked error")
        assert rawxmpp.stanza_error(r)[1] == "not-acceptable", dump(r)
        assert r.find(".//" + q(NS_BLOCK_ERR, "blocked")) is not None, dump(r)
        nothing(b, is_message)
        r = b.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=a.jid)
        assert rawxmpp.stanza_error(r)[1] == "service-unavailable", dump(r)
        # Unblocking restores presence both ways.
        r = a.iq("set", "<unblock xmlns='%s'><item jid='%s'/></unblock>" % (NS_BLOCKING,
                                                                         J % b_name))
        assert r.get("type") == "result", dump(r)
        b.wait_for(lambda e: is_presence(e, frm=a.jid, type_=None), what="a back")
        a.wait_for(lambda e: is_presence(e, frm=b.jid, type_=None), what="b back (probe)")
        b.send("<message to='%s' type='chat'><body>again</body></message>" % (J % a_name))
        a.wait_for(lambda e: is_message(e, "again"), what="message after unblock")
    finally:
        a.close()
        b.close()


def test_domain_block(server):
    a_name, b_name = fresh(server, "ka"), fresh(server, "kb")
    a = login(server, a_name, presence="")
    b = login(server, b_name, presence="")
    try:
        a.iq("set", "<block xmlns='%s'><item jid='localhost'/></block>" % NS_BLOCKING)
        b.send("<message to='%s' type='chat' id='d1'><body>x</body></message>" % (J % a_name))
        r = b.wait_for(lambda e: e.get("id") == "d1", what="refusal")
        assert rawxmpp.stanza_error(r)[1] == "service-unavailable", dump(r)
        # The server itself (own domain) stays reachable.
        r = a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
        assert r.get("type") == "result", dump(r)
    finally:
        a.close()
        b.close()
