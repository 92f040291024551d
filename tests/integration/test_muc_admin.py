"""test_muc_admin.py: XEP-0045 roles and affiliations, room types, persistence, destruction,
invitations, limits, room registration and a message posted by starlingctl send."""

import time

import pytest

import rawxmpp
from muchelp import (NS_ADMIN, NS_MUC, NS_OWNER, NS_USER, NS_XDATA, admin, codes, create,
                     instant, is_presence_from, item, join, join_error, room_jid, say, user,
                     wait_groupchat)
from rawxmpp import NS_CLIENT, q, stanza_error

SERVER_OPTIONS = {"muc.message_rate": "5", "muc.max_occupants": "4"}


def test_kick_voice_and_moderator(server):
    o = user(server, "kowner")
    p = user(server, "kpart")
    v = user(server, "kvictim")
    join(o, "kick", "Owner")
    instant(o, "kick")
    join(p, "kick", "Part")
    join(v, "kick", "Victim")
    # A participant cannot kick.
    r = admin(p, "kick", "<item nick='Victim' role='none'/>")
    assert stanza_error(r)[1] == "forbidden"
    # Voice revoked: the victim becomes a visitor and cannot speak.
    r = admin(o, "kick", "<item nick='Victim' role='visitor'/>")
    assert r.get("type") == "result", rawxmpp.dump(r)
    pr = v.wait_for(lambda e: is_presence_from(e, room_jid("kick") + "/Victim")
                    and item(e) is not None and item(e).get("role") == "visitor")
    say(v, "kick", "can I talk?")
    e = v.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "error")
    assert stanza_error(e) == ("auth", "forbidden")
    # Role list for moderators.
    r = admin(o, "kick", "<item role='visitor'/>", "get")
    assert [i.get("nick") for i in r.iter(q(NS_ADMIN, "item"))] == ["Victim"]
    # Grant moderator, then kick with a reason: status 307 for everyone.
    r = admin(o, "kick", "<item nick='Part' role='moderator'/>")
    assert r.get("type") == "result"
    r = admin(p, "kick", "<item nick='Victim' role='none'><reason>bye</reason></item>")
    assert r.get("type") == "result", rawxmpp.dump(r)
    pr = v.wait_for(lambda e: is_presence_from(e, room_jid("kick") + "/Victim", "unavailable"))
    assert {307, 110} <= codes(pr)
    assert item(pr).findtext(q(NS_USER, "reason")) == "bye"
    pr = o.wait_for(lambda e: is_presence_from(e, room_jid("kick") + "/Victim", "unavailable"))
    assert 307 in codes(pr)
    # A moderator (not admin) cannot kick the owner.
    r = admin(p, "kick", "<item nick='Owner' role='none'/>")
    assert stanza_error(r)[1] == "not-allowed"
    for c in (o, p, v):
        c.close()


def test_ban_and_member_lists(server):
    o = user(server, "bowner")
    b = user(server, "bbanned")
    m = user(server, "bmember")
    join(o, "ban", "Owner")
    instant(o, "ban")
    join(b, "ban", "Bad")
    r = admin(o, "ban", "<item jid='bbanned@localhost' affiliation='outcast'><reason>spam</reason>"
                        "</item>")
    assert r.get("type") == "result"
    pr = b.wait_for(lambda e: is_presence_from(e, room_jid("ban") + "/Bad", "unavailable"))
    assert 301 in codes(pr) and item(pr).get("affiliation") == "outcast"
    assert join_error(b, "ban", "Again") == ("auth", "forbidden")
    # Member list; the non-occupant member is told (status 101).
    r = admin(o, "ban", "<item jid='bmember@localhost' affiliation='member'/>")
    assert r.get("type") == "result"
    note = m.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and 101 in codes(e))
    assert item(note).get("affiliation") == "member"
    r = admin(o, "ban", "<item affiliation='outcast'/>", "get")
    assert [i.get("jid") for i in r.iter(q(NS_ADMIN, "item"))] == ["bbanned@localhost"]
    r = admin(o, "ban", "<item affiliation='member'/>", "get")
    assert [i.get("jid") for i in r.iter(q(NS_ADMIN, "item"))] == ["bmember@localhost"]
    # A member cannot read the outcast list; the last owner cannot step down.
    join(m, "ban", "Mem")
    r = admin(m, "ban", "<item affiliation='outcast'/>", "get")
    assert stanza_error(r)[1] == "forbidden"
    r = admin(o, "ban", "<item jid='bowner@localhost' affiliation='member'/>")
    assert stanza_error(r)[1] == "conflict"
    # Admin grant: the member becomes a moderator at once.
    r = admin(o, "ban", "<item jid='bmember@localhost' affiliation='admin'/>")
    assert r.get("type") == "result"
    pr = m.wait_for(lambda e: is_presence_from(e, room_jid("ban") + "/Mem")
                    and item(e).get("affiliation") == "admin")
    assert item(pr).get("role") == "moderator"
    for c in (o, b, m):
        c.close()


def test_members_only_password_moderated(server):
    o = user(server, "mowner")
    x = user(server, "mstranger")
    create(o, "private", "Owner", membersonly="1")
    assert join_error(x, "private", "X") == ("auth", "registration-required")
    admin(o, "private", "<item jid='mstranger@localhost' affiliation='member'/>")
    join(x, "private", "X")
    # Removing membership kicks from a members-only room (321).
    admin(o, "private", "<item jid='mstranger@localhost' affiliation='none'/>")
    pr = x.wait_for(lambda e: is_presence_from(e, room_jid("private") + "/X", "unavailable"))
    assert 321 in codes(pr)
    create(o, "secret", "Owner", passwordprotectedroom="1", roomsecret="sesame")
    assert join_error(x, "secret", "X") == ("auth", "not-authorized")
    assert join_error(x, "secret", "X", password="wrong") == ("auth", "not-authorized")
    join(x, "secret", "X", password="sesame")
    create(o, "quiet", "Owner", moderatedroom="1", whois="anyone")
    p = join(x, "quiet", "X")
    assert item(p).get("role") == "visitor"
    assert 100 in codes(p), "non-anonymous rooms say so in the self-presence"
    say(x, "quiet", "hello?")
    e = x.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "error")
    assert stanza_error(e) == ("auth", "forbidden")
    admin(o, "quiet", "<item nick='X' role='participant'/>")
    x.wait_for(lambda e: is_presence_from(e, room_jid("quiet") + "/X")
               and item(e).get("role") == "participant")
    say(x, "quiet", "now I can")
    wait_groupchat(o, "now I can")
    o.close()
    x.close()


def test_semi_anonymous_hides_jids(server):
    o = user(server, "aowner")
    p = user(server, "apart")
    q_ = user(server, "apeer")
    join(o, "anon", "Owner")
    instant(o, "anon")
    join(p, "anon", "P")
    join(q_, "anon", "Q")
    seen = p.wait_for(lambda e: is_presence_from(e, room_jid("anon") + "/Q"))
    assert item(seen).get("jid") is None
    seen = o.wait_for(lambda e: is_presence_from(e, room_jid("anon") + "/Q"))
    assert item(seen).get("jid", "").startswith("apeer@localhost/")
    # Changing to non-anonymous alone: status 172, and no 104 (which says a change that is not
    # about privacy happened, XEP-0045 §10.2.1 and the status code registry).
    o.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'><field var='muc#roomconfig_whois'>"
         "<value>anyone</value></field></x></query>" % (NS_OWNER, NS_XDATA), to=room_jid("anon"))
    m = p.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and 172 in codes(e))
    assert codes(m) == {172}
    for c in (o, p, q_):
        c.close()


def test_destroy_with_alternate_venue(server):
    o = user(server, "downer")
    p = user(server, "dpart")
    join(o, "doomed", "Owner")
    instant(o, "doomed")
    join(p, "doomed", "P")
    r = p.iq("set", "<query xmlns='%s'><destroy/></query>" % NS_OWNER, to=room_jid("doomed"))
    assert stanza_error(r)[1] == "forbidden"
    r = o.iq("set", "<query xmlns='%s'><destroy jid='%s'><reason>moved</reason></destroy></query>"
             % (NS_OWNER, room_jid("newplace")), to=room_jid("doomed"))
    assert r.get("type") == "result"
    pr = p.wait_for(lambda e: is_presence_from(e, room_jid("doomed") + "/P", "unavailable"))
    d = pr.find(q(NS_USER, "x") + "/" + q(NS_USER, "destroy"))
    assert d.get("jid") == room_jid("newplace") and d.findtext(q(NS_USER, "reason")) == "moved"
    r = p.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=room_jid("doomed"))
    assert stanza_error(r)[1] == "item-not-found"
    o.close()
    p.close()


def test_invitations(server):
    o = user(server, "iowner")
    g = user(server, "iguest")
    create(o, "club", "Owner", membersonly="1")
    o.send("<message to='%s'><x xmlns='%s'><invite to='iguest@localhost'><reason>join us</reason>"
           "</invite></x></message>" % (room_jid("club"), NS_USER))
    m = g.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("from") == room_jid("club"))
    inv = m.find(q(NS_USER, "x") + "/" + q(NS_USER, "invite"))
    assert inv.get("from") == "iowner@localhost"
    assert inv.findtext(q(NS_USER, "reason")) == "join us"
    # An admin's invitation to a members-only room makes the invitee a member.
    join(g, "club", "Guest")
    # Decline goes back to the inviter.
    g.send("<message to='%s'><x xmlns='%s'><decline to='iowner@localhost'><reason>busy</reason>"
           "</decline></x></message>" % (room_jid("club"), NS_USER))
    d = o.wait_for(lambda e: e.tag == q(NS_CLIENT, "message")
                   and e.find(q(NS_USER, "x") + "/" + q(NS_USER, "decline")) is not None)
    assert d.find(q(NS_USER, "x") + "/" + q(NS_USER, "decline")).get("from") == "iguest@localhost"
    # XEP-0249 direct invitation: client to client, carried as is.
    o.send("<message to='iguest@localhost'><x xmlns='jabber:x:conference' jid='%s' "
           "reason='direct'/></message>" % room_jid("club"))
    di = g.wait_for(lambda e: e.find(q("jabber:x:conference", "x")) is not None)
    assert di.find(q("jabber:x:conference", "x")).get("jid") == room_jid("club")
    o.close()
    g.close()


def test_limits(server):
    clients = [user(server, "lim%d" % i) for i in range(5)]
    join(clients[0], "full", "N0")
    instant(clients[0], "full")
    for i in range(1, 4):
        join(clients[i], "full", "N%d" % i)
    assert join_error(clients[4], "full", "N4") == ("wait", "service-unavailable")
    # Message rate: 5 per minute per occupant.
    for i in range(5):
        say(clients[1], "full", "m%d" % i)
        wait_groupchat(clients[1], "m%d" % i)
    say(clients[1], "full", "too many")
    e = clients[1].wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "error")
    assert stanza_error(e) == ("wait", "resource-constraint")
    for c in clients:
        c.close()


def test_room_registration_reserves_nick(server):
    o = user(server, "rowner")
    r_ = user(server, "rreg")
    other = user(server, "rother")
    join(o, "reg", "Owner")
    instant(o, "reg")
    r = r_.iq("get", "<query xmlns='jabber:iq:register'/>", to=room_jid("reg"))
    assert r.find(q("jabber:iq:register", "query") + "/" + q(NS_XDATA, "x")) is not None
    r = r_.iq("set", "<query xmlns='jabber:iq:register'><x xmlns='%s' type='submit'>"
              "<field var='muc#register_roomnick'><value>Thirdwitch</value></field></x></query>"
              % NS_XDATA, to=room_jid("reg"))
    assert r.get("type") == "result", rawxmpp.dump(r)
    assert join_error(other, "reg", "Thirdwitch") == ("cancel", "conflict")
    p = join(r_, "reg", "Thirdwitch")
    assert item(p).get("affiliation") == "member"
    for c in (o, r_, other):
        c.close()


def test_starlingctl_send_to_room(server):
    o = user(server, "sowner")
    join(o, "news", "Owner")
    instant(o, "news")
    server.ctl_ok("send", "sowner@localhost", room_jid("news"), "posted by ctl")
    m = wait_groupchat(o, "posted by ctl")
    assert m.get("from") == room_jid("news") + "/Owner"
    server.ctl_ok("send", "localhost", room_jid("news"), "from the server")
    m = wait_groupchat(o, "from the server")
    assert m.get("from") == room_jid("news")
    o.close()


def test_persistent_room_survives_restart(make_server):
    srv = make_server()
    o = user(srv, "powner")
    create(o, "keep", "Owner", persistentroom="1", roomname="Kept", membersonly="1",
           enablelogging="1")
    admin(o, "keep", "<item jid='pmember@localhost' affiliation='member'/>")
    o.send("<message type='groupchat' to='%s'><subject>Stays</subject></message>"
           % room_jid("keep"))
    o.wait_for(lambda e: e.findtext(q(NS_CLIENT, "subject")) == "Stays")
    o.send("<presence type='unavailable' to='%s/Owner'/>" % room_jid("keep"))
    o.wait_for(lambda e: is_presence_from(e, room_jid("keep") + "/Owner", "unavailable"))
    o.close()
    srv.stop()
    srv.start()
    m = user(srv, "pmember")
    x = user(srv, "pstranger")
    r = m.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=room_jid("keep"))
    feats = [f.get("var") for f in r.iter(q("http://jabber.org/protocol/disco#info", "feature"))]
    assert "muc_persistent" in feats and "muc_membersonly" in feats
    assert join_error(x, "keep", "X") == ("auth", "registration-required")
    # The logging statement is kept too: status 170 in the self-presence.
    assert 170 in codes(join(m, "keep", "Mem"))
    s = m.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and
                   e.find(q(NS_CLIENT, "subject")) is not None)
    assert s.findtext(q(NS_CLIENT, "subject")) == "Stays"
    r = m.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>",
             to="conference.localhost")
    assert room_jid("keep") in [i.get("jid") for i in
                                r.iter(q("http://jabber.org/protocol/disco#items", "item"))]
    m.close()
    x.close()
