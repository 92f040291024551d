"""test_s2s.py: two Starling servers federating over loopback (a.test on 127.0.0.2, b.test on
127.0.0.3, static routes): messages, iq, presence, dialback and SASL EXTERNAL, idle close and
reopen, a remote server killed and restarted, bounces, spoofing refused, `starlingctl queues`."""

import os
import time

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, NS_STANZAS, q
from s2s_helpers import (DOM_A, DOM_B, HOST_A, HOST_B, PASSWORD, S2SCA, in_conns, link, login,
                         out_conns, queues, set_route, start, wait_message, wait_until)

pytestmark = pytest.mark.own_server


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return S2SCA(str(tmp_path_factory.mktemp("s2s-ca")))


def pair(make_server, ca=None, opts_a=None, opts_b=None, ca_b=None, **kw):
    a = start(make_server, DOM_A, HOST_A, ca=ca, options=opts_a, **kw)
    b = start(make_server, DOM_B, HOST_B, ca=ca_b if ca_b is not None else ca, options=opts_b)
    link(a, b)
    a.add_account("alice@" + DOM_A, PASSWORD)
    b.add_account("bob@" + DOM_B, PASSWORD)
    return a, b


def chat(src, dst_jid, body):
    src.send("<message to='%s' type='chat' id='m-%s'><body>%s</body></message>"
             % (dst_jid, body, body))


def test_message_both_ways_dialback(make_server):
    """Self-signed certificates (no s2s CA): both directions authenticate by dialback."""
    a, b = pair(make_server)
    alice = login(a, "alice")
    bob = login(b, "bob")
    chat(alice, "bob@b.test", "hello-bob")
    m = wait_message(bob, "hello-bob")
    assert m.get("from") == "alice@a.test/r1"
    assert m.get("to").startswith("bob@b.test")
    chat(bob, "alice@a.test/r1", "hello-alice")
    m = wait_message(alice, "hello-alice")
    assert m.get("from") == "bob@b.test/r1"
    outs = out_conns(a)
    assert len(outs) == 1 and outs[0]["mechanism"] == "dialback", outs
    assert outs[0]["tls"] and outs[0]["jid"] == "a.test -> b.test"
    ins = in_conns(b)
    assert any(c.get("mechanism") == "dialback" for c in ins), ins
    qs = [x for x in queues(a) if x["target"] == DOM_B]
    assert qs and qs[0]["state"] == "connected" and qs[0]["source"] == DOM_A
    assert qs[0]["connection"] == outs[0]["id"] and qs[0]["stanzas"] == 0
    text = a.ctl_ok("queues")
    assert 'b.test a.test "connected" stanzas=0 bytes=0' in text
    assert a.wait_log(r"XMPPO.*a\.test -> b\.test: authenticated \(dialback\)")
    alice.close()
    bob.close()


def test_sasl_external_forced(make_server, ca):
    """CA-signed certificates on both sides and dialback refused: SASL EXTERNAL only."""
    no_db = {"xmpp.receiving.dialback": "no", "xmpp.sending.dialback": "no"}
    a, b = pair(make_server, ca, opts_a=no_db, opts_b=no_db)
    alice = login(a, "alice")
    bob = login(b, "bob")
    chat(alice, "bob@b.test", "via-external")
    wait_message(bob, "via-external")
    chat(bob, "alice@a.test", "back-via-external")
    wait_message(alice, "back-via-external")
    assert out_conns(a)[0]["mechanism"] == "SASL EXTERNAL"
    assert out_conns(b)[0]["mechanism"] == "SASL EXTERNAL"
    assert any(c.get("mechanism") == "SASL EXTERNAL" for c in in_conns(b))
    assert b.wait_log(r"XMPPI.*a\.test authenticated for all local domains \(SASL EXTERNAL\)")
    alice.close()
    bob.close()


def test_dialback_forced_with_valid_certificates(make_server, ca):
    """b.test trusts no CA, so it never offers EXTERNAL: a.test must use dialback (b.test
    verifies the key over its own connection to a.test, which uses SASL EXTERNAL since a.test
    trusts b.test's certificate)."""
    a, b = pair(make_server, ca, ca_b=None, opts_b={"tls.s2s_ca_file": ""})
    alice = login(a, "alice")
    bob = login(b, "bob")
    chat(alice, "bob@b.test", "forced-dialback")
    wait_message(bob, "forced-dialback")
    assert out_conns(a)[0]["mechanism"] == "dialback"
    chat(bob, "alice@a.test", "dialback-back")
    wait_message(alice, "dialback-back")
    assert out_conns(b)[0]["mechanism"] == "SASL EXTERNAL"
    assert b.wait_log(r"dialback: verifying a\.test with its authoritative server")
    alice.close()
    bob.close()


def test_no_common_method_bounces(make_server):
    """Dialback refused and no valid certificate: nothing can authenticate; the message comes
    back as remote-server-not-found after the queue timeout."""
    a, b = pair(make_server, opts_a={"xmpp.sending.queue_timeout": "3"},
                opts_b={"xmpp.receiving.dialback": "no"})
    alice = login(a, "alice")
    chat(alice, "bob@b.test", "never")
    err = wait_message(alice, type_="error", timeout=20)
    assert err.find("{jabber:client}error/{%s}remote-server-not-found" % NS_STANZAS) is not None
    alice.close()


def test_iq_across(make_server):
    a, b = pair(make_server)
    alice = login(a, "alice")
    r = alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=DOM_B, timeout=15)
    assert r.get("type") == "result" and r.get("from") == DOM_B
    r = alice.iq("get", "<query xmlns='jabber:iq:version'/>", to=DOM_B, timeout=15)
    assert r.get("type") == "result"
    assert r.find("{jabber:iq:version}query/{jabber:iq:version}name").text
    # An iq to a full JID that does not exist comes back as an error from b.test.
    r = alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="bob@b.test/nowhere", timeout=15)
    assert r.get("type") == "error"
    # The answers travelled on b.test's own queue back to a.test.
    assert any(x["target"] == DOM_A for x in queues(b))
    alice.close()


def test_idle_close_and_reopen(make_server):
    a, b = pair(make_server, opts_a={"xmpp.sending.idle_timeout": "2"})
    alice = login(a, "alice")
    bob = login(b, "bob")
    chat(alice, "bob@b.test", "first")
    wait_message(bob, "first")
    first = out_conns(a)[0]["id"]
    wait_until(lambda: not out_conns(a), 10, "the idle outgoing connection to close")
    assert a.wait_log(r"a\.test -> b\.test: connection closed: idle")
    assert [x["state"] for x in queues(a) if x["target"] == DOM_B] in ([], ["idle"])
    chat(alice, "bob@b.test", "second")
    wait_message(bob, "second")
    again = out_conns(a)
    assert again and again[0]["id"] != first
    alice.close()
    bob.close()


def test_remote_killed_and_restarted(make_server, tmp_path):
    a = start(make_server, DOM_A, HOST_A)
    bdir = str(tmp_path / "b")
    os.makedirs(bdir)
    b = start(make_server, DOM_B, HOST_B, datadir=bdir)
    link(a, b)
    a.add_account("alice@" + DOM_A, PASSWORD)
    b.add_account("bob@" + DOM_B, PASSWORD)
    alice = login(a, "alice")
    bob = login(b, "bob")
    chat(alice, "bob@b.test", "before")
    wait_message(bob, "before")
    bob.close()
    b.proc.kill()
    b.proc.wait(5)
    b.stopped = True
    chat(alice, "bob@b.test", "while-down")
    wait_until(lambda: [x for x in queues(a) if x["target"] == DOM_B
                        and x["state"] == "waiting to retry" and x["stanzas"] == 1],
               15, "the queue to wait for a retry")
    b2 = start(make_server, DOM_B, HOST_B, datadir=bdir)
    link(a, b2)
    # bob is offline on the restarted server; the message must be delivered once he logs in
    # (offline storage) or be answered — either way it left a.test's queue.
    bob = login(b2, "bob")
    chat(alice, "bob@b.test/r1", "after")
    wait_message(bob, "after", timeout=30)
    wait_until(lambda: all(x["stanzas"] == 0 for x in queues(a)), 10, "an empty queue")
    alice.close()
    bob.close()


def test_bounce_after_queue_timeout(make_server):
    """A domain whose server refuses connections: the queue retries, then bounces messages
    and iq (remote-server-not-found) but never presence."""
    import socket
    # The queue holds the stanzas for queue_timeout seconds: long enough to be seen waiting
    # even on a slow (sanitizer) build.
    a = start(make_server, DOM_A, HOST_A, options={"xmpp.sending.queue_timeout": "8"})
    a.add_account("alice@" + DOM_A, PASSWORD)
    s = socket.socket()
    s.bind(("127.0.0.4", 0))
    dead_port = s.getsockname()[1]
    s.close()  # nothing listens there now
    a.ctl_ok("settings", "set", "xmpp.sending.routes", "c.test=127.0.0.4:%d" % dead_port)
    alice = login(a, "alice")
    t0 = time.monotonic()
    alice.send("<presence to='carol@c.test' type='subscribe'/>")
    chat(alice, "carol@c.test", "lost")
    wait_until(lambda: [x for x in queues(a) if x["target"] == "c.test"
                        and x["state"] == "waiting to retry" and x["stanzas"] == 2
                        and "refused" in (x.get("error") or "")], 7, "waiting to retry")
    err = wait_message(alice, type_="error", timeout=20)
    assert time.monotonic() - t0 >= 7.5
    assert err.get("from") == "carol@c.test"
    assert err.find("{jabber:client}error/{%s}remote-server-not-found" % NS_STANZAS) is not None
    # The presence was dropped silently: no presence error arrives.
    with pytest.raises(Exception):
        alice.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "error",
                       1.5)
    # The two stanzas may expire in one timer tick or in two: the count per record varies.
    assert a.wait_log(r"a\.test -> c\.test: \d+ stanza\(s\) bounced \(remote-server-not-found\)")
    alice.close()


def test_bounce_timeout_when_server_is_silent(make_server):
    """A server that accepts TCP but never speaks: connect_timeout, then the stanza bounces
    with remote-server-timeout."""
    import socket
    a = start(make_server, DOM_A, HOST_A, options={"xmpp.sending.queue_timeout": "3",
                                                   "xmpp.sending.connect_timeout": "1"})
    a.add_account("alice@" + DOM_A, PASSWORD)
    silent = socket.socket()
    silent.bind(("127.0.0.4", 0))
    silent.listen(16)
    try:
        a.ctl_ok("settings", "set", "xmpp.sending.routes",
                 "d.test=127.0.0.4:%d" % silent.getsockname()[1])
        alice = login(a, "alice")
        r = alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="d.test", timeout=20)
        assert r.get("type") == "error"
        assert r.find("{jabber:client}error/{%s}remote-server-timeout" % NS_STANZAS) is not None
        alice.close()
    finally:
        silent.close()


class S2SRaw(rawxmpp.RawClient):
    """A raw server-to-server client (jabber:server stream)."""

    def open_s2s(self, frm, to, timeout=None):
        self._reset_parser()
        self.send(rawxmpp.header(to=to, xmlns="jabber:server",
                                 extra=" from='%s' xmlns:db='jabber:server:dialback'" % frm))
        self.wait_header(timeout)
        return self.expect(q(rawxmpp.NS_STREAM, "features"), timeout)


def test_stanza_before_auth_refused(make_server):
    b = start(make_server, DOM_B, HOST_B)
    c = S2SRaw(b.port, host=HOST_B, sni=DOM_B)
    c.open_s2s("evil.test", DOM_B)
    c.send("<message from='x@evil.test' to='bob@b.test'><body>x</body></message>")
    assert c.stream_error() == "not-authorized"


def test_forged_dialback_key_refused(make_server):
    """Someone claims to be a.test with a made-up key: b.test asks a.test, which says invalid;
    stanzas claiming a.test are then refused with invalid-from."""
    a, b = pair(make_server)
    bob = login(b, "bob")
    c = S2SRaw(b.port, host=HOST_B, sni=DOM_B)
    c.open_s2s(DOM_A, DOM_B)
    c.send("<starttls xmlns='%s'/>" % rawxmpp.NS_TLS)
    c.expect(q(rawxmpp.NS_TLS, "proceed"))
    c._wrap_tls()
    feats = c.open_s2s(DOM_A, DOM_B)
    assert feats.find("{urn:xmpp:features:dialback}dialback") is not None
    c.send("<db:result from='a.test' to='b.test'>%s</db:result>" % ("0" * 64))
    r = c.expect("{jabber:server:dialback}result", timeout=15)
    assert r.get("type") == "invalid"
    c.send("<message from='alice@a.test/x' to='bob@b.test' type='chat'><body>spoof</body>"
           "</message>")
    # Nothing was authenticated on this stream.
    assert c.stream_error() == "not-authorized"
    with pytest.raises(Exception):
        wait_message(bob, "spoof", timeout=1.5)
    assert a.wait_log(r"dialback: key for a\.test -> b\.test is invalid")
    bob.close()


def external_stream(srv, ca, folder, name="evil.test"):
    """A raw s2s stream to `srv` from `name` over TLS with a certificate `ca` issued for it;
    returns it at the stream features after TLS (SASL not done yet) and the features."""
    import ssl
    crt, key = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    if not os.path.exists(crt):
        ca.issue(name, crt, key)
    c = S2SRaw(srv.port, host=srv.host, sni=srv.domain)
    c.open_s2s(name, srv.domain)
    c.send("<starttls xmlns='%s'/>" % rawxmpp.NS_TLS)
    c.expect(q(rawxmpp.NS_TLS, "proceed"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(crt, key)
    c.sock = ctx.wrap_socket(c.sock, server_hostname=srv.domain)
    c.tls = True
    c._reset_parser()
    return c, c.open_s2s(name, srv.domain)


def external_session(srv, ca, folder, name="evil.test"):
    """external_stream() authenticated by SASL EXTERNAL as `name`, its stream restarted."""
    c, _ = external_stream(srv, ca, folder, name)
    c.sasl_auth("EXTERNAL", b"")
    assert c.sasl_next()[0] == "success"
    c.open_s2s(name, srv.domain)
    return c


def test_spoofed_from_refused_after_external(make_server, ca, tmp_path):
    """A peer authenticated as evil.test (valid certificate) may not send as a.test, and may not
    claim a.test as its SASL identity."""
    b = start(make_server, DOM_B, HOST_B, ca=ca)
    b.add_account("bob@" + DOM_B, PASSWORD)
    bob = login(b, "bob")
    c, feats = external_stream(b, ca, str(tmp_path))
    assert "EXTERNAL" in rawxmpp.mechanisms(feats)
    c.sasl_auth("EXTERNAL", b"a.test")
    kind, cond = c.sasl_next()
    assert (kind, cond) == ("failure", "not-authorized")
    c.close()
    c = external_session(b, ca, str(tmp_path))
    c.send("<message from='bob2@evil.test' to='bob@b.test' type='chat'><body>legit</body>"
           "</message>")
    wait_message(bob, "legit")
    c.send("<message from='alice@a.test' to='bob@b.test' type='chat'><body>spoof</body>"
           "</message>")
    assert c.stream_error() == "invalid-from"
    bob.close()


def test_bad_stanza_from_remote_answered(make_server, ca, tmp_path):
    """A message from a remote server that cannot become a signal (an unknown type) is answered
    with bad-request through the queue to the sender's domain, not dropped."""
    b = start(make_server, DOM_B, HOST_B, ca=ca, options={"xmpp.sending.queue_timeout": "2"})
    set_route(b, "evil.test=127.0.0.9:9")
    b.add_account("bob@" + DOM_B, PASSWORD)
    c = external_session(b, ca, str(tmp_path))
    c.send("<message from='x@evil.test/r' to='bob@b.test' type='bogus' id='bad1'>"
           "<body>?</body></message>")
    assert b.wait_log(r"XMPPI.*stanza refused: bad-request")
    assert b.wait_log(r"b\.test -> evil\.test: opening a connection", 10)
    # evil.test cannot be reached: the queued answer is an error, so it is not answered again.
    assert b.wait_log(r"b\.test -> evil\.test: 0 stanza\(s\) bounced \([a-z-]+\), 1 presence or "
                      r"error stanza\(s\) dropped", 15)
    c.close()


# ---- Presence across servers. These depend on the IM core (roster and presence, issue of the
# ---- other engineer): the subscription state machine and probes live there; s2s only carries
# ---- the SUBSCRIBE / NOTIFY signals.

def is_presence(frm=None, type_=None):
    def pred(e):
        return (e.tag == q(NS_CLIENT, "presence") and (frm is None or e.get("from") == frm
                                                       or (e.get("from") or "").startswith(
                                                           frm + "/"))
                and e.get("type") == type_)
    return pred


def test_presence_subscription_and_probe(make_server):
    """[IM core] alice@a.test subscribes to bob@b.test, bob approves; alice gets bob's presence;
    a new session of alice probes b.test and gets it again."""
    a, b = pair(make_server)
    alice = login(a, "alice")
    bob = login(b, "bob")
    alice.send("<presence to='bob@b.test' type='subscribe'/>")
    sub = bob.wait_for(is_presence("alice@a.test", "subscribe"), 15, "subscribe from alice")
    assert sub.get("from") == "alice@a.test"
    bob.send("<presence to='alice@a.test' type='subscribed'/>")
    alice.wait_for(is_presence("bob@b.test", "subscribed"), 15, "subscribed from bob")
    alice.wait_for(is_presence("bob@b.test/r1", None), 15, "bob's presence")
    # A second session of alice: its initial presence makes a.test probe b.test.
    alice2 = login(a, "alice", resource="r2")
    alice2.wait_for(is_presence("bob@b.test/r1", None), 15, "bob's presence after a probe")
    assert b.wait_log(r"in: <presence[^>]*type='probe'")
    # bob goes offline: alice's sessions learn it across the servers.
    bob.send("<presence type='unavailable'/>")
    alice2.wait_for(is_presence("bob@b.test/r1", "unavailable"), 15, "bob unavailable")
    for c in (alice, alice2, bob):
        c.close()


def test_routes_setting_tls_flag(make_server):
    a = start(make_server, DOM_A, HOST_A)
    a.ctl_ok("settings", "set", "xmpp.sending.routes",
             "b.test=127.0.0.3:5269, c.test=127.0.0.4:15269/tls")
    got = a.ctl_ok("settings", "get", "xmpp.sending.routes").strip()
    assert got.endswith("b.test=127.0.0.3:5269, c.test=127.0.0.4:15269/tls"), got
    r = a.ctl("settings", "set", "xmpp.sending.routes", "c.test=127.0.0.4:99999/tls")
    assert r.returncode != 0


def test_direct_tls_route(make_server):
    """A /tls route reaches the peer's direct-TLS socket (XEP-0368 style)."""
    a, b = pair(make_server)
    a.ctl_ok("settings", "set", "xmpp.sending.routes", "b.test=%s:%d/tls" % (HOST_B, b.tls_port))
    alice = login(a, "alice")
    bob = login(b, "bob")
    chat(alice, "bob@b.test", "over-direct-tls")
    wait_message(bob, "over-direct-tls")
    assert b.wait_log(r"connection accepted on port %d \(TLS\)" % b.tls_port)
    alice.close()
    bob.close()


def test_carbon_of_remote_message_in_client_namespace(make_server):
    """A message from another server, carbon-copied to the recipient's other resource, is
    forwarded as a jabber:client <message/> (XEP-0297): no jabber:server on the client stream."""
    ns_carbons, ns_forward = "urn:xmpp:carbons:2", "urn:xmpp:forward:0"
    a, b = pair(make_server)
    alice = login(a, "alice")
    bob1 = login(b, "bob", "r1")
    bob2 = login(b, "bob", "r2")
    for c in (bob1, bob2):
        r = c.iq("set", "<enable xmlns='%s'/>" % ns_carbons)
        assert r.get("type") == "result", rawxmpp.dump(r)
    chat(alice, "bob@b.test/r1", "carbon-over-s2s")
    wait_message(bob1, "carbon-over-s2s")

    def is_carbon(e):
        return e.tag == q(NS_CLIENT, "message") and e.find(q(ns_carbons, "received")) is not None
    el = bob2.wait_for(is_carbon, 15, "the received carbon")
    inner = el.find("%s/%s/%s" % (q(ns_carbons, "received"), q(ns_forward, "forwarded"),
                                  q(NS_CLIENT, "message")))
    assert inner is not None, rawxmpp.dump(el)
    assert inner.findtext(q(NS_CLIENT, "body")) == "carbon-over-s2s"
    assert inner.get("from") == "alice@a.test/r1"
    assert b"jabber:server" not in bytes(bob2.raw)
    for c in (alice, bob1, bob2):
        c.close()
