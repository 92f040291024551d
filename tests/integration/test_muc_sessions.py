"""test_muc_sessions.py: a room and the sessions behind its occupants: a session that ends
leaves every room it joined whatever its presence state (no ghost occupants), and the sessions
of one account sharing a nickname (XEP-0045 multi-session nicks)."""

import time

import rawxmpp
from muchelp import (NS_ADMIN, codes, is_presence_from, join, owned_room, room_jid, say, user,
                     wait_groupchat)
from rawxmpp import NS_CLIENT, q

NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"


def silent_user(server, name, resource="r"):
    """A logged-in client that never sends initial presence."""
    server.ctl("account", "add", "%s@localhost" % name, "--password", "password1")
    return rawxmpp.login(server, name, "password1", resource=resource)


def collect_until(c, pred, what):
    """Every element up to and including the first one matching pred."""
    seen = []

    def keep(e):
        seen.append(e)
        return pred(e)
    c.wait_for(keep, what=what)
    return seen


# ---- ghost occupants ----------------------------------------------------------------------------

def test_session_without_presence_leaves_locked_room(server):
    """The creator of a locked room never sent initial presence and disconnects: the room goes
    with it, and the next user creates the room anew instead of meeting item-not-found."""
    g = silent_user(server, "ghostowner")
    p = join(g, "haunted", "Ghost")
    assert 201 in codes(p)
    g.close()
    b = user(server, "ghostnext")
    deadline = time.monotonic() + 5
    while True:
        b.send("<presence to='%s/Next'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
               % room_jid("haunted"))
        el = b.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence")
                        and e.get("from") == room_jid("haunted") + "/Next")
        if el.get("type") != "error" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert el.get("type") is None, rawxmpp.dump(el) + "\n" + "\n".join(
        l for l in server.log_text().splitlines() if "ghost" in l or "haunted" in l)
    assert {110, 201} <= codes(el)
    b.close()


def test_session_without_presence_leaves_open_room(server):
    o = owned_room(server, "ghostroomowner", "ghosts")
    g = silent_user(server, "ghostguest")
    join(g, "ghosts", "Guest")
    o.wait_for(lambda e: is_presence_from(e, room_jid("ghosts") + "/Guest"))
    g.end()
    p = o.wait_for(lambda e: is_presence_from(e, room_jid("ghosts") + "/Guest", "unavailable"),
                   timeout=5)
    # Told by the session's end, not found out from a bounce (333).
    assert 333 not in codes(p), rawxmpp.dump(p)
    r = o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to=room_jid("ghosts"))
    assert [i.get("jid") for i in r.iter(q(NS_DISCO_ITEMS, "item"))] == \
        [room_jid("ghosts") + "/Owner"]
    o.close()


def test_unavailable_session_leaves_rooms_on_logout(server):
    """Available and joined; unavailable (which leaves the room); joined again while
    unavailable; then the session ends: the room learns it."""
    o = owned_room(server, "ghostwatch", "ghostly")
    g = user(server, "ghostflip")
    join(g, "ghostly", "Flip")
    flip = room_jid("ghostly") + "/Flip"
    o.wait_for(lambda e: is_presence_from(e, flip))
    # Unavailable to everyone: that leaves the room too (the room had directed presence).
    g.send("<presence type='unavailable'/>")
    o.wait_for(lambda e: is_presence_from(e, flip, "unavailable"))
    # Back in the room while unavailable, then the session ends.
    g.send("<presence to='%s'/>" % flip)
    o.wait_for(lambda e: is_presence_from(e, flip))
    g.close()
    p = o.wait_for(lambda e: is_presence_from(e, flip, "unavailable"), timeout=5)
    assert 333 not in codes(p), rawxmpp.dump(p)
    o.close()


# ---- multi-session nicknames --------------------------------------------------------------------

def two_sessions(server, name):
    return user(server, name, resource="one"), user(server, name, resource="two")


def test_two_sessions_share_a_nick(server):
    o = owned_room(server, "msowner", "multi")
    b1, b2 = two_sessions(server, "msbob")
    bob = room_jid("multi") + "/Bob"
    join(b1, "multi", "Bob")
    o.wait_for(lambda e: is_presence_from(e, bob))
    # The second session takes the same nick: no conflict, and the others see the nick once
    # (an available presence again, never an unavailable one).
    p = join(b2, "multi", "Bob")
    assert p.get("type") is None and 110 in codes(p)
    o.wait_for(lambda e: is_presence_from(e, bob))
    b1.wait_for(lambda e: is_presence_from(e, bob) and 110 in codes(e))
    r = o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to=room_jid("multi"))
    assert sorted(i.get("jid") for i in r.iter(q(NS_DISCO_ITEMS, "item"))) == \
        [bob, room_jid("multi") + "/Owner"]
    r = o.iq("get", "<query xmlns='%s'><item role='participant'/></query>" % NS_ADMIN,
             to=room_jid("multi"))
    assert [i.get("nick") for i in r.iter(q(NS_ADMIN, "item"))] == ["Bob"]
    # A self-ping (XEP-0410) from either session is answered by the room itself.
    for c in (b1, b2):
        r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=bob)
        assert r.get("type") == "result" and r.get("from") == bob, rawxmpp.dump(r)
    # Both sessions get the room's messages and private messages to the nick.
    say(o, "multi", "to both")
    wait_groupchat(b1, "to both")
    wait_groupchat(b2, "to both")
    o.send("<message type='chat' to='%s'><body>private</body></message>" % bob)
    for c in (b1, b2):
        c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message")
                   and e.findtext(q(NS_CLIENT, "body")) == "private")
    # One session leaves: it alone is told; the nick stays for the others.
    b2.send("<presence type='unavailable' to='%s'/>" % bob)
    b2.wait_for(lambda e: is_presence_from(e, bob, "unavailable") and 110 in codes(e))
    say(o, "multi", "after two left")
    seen = collect_until(o, lambda e: e.tag == q(NS_CLIENT, "message")
                         and e.findtext(q(NS_CLIENT, "body")) == "after two left", "message")
    assert not [e for e in seen if is_presence_from(e, bob, "unavailable")], \
        [rawxmpp.dump(e) for e in seen]
    wait_groupchat(b1, "after two left")
    # The last session leaves: now the nick goes.
    b1.send("<presence type='unavailable' to='%s'/>" % bob)
    o.wait_for(lambda e: is_presence_from(e, bob, "unavailable"))
    for c in (o, b1, b2):
        c.close()


def test_kick_removes_every_session_of_the_nick(server):
    o = owned_room(server, "mkowner", "multikick")
    b1, b2 = two_sessions(server, "mkbob")
    join(b1, "multikick", "Bob")
    join(b2, "multikick", "Bob")
    r = o.iq("set", "<query xmlns='%s'><item nick='Bob' role='none'/></query>" % NS_ADMIN,
             to=room_jid("multikick"))
    assert r.get("type") == "result", rawxmpp.dump(r)
    bob = room_jid("multikick") + "/Bob"
    for c in (b1, b2):
        p = c.wait_for(lambda e: is_presence_from(e, bob, "unavailable"))
        assert {307, 110} <= codes(p)
    r = o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to=room_jid("multikick"))
    assert [i.get("jid") for i in r.iter(q(NS_DISCO_ITEMS, "item"))] == \
        [room_jid("multikick") + "/Owner"]
    for c in (o, b1, b2):
        c.close()


def test_other_account_cannot_share_a_nick(server):
    o = owned_room(server, "mcowner", "multiconf")
    b = user(server, "mcbob")
    c = user(server, "mccarl")
    join(b, "multiconf", "Bob")
    c.send("<presence to='%s/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
           % room_jid("multiconf"))
    el = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "error")
    assert rawxmpp.stanza_error(el) == ("cancel", "conflict")
    for x in (o, b, c):
        x.close()
