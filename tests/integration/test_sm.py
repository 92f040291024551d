"""test_sm.py: XEP-0198 stream management with raw sockets: enable, acks both ways, resumption
after a lost connection (also while the old one is still open, and from a connection accepted
by another worker), failed resumptions, the end of the resumption window (messages to offline
storage, iq errors back), the unacknowledged-queue limit, SIGTERM, and XEP-0352 client state
indication."""

import rawxmpp
import starling
from rawxmpp import q, dump, local, ns_of
from imclient import PASSWORD, NS_CLIENT, drop, fresh, login, is_message, is_presence, nothing

NS_SM = "urn:xmpp:sm:3"
NS_CSI = "urn:xmpp:csi:0"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
J = "%s@localhost"

SERVER_OPTIONS = {"xmpp.receiving.ping_interval": "0"}


def is_stanza(el):
    return ns_of(el.tag) == NS_CLIENT and local(el.tag) in ("message", "presence", "iq")


def is_sm(el, name):
    return el.tag == q(NS_SM, name)


def stanzas(c, n, what="stanzas"):
    """The next n stanzas (server <r/> requests skipped), counted in c.h."""
    got = []
    while len(got) < n:
        el = c.wait_for(is_stanza, what="%s (%d of %d so far)" % (what, len(got), n))
        c.h += 1
        got.append(el)
    return got


def bodies(els):
    return [e.findtext(q(NS_CLIENT, "body")) for e in els if is_message(e)]


def sm_login(server, user, resume=True, resource="r"):
    c = login(server, user, resource=resource, presence="")
    c.send("<enable xmlns='%s'%s/>" % (NS_SM, " resume='true'" if resume else ""))
    en = c.wait_for(lambda e: is_sm(e, "enabled") or is_sm(e, "failed"), what="<enabled/>")
    assert is_sm(en, "enabled"), dump(en)
    c.h = 0
    c.previd = en.get("id")
    return c


def authed(server, user, conn=None):
    """A new authenticated stream (TLS, PLAIN, restart), not bound; returns (client, features)."""
    c = conn or rawxmpp.connect(server)[0]
    if conn is not None:
        c.open()
        c.starttls()
    kind, data = c.plain(user, PASSWORD)
    assert kind == "success", data
    feats = c.restart()
    return c, feats


def resume(server, user, previd, h, conn=None):
    c, feats = authed(server, user, conn)
    assert feats.find(q(NS_SM, "sm")) is not None, dump(feats)
    c.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, previd, h))
    el = c.wait_for(lambda e: is_sm(e, "resumed") or is_sm(e, "failed"), what="resume answer")
    c.h = 0
    return c, el


def send(c, to, body):
    c.send("<message to='%s' type='chat'><body>%s</body></message>" % (to, body))


def test_features_and_acks_both_ways(server):
    a = sm_login(server, fresh(server, "sa"), resume=False)
    assert a.previd is None
    for i in range(3):
        r = a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
        assert r.get("type") == "result", dump(r)
    # The server asks for acks on its own; its h counts our three iqs.
    a.send("<r xmlns='%s'/>" % NS_SM)
    ack = a.wait_for(lambda e: is_sm(e, "a"), what="<a/>")
    assert ack.get("h") == "3", dump(ack)
    a.send("<a xmlns='%s' h='3'/>" % NS_SM)
    # A second <enable/> is refused; the stream goes on.
    a.send("<enable xmlns='%s'/>" % NS_SM)
    f = a.wait_for(lambda e: is_sm(e, "failed"), what="<failed/>")
    assert rawxmpp.condition(f, rawxmpp.NS_STANZAS) == "unexpected-request", dump(f)
    r = a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result"
    a.close()


def test_server_requests_acks(server):
    a = sm_login(server, fresh(server, "sr"))
    b = login(server, fresh(server, "sb"))
    send(b, a.jid, "x")
    r = a.wait_for(lambda e: is_sm(e, "r"), what="the server's <r/>")
    assert r is not None
    a.close()
    b.close()


def test_resume_resends_unacked_exactly_once_in_order(server):
    user = fresh(server, "ra")
    a = sm_login(server, user)
    b = login(server, fresh(server, "rb"))
    for i in range(1, 4):
        send(b, a.jid, "m%d" % i)
    assert bodies(stanzas(a, 3)) == ["m1", "m2", "m3"]
    a.send("<a xmlns='%s' h='1'/>" % NS_SM)
    r = a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")  # our h: 1
    a.h += 1
    assert r.get("type") == "result"
    drop(a)
    assert server.wait_log(r"%s@localhost/r: connection lost, session kept" % user), server.log_text()[-2000:]
    send(b, a.jid, "m4")          # to the full JID, while detached
    send(b, J % user, "m5")       # to the bare JID: the detached session is still available
    b.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    c, el = resume(server, user, a.previd, 1)
    assert is_sm(el, "resumed"), dump(el)
    assert el.get("previd") == a.previd and el.get("h") == "1", dump(el)
    # Everything after h=1 again: m2, m3, the ping's result, then what came while detached.
    got = stanzas(c, 5, "resent stanzas")
    assert bodies(got) == ["m2", "m3", "m4", "m5"], [dump(e) for e in got]
    assert got[2].tag == q(NS_CLIENT, "iq") and got[2].get("type") == "result", dump(got[2])
    nothing(c, is_message)
    # The session goes on: its JID, its presence, new messages.
    send(b, a.jid, "m6")
    assert bodies(stanzas(c, 1)) == ["m6"]
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result"
    c.close()
    b.close()


def test_resume_takes_over_a_connection_still_open(server):
    user = fresh(server, "ta")
    a = sm_login(server, user)
    b = login(server, fresh(server, "tb"))
    send(b, a.jid, "t1")
    stanzas(a, 1)
    # The client noticed the loss before the server did: the old stream is still up.
    c, el = resume(server, user, a.previd, 0)
    assert is_sm(el, "resumed"), dump(el)
    assert bodies(stanzas(c, 1)) == ["t1"]
    assert a.stream_error() == "conflict"
    send(b, a.jid, "t2")
    assert bodies(stanzas(c, 1)) == ["t2"]
    c.close()
    a.close()
    b.close()


def worker_of(server, port):
    for e in server.connections():
        if e.get("peer", "").endswith("]:%d" % port):
            return e.get("worker")
    return None


def test_resume_from_a_connection_on_another_worker(server):
    user = fresh(server, "wa")
    a = sm_login(server, user)
    b = login(server, fresh(server, "wb"))
    send(b, a.jid, "w1")
    stanzas(a, 1)
    drop(a)
    assert server.wait_log(r"%s@localhost/r: connection lost" % user)
    det = [e for e in server.connections() if e.get("state") == "detached" and
           e.get("jid") == a.jid]
    assert len(det) == 1 and det[0]["unacked"] == 1, det
    home = det[0]["worker"]
    assert any(" c2s detached - %s " % a.jid in line + " "
               for line in server.ctl_ok("connections").splitlines()), server.ctl_ok("connections")
    # The listener spreads new connections over the workers: take one accepted elsewhere.
    spare, conn = [], None
    for _ in range(6):
        cand = rawxmpp.RawClient(server.port)
        if worker_of(server, cand.local_port) not in (None, home):
            conn = cand
            break
        spare.append(cand)
    for s in spare:
        s.close()
    assert conn is not None, "no connection landed on another worker"
    c, el = resume(server, user, a.previd, 0, conn=conn)
    assert is_sm(el, "resumed"), dump(el)
    assert bodies(stanzas(c, 1)) == ["w1"]
    assert not [e for e in server.connections() if e.get("state") == "detached" and
                e.get("jid") == a.jid]
    c.close()
    b.close()


def test_failed_resumptions(server):
    user = fresh(server, "fa")
    c, el = resume(server, user, "0123456789abcdef0123456789abcdef", 0)
    assert is_sm(el, "failed") and el.get("h") is None, dump(el)
    assert rawxmpp.condition(el, rawxmpp.NS_STANZAS) == "item-not-found", dump(el)
    c.bind("after-failure")          # the stream goes on: a new session may be bound
    c.close()
    a = sm_login(server, user)
    drop(a)
    assert server.wait_log(r"%s@localhost/r: connection lost" % user)
    # h beyond what the server sent: refused, the session stays resumable.
    c, el = resume(server, user, a.previd, 5)
    assert is_sm(el, "failed"), dump(el)
    assert rawxmpp.condition(el, rawxmpp.NS_STANZAS) == "undefined-condition", dump(el)
    c.close()
    c, el = resume(server, user, a.previd, 0)
    assert is_sm(el, "resumed"), dump(el)
    c.close()


def test_ack_beyond_sent_is_a_stream_error(server):
    a = sm_login(server, fresh(server, "aa"))
    a.send("<a xmlns='%s' h='1'/>" % NS_SM)
    assert a.stream_error() == "undefined-condition"
    a.close()


def test_window_expiry_stores_messages_and_answers_iq(make_server):
    srv = make_server({"xmpp.receiving.sm_resume_timeout": "1",
                       "xmpp.receiving.ping_interval": "0"})
    user = fresh(srv, "ea")
    a = sm_login(srv, user)
    b = login(srv, fresh(srv, "eb"))
    send(b, a.jid, "kept")
    b.send("<iq type='get' id='v1' to='%s'><query xmlns='jabber:iq:version'/></iq>" % a.jid)
    stanzas(a, 2)
    a.send("<r xmlns='%s'/>" % NS_SM)       # one stanza of ours counted: h=0 (nonzas are not)
    assert a.wait_for(lambda e: is_sm(e, "a")).get("h") == "0"
    drop(a)
    assert srv.wait_log(r"%s@localhost/r: not resumed within 1 s" % user, timeout=10), srv.log_text()[-3000:]
    r = b.wait_for(lambda e: e.get("id") == "v1", what="iq error after expiry")
    assert r.get("type") == "error", dump(r)
    assert rawxmpp.stanza_error(r)[1] == "recipient-unavailable", dump(r)
    c, el = resume(srv, user, a.previd, 0)
    assert is_sm(el, "failed") and el.get("h") == "0", dump(el)
    assert rawxmpp.condition(el, rawxmpp.NS_STANZAS) == "item-not-found"
    c.close()
    d = login(srv, user, resource="again")
    d.send("<presence/>")
    m = d.wait_for(is_message, what="the unacknowledged message from offline storage")
    assert m.findtext(q(NS_CLIENT, "body")) == "kept", dump(m)
    nothing(d, is_message)
    d.close()
    b.close()


def test_unacked_limit_closes_and_keeps_messages(make_server):
    srv = make_server({"xmpp.receiving.sm_max_unacked": "5",
                       "xmpp.receiving.ping_interval": "0"})
    user = fresh(srv, "la")
    a = sm_login(srv, user)
    b = login(srv, fresh(srv, "lb"))
    for i in range(8):
        send(b, a.jid, "l%d" % i)
    assert a.stream_error() == "policy-violation"
    a.close()
    b.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    d = login(srv, user, resource="d")
    d.send("<presence/>")
    got = []
    while True:
        try:
            got.append(d.wait_for(is_message, timeout=1.5))
        except AssertionError:
            break
    assert bodies(got) == ["l%d" % i for i in range(8)], [dump(e) for e in got]
    d.close()
    b.close()


def test_sigterm_moves_unacked_to_offline(make_server):
    srv = make_server({"xmpp.receiving.ping_interval": "0"})
    u1, u2 = fresh(srv, "ka"), fresh(srv, "kd")
    a = sm_login(srv, u1)                 # attached at shutdown
    d = sm_login(srv, u2)                 # detached at shutdown
    b = login(srv, fresh(srv, "kb"))
    send(b, a.jid, "s1")
    send(b, d.jid, "s2")
    stanzas(a, 1)
    stanzas(d, 1)
    drop(d)
    assert srv.wait_log(r"%s@localhost/r: connection lost" % u2)
    problems = srv.stop()
    assert not problems, problems
    a.close()
    b.close()
    srv2 = make_server({"xmpp.receiving.ping_interval": "0"}, datadir=srv.datadir)
    for user, body in ((u1, "s1"), (u2, "s2")):
        c = login(srv2, user, resource="n")
        c.send("<presence/>")
        m = c.wait_for(is_message, what="%s's unacknowledged message" % user)
        assert m.findtext(q(NS_CLIENT, "body")) == body, dump(m)
        nothing(c, is_message)
        c.close()


def chat_state(c, to, state):
    c.send("<message to='%s' type='chat'><%s xmlns='%s'/></message>" % (to, state, NS_CHATSTATES))


def test_csi_holds_presence_and_chat_states(server):
    a = login(server, fresh(server, "ca"), presence="")
    b = login(server, fresh(server, "cb"), presence="")
    a.send("<inactive xmlns='%s'/>" % NS_CSI)
    a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    chat_state(b, a.jid, "composing")
    chat_state(b, a.jid, "paused")
    b.send("<presence to='%s'><status>one</status></presence>" % a.jid)
    b.send("<presence to='%s'><status>two</status></presence>" % a.jid)
    b.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    nothing(a, lambda e: is_message(e) or is_presence(e, frm=b.jid), 0.6)
    a.send("<active xmlns='%s'/>" % NS_CSI)
    m = a.wait_for(lambda e: is_message(e) or is_presence(e, frm=b.jid), what="flushed")
    p = a.wait_for(lambda e: is_message(e) or is_presence(e, frm=b.jid), what="flushed")
    assert is_message(m) and m.find(q(NS_CHATSTATES, "paused")) is not None, dump(m)
    assert is_presence(p) and p.findtext(q(NS_CLIENT, "status")) == "two", dump(p)
    nothing(a, lambda e: is_message(e) or is_presence(e, frm=b.jid), 0.4)
    # A message with a body goes at once, after what was held.
    a.send("<inactive xmlns='%s'/>" % NS_CSI)
    a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    chat_state(b, a.jid, "composing")
    send(b, a.jid, "now")
    s = a.wait_for(is_message, what="held chat state")
    n = a.wait_for(is_message, what="urgent message")
    assert s.find(q(NS_CHATSTATES, "composing")) is not None, dump(s)
    assert n.findtext(q(NS_CLIENT, "body")) == "now", dump(n)
    a.close()
    b.close()


def test_slixmpp_resumes_after_abrupt_loss(server):
    """slixmpp's xep_0198 plugin: the TCP connection is aborted mid-stream, the client resumes,
    and every message arrives exactly once, in order."""
    import asyncio
    import slix
    user = fresh(server, "xa")
    b = login(server, fresh(server, "xb"))

    async def go():
        c = slix.Client(server, J % user, PASSWORD, mech="PLAIN")
        x = c.xmpp
        x.register_plugin("xep_0198")
        enabled, resumed = asyncio.Event(), asyncio.Event()
        x.add_event_handler("sm_enabled", lambda *_: enabled.set())
        x.add_event_handler("session_resumed", lambda *_: resumed.set())
        x.add_event_handler("session_start", lambda *_: x.send_presence())
        assert await c.connect() == "session"
        await asyncio.wait_for(enabled.wait(), 5)
        full = str(x.boundjid)
        for i in range(10):
            send(b, full, "n%d" % i)
        assert await c.wait_message(lambda m: m["body"] == "n4") is not None
        x.transport.abort()                       # no closing tag, no TCP FIN from a stream end
        for i in range(10, 20):
            send(b, full, "n%d" % i)
        b.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
        x.connect(("127.0.0.1", server.port), use_ssl=False, force_starttls=True,
                  disable_starttls=False)
        await asyncio.wait_for(resumed.wait(), 10)
        assert await c.wait_message(lambda m: m["body"] == "n19", timeout=5) is not None
        await asyncio.sleep(0.5)                  # duplicates would come now
        got = [m["body"] for m in c.messages if m["body"]]
        await c.close()
        return got

    got = slix.run(go(), 40)
    assert got == ["n%d" % i for i in range(20)], got
    b.close()


def test_clean_close_ends_the_session(server):
    user = fresh(server, "cc")
    a = sm_login(server, user)
    b = login(server, fresh(server, "cd"))
    send(b, a.jid, "c1")
    stanzas(a, 1)
    a.end()                              # </stream:stream>: the client is done
    assert a.wait_closed()
    assert server.wait_log(r"session ended for %s@localhost/r" % user)
    c, el = resume(server, user, a.previd, 0)
    assert is_sm(el, "failed"), dump(el)
    assert not server.log_text().count("%s@localhost/r: connection lost" % user)
    c.close()
    b.close()


NS_PUSH = "urn:xmpp:push:0"
NS_XDATA = "jabber:x:data"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"


def push_form(el):
    """{var: value} of the summary form in a push notification iq."""
    x = el.find(".//" + q(NS_PUSH, "notification") + "/" + q(NS_XDATA, "x"))
    assert x is not None, dump(el)
    return {f.get("var"): f.findtext(q(NS_XDATA, "value")) for f in x.findall(q(NS_XDATA, "field"))}


def is_push_iq(el):
    return el.tag == q(NS_CLIENT, "iq") and el.get("type") == "set" and \
        el.find(q(NS_PUBSUB, "pubsub")) is not None


def test_push_notifications_to_app_server(server):
    app = login(server, fresh(server, "app"), resource="srv")   # the app server, a local JID
    user = fresh(server, "pu")
    a = sm_login(server, user)
    info = a.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=J % user)
    assert NS_PUSH in [f.get("var") for f in info.iter(q("http://jabber.org/protocol/disco#info",
                                                            "feature"))], dump(info)
    r = a.iq("set", "<enable xmlns='%s' jid='%s' node='n1'><x xmlns='%s' type='submit'>"
             "<field var='FORM_TYPE'><value>%s#publish-options</value></field>"
             "<field var='secret'><value>s3cr3t</value></field></x></enable>"
             % (NS_PUSH, app.jid, NS_XDATA, NS_PUBSUB))
    assert r.get("type") == "result", dump(r)
    b = login(server, fresh(server, "pv"))
    send(b, a.jid, "online")                   # attached: no notification
    assert bodies(stanzas(a, 1)) == ["online"]
    drop(a)
    assert server.wait_log(r"%s@localhost/r: connection lost" % user)
    nothing(app, is_push_iq, 0.3)
    send(b, a.jid, "p1")
    n = app.wait_for(is_push_iq, what="first notification")
    assert n.get("from") == J % user, dump(n)
    assert n.find(q(NS_PUBSUB, "pubsub") + "/" + q(NS_PUBSUB, "publish")).get("node") == "n1"
    form = push_form(n)
    assert form["FORM_TYPE"] == "urn:xmpp:push:summary", form
    assert form["message-count"] == "1" and form["last-message-sender"] == b.jid, form
    assert "last-message-body" not in form, form
    opts = n.find(q(NS_PUBSUB, "pubsub") + "/" + q(NS_PUBSUB, "publish-options"))
    assert opts is not None and "s3cr3t" in dump(opts), dump(n)
    app.send("<iq type='result' id='%s' to='%s'/>" % (n.get("id"), n.get("from")))
    send(b, a.jid, "p2")
    n = app.wait_for(is_push_iq, what="second notification")
    assert push_form(n)["message-count"] == "2"
    # An error from the app server removes the registration.
    app.send("<iq type='error' id='%s' to='%s'><error type='cancel'><item-not-found xmlns='%s'/>"
             "</error></iq>" % (n.get("id"), n.get("from"), rawxmpp.NS_STANZAS))
    assert server.wait_log(r"push registration of %s@localhost at %s removed" % (user, app.jid))
    send(b, a.jid, "p3")
    nothing(app, is_push_iq, 0.6)
    c, el = resume(server, user, a.previd, 0)
    assert is_sm(el, "resumed"), dump(el)
    got = []
    while len(got) < 4:
        got.append(c.wait_for(is_message, what="resent message"))
    assert bodies(got) == ["online", "p1", "p2", "p3"]
    c.close()
    b.close()
    app.close()


def test_client_max_shortens_the_window(server):
    user = fresh(server, "mx")
    a = login(server, user, presence="")
    a.send("<enable xmlns='%s' resume='true' max='1'/>" % NS_SM)
    en = a.wait_for(lambda e: is_sm(e, "enabled"), what="<enabled/>")
    assert en.get("max") == "1" and en.get("id"), dump(en)
    drop(a)
    assert server.wait_log(r"%s@localhost/r: not resumed within 1 s" % user, timeout=10)


def test_keepalive_asks_for_acks_instead_of_pings(make_server):
    srv = make_server({"xmpp.receiving.ping_interval": "1"})
    a = sm_login(srv, fresh(srv, "kp"))
    seen = []
    for _ in range(2):
        r = a.wait_for(lambda e: is_sm(e, "r") or is_stanza(e), timeout=3, what="keepalive")
        seen.append(r)
        a.send("<a xmlns='%s' h='%d'/>" % (NS_SM, a.h))
    assert all(is_sm(e, "r") for e in seen), [dump(e) for e in seen]
    r = a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")   # still open
    assert r.get("type") == "result"
    a.close()


def test_push_while_inactive(server):
    app = login(server, fresh(server, "apq"), resource="srv")
    user = fresh(server, "pi")
    a = sm_login(server, user)
    r = a.iq("set", "<enable xmlns='%s' jid='%s' node='n2'/>" % (NS_PUSH, app.jid))
    assert r.get("type") == "result", dump(r)
    b = login(server, fresh(server, "pj"))
    send(b, a.jid, "awake")
    assert bodies(stanzas(a, 1)) == ["awake"]
    nothing(app, is_push_iq, 0.3)               # active: no notification
    a.send("<inactive xmlns='%s'/>" % NS_CSI)
    a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    send(b, a.jid, "asleep")
    assert bodies(stanzas(a, 1)) == ["asleep"]  # still delivered at once
    n = app.wait_for(is_push_iq, what="notification while inactive")
    assert push_form(n)["message-count"] == "1", dump(n)
    assert n.find(".//" + q(NS_PUBSUB, "publish")).get("node") == "n2"
    a.close()
    b.close()
    app.close()
