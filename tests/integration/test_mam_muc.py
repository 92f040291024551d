"""test_mam_muc.py: XEP-0313 archives of chat rooms: groupchat messages of persistent rooms with
archiving on get a stanza-id by the room and are queried at the room JID; real JIDs only for
those who may see them (non-anonymous rooms, moderators); no archive for temporary rooms or with
muc#roomconfig_enablearchiving off; members-only rooms for members; the join history refilled
from the archive after a restart."""

import uuid

import rawxmpp
from rawxmpp import q, dump, NS_CLIENT
from muchelp import (NS_USER, room_jid, user, join, create, say, wait_groupchat, configure)
from test_mam import mam, bodies, complete, NS_SID, NS_MAM

DISCO = "http://jabber.org/protocol/disco#info"


def uniq(prefix):
    return "%s%s" % (prefix, uuid.uuid4().hex[:6])


def persistent(c, room, nick, **extra):
    cfg = {"persistentroom": "1"}
    cfg.update(extra)
    create(c, room, nick, **cfg)


def real_jid(m):
    x = m.find(q(NS_USER, "x"))
    it = x.find(q(NS_USER, "item")) if x is not None else None
    return it.get("jid") if it is not None else None


def test_non_anonymous_room_archive(server):
    room = uniq("arch")
    o = user(server, uniq("own"))
    persistent(o, room, "Owner", whois="anyone")
    p = user(server, uniq("par"))
    join(p, room, "Par")
    say(o, room, "one")
    m = wait_groupchat(p, "one")
    sid = m.find(q(NS_SID, "stanza-id"))
    assert sid is not None and sid.get("by") == room_jid(room), dump(m)
    say(p, room, "two")
    wait_groupchat(o, "two")   # two senders: the room's order is the order of arrival
    say(o, room, "three")
    wait_groupchat(p, "three")
    outsider = user(server, uniq("out"))
    items, fin = mam(outsider, to=room_jid(room))
    assert bodies(items) == ["one", "two", "three"] and complete(fin), [dump(i[3]) for i in items]
    assert items[0][0] == sid.get("id")
    assert [i[2] for i in items] == [room_jid(room) + "/Owner", room_jid(room) + "/Par",
                                     room_jid(room) + "/Owner"]
    assert real_jid(items[1][3]) == p.jid, dump(items[1][3])
    # Paging back from the end, and the occupant filter.
    items, fin = mam(outsider, to=room_jid(room), max_=2, before="")
    assert bodies(items) == ["two", "three"] and not complete(fin)
    items, fin = mam(outsider, {"with": room_jid(room) + "/Owner"}, to=room_jid(room))
    assert bodies(items) == ["one", "three"]
    items, fin = mam(outsider, {"{urn:xmpp:fulltext:0}fulltext": "two"}, to=room_jid(room))
    assert bodies(items) == ["two"]
    r = outsider.iq("get", "<query xmlns='%s'/>" % DISCO, to=room_jid(room))
    feats = {f.get("var") for f in r.iter(q(DISCO, "feature"))}
    assert NS_MAM in feats and NS_MAM + "#extended" in feats, feats
    for c in (o, p, outsider):
        c.close()


def test_semi_anonymous_real_jids_for_moderators_only(server):
    room = uniq("semi")
    o = user(server, uniq("own"))
    persistent(o, room, "Owner")
    p = user(server, uniq("par"))
    join(p, room, "Par")
    say(p, room, "hidden sender")
    wait_groupchat(o, "hidden sender")
    items, _ = mam(p, to=room_jid(room))
    assert bodies(items) == ["hidden sender"] and real_jid(items[0][3]) is None, dump(items[0][3])
    items, _ = mam(o, to=room_jid(room))
    assert real_jid(items[0][3]) == p.jid, dump(items[0][3])
    o.close()
    p.close()


def test_no_archive_temporary_or_disabled(server):
    tmp = uniq("temp")
    o = user(server, uniq("own"))
    create(o, tmp, "Owner")
    say(o, tmp, "gone")
    m = wait_groupchat(o, "gone")
    assert m.find(q(NS_SID, "stanza-id")) is None, dump(m)
    items, fin = mam(o, to=room_jid(tmp))
    assert items == [] and complete(fin)
    off = uniq("off")
    persistent(o, off, "Owner", enablearchiving="0")
    say(o, off, "not kept")
    wait_groupchat(o, "not kept")
    items, _ = mam(o, to=room_jid(off))
    assert items == []
    # Turned on later: from then on.
    assert configure(o, off, enablearchiving="1").get("type") == "result"
    say(o, off, "kept")
    wait_groupchat(o, "kept")
    assert bodies(mam(o, to=room_jid(off))[0]) == ["kept"]
    o.close()


def test_members_only_archive_for_members(server):
    room = uniq("memb")
    o = user(server, uniq("own"))
    persistent(o, room, "Owner", membersonly="1")
    say(o, room, "members talk")
    wait_groupchat(o, "members talk")
    stranger = user(server, uniq("str"))
    items, err = mam(stranger, to=room_jid(room))
    assert err.get("type") == "error" and rawxmpp.stanza_error(err)[1] == "forbidden", dump(err)
    assert bodies(mam(o, to=room_jid(room))[0]) == ["members talk"]
    o.close()
    stranger.close()


def test_history_from_archive_after_restart(make_server):
    from starling import Server
    srv = make_server()
    room = uniq("hist")
    oname = uniq("own")
    o = user(srv, oname)
    persistent(o, room, "Owner")
    for text in ("h1", "h2", "h3"):
        say(o, room, text)
        wait_groupchat(o, text)
    o.close()
    assert srv.stop() == []
    srv2 = Server(datadir=srv.datadir)
    try:
        srv2.start()
        c = rawxmpp.login(srv2, oname, "password1", resource="back")
        c.send("<presence/>")
        join(c, room, "Again")
        got = [wait_groupchat(c, t) for t in ("h1", "h2", "h3")]
        assert all(g.find(q("urn:xmpp:delay", "delay")) is not None for g in got)
        assert got[0].get("from") == room_jid(room) + "/Owner"
        c.close()
    finally:
        problems = srv2.stop()
        srv2.cleanup()
    assert problems == [], problems


def test_destroyed_room_takes_its_archive(server):
    from muchelp import NS_OWNER
    room = uniq("doom")
    o = user(server, uniq("own"))
    persistent(o, room, "Owner")
    say(o, room, "before the end")
    wait_groupchat(o, "before the end")
    assert bodies(mam(o, to=room_jid(room))[0]) == ["before the end"]
    r = o.iq("set", "<query xmlns='%s'><destroy/></query>" % NS_OWNER, to=room_jid(room))
    assert r.get("type") == "result", dump(r)
    # A new room of the same name starts with an empty archive.
    persistent(o, room, "Owner")
    items, fin = mam(o, to=room_jid(room))
    assert items == [] and complete(fin)
    o.close()
