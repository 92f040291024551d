"""test_s2s_muc.py: rooms across two Starling servers (a.test on 127.0.0.2, b.test on 127.0.0.3):
the chat service conference.b.test accepts incoming server streams and sends through its own
queues; a user of a.test joins and talks in a room of b.test and gets a mediated invitation; the
monitor shows the authenticated domain pairs of incoming streams; what cannot be routed comes
back as an error; a refused stream header names the domain that was asked for."""

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, NS_STANZAS, q
from s2s_helpers import (DOM_A, DOM_B, HOST_A, HOST_B, PASSWORD, in_conns, login, out_conns,
                         queues, set_route, start, subscribe_both_ways, wait_message, wait_until)
from test_s2s import S2SRaw

pytestmark = pytest.mark.own_server

NS_MUC = "http://jabber.org/protocol/muc"
NS_USER = "http://jabber.org/protocol/muc#user"
NS_OWNER = "http://jabber.org/protocol/muc#owner"
MUC_A, MUC_B = "conference." + DOM_A, "conference." + DOM_B


def link_with_services(a, b):
    """Static routes both ways for the account domains and the chat services."""
    set_route(a, "%s=%s:%d, %s=%s:%d" % (DOM_B, b.host, b.port, MUC_B, b.host, b.port))
    set_route(b, "%s=%s:%d, %s=%s:%d" % (DOM_A, a.host, a.port, MUC_A, a.host, a.port))


def codes(el):
    x = el.find(q(NS_USER, "x"))
    return set() if x is None else {int(s.get("code")) for s in x.findall(q(NS_USER, "status"))}


def join(c, room, nick, timeout=30):
    c.send("<presence to='%s/%s'><x xmlns='%s'/></presence>" % (room, nick, NS_MUC))
    return c.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence")
                      and e.get("from") == "%s/%s" % (room, nick) and 110 in codes(e),
                      timeout, "self-presence in %s" % room)


def create(c, room, nick):
    join(c, room, nick)
    r = c.iq("set", "<query xmlns='%s'><x xmlns='jabber:x:data' type='submit'/></query>"
             % NS_OWNER, to=room, timeout=30)
    assert r.get("type") == "result", rawxmpp.dump(r)


def say(c, room, text):
    c.send("<message type='groupchat' to='%s' id='g-%s'><body>%s</body></message>"
           % (room, text, text))


def wait_groupchat(c, room, nick, body, timeout=30):
    return c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message")
                      and e.get("type") == "groupchat" and e.get("from") == room + "/" + nick
                      and e.findtext(q(NS_CLIENT, "body")) == body, timeout,
                      "groupchat %r" % body)


def meet(owner, owner_nick, guest, guest_nick, room, timeout=30):
    """`owner` creates `room`, `guest` joins it, and each hears what the other says."""
    create(owner, room, owner_nick)
    join(guest, room, guest_nick, timeout)
    say(guest, room, "from-" + guest_nick)
    wait_groupchat(owner, room, guest_nick, "from-" + guest_nick)
    say(owner, room, "from-" + owner_nick)
    wait_groupchat(guest, room, owner_nick, "from-" + owner_nick)


def invite(c, room, to, reason):
    c.send("<message to='%s'><x xmlns='%s'><invite to='%s'><reason>%s</reason></invite></x>"
           "</message>" % (room, NS_USER, to, reason))


def wait_invite(c, room, reason, timeout=30):
    m = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("from") == room
                   and e.find(q(NS_USER, "x") + "/" + q(NS_USER, "invite")) is not None,
                   timeout, "invitation from %s" % room)
    inv = m.find(q(NS_USER, "x") + "/" + q(NS_USER, "invite"))
    assert inv.findtext(q(NS_USER, "reason")) == reason
    return inv


def servers(make_server, ca=None, options=None):
    kw_a, kw_b = {}, {}
    if ca is not None:
        # Certificates naming the chat services too (DNS:*.<domain>, as generated ones do).
        kw_a["prepare"] = ca.certs_for(DOM_A, ("*." + DOM_A,))
        kw_b["prepare"] = ca.certs_for(DOM_B, ("*." + DOM_B,))
    a = start(make_server, DOM_A, HOST_A, ca=ca, options=options, **kw_a)
    b = start(make_server, DOM_B, HOST_B, ca=ca, options=options, **kw_b)
    link_with_services(a, b)
    for user in ("alice", "carol"):
        a.add_account("%s@%s" % (user, DOM_A), PASSWORD)
    b.add_account("bob@" + DOM_B, PASSWORD)
    return a, b


def test_remote_user_joins_talks_and_is_invited(make_server):
    """alice@a.test joins a room of conference.b.test, alice and bob talk, and the room relays
    bob's invitation to carol@a.test (XEP-0045 §7.8.2): conference.b.test accepts a.test's
    stream and sends to a.test through its own queue."""
    a, b = servers(make_server)
    room = "lounge@" + MUC_B
    bob = login(b, "bob")
    create(bob, room, "bob")
    alice = login(a, "alice")
    carol = login(a, "carol")
    join(alice, room, "alice")
    bob.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence")
                 and e.get("from") == room + "/alice", 30, "alice's arrival")
    say(alice, room, "hello-from-a")
    wait_groupchat(bob, room, "alice", "hello-from-a")
    wait_groupchat(alice, room, "alice", "hello-from-a")
    say(bob, room, "hello-from-b")
    wait_groupchat(alice, room, "bob", "hello-from-b")
    invite(bob, room, "carol@" + DOM_A, "come-in")
    inv = wait_invite(carol, room, "come-in")
    assert inv.get("from", "").startswith("bob@" + DOM_B)
    # The chat service's stanzas left through its own queue (target, source).
    qs = [x for x in queues(b) if x["target"] == DOM_A and x["source"] == MUC_B]
    assert qs and qs[0]["state"] == "connected", queues(b)
    assert not b.log_text().count("is not local")
    # The incoming stream of a.test's users to the room shows its domain pair on b.test.
    pairs = wait_until(lambda: [c for c in in_conns(b)
                                if c.get("state") == "authenticated"
                                and "%s -> %s" % (DOM_A, MUC_B) in (c.get("jid") or "")],
                       15, "a.test -> conference.b.test on b.test")
    assert pairs[0]["mechanism"] == "dialback"
    text = b.ctl_ok("connections")
    assert "%s -> %s" % (DOM_A, MUC_B) in text, text
    for c in (alice, bob, carol):
        c.close()


def test_room_over_sasl_external(make_server, tmp_path):
    """With CA-issued certificates and dialback off on both sides, the chat service of b.test
    authenticates its own stream to a.test by SASL EXTERNAL: it presents its parent domain's
    certificate, which names it."""
    from s2s_helpers import S2SCA
    ca = S2SCA(str(tmp_path))
    no_db = {"xmpp.receiving.dialback": "no", "xmpp.sending.dialback": "no"}
    a, b = servers(make_server, ca, no_db)
    bob = login(b, "bob")
    alice = login(a, "alice")
    meet(bob, "bob", alice, "alice", "secure@" + MUC_B)
    outs = [c for c in out_conns(b) if c["jid"] == MUC_B + " -> " + DOM_A]
    assert outs and outs[0]["mechanism"] == "SASL EXTERNAL", out_conns(b)
    assert b.wait_log(r"conference\.b\.test -> a\.test: authenticated \(SASL EXTERNAL\)")
    alice.close()
    bob.close()


def test_local_user_joins_remote_room(make_server):
    """The mirror image: bob@b.test joins a room on conference.a.test."""
    a, b = servers(make_server)
    alice = login(a, "alice")
    bob = login(b, "bob")
    meet(alice, "alice", bob, "bob", "hall@" + MUC_A)
    alice.close()
    bob.close()


def test_incoming_connections_show_pairs_and_shutdown_keeps_them(make_server):
    """`starlingctl connections` shows an incoming s2s stream as authenticated with its pair
    (not 'negotiating' with no domain), and the records written when the servers stop name the
    pairs of both directions."""
    a, b = servers(make_server)
    alice = login(a, "alice")
    bob = login(b, "bob")
    alice.send("<message to='bob@b.test' type='chat'><body>ping-pair</body></message>")
    wait_message(bob, "ping-pair", timeout=30)
    ins = wait_until(lambda: [c for c in in_conns(b) if c.get("state") == "authenticated"],
                     15, "an authenticated incoming stream")
    assert ins[0]["jid"] == "a.test -> b.test", ins
    assert not [c for c in in_conns(b) if c.get("state") == "negotiating" and c.get("mechanism")]
    text = b.ctl_ok("connections")
    assert "a.test -> b.test" in text, text
    assert out_conns(a)[0]["jid"] == "a.test -> b.test"
    alice.close()
    bob.close()
    assert a.stop() == []
    assert b.stop() == []
    assert a.wait_log(r"XMPPO.*a\.test -> b\.test: connection closed: server shutdown")
    assert b.wait_log(r"XMPPI.*server stream closed: a\.test -> b\.test")


def test_refused_header_names_requested_domain(make_server):
    b = start(make_server, DOM_B, HOST_B)
    c = S2SRaw(b.port, host=HOST_B, sni=DOM_B)
    c._reset_parser()
    c.send(rawxmpp.header(to="elsewhere.test", xmlns="jabber:server",
                          extra=" from='a.test' xmlns:db='jabber:server:dialback'"))
    hdr = c.wait_header()
    assert hdr.get("from") == "elsewhere.test"
    assert c.stream_error() == "host-unknown"
    c.close()
    # The chat service is a local domain for s2s: its header is accepted.
    c = S2SRaw(b.port, host=HOST_B, sni=MUC_B)
    feats = c.open_s2s(DOM_A, MUC_B)
    assert feats.find(q(rawxmpp.NS_TLS, "starttls")) is not None
    c.close()


def test_room_message_to_unreachable_domain_bounces(make_server):
    """A stanza of the chat service for a domain with no server comes back as an error (it used
    to be dropped: 'the sender's domain conference.x is not local'); an iq from a user to a
    domain that is not a valid name is answered with remote-server-not-found."""
    a = start(make_server, DOM_A, HOST_A, options={"xmpp.sending.queue_timeout": "3"})
    set_route(a, "nowhere.test=127.0.0.9:9")
    a.add_account("alice@" + DOM_A, PASSWORD)
    alice = login(a, "alice")
    room = "void@" + MUC_A
    create(alice, room, "alice")
    # A private message through the room to an occupant-less remote JID is not possible; an
    # invitation is the room's own message to the remote user.
    invite(alice, room, "ghost@nowhere.test", "hello")
    assert a.wait_log(r"conference\.a\.test -> nowhere\.test: 1 stanza\(s\) bounced", 20)
    assert "is not local" not in a.log_text()
    r = alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="nowhere.test", timeout=20)
    assert r.get("type") == "error"
    assert r.find("{jabber:client}error/{%s}remote-server-not-found" % NS_STANZAS) is not None
    alice.close()


def presences(c, frm, seconds):
    """Every presence from `frm` (full JID) that reaches `c` within `seconds`."""
    import time
    got = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        try:
            el = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence")
                            and e.get("from") == frm, left, "presence")
        except AssertionError:
            return got
        got.append(el.get("type"))


def test_one_presence_each_at_logout_and_login(make_server):
    """A remote contact gets exactly one unavailable presence when the user logs out (with or
    without an unavailable presence of its own before the stream closes) and one available
    presence when the user logs in again."""
    a, b = servers(make_server)
    alice = login(a, "alice")
    bob = login(b, "bob")
    subscribe_both_ways(alice, "alice@a.test/r1", bob, "bob@b.test/r1")
    presences(alice, "bob@b.test/r1", 2)  # whatever the subscription flow still sends
    # Logout with an explicit unavailable presence, then the stream's end.
    bob.send("<presence type='unavailable'/>")
    bob.close()
    assert presences(alice, "bob@b.test/r1", 4) == ["unavailable"]
    # Login: one available presence.
    bob = login(b, "bob", resource="r2")
    assert presences(alice, "bob@b.test/r2", 4) == [None]
    # A client that also sends its presence directly to a contact who is a subscriber (some
    # do after an approval) still causes one unavailable presence at logout.
    bob.send("<presence to='alice@a.test'/>")
    assert presences(alice, "bob@b.test/r2", 3) == [None]
    # Logout by closing the stream only.
    bob.close()
    assert presences(alice, "bob@b.test/r2", 4) == ["unavailable"]
    alice.close()


def test_service_outside_its_domain_gets_a_certificate(make_server):
    """A chat service that DNS:*.<domain> does not cover gets a certificate of its own, and a
    remote server may open a stream to it."""
    import os
    import subprocess
    b = start(make_server, DOM_B, HOST_B)
    service = "rooms.elsewhere.test"
    b.ctl_ok("domain", "set", DOM_B, "chat_service=" + service)
    assert b.wait_log(r"generated a self-signed certificate for rooms\.elsewhere\.test")
    crt = os.path.join(b.datadir, "certs", service + ".crt")
    text = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-ext", "subjectAltName"],
                          check=True, capture_output=True, text=True).stdout
    assert "DNS:" + service in text, text
    # The default service's name is covered by b.test's own certificate: no file of its own.
    assert not os.path.exists(os.path.join(b.datadir, "certs", MUC_B + ".crt"))
    c = S2SRaw(b.port, host=HOST_B, sni=service)
    feats = c.open_s2s(DOM_A, service)
    assert c.header_attrs.get("from") == service
    assert feats.find(q(rawxmpp.NS_TLS, "starttls")) is not None
    c.close()
